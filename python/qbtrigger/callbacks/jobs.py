"""Qube job dicts, as the callback engine reads them.

A job dict has ``id``, ``pgrp``, ``pid``, ``label``, ``user``, ``status``, ``agenda`` (work dicts
with ``name`` and ``status``), ``callbacks`` (dicts with ``triggers``, ``language``, ``code`` and
optional ``maximum``), ``dependency``, ``mailaddress`` and ``cpus``. :func:`read_job` checks the
fields the engine relies on and returns a :class:`JobView` (also when a field is bad: the view
keeps that field's default); it reports problems instead of raising, so one pass over a
submission lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from .. import MAX_JOB_ID

__all__ = ["JobView", "read_job", "job_name", "job_title"]


def job_title(jobid: int, label: Optional[str], name: Optional[str]) -> str:
    """How reports name a job: as its author named it, by label, else by ``name``, else by id."""
    return label or name or f"job {jobid}"


def job_name(job: Any, index: int) -> str:
    """How problems and findings name a job of a submission: as :func:`job_title` does (its label,
    else its ``name``), else by its index in the submission (it has no id yet)."""
    fields = job if isinstance(job, Mapping) else {}
    label, name = fields.get("label"), fields.get("name")
    title = job_title(index, label if isinstance(label, str) else None, name if isinstance(name, str) else None)
    return f"job '{title}'" if (label or name) and title in (label, name) else f"job #{index}"


@dataclass
class JobView:
    """The fields of one job dict the engine uses, checked."""

    index: int
    name: str
    id: int
    pgrp: int
    pid: Optional[int]
    label: Optional[str]
    user: Optional[str]
    status: Optional[str] = None
    work_names: List[str] = field(default_factory=list)
    callbacks: List[Any] = field(default_factory=list)
    dependency: str = ""
    cpus: int = 1


def _int_field(job: Mapping, key: str, problems: List[str], *, required: bool = False) -> Optional[int]:
    value = job.get(key)
    if value is None:
        if required:
            problems.append(f"'{key}' is missing (the supervisor assigns job ids before registration)")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_JOB_ID:
        problems.append(f"'{key}' must be an int from 0 to {MAX_JOB_ID}, not {value!r}")
        return None
    return value


def read_job(job: Any, index: int) -> Tuple[Optional[JobView], List[str]]:
    """Check one job dict. Returns ``(view, problems)``; ``view`` is None only when the job has
    no usable id (or is not a dict)."""
    name = job_name(job, index)
    if not isinstance(job, Mapping):
        return None, [f"a job must be a dict, not {type(job).__name__}"]
    problems: List[str] = []
    jobid = _int_field(job, "id", problems, required=True)
    pgrp = _int_field(job, "pgrp", problems)
    pid = _int_field(job, "pid", problems)
    label = job.get("label")
    if label is not None and not isinstance(label, str):
        problems.append(f"'label' must be a str, not {type(label).__name__}")
    user = job.get("user")
    if user is not None and not isinstance(user, str):
        problems.append(f"'user' must be a str, not {type(user).__name__}")
    agenda = job.get("agenda") or []
    work_names: List[str] = []
    if not isinstance(agenda, (list, tuple)):
        problems.append(f"'agenda' must be a list of work dicts, not {type(agenda).__name__}")
    else:
        for i, work in enumerate(agenda):
            if type(work) is str and work:  # the common case, and a cheap test (a stored job's names)
                work_names.append(work)
                continue
            work_name = work.get("name") if isinstance(work, Mapping) else work
            if isinstance(work_name, int) and not isinstance(work_name, bool):
                work_name = str(work_name)
            if not isinstance(work_name, str) or not work_name:
                problems.append(f"agenda item {i} needs a non-empty 'name'")
            else:
                work_names.append(work_name)
    callbacks = job.get("callbacks") or []
    if not isinstance(callbacks, (list, tuple)):
        problems.append(f"'callbacks' must be a list of callback dicts, not {type(callbacks).__name__}")
        callbacks = []
    dependency = job.get("dependency") or ""
    if not isinstance(dependency, str):
        problems.append(f"'dependency' must be a str, not {type(dependency).__name__}")
        dependency = ""
    cpus = job.get("cpus", 1)
    if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
        problems.append(f"'cpus' must be an int >= 1, not {cpus!r}")
        cpus = 1
    if jobid is None:
        return None, problems
    # a job with problems still has a view (its bad fields left at their defaults): whoever
    # reports the problems goes on checking the rest of the job, and the jobs that name it
    view = JobView(
        index=index,
        name=name,
        id=jobid,
        pgrp=jobid if pgrp is None else pgrp,
        pid=pid,
        label=label if isinstance(label, str) else None,
        user=user if isinstance(user, str) else None,
        status=job.get("status") if isinstance(job.get("status"), str) else None,
        work_names=work_names,
        callbacks=list(callbacks),
        dependency=dependency,
        cpus=cpus,
    )
    return view, problems
