"""The one validation of a submission: what ``Supervisor.submit`` refuses is what ``qbtrigger
check`` reports, because both call :func:`validate_submission`.

A submission is a list of job dicts. Validation makes, for each job, the dict that would be
stored (a JSON copy; ids numbered from the submission's first id by position, as a farm numbers
them, a job's own ``id`` is not kept; ``pgrp`` the first id unless given; ``user``; fields read
as :func:`~.fields.normalize_job` reads them; the agenda as ``[{'name', 'status'}]``), then lets
the engine compile the lot (callbacks, triggers, dependency, universal callbacks). Every problem
found on the way is one :class:`~.errors.Problem` naming the job (label, else ``name``, else its
index: :func:`~.jobs.job_name`), the callback when there is one, the field, and for an expression
the column with a caret. Nothing is raised and nothing is stored here: the supervisor raises one
:class:`~.errors.SubmissionError` with every problem, the checker turns them into findings. A
job with a bad field is still made (without that field), so the checks that follow still see it.

The size limits (:data:`LIMITS`, written in docs/supervisor.md) are checked here, before
anything else reads the value: a ``cpus`` of 2**40 is a problem, not a MemoryError half-way
through storing the job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..vocabulary import DEFAULT_LANGUAGE_FLAGS, PENDING, SUBMIT_STATES
from .engine import CallbackEngine
from .errors import Problem, SubmissionError
from .fields import JobReview, normalize_job
from .host import Host
from .jobs import job_name

__all__ = [
    "Validation", "validate_submission", "farmless_engine", "global_callback_problem", "LIMITS", "MAX_CPUS", "MAX_AGENDA", "MAX_EXPRESSION", "MAX_CODE",
    "MAX_NESTING",
]

#: At most this many subjobs (``cpus``) per job.
MAX_CPUS = 10_000
#: At most this many work items in a job's agenda.
MAX_AGENDA = 1_000_000
#: At most this many characters in one trigger expression (a list of triggers: in each item).
MAX_EXPRESSION = 1_000_000
#: At most this many characters of code in one callback.
MAX_CODE = 1_000_000
#: A job dict nests at most this deep (dicts and lists inside dicts and lists).
MAX_NESTING = 100
#: Every limit, by what it limits (for the docs and for messages).
LIMITS: Dict[str, int] = {
    "cpus": MAX_CPUS, "agenda": MAX_AGENDA, "expression": MAX_EXPRESSION, "code": MAX_CODE, "nesting": MAX_NESTING,
}


@dataclass
class Validation:
    """What :func:`validate_submission` found. ``jobs``: each job as it would be stored (one per
    job dict of the submission, in order); ``reviews``: each one's warnings and ignored fields;
    ``submission``: the compiled submission (None when there are problems); ``problems``: every
    problem, in job order."""

    jobs: List[Dict[str, Any]] = field(default_factory=list)
    reviews: List[JobReview] = field(default_factory=list)
    submission: Optional[Any] = None
    problems: List[Problem] = field(default_factory=list)


class _NoFarm(Host):
    """The host of an engine that only validates: nothing exists, nothing runs."""

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return []

    def act(self, verb: str, jobid: int, **where: Any) -> None:  # pragma: no cover - never runs
        raise RuntimeError("a validating engine runs nothing")

    def modify(self, jobid: int, fields: Any) -> None:  # pragma: no cover - never runs
        raise RuntimeError("a validating engine runs nothing")


def farmless_engine(language_flags: Any = DEFAULT_LANGUAGE_FLAGS, universal: Optional[str] = None) -> CallbackEngine:
    """A :class:`~.engine.CallbackEngine` on no farm, to validate with (``qbtrigger check``,
    ``explain``). Raises ``UniversalConfigError`` for a bad universal folder."""
    return CallbackEngine(_NoFarm(), language_flags=language_flags, universal=universal)


def validate_submission(
    jobs: Any,
    engine: CallbackEngine,
    *,
    first_id: int,
    default_user: Optional[str] = None,
    live_labels: Mapping[Tuple[int, str], int] = {},
) -> Validation:
    """Validate a submission for ``engine`` (a :class:`~.engine.CallbackEngine`) as a farm whose
    next job id is ``first_id`` and whose live labels are ``live_labels`` (``(pgrp, label) ->
    job id``) would take it. See the module docstring."""
    out = Validation()
    if isinstance(jobs, Mapping) or not isinstance(jobs, (list, tuple)):
        out.problems.append(Problem("submission", None, "a submission is a list of job dicts"))
        return out
    for index, raw in enumerate(jobs):
        name = job_name(raw, index)
        if not isinstance(raw, Mapping):
            out.problems.append(Problem(name, None, f"a job must be a dict, not {type(raw).__name__}"))
            raw = {}  # an empty job holds its place: the jobs after it keep their index and id
        job, details = _prepared(raw, index, first_id, default_user, live_labels, out.reviews)
        out.problems += [Problem(name, None, d) for d in details]
        out.jobs.append(job)
    views = [_compile_view(job) for job in out.jobs]
    problems = _callback_sizes(views)
    try:
        out.submission = engine.compile(views)
    except SubmissionError as error:
        problems += error.problems
    out.problems = _in_job_order(out.problems + problems, jobs)
    if out.problems:
        out.submission = None
    return out


def _prepared(
    raw: Mapping[str, Any], index: int, first_id: int, default_user: Optional[str],
    live_labels: Mapping[Tuple[int, str], int], reviews: List[JobReview],
) -> Tuple[Dict[str, Any], List[str]]:
    """The job as it would be stored, and its problems."""
    problems: List[str] = []
    deep = _too_deep(raw)
    job: Dict[str, Any] = {}
    if deep is not None:
        problems.append(f"'{deep}' nests deeper than {MAX_NESTING} levels")
    else:
        try:
            # a JSON round trip: the job must be JSON data (it is stored as such), and it is a
            # deep copy at C speed (copy.deepcopy was the slowest part of a big submission)
            job = json.loads(json.dumps(raw))
        except (TypeError, ValueError) as error:
            problems.append(f"a job dict must hold JSON values only ({error})")
    if not job and raw:  # keep what can be kept, so the job still exists for the other checks
        job = {k: v for k, v in raw.items() if k in ("label", "name", "pgrp", "pid") and _is_plain(v)}
    review = normalize_job(job)
    reviews.append(review)
    problems += review.problems
    problems += _cpus_limit(job)
    job["id"] = first_id + index
    if job.get("pgrp") is None:  # absent or null: the submission's own process group
        job["pgrp"] = first_id
    if default_user is not None and job.get("user") is None:
        job["user"] = default_user
    agenda, more = _agenda(job.get("agenda"))
    problems += more
    job["agenda"] = agenda
    status = job.get("status", PENDING)
    if not isinstance(status, str) or status not in SUBMIT_STATES:
        problems.append(f"'status' at submission is 'pending' or 'blocked', not {status!r}")
        job["status"] = PENDING
    label = job.get("label")
    if isinstance(label, str) and isinstance(job.get("pgrp"), int):
        holder = live_labels.get((job["pgrp"], label))
        if holder is not None:
            problems.append(f"label '{label}' is already used in pgrp {job['pgrp']} by job {holder}")
    return job, problems


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _too_deep(job: Mapping[str, Any]) -> Optional[str]:
    """The top-level field of ``job`` that nests deeper than :data:`MAX_NESTING`, or None."""
    for key, value in job.items():
        stack: List[Tuple[Any, int]] = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if depth > MAX_NESTING:
                return str(key)
            if isinstance(item, Mapping):
                stack.extend((v, depth + 1) for v in item.values())
            elif isinstance(item, (list, tuple)):
                stack.extend((v, depth + 1) for v in item)
    return None


def _cpus_limit(job: Dict[str, Any]) -> List[str]:
    cpus = job.get("cpus")
    if isinstance(cpus, int) and cpus > MAX_CPUS:
        del job["cpus"]
        return [f"'cpus' is at most {MAX_CPUS}, not {cpus}"]
    return []


def _agenda(agenda: Any) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Normalise an agenda to ``[{'name', 'status'}]``; problems instead of exceptions."""
    if agenda is None:
        return [], []
    if not isinstance(agenda, (list, tuple)):
        return [], [f"'agenda' must be a list of work items, not {type(agenda).__name__}"]
    if len(agenda) > MAX_AGENDA:
        return [], [f"'agenda' holds at most {MAX_AGENDA} work items, not {len(agenda)}"]
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
        if not isinstance(status, str) or status not in SUBMIT_STATES:
            problems.append(f"agenda item {i} ('{name}'): status at submission is 'pending' or 'blocked', not {status!r}")
            status = PENDING
        out.append({"name": name, "status": status})
    return out, problems


def _callback_sizes(jobs: List[Dict[str, Any]]) -> List[Problem]:
    """Triggers and code past the size limits. Such a callback is replaced, in the engine's view
    only, by a small valid one: the engine neither parses nor compiles what is too big, and the
    other callbacks keep their index."""
    problems: List[Problem] = []
    for index, job in enumerate(jobs):
        callbacks = job.get("callbacks")
        if not isinstance(callbacks, list):
            continue
        kept = []
        for number, spec in enumerate(callbacks):
            detail = _callback_size(spec)
            if detail is None:
                kept.append(spec)
            else:
                problems.append(Problem(job_name(job, index), number, detail))
                kept.append(_STAND_IN)
        job["callbacks"] = kept
    return problems


def global_callback_problem(spec: Any) -> Optional[str]:
    """What is wrong with a global callback's dict before the engine compiles it (a mapping of
    JSON values, not nested too deep, within the size limits), or None."""
    if not isinstance(spec, Mapping):
        return f"a callback must be a dict, not {type(spec).__name__}"
    deep = _too_deep(spec)
    if deep is not None:
        return f"'{deep}' nests deeper than {MAX_NESTING} levels"
    try:
        json.dumps(dict(spec))
    except (TypeError, ValueError) as error:
        return f"a callback must hold JSON values only ({error})"
    return _callback_size(spec)


_STAND_IN = {"triggers": "dummy-job-self", "language": "qube", "code": "unblock-self"}


def _callback_size(spec: Any) -> Optional[str]:
    if not isinstance(spec, Mapping):
        return None
    triggers = spec.get("triggers")
    texts = [triggers] if isinstance(triggers, str) else triggers if isinstance(triggers, list) else []
    for text in texts:
        if isinstance(text, str) and len(text) > MAX_EXPRESSION:
            return f"'triggers': an expression holds at most {MAX_EXPRESSION} characters, not {len(text)}"
    code = spec.get("code")
    if isinstance(code, str) and len(code) > MAX_CODE:
        return f"'code' holds at most {MAX_CODE} characters, not {len(code)}"
    return None


def _compile_view(job: Mapping[str, Any]) -> Dict[str, Any]:
    """What the engine compiles: the job dict with its agenda as names."""
    view = dict(job)
    view["agenda"] = [w["name"] for w in job["agenda"]]
    if isinstance(view.get("callbacks"), list):
        view["callbacks"] = list(view["callbacks"])
    return view


def _in_job_order(problems: List[Problem], jobs: Sequence[Any]) -> List[Problem]:
    order = {job_name(job, i): i for i, job in enumerate(jobs)}
    return sorted(problems, key=lambda p: order.get(p.job, -1))
