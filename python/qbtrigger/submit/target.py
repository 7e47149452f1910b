"""The farm a submit script acts on: the :class:`Target` interface and its three implementations.

The stand-in ``qb`` module does nothing by itself: ``qb.submit``, ``qb.jobinfo``, ``qb.hostinfo``,
the job actions and ``qb.submitcallback`` go to a target.

- :class:`SupervisorTarget` (``qbtrigger simulate``): the reference supervisor, so a script's
  ``qb.jobinfo`` sees the jobs it has submitted with their ids and states, ``qb.kill`` kills one,
  and so on. It forwards to :class:`~qbtrigger.supervisor.Supervisor` (``submit``, ``jobinfo``,
  ``act``, ``modify``, ``hostinfo``, ``submit_callback``, ``is_admin``, ``now``).
- :class:`CheckTarget` (``qbtrigger check`` and ``explain``): nothing runs. Jobs are numbered
  provisionally (from :data:`~qbtrigger.callbacks.checks.PROVISIONAL_FIRST_ID`, the submission's
  first id as its pgrp, as a farm would), ``jobinfo`` answers from the jobs submitted so far, and
  actions are validated and recorded as notes (``check`` prints them) rather than carried out.
  Global callbacks are checked as a submission's callbacks are, and their problems recorded as
  findings.
- :class:`RecordingTarget`: a bare ``on_submit(jobs) -> jobs`` callable (the API this module had
  before targets), with ``jobinfo`` over what it returned.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence

from ..callbacks.checks import PROVISIONAL_FIRST_ID, Finding, with_provisional_ids
from ..callbacks.errors import SubmissionError
from ..callbacks.jobs import job_title
from ..callbacks.qbapi import QbPermissionError
from ..errors import UnknownItemError
from ..vocabulary import BLOCKED, DEFAULT_LANGUAGE_FLAGS, PENDING

__all__ = [
    "Target",
    "SupervisorTarget",
    "CheckTarget",
    "RecordingTarget",
    "OnSubmit",
    "QUBE_EPOCH",
    "CHECK_HOSTS",
    "DEFAULT_ADMINS",
]

#: Unix time of Qube time 0 (2000-01-01 05:00:00 UTC).
QUBE_EPOCH = 946702800
#: Who is a Qube administrator when nothing says otherwise (the reference supervisor's default).
DEFAULT_ADMINS = ("admin",)
#: The hosts ``qb.hostinfo`` reports at check time, when there is no farm: the idle virtual hosts
#: of ``qbtrigger simulate`` with its default four workers.
CHECK_HOSTS: Sequence[Dict[str, Any]] = tuple(
    {"name": f"host{n:02d}", "state": "active", "subjobs": []} for n in range(1, 5)
)

OnSubmit = Callable[[List[Dict[str, Any]]], List[Dict[str, Any]]]


class Target(Protocol):
    """What the stand-in ``qb`` needs from a farm. Job dicts are plain JSON-shaped dicts.

    ``submit`` returns the jobs with ``id`` and ``pgrp`` (raising a ``SubmissionError`` for a
    submission the farm refuses); ``jobinfo`` takes the criteria of
    :data:`qbtrigger.vocabulary.JOBINFO_FIELDS` (all must hold) and returns job dicts in id order,
    with ``agenda``, ``subjobs`` and ``callbacks`` when the farm knows them; ``act`` raises a
    ``KeyError`` for an unknown job, work item or subjob; ``modify`` a ``ValueError`` for a field
    that may not change; ``submit_callback`` registers a global callback for ``user`` (a
    :class:`QbPermissionError` unless an administrator) and returns it with its ``id``.
    ``knows_every_job`` is False for a target that cannot see the whole farm (the checker): a job
    id it does not know may still exist there. ``now`` is the farm's clock in Qube time.
    """

    knows_every_job: bool

    def submit(self, jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]: ...

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]: ...

    def hostinfo(self) -> List[Dict[str, Any]]: ...

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None: ...

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None: ...

    def submit_callback(self, spec: Dict[str, Any], *, user: Optional[str] = None) -> Dict[str, Any]: ...

    def is_admin(self, user: Optional[str]) -> bool: ...

    @property
    def now(self) -> int: ...


def qube_now() -> int:
    """The wall clock in Qube time."""
    return int(time.time()) - QUBE_EPOCH


class SupervisorTarget:
    """The reference supervisor as a :class:`Target` (``qbtrigger simulate``)."""

    knows_every_job = True

    def __init__(self, supervisor: Any) -> None:
        self.supervisor = supervisor

    def submit(self, jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        result: List[Dict[str, Any]] = self.supervisor.submit(jobs)
        return result

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        result: List[Dict[str, Any]] = self.supervisor.jobinfo(**criteria)
        return result

    def hostinfo(self) -> List[Dict[str, Any]]:
        hostinfo = getattr(self.supervisor, "hostinfo", None)
        if hostinfo is None:
            return [dict(host) for host in CHECK_HOSTS]
        return [dict(host) for host in hostinfo()]

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        self.supervisor.act(verb, jobid, work=work, subjob=subjob)

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        self.supervisor.modify(jobid, fields)

    def submit_callback(self, spec: Dict[str, Any], *, user: Optional[str] = None) -> Dict[str, Any]:
        submit_callback = getattr(self.supervisor, "submit_callback", None)
        if submit_callback is None:
            raise NotImplementedError("this supervisor takes no global callbacks")
        result: Dict[str, Any] = submit_callback(spec, user=user)
        return result

    def is_admin(self, user: Optional[str]) -> bool:
        return bool(self.supervisor.is_admin(user))

    @property
    def now(self) -> int:
        return int(self.supervisor.now)


class CheckTarget:
    """The checker as a :class:`Target`: provisional ids, nothing run (see the module docstring).

    ``notes`` collects one line per action the script asked for (``acted``: the ids it acts on);
    ``findings`` the problems of its global callbacks; ``callbacks`` the global callbacks themselves.
    """

    knows_every_job = False

    def __init__(
        self,
        *,
        first_id: int = PROVISIONAL_FIRST_ID,
        admins: Sequence[str] = DEFAULT_ADMINS,
        language_flags: str = DEFAULT_LANGUAGE_FLAGS,
        clock: Optional[int] = None,
    ) -> None:
        self._next_id = first_id
        self.admins = frozenset(admins)
        self.language_flags = language_flags
        self._clock = clock
        self.jobs: Dict[int, Dict[str, Any]] = {}
        self.notes: List[str] = []
        self.findings: List[Finding] = []
        self.callbacks: List[Dict[str, Any]] = []
        #: Job ids the script acts on (any verb but block and suspend).
        self.acted: List[int] = []

    def submit(self, jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        first = self._next_id
        self._next_id += len(jobs)
        numbered = with_provisional_ids(jobs, first)
        for job in numbered:
            if isinstance(job, dict) and isinstance(job.get("id"), int):
                stored = dict(job)
                status = stored.get("status")
                stored["status"] = BLOCKED if status == BLOCKED or stored.get("dependency") else PENDING
                self.jobs[job["id"]] = stored
        return [dict(job) if isinstance(job, dict) else job for job in numbered]

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        out = []
        for jobid in sorted(self.jobs):
            job = self.jobs[jobid]
            if all(job.get(key) == value for key, value in criteria.items()):
                out.append(dict(job))
        return out

    def hostinfo(self) -> List[Dict[str, Any]]:
        return [dict(host) for host in CHECK_HOSTS]

    def _name(self, jobid: int) -> str:
        job = self.jobs.get(jobid)
        if job is None:
            return f"job {jobid} (not submitted by this script)"
        label, name = job.get("label"), job.get("name")
        title = job_title(jobid, label if isinstance(label, str) else None, name if isinstance(name, str) else None)
        return f"job {title!r}" if title in (label, name) else title

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        job = self.jobs.get(jobid)
        if job is not None and work is not None:
            names = [str(item.get("name")) if isinstance(item, dict) else str(item) for item in job.get("agenda") or []]
            if work not in names:
                raise UnknownItemError(f"job {jobid} has no work item {work!r}")
        what = self._name(jobid)
        if work is not None:
            what = f"work {work!r} of {what}"
        elif subjob is not None:
            what = f"subjob {subjob} of {what}"
        self.notes.append(f"the script would {verb} {what} (check does not run it)")
        if verb not in ("block", "suspend"):
            self.acted.append(jobid)  # it may release a blocked job: the static checks must know

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        keys = ", ".join(sorted(map(str, fields)))
        self.notes.append(f"the script would modify {keys} of {self._name(jobid)} (check does not run it)")

    def submit_callback(self, spec: Dict[str, Any], *, user: Optional[str] = None) -> Dict[str, Any]:
        if not self.is_admin(user):
            raise QbPermissionError(f"user {user!r} is not a Qube administrator")
        from ..callbacks.validation import farmless_engine, global_callback_problem

        number = len(self.callbacks)
        name = f"global callback {number}"
        # what Supervisor.submit_callback refuses, in the same words: the same two checks
        problem = global_callback_problem(spec)
        if problem is not None:
            self.findings.append(Finding(name, None, problem))
        else:
            try:
                farmless_engine(self.language_flags).compile_global(spec)
            except SubmissionError as error:
                self.findings += [Finding(name, None, p.detail) for p in error.problems]
        stored = dict(spec, id=number + 1)
        self.callbacks.append(stored)
        return dict(stored)

    def is_admin(self, user: Optional[str]) -> bool:
        return user in self.admins

    @property
    def now(self) -> int:
        return qube_now() if self._clock is None else self._clock


class RecordingTarget:
    """A bare ``on_submit`` callable as a :class:`Target`: ``jobinfo`` answers from what it
    returned; hosts are :data:`CHECK_HOSTS`; actions are recorded in ``notes``."""

    knows_every_job = False

    def __init__(self, on_submit: OnSubmit, *, admins: Sequence[str] = DEFAULT_ADMINS) -> None:
        self._on_submit = on_submit
        self._check = CheckTarget(admins=admins)
        self.notes = self._check.notes

    def submit(self, jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        accepted = self._on_submit(jobs)
        for job in accepted:
            if isinstance(job, dict) and isinstance(job.get("id"), int):
                self._check.jobs[job["id"]] = dict(job)
        return accepted

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return self._check.jobinfo(**criteria)

    def hostinfo(self) -> List[Dict[str, Any]]:
        return self._check.hostinfo()

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        self._check.act(verb, jobid, work=work, subjob=subjob)

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        self._check.modify(jobid, fields)

    def submit_callback(self, spec: Dict[str, Any], *, user: Optional[str] = None) -> Dict[str, Any]:
        return self._check.submit_callback(spec, user=user)

    def is_admin(self, user: Optional[str]) -> bool:
        return self._check.is_admin(user)

    @property
    def now(self) -> int:
        return qube_now()
