"""Checking a submission before anything of it is stored (the supervisor's half; the engine
checks callbacks, dependencies and triggers): JSON data, ids and pgrp, agenda, status, numeric
fields, labels not already live. Also the job views the engine compiles.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..callbacks import Problem, SubmissionError
from ..callbacks.fields import JobReview, normalize_job
from ..vocabulary import PENDING, SUBMIT_STATES
from .farm import Job

__all__ = ["prepare_jobs", "compile_view", "stored_dict", "SCRATCH_ID"]

#: Compiles a stored job again for introspection; never assigned.
SCRATCH_ID = 2**31 - 1


def prepare_jobs(
    jobs: Sequence[Mapping[str, Any]], first: int, default_user: str, labels: Mapping[Tuple[int, str], int],
    reviews: Optional[List[JobReview]] = None,
) -> Tuple[List[Dict[str, Any]], List[Problem]]:
    """The submission's jobs as they will be stored (ids from ``first``, pgrp, user, fields read as
    :func:`~qbtrigger.callbacks.fields.normalize_job` reads them, a normalised agenda), and every
    problem found. ``labels``: ``(pgrp, label) -> job id`` of the live jobs. ``reviews`` gets each
    job's :class:`JobReview` (warnings, ignored fields), in order."""
    if reviews is None:
        reviews = []
    if isinstance(jobs, Mapping) or not isinstance(jobs, (list, tuple)):
        raise SubmissionError([Problem("submission", None, "a submission is a list of job dicts")])
    problems: List[Problem] = []
    prepared: List[Dict[str, Any]] = []
    for index, raw in enumerate(jobs):
        name = f"job '{raw.get('label')}'" if isinstance(raw, Mapping) and raw.get("label") else f"job #{index}"
        if not isinstance(raw, Mapping):
            problems.append(Problem(name, None, f"a job must be a dict, not {type(raw).__name__}"))
            continue
        try:
            # a JSON round trip: the job must be JSON data (it is stored as such), and it is
            # a deep copy at C speed (copy.deepcopy was the slowest part of a big submission)
            job = json.loads(json.dumps(raw))
        except (TypeError, ValueError) as error:
            problems.append(Problem(name, None, f"a job dict must hold JSON values only ({error})"))
            continue
        review = normalize_job(job)
        reviews.append(review)
        problems += [Problem(name, None, p) for p in review.problems]
        job["id"] = first + index
        job.setdefault("pgrp", first)
        job.setdefault("user", default_user)
        agenda, more = _agenda(job.get("agenda"))
        problems += [Problem(name, None, p) for p in more]
        job["agenda"] = agenda
        status = job.get("status", PENDING)
        if status not in SUBMIT_STATES:
            problems.append(Problem(name, None, f"'status' at submission is 'pending' or 'blocked', not {status!r}"))
        label = job.get("label")
        if isinstance(label, str) and isinstance(job.get("pgrp"), int):
            holder = labels.get((job["pgrp"], label))
            if holder is not None:
                problems.append(Problem(name, None, f"label '{label}' is already used in pgrp {job['pgrp']} by job {holder}"))
        prepared.append(job)
    return prepared, problems


def _agenda(agenda: Any) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Normalise an agenda to ``[{'name', 'status'}]``; problems instead of exceptions."""
    if agenda is None:
        return [], []
    if not isinstance(agenda, (list, tuple)):
        return [], [f"'agenda' must be a list of work items, not {type(agenda).__name__}"]
    out, problems, seen = [], [], set()
    for i, item in enumerate(agenda):
        work = item if isinstance(item, dict) else {"name": item}  # JSON data: dicts, not Mappings
        name = work.get("name")
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not name:
            problems.append(f"agenda item {i} needs a non-empty 'name'")
            continue
        if "\n" in name or "\r" in name:
            # the journal is one line per event (spaces and punctuation are fine: a trigger cannot
            # name such a frame, but '*' atoms and the frame's own events still work)
            problems.append(f"agenda item {i}: work name {name!r} has a line break")
            continue
        if name in seen:
            problems.append(f"agenda item {i}: work name '{name}' is used twice")
        seen.add(name)
        status = work.get("status", PENDING)
        if status not in SUBMIT_STATES:
            problems.append(f"agenda item {i} ('{name}'): status at submission is 'pending' or 'blocked', not {status!r}")
        out.append({"name": name, "status": status})
    return out, problems


def compile_view(job: Mapping[str, Any]) -> Dict[str, Any]:
    """What the engine compiles: the job dict with its agenda as names."""
    view = dict(job)
    view["agenda"] = [w["name"] if isinstance(w, dict) else w for w in job.get("agenda") or []]
    return view


def stored_dict(j: Job, fresh_id: bool = False) -> Dict[str, Any]:
    """The job dict the engine compiled at submission (``fresh_id``: under an id the engine does
    not know, to compile it again for a look at its callbacks)."""
    view = dict(j.data)
    if fresh_id:
        view["id"] = SCRATCH_ID
    view["agenda"] = [] if j.anonymous else list(j.names)
    return view
