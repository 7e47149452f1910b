"""Qube's job fields as a submission may give them: what each is, how its value is read, and what
qbtrigger does with it.

:func:`normalize_job` is the one place a submitted job dict is brought to the form the engine and
the supervisor read (both ``qbtrigger check`` and ``simulate`` go through it):

- numeric fields may be given as strings of digits, as Qube's own examples do (``"cpus": "5"``);
  they are stored as ints. Anything else is one clear problem naming the field;
- Qube's spellings of one field are one field: ``agendatimeout`` is ``agenda_timeout``;
- the shorthands Qube's ``qb.submit`` expands are expanded here, so a JSON job list gets them
  too: ``timelimit`` sets ``timeout`` and adds the callback ``timeout-subjob-self-*`` ->
  ``fail-subjob-self``; ``agenda_timelimit`` sets ``agenda_timeout`` and adds
  ``timeout-work-self-*`` -> ``fail-work-self``; ``waitfor`` (deprecated in Qube) adds
  ``link-done-job-ID`` to the ``dependency``;
- unknown fields are kept, as Qube keeps them; one that looks like a misspelling of a known field
  gets a warning naming it; known fields that would change how a real farm runs the job but
  that qbtrigger does not model (hosts, clusters, requirements...) are listed as ignored, never
  dropped without a word. The job's payload (prototype, package, env...) is kept silently.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .. import MAX_JOB_ID, MAX_TIME
from .._common import LABEL_SYNTAX, is_label

__all__ = [
    "JobReview", "normalize_job", "NUMERIC_FIELDS", "MODELLED_FIELDS", "UNMODELLED_FIELDS", "PAYLOAD_FIELDS",
    "FIELD_ALIASES",
]

#: Fields whose value is a whole number, with the least value each may take (None: any).
NUMERIC_FIELDS: Dict[str, Optional[int]] = {
    "cpus": 1,
    "priority": None,
    "retrywork": 0,
    "retrywork_delay": 0,
    "retrysubjob": 0,
    "retrysubjob_delay": 0,
    "timeout": 1,
    "agenda_timeout": 1,
    "timelimit": 1,
    "agenda_timelimit": 1,
    "max_cpus": 0,
    "pid": 0,
    "pgrp": 0,
}
#: Other spellings Qube accepts for a field -> the field.
FIELD_ALIASES: Dict[str, str] = {"agendatimeout": "agenda_timeout", "agendatimelimit": "agenda_timelimit"}
#: Fields qbtrigger reads and acts on.
MODELLED_FIELDS = frozenset((
    "id", "pgrp", "pid", "name", "label", "user", "status", "agenda", "callbacks", "dependency", "cpus",
    "priority", "retrywork", "retrywork_delay", "mailaddress", "timeout", "agenda_timeout", "timelimit",
    "agenda_timelimit", "waitfor",
))
#: Qube job fields that change how a real farm runs a job, which qbtrigger keeps but does not act
#: on (it has no hosts to choose among): listed as ignored, so nobody trusts a simulation of them.
UNMODELLED_FIELDS = frozenset((
    "hosts", "omithosts", "groups", "omitgroups", "cluster", "restrictions", "requirements",
    "reservations", "hostorder", "flags", "flagsstring", "max_cpus", "retrysubjob", "retrysubjob_delay",
    "p_agenda", "p_agenda_priority", "p_agenda_cpus", "agenda_priority",
))
#: The job's payload and bookkeeping: what it runs and notes about it, the farm's business, not the
#: callbacks'. Kept without a word.
PAYLOAD_FIELDS = frozenset((
    "prototype", "package", "env", "cwd", "kind", "type", "account", "notes", "data", "email",
    "emailaddress", "mailaddress_cc", "resultpackage", "subjobs", "callbacks_fired", "removed",
))
_KNOWN = sorted(MODELLED_FIELDS | UNMODELLED_FIELDS | PAYLOAD_FIELDS | set(FIELD_ALIASES))
#: Misspellings seen in real scripts that difflib alone would not tie to their field.
_MISSPELLINGS = {"mail_address": "mailaddress", "dependancy": "dependency", "dependencies": "dependency"}


@dataclass
class JobReview:
    """What :func:`normalize_job` found: ``problems`` reject the job; ``warnings`` and ``ignored``
    are for the engineer to read (the job is accepted)."""

    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)


_WHOLE = re.compile(r"\s*-?[0-9]{1,18}\s*\Z", re.ASCII)


def _whole_number(key: str, value: Any, least: Optional[int]) -> Tuple[Optional[int], Optional[str]]:
    if isinstance(value, bool):
        return None, f"'{key}' must be a whole number, not {value!r}"
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _WHOLE.match(value):
        number = int(value)
    else:
        return None, f"'{key}' must be a whole number (an int, or a string of digits such as '5'), not {value!r}"
    if least is not None and number < least:
        return None, f"'{key}' must be at least {least}, not {value!r}"
    if number > MAX_TIME:  # the matcher's bound for times; ids have their own (checked by read_job)
        return None, f"'{key}' must be at most {MAX_TIME}, not {value!r}"
    return number, None


def normalize_job(job: Dict[str, Any]) -> JobReview:
    """Bring ``job`` (a plain dict, changed in place) to the form qbtrigger reads; see the module
    docstring. Returns what was found. A field with a bad value is reported and removed, so the
    rest of the job (its label, its callbacks) is still checked as usual."""
    review = JobReview()
    for alias, name in FIELD_ALIASES.items():
        if alias in job:
            value = job.pop(alias)
            if name in job and job[name] != value:
                review.problems.append(f"'{alias}' and '{name}' are one field in Qube and they differ ({value!r}, {job[name]!r})")
            job.setdefault(name, value)
    for key, least in NUMERIC_FIELDS.items():
        if job.get(key) is None:
            continue
        number, problem = _whole_number(key, job[key], least)
        if problem is not None:
            review.problems.append(problem)
            del job[key]  # reported once, here: the rest of the job is still checked without it
        else:
            job[key] = number
    _expand_shorthands(job, review)
    label = job.get("label")
    if isinstance(label, str) and label and not is_label(label):
        review.warnings.append(f"label '{label}' cannot be named by a trigger or a dependency (a label there is "
                               f"{LABEL_SYNTAX}): nothing can wait on this job by its label")
    for key, value in job.items():
        if key in MODELLED_FIELDS or key in PAYLOAD_FIELDS:
            continue
        if key in UNMODELLED_FIELDS:
            if value not in (None, "", [], {}, 0):
                review.ignored.append(key)
            continue
        meant = _MISSPELLINGS.get(key.lower()) or next(iter(difflib.get_close_matches(key.lower(), _KNOWN, 1, 0.8)), None)
        if meant is not None:
            review.warnings.append(f"unknown field '{key}' is kept but not used: did you mean '{meant}'?")
    return review


def _expand_shorthands(job: Dict[str, Any], review: JobReview) -> None:
    callbacks = job.get("callbacks")
    for shorthand, target, trigger, code in (
        ("timelimit", "timeout", "timeout-subjob-self-*", "fail-subjob-self"),
        ("agenda_timelimit", "agenda_timeout", "timeout-work-self-*", "fail-work-self"),
    ):
        limit = job.get(shorthand)
        if limit is None:
            continue
        if job.get(target) not in (None, limit):
            review.problems.append(f"'{shorthand}' ({limit}) and '{target}' ({job[target]}) disagree: give one")
            continue
        job[target] = limit
        if callbacks is None:
            callbacks = job["callbacks"] = []
        if isinstance(callbacks, list):
            callbacks.append({"triggers": trigger, "language": "qube", "code": code})
    waitfor = job.get("waitfor")
    if waitfor is not None and waitfor != "" and waitfor != []:
        ids = waitfor if isinstance(waitfor, (list, tuple)) else str(waitfor).split(",")
        entries = []
        for item in ids:
            text = str(item).strip()
            if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_JOB_ID)):
                review.problems.append(f"'waitfor' takes job ids, not {item!r}")
                return
            entries.append(f"link-done-job-{int(text)}")
        dependency = job.get("dependency") or ""
        if isinstance(dependency, str):
            job["dependency"] = ",".join([d for d in (dependency.strip(),) if d] + entries)
