"""The ``qb`` API that python callbacks call (and perl callbacks reach over their pipe): SPEC §7.2.

One :class:`QbApi` per engine. The engine binds it to the running callback (:meth:`QbApi.bound`)
so ``qb.jobid()``, ``qb.event()`` and ``qb.count()`` answer for that callback, and every action
goes through :meth:`QbApi._check_permission`: a callback may act only on jobs of its own owner
unless that owner is an administrator (universal callbacks run as administrator).
"""

from __future__ import annotations

import builtins
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Tuple

from .. import MAX_JOB_ID, vocabulary
from .._common import number_value
from ..errors import Error, UnknownJobError
from ..vocabulary import JOBINFO_FIELDS
from .callback import Invocation

if TYPE_CHECKING:  # pragma: no cover
    from .host import Host

__all__ = ["QbApi", "QbPermissionError", "JOB_FUNCTIONS", "WORK_FUNCTIONS", "WORK_ALIASES", "QB_FUNCTIONS"]


class QbPermissionError(Error, builtins.PermissionError):
    """``qb.PermissionError``: a callback acted on a job of another owner."""


#: ``qb.<verb>(jobid, *more)``
JOB_FUNCTIONS = vocabulary.JOB_VERBS
#: ``qb.<verb>work('jobid:workname', *more)`` -> host verb
WORK_FUNCTIONS = {f"{v}work": v for v in vocabulary.WORK_VERBS}
#: The old spellings: ``qb.work<verb>``.
WORK_ALIASES = {f"work{v}": v for v in "block unblock kill retry requeue complete".split()}
#: Every function name of the API, for the perl bridge and for documentation.
QB_FUNCTIONS = tuple(
    ["jobid", "event", "count", "firingid", "jobinfo", "modify"] + list(JOB_FUNCTIONS) + sorted(WORK_FUNCTIONS) + sorted(WORK_ALIASES)
)

_QB_FUNCTION_SET = frozenset(QB_FUNCTIONS)


#: A job id of at most this many digits (no leading zeros) cannot pass MAX_JOB_ID's digit count.
_JOB_ID_DIGITS = len(str(MAX_JOB_ID))


def _job_id(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        # The usual form, at once: a few ASCII digits (number_value gives the same answer).
        if value.isascii() and value.isdigit() and len(value) < _JOB_ID_DIGITS:
            return int(value)
    if isinstance(value, bool):
        raise TypeError("a job id must be an int, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        # ASCII digits only, as everywhere ('²' and '١٢٣' are not job ids).
        number = number_value(value.strip(), MAX_JOB_ID)
        if number is not None:
            return number
    raise TypeError(f"a job id must be an int or a string of digits, not {value!r}")


def _work_ref(value: Any) -> Tuple[int, str]:
    """``'1234:5'`` -> ``(1234, '5')``; a work name may itself hold ``:``, the job id may not."""
    if isinstance(value, str):
        job, _, name = value.partition(":")
        if name:
            return _job_id(job), name
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        return _job_id(value[0]), str(value[1])
    raise ValueError(f"a work item is 'jobid:workname', not {value!r}")


class QbApi:
    """The ``qb`` object of python callbacks. Attribute access mirrors a module."""

    PermissionError = QbPermissionError

    def __init__(self, host: "Host") -> None:
        self._host = host
        self._inv: Optional[Invocation] = None
        for verb in JOB_FUNCTIONS:
            setattr(self, verb, self._job_action(verb))
        for name, verb in list(WORK_FUNCTIONS.items()) + list(WORK_ALIASES.items()):
            setattr(self, name, self._work_action(verb))

    # ----------------------------------------------------------------- binding to one callback
    @contextmanager
    def bound(self, inv: Invocation) -> Iterator["QbApi"]:
        """Answer for ``inv`` while the block runs (nesting restores the outer callback)."""
        outer, self._inv = self._inv, inv
        try:
            yield self
        finally:
            self._inv = outer

    def _current(self) -> Invocation:
        if self._inv is None:
            raise RuntimeError("qb is only available while a callback runs")
        return self._inv

    # ----------------------------------------------------------------- about the callback
    def jobid(self) -> int:
        """The id of the job that owns the running callback."""
        return self._current().jobid

    def count(self) -> int:
        """How many times the running callback has fired, this firing included."""
        return self._current().callback.count

    def firingid(self) -> int:
        """This firing's id: the same in every run of one store, however often the supervisor was
        interrupted and resumed in between. The callback's ``qb`` actions take effect exactly once;
        anything else it does (files, mail, other programs) may happen again for the same firing
        after a crash: key such effects by this id to do them once."""
        return self._current().firing

    def event(self) -> Optional[Dict[str, Any]]:
        """The event that fired the callback: name, type, jobid, extra, and the pgrp and label of
        the event's job (None when that job is unknown). None when no event text fired it."""
        inv = self._current()
        ev = inv.event
        if ev is None:
            return None
        job = self._host.job(ev.jobid) if ev.jobid is not None else None
        return {
            "name": ev.name,
            "type": ev.type,
            "jobid": ev.jobid,
            "extra": ev.extra,
            "pgrp": job.get("pgrp") if job else None,
            "label": job.get("label") if job else None,
            "text": inv.text or str(ev),
        }

    # ----------------------------------------------------------------- queries
    def jobinfo(self, *args: Any, **criteria: Any) -> List[Dict[str, Any]]:
        """``qb.jobinfo('-id', 1234)``, ``qb.jobinfo('-pgrp', 1000)`` or ``qb.jobinfo(id=1234)``:
        the matching job dicts. Several criteria must all hold; a list value matches any item."""
        if len(args) % 2:
            raise TypeError("qb.jobinfo takes '-field', value pairs or field=value keywords")
        for flag, value in zip(args[::2], args[1::2]):
            if not isinstance(flag, str) or not flag.startswith("-"):
                raise TypeError(f"qb.jobinfo: expected a '-field' flag, not {flag!r}")
            criteria[flag[1:]] = value
        for key in criteria:
            if key not in JOBINFO_FIELDS:
                raise ValueError(f"qb.jobinfo: unknown field '{key}' (known: {', '.join(JOBINFO_FIELDS)})")
        host = self._host
        lists = {k: v for k, v in criteria.items() if isinstance(v, (list, tuple, set))}
        if not lists:
            return host.jobinfo(**criteria)
        # A list means "any of": query each combination the host understands, keep id order.
        found: Dict[int, Dict[str, Any]] = {}
        key, values = next(iter(lists.items()))
        for value in values:
            for job in self.jobinfo(**{**criteria, key: value}):
                found[job["id"]] = job
        return [found[i] for i in sorted(found)]

    # ----------------------------------------------------------------- actions
    def modify(self, fields: Dict[str, Any], jobid: Any, *more: Any) -> None:
        """Set ``fields`` on each of the jobs."""
        if not isinstance(fields, dict):
            raise TypeError("qb.modify(fields, jobid, *more): fields must be a dict")
        for target in (jobid, *more):
            target = _job_id(target)
            self._check_permission(target)
            self._host.modify(target, dict(fields))

    def _job_action(self, verb: str) -> Callable[..., None]:
        def action(jobid: Any, *more: Any) -> None:
            for target in (jobid, *more):
                target = _job_id(target)
                self._check_permission(target)
                self._host.act(verb, target)

        action.__name__ = verb
        action.__doc__ = f"qb.{verb}(jobid, *more): {verb} each job."
        return action

    def _work_action(self, verb: str) -> Callable[..., None]:
        def action(work: Any, *more: Any) -> None:
            for ref in (work, *more):
                target, name = _work_ref(ref)
                self._check_permission(target)
                self._host.act(verb, target, work=name)

        action.__name__ = f"{verb}work"
        action.__doc__ = f"qb.{verb}work('jobid:workname', *more): {verb} each work item."
        return action

    def _check_permission(self, target: int) -> None:
        inv = self._inv
        if inv is None:
            raise RuntimeError("qb is only available while a callback runs")
        callback = inv.callback
        if callback.admin:
            return
        host = self._host
        jobid = callback.jobid
        owner_job = host.job(jobid)
        if target == jobid:  # its own job (the usual case): it only has to exist
            if owner_job is None:
                raise UnknownJobError(f"unknown job {target}")
            return
        target_job = host.job(target)
        if target_job is None:
            raise UnknownJobError(f"unknown job {target}")
        owner = owner_job.get("user") if owner_job else None
        if target_job.get("user") == owner or host.is_admin(owner):
            return
        raise QbPermissionError(
            f"job {jobid} (user {owner!r}) may not act on job {target} of user {target_job.get('user')!r}"
        )

    def call(self, name: str, args: List[Any], kwargs: Optional[Dict[str, Any]] = None) -> Any:
        """Call API function ``name`` (the perl bridge's entry point)."""
        if name not in _QB_FUNCTION_SET:
            raise AttributeError(f"qb has no function '{name}'")
        return getattr(self, name)(*args, **(kwargs or {}))
