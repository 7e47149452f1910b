"""The stand-in ``qb`` module a submit script imports: Qube's submit-time API over a :class:`Target`.

One :class:`StandIn` per script run. :meth:`StandIn.module` is what ``import qb`` gives a Python
script; :meth:`StandIn.call` is what the Perl ``qb`` module's calls come to over the bridge, so
both languages share one implementation. What it offers (Qube's signatures):

- ``submit(*jobs, deferTableCreation=True)``: each argument a job (``qb.Job`` or dict) or a list of
  them; all of one call are one submission (one pgrp). Returns the jobs as the farm numbered them.
  The script's own dicts are not changed. The fields go as the script gave them: the farm
  normalises and checks them (``timelimit``, ``agenda_timelimit`` and ``waitfor`` are rewritten there
  too, so JSON job lists get the same treatment).
- ``genframes``, ``genchunks``, ``genpartitions``, ``rangesplit``, ``rangechunk``,
  ``rangepartition``, ``binarySort``: :mod:`.ranges`.
- ``jobinfo(fields=[], filters={}, id=None, status=None, agenda=False, subjobs=False,
  callbacks=False, minid=None, maxid=None, limit=None, orderby=None)``, also as ``'-name', value``
  pairs (``jobinfo('-pgrp', 1000)``, Perl's form): jobs of the farm; ``agenda``, ``subjobs`` and
  ``callbacks`` only when asked for, as in Qube. The time filters (``updatedAfter``...) are refused:
  the simulated farm keeps no such times.
- ``hostinfo(fields=[], filters={}, name=None, state=None, subjobs=False)``: the farm's hosts.
- job actions ``kill remove block unblock retry requeue interrupt preempt migrate suspend resume
  retire complete fail`` (``(jobid, *more)``, a subjob as ``'jobid.subid'`` where the verb applies to
  subjobs), work actions ``killwork blockwork ...`` (``'jobid:workname'``), ``modify(fields, jobid,
  *more)``: carried out by the target as the user the script runs as, who may act on its own jobs
  (any job when a Qube administrator).
- ``submitcallback(callback, *more)``: global callbacks; administrators only, as in Qube.
- ``archivejob(filename, job, format=QB_API_XML)`` writes the job as JSON whatever the format (a
  list of one job: ``qbtrigger check`` and ``simulate`` read the file back); ``recoverjob(filename)``.
- ``waitfor(...)``: returns None at once, with a note: no farm time passes while a script runs.
- ``currenttime()`` (the farm's clock, Unix seconds), ``isadmin(user)``, ``ping()``, ``error()``,
  ``validatejob``, ``convertstatus``, the classes of :mod:`.objects` and the constants
  ``QB_TIME_EPOCH_OFFSET``, ``QB_API_XML``, ``QB_API_BINARY``.

Anything else is an ``AttributeError`` that says the stand-in does not have it. A call it refuses
raises :class:`QbError` (a ``ValueError``) naming the function, the job or field, and what would be
accepted.
"""

from __future__ import annotations

import json
import math
import os
import sys
import types
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..callbacks.qbapi import QbPermissionError
from ..vocabulary import JOB_VERBS, STATES, SUBJOB_VERBS, WORK_VERBS
from . import ranges
from .errors import QbError
from .objects import Callback, Host, Job, QBObject, Subjob, Work, wrap_job
from .target import QUBE_EPOCH, Target

#: The folder ``QBDIR`` names while a script runs (when it is not set): ``api/python/qb.py`` and
#: ``api/perl/qb.pm`` are the stand-ins.
QBDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qbdir")

__all__ = [
    "StandIn",
    "QB_TIME_EPOCH_OFFSET",
    "QB_API_BINARY",
    "QB_API_XML",
    "JOB_FUNCTIONS",
    "WORK_FUNCTIONS",
    "PERL_FUNCTIONS",
]

#: Unix time of Qube time 0 (2000-01-01 05:00:00 UTC).
QB_TIME_EPOCH_OFFSET = QUBE_EPOCH
QB_API_BINARY = 1
QB_API_XML = 2

#: ``qb.<verb>(jobid, *more)``
JOB_FUNCTIONS: Tuple[str, ...] = JOB_VERBS
#: ``qb.<name>('jobid:workname', *more)`` -> verb; Qube's names and the older ``work<verb>``.
WORK_FUNCTIONS: Dict[str, str] = {
    **{f"{verb}work": verb for verb in WORK_VERBS},
    **{f"work{verb}": verb for verb in WORK_VERBS},
}
#: What the Perl ``qb`` module's functions call over the bridge (``qb.pm`` defines each).
PERL_FUNCTIONS: Tuple[str, ...] = (
    "submit", "jobinfo", "hostinfo", "modify", "submitcallback", "archivejob", "recoverjob",
    "genframes", "genchunks", "genpartitions", "rangesplit", "rangechunk", "rangepartition", "binarySort",
    "waitfor", "currenttime", "isadmin", "ping", "error",
) + JOB_FUNCTIONS + tuple(sorted(WORK_FUNCTIONS))

_JOBINFO_OPTIONS = (
    "fields", "filters", "id", "status", "agenda", "subjobs", "callbacks", "minid", "maxid", "limit", "orderby",
    "updatedAfter", "updatedBefore", "submittedAfter", "submittedBefore",
)
_TIME_FILTERS = ("updatedAfter", "updatedBefore", "submittedAfter", "submittedBefore")
_JOBINFO_FILTERS = (
    "id", "name", "user", "status", "priority", "pgrp", "pid", "todo", "cluster", "prototype", "groups", "cpus",
    "label",
)
_INT_FILTERS = frozenset(("id", "priority", "pgrp", "pid", "todo", "cpus"))
_EXTRA_FIELDS = ("agenda", "subjobs", "callbacks")
_QUBE_STATES = STATES + ("unknown", "badlogin", "registering", "dying")
_HOSTINFO_OPTIONS = ("fields", "filters", "name", "state", "subjobs")
_HOST_STATES = ("active", "down", "panic", "none")
#: Fields every ``qb.Host`` has in Qube; a farm that knows no better gets these values.
_HOST_DEFAULTS: Dict[str, Any] = {
    "state": "active", "cluster": "/", "groups": "", "properties": "", "resources": "", "restrictions": "",
    "address": "", "macaddress": "",
}


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _job_name(job: Mapping[str, Any], index: int) -> str:
    label = job.get("label")
    if isinstance(label, str) and label:
        return f"job {label!r}"
    name = job.get("name")
    if isinstance(name, str) and name:
        return f"job #{index} ({name!r})"
    return f"job #{index}"


def _plain(value: Any, fn: str, where: str, path: str) -> Any:
    """``value`` as JSON-shaped data (dicts, lists, str, numbers, bool, None), or a QbError
    naming where the first value Qube could not store is."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QbError(f"qb.{fn}: {where}: {path or 'value'} is {value!r}, which Qube cannot store")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise QbError(f"qb.{fn}: {where}: {path or 'a dict'} has a key {key!r}; keys are strings")
            out[str(key)] = _plain(item, fn, where, f"{path}.{key}" if path else f"field '{key}'")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, fn, where, f"{path}[{i}]") for i, item in enumerate(value)]
    raise QbError(
        f"qb.{fn}: {where}: {path or 'value'} is a {type(value).__name__}, which Qube cannot store "
        "(str, int, float, bool, None, a list or a dict of them)"
    )


def _ints(fn: str, what: str, value: Any) -> List[int]:
    """An int, a string of digits, or a list of them, as ints."""
    values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    out = []
    for item in values:
        if isinstance(item, bool):
            raise QbError(f"qb.{fn}: {what} must be an int (or a list of ints), not bool")
        if isinstance(item, int):
            out.append(item)
        elif isinstance(item, str) and item.strip().lstrip("-").isdigit():
            out.append(int(item))
        else:
            raise QbError(f"qb.{fn}: {what} must be an int (or a list of ints), not {item!r}")
    return out


def _options(fn: str, args: Tuple[Any, ...], kwargs: Dict[str, Any], positional: Tuple[str, ...],
             accepted: Tuple[str, ...]) -> Dict[str, Any]:
    """Qube's keyword options, given as keywords, positionally, or as ``'-name', value`` pairs (a
    ``-name`` that is no option is a filter: ``jobinfo('-pgrp', 1000)``)."""
    opts: Dict[str, Any] = {}
    if args and isinstance(args[0], str) and args[0].startswith("-"):
        if len(args) % 2:
            raise QbError(f"qb.{fn}: '-name', value pairs come in twos; {args[-1]!r} has no value")
        filters: Dict[str, Any] = {}
        for flag, value in zip(args[::2], args[1::2]):
            if not isinstance(flag, str) or not flag.startswith("-") or len(flag) < 2:
                raise QbError(f"qb.{fn}: expected a '-name' flag, not {flag!r}")
            name = flag[1:]
            if name in accepted and name != "filters":
                opts[name] = value
            else:
                filters[name] = value
        if filters:
            opts["filters"] = filters
    else:
        if len(args) > len(positional):
            raise QbError(f"qb.{fn}: takes at most {len(positional)} positional arguments "
                          f"({', '.join(positional)}), not {len(args)}")
        # Qube's older order: a dict first is the filters.
        if args and isinstance(args[0], Mapping) and len(args) == 1 and "filters" in positional:
            opts["filters"] = args[0]
        else:
            opts.update(zip(positional, args))
    for key, value in kwargs.items():
        if key not in accepted:
            raise QbError(f"qb.{fn}: unknown keyword argument '{key}' (accepted: {', '.join(accepted)})")
        if key in opts:
            raise QbError(f"qb.{fn}: '{key}' given twice")
        opts[key] = value
    return opts


def _field_list(fn: str, value: Any, allowed: Sequence[str]) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise QbError(f"qb.{fn}: fields must be a list of names ({', '.join(allowed)}), not {_type_name(value)}")
    for name in value:
        if name not in allowed:
            raise QbError(f"qb.{fn}: unknown field {name!r} in fields (accepted: {', '.join(allowed)})")
    return list(value)


def _filter_dict(fn: str, value: Any) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise QbError(f"qb.{fn}: filters must be a dict such as {{'id': 1234}}, not {_type_name(value)}")
    return dict(value)


def _any_of(value: Any) -> List[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


class StandIn:
    """The stand-in ``qb`` of one script run, acting on ``target`` as ``user``.

    After the run: ``batches`` holds each submission as the target returned it, ``callbacks`` the
    global callbacks, ``archived`` the files ``archivejob`` wrote. ``note`` writes a one-line note
    (default: to stderr).
    """

    def __init__(self, target: Target, *, user: Optional[str] = None,
                 note: Optional[Callable[[str], None]] = None) -> None:
        self.target = target
        self.user = user
        self.batches: List[List[Dict[str, Any]]] = []
        self.callbacks: List[Dict[str, Any]] = []
        self.archived: List[str] = []
        #: Commands the script started (a Python script's, the first few): a job submitted from
        #: another process never reaches the stand-in, and saying so explains a script that
        #: "submitted no jobs".
        self.processes: List[str] = []
        self._note = note

    def note(self, text: str) -> None:
        if self._note is not None:
            self._note(text)
        else:
            print(f"qbtrigger: note: {text}", file=sys.stderr)

    # ------------------------------------------------------------------ the module
    def module(self) -> types.ModuleType:
        """The ``qb`` module a Python script imports."""

        module = types.ModuleType("qb", "qbtrigger's stand-in for Qube's qb module (submit scripts)")
        module.__file__ = os.path.join(QBDIR, "api", "python", "qb.py")
        names: Dict[str, Any] = {
            "Job": Job, "Work": Work, "Callback": Callback, "Subjob": Subjob, "Host": Host, "QBObject": QBObject,
            "QB_TIME_EPOCH_OFFSET": QB_TIME_EPOCH_OFFSET, "QB_API_XML": QB_API_XML, "QB_API_BINARY": QB_API_BINARY,
            "PermissionError": QbPermissionError, "QbError": QbError,
            "genframes": ranges.genframes, "genchunks": ranges.genchunks, "genpartitions": ranges.genpartitions,
            "rangesplit": ranges.rangesplit, "rangechunk": ranges.rangechunk,
            "rangepartition": ranges.rangepartition, "binarySort": ranges.binary_sort,
            "validatejob": lambda job: isinstance(job, dict),
            "convertstatus": lambda status: status,
        }
        for name in ("submit", "jobinfo", "hostinfo", "modify", "submitcallback", "archivejob", "recoverjob",
                     "waitfor", "currenttime", "isadmin", "ping", "error"):
            names[name] = getattr(self, name)
        for verb in JOB_FUNCTIONS:
            names[verb] = self._job_action(verb)
        for name, verb in WORK_FUNCTIONS.items():
            names[name] = self._work_action(name, verb)
        module.__dict__.update(names)

        def missing(name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            raise AttributeError(
                f"qbtrigger's stand-in qb has no '{name}' (Qube's qb may; qbtrigger does not model it: "
                "see the README, 'For pipeline engineers', for what the stand-in offers)"
            )

        module.__dict__["__getattr__"] = missing
        return module

    def call(self, name: str, args: List[Any]) -> Any:
        """Call the function ``name`` (the Perl bridge's entry point)."""
        if name not in PERL_FUNCTIONS:
            raise AttributeError(f"qbtrigger's stand-in qb has no function '{name}'")
        if name in JOB_FUNCTIONS:
            return self._job_action(name)(*args)
        if name in WORK_FUNCTIONS:
            return self._work_action(name, WORK_FUNCTIONS[name])(*args)
        helpers: Dict[str, Callable[..., Any]] = {
            "genframes": ranges.genframes, "genchunks": ranges.genchunks, "genpartitions": ranges.genpartitions,
            "rangesplit": ranges.rangesplit, "rangechunk": ranges.rangechunk,
            "rangepartition": ranges.rangepartition, "binarySort": ranges.binary_sort,
        }
        function: Callable[..., Any] = helpers.get(name) or getattr(self, name)
        return function(*args)

    # ------------------------------------------------------------------ submit
    def submit(self, *jobs: Any, **kwargs: Any) -> List[Job]:
        """Qube's ``submit(*jobs, deferTableCreation=True)``."""
        for key in kwargs:
            if key != "deferTableCreation":
                raise QbError(f"qb.submit: unknown keyword argument '{key}' (accepted: deferTableCreation)")
        batch: List[Mapping[str, Any]] = []
        for number, arg in enumerate(jobs, 1):
            if isinstance(arg, Mapping):
                batch.append(arg)
            elif isinstance(arg, (list, tuple)):
                for index, item in enumerate(arg):
                    if not isinstance(item, Mapping):
                        raise QbError(f"qb.submit: item {index} of argument {number} is a {_type_name(item)}, "
                                      "not a job (a qb.Job or dict)")
                    batch.append(item)
            else:
                raise QbError(f"qb.submit: argument {number} is a {_type_name(arg)}, not a job: pass qb.Job "
                              "or dict objects, or lists of them")
        if not batch:
            raise QbError("qb.submit: nothing to submit (no job was given)")
        plain = [_plain(job, "submit", _job_name(job, i), "") for i, job in enumerate(batch)]
        accepted = self.target.submit(plain)
        self.batches.append(accepted)
        return [wrap_job(job) for job in accepted]

    # ------------------------------------------------------------------ queries
    def jobinfo(self, *args: Any, **kwargs: Any) -> List[Job]:
        """Qube's ``jobinfo`` (see the module docstring)."""
        fn = "jobinfo"
        opts = _options(fn, args, kwargs, ("fields", "filters"), _JOBINFO_OPTIONS)
        for key in _TIME_FILTERS:
            if opts.get(key) is not None:
                raise QbError(f"qb.{fn}: {key} is not supported by qbtrigger's stand-in (the simulated farm "
                              "keeps no update or submission times); filter on id, status, pgrp... instead")
        fields = _field_list(fn, opts.get("fields"), _EXTRA_FIELDS)
        fields += [name for name in _EXTRA_FIELDS if opts.get(name) and name not in fields]
        filters = _filter_dict(fn, opts.get("filters"))
        for key in ("id", "status"):
            if opts.get(key) is not None:
                filters[key] = opts[key]
        wanted: Dict[str, List[Any]] = {}
        for key, value in filters.items():
            if key not in _JOBINFO_FILTERS:
                raise QbError(f"qb.{fn}: unknown filter {key!r} (accepted: {', '.join(_JOBINFO_FILTERS)})")
            if key in _INT_FILTERS:
                wanted[key] = list(_ints(fn, key, value))
            else:
                wanted[key] = [str(v) for v in _any_of(value)]
        for status in wanted.get("status", []):
            if status not in _QUBE_STATES:
                raise QbError(f"qb.{fn}: unknown status {status!r} (states: {', '.join(_QUBE_STATES)})")
        minid = None if opts.get("minid") is None else _ints(fn, "minid", opts["minid"])[0]
        maxid = None if opts.get("maxid") is None else _ints(fn, "maxid", opts["maxid"])[0]
        ids = wanted.get("id")
        candidates = self.target.jobinfo(id=ids[0]) if ids and len(ids) == 1 else self.target.jobinfo()
        found = []
        for job in candidates:
            job = dict(job)
            job.setdefault("todo", len(job.get("agenda") or []))
            if minid is not None and job.get("id", minid) < minid:
                continue
            if maxid is not None and job.get("id", maxid) > maxid:
                continue
            if all(self._holds(job, key, values) for key, values in wanted.items()):
                found.append(job)
        found = self._order(fn, found, opts.get("orderby"), opts.get("limit"))
        for job in found:
            for name in _EXTRA_FIELDS:
                if name not in fields:
                    job.pop(name, None)
        return [wrap_job(job) for job in found]

    @staticmethod
    def _holds(job: Mapping[str, Any], key: str, values: List[Any]) -> bool:
        value = job.get(key)
        if key in _INT_FILTERS:
            try:
                return value is not None and int(value) in values
            except (TypeError, ValueError):
                return False
        return value is not None and str(value) in values

    @staticmethod
    def _order(fn: str, jobs: List[Dict[str, Any]], orderby: Any, limit: Any) -> List[Dict[str, Any]]:
        if orderby is not None:
            words = str(orderby).split()
            if not words or len(words) > 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
                raise QbError(f"qb.{fn}: orderby is 'FIELD' or 'FIELD ASC|DESC', not {orderby!r}")
            key = words[0]
            present = [j for j in jobs if j.get(key) is not None]
            absent = [j for j in jobs if j.get(key) is None]
            try:
                present.sort(key=lambda j: j[key], reverse=len(words) == 2 and words[1].upper() == "DESC")
            except TypeError:
                present.sort(key=lambda j: str(j[key]), reverse=len(words) == 2 and words[1].upper() == "DESC")
            jobs = present + absent
        if limit is not None:
            count = _ints(fn, "limit", limit)[0]
            if count < 0:
                raise QbError(f"qb.{fn}: limit must be 0 or more, not {count}")
            jobs = jobs[:count] if count else jobs
        return jobs

    def hostinfo(self, *args: Any, **kwargs: Any) -> List[Host]:
        """Qube's ``hostinfo(fields=[], filters={}, name=None, state=None, subjobs=False)``."""
        fn = "hostinfo"
        opts = _options(fn, args, kwargs, ("fields", "filters"), _HOSTINFO_OPTIONS)
        fields = _field_list(fn, opts.get("fields"), ("subjobs",))
        if opts.get("subjobs") and "subjobs" not in fields:
            fields.append("subjobs")
        filters = _filter_dict(fn, opts.get("filters"))
        for key in ("name", "state"):
            if opts.get(key) is not None:
                filters[key] = opts[key]
        for key in filters:
            if key not in Host.FIELDS:
                raise QbError(f"qb.{fn}: unknown filter {key!r} (accepted: {', '.join(sorted(Host.FIELDS))})")
        for state in _any_of(filters.get("state", [])):
            if state not in _HOST_STATES:
                raise QbError(f"qb.{fn}: unknown host state {state!r} (states: {', '.join(_HOST_STATES)})")
        out = []
        for host in self.target.hostinfo():
            host = {**_HOST_DEFAULTS, **host}
            if all(str(host.get(key)) in [str(v) for v in _any_of(value)] for key, value in filters.items()):
                if "subjobs" not in fields:
                    host.pop("subjobs", None)
                out.append(Host(host))
        return out

    def isadmin(self, user: Optional[str] = None) -> bool:
        """Qube's ``isadmin(user)``: whether ``user`` (default: the script's) is an administrator."""
        return bool(self.target.is_admin(self.user if user is None else str(user)))

    def currenttime(self) -> int:
        """The farm's clock, in Unix seconds."""
        return int(self.target.now) + QB_TIME_EPOCH_OFFSET

    def waitfor(self, *args: Any, **kwargs: Any) -> None:
        """Qube's ``waitfor(post, timeout)``: no farm time passes while a submit script runs (the
        simulation starts when it ends), so nothing can arrive: return None at once, with a note."""
        self.note("qb.waitfor returns at once: no farm time passes while a submit script runs "
                  "(the simulation starts when the script ends)")
        return None

    def ping(self, supervisor: Any = None, asDict: bool = False) -> Any:  # noqa: N803 - Qube's name
        """The stand-in supervisor answers."""
        from .. import __version__

        if asDict:
            return {"address": "127.0.0.1", "version": __version__, "build": "qbtrigger", "os": sys.platform}
        return f"127.0.0.1 qbtrigger {__version__} (stand-in supervisor)"

    def error(self) -> str:
        """Qube's ``error()``: the last error reason (the stand-in raises instead)."""
        return ""

    # ------------------------------------------------------------------ actions
    def _lookup(self, fn: str, jobid: int) -> Optional[Dict[str, Any]]:
        """The job, checking that the script's user may act on it."""
        found = self.target.jobinfo(id=jobid)
        if not found:
            if self.target.knows_every_job:
                raise QbError(f"qb.{fn}: there is no job {jobid} on the farm")
            return None
        job = found[0]
        owner = job.get("user")
        if owner is not None and owner != self.user and not self.target.is_admin(self.user):
            raise QbPermissionError(
                f"qb.{fn}: job {jobid} belongs to user {owner!r}; the script runs as {self.user!r}, who is not "
                "a Qube administrator (see --user)"
            )
        return job

    def _job_ref(self, fn: str, ref: Any, subjobs: bool) -> Tuple[int, Optional[int]]:
        """``1234`` or ``'1234'`` -> (1234, None); ``'1234.0'`` -> (1234, 0) where subjobs apply."""
        if isinstance(ref, bool):
            raise QbError(f"qb.{fn}: expected a job id, not bool")
        if isinstance(ref, int):
            return ref, None
        if isinstance(ref, str):
            text = ref.strip()
            if text.isdigit():
                return int(text), None
            job, dot, sub = text.partition(".")
            if dot and job.isdigit() and sub.isdigit():
                if not subjobs:
                    raise QbError(f"qb.{fn}: {ref!r} names a subjob; {fn} acts on whole jobs (give the job id)")
                return int(job), int(sub)
        form = "a job id (int) or 'jobid.subjobid'" if subjobs else "a job id (int)"
        raise QbError(f"qb.{fn}: expected {form}, not {ref!r}")

    def _act(self, fn: str, verb: str, jobid: int, **where: Any) -> None:
        try:
            self.target.act(verb, jobid, **where)
        except KeyError as error:
            text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
            raise QbError(f"qb.{fn}: {text}") from None
        except ValueError as error:
            raise QbError(f"qb.{fn}: {error}") from None

    def _job_action(self, verb: str) -> Callable[..., List[Any]]:
        subjobs = verb in SUBJOB_VERBS

        def action(jobid: Any, *more: Any) -> List[Any]:
            affected: List[Any] = []
            for ref in (jobid, *more):
                target, sub = self._job_ref(verb, ref, subjobs)
                job = self._lookup(verb, target)
                if sub is not None:
                    self._act(verb, verb, target, subjob=sub)
                    affected.append(f"{target}.{sub}")
                    continue
                self._act(verb, verb, target)
                if verb == "remove":
                    affected.append(target)
                else:
                    subs = (job or {}).get("subjobs") or []
                    affected.extend(f"{target}.{s.get('id', i) if isinstance(s, dict) else i}"
                                    for i, s in enumerate(subs))
            return affected

        action.__name__ = verb
        action.__doc__ = f"qb.{verb}(jobid, *more): {verb} each job."
        return action

    def _work_action(self, name: str, verb: str) -> Callable[..., List[str]]:
        def action(work: Any, *more: Any) -> List[str]:
            affected = []
            for ref in (work, *more):
                text = str(ref) if isinstance(ref, (str, int)) and not isinstance(ref, bool) else None
                job, colon, item = (text or "").partition(":")
                if text is None or not colon or not job.strip().isdigit() or not item:
                    raise QbError(f"qb.{name}: a work item is 'jobid:workname' (e.g. '1234:5'), not {ref!r}")
                target = int(job)
                self._lookup(name, target)
                self._act(name, verb, target, work=item)
                affected.append(f"{target}:{item}")
            return affected

        action.__name__ = name
        action.__doc__ = f"qb.{name}('jobid:workname', *more): {verb} each work item."
        return action

    def modify(self, fields: Any, jobid: Any, *more: Any) -> List[int]:
        """Qube's ``modify(fields, jobid, *more)``."""
        if not isinstance(fields, Mapping):
            raise QbError(f"qb.modify: the first argument is the fields to set, a dict such as "
                          f"{{'priority': 100}}, not {_type_name(fields)}")
        affected = []
        for ref in (jobid, *more):
            target, _ = self._job_ref("modify", ref, False)
            self._lookup("modify", target)
            plain = _plain(fields, "modify", f"job {target}", "")
            try:
                self.target.modify(target, plain)
            except KeyError as error:
                text = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
                raise QbError(f"qb.modify: {text}") from None
            except ValueError as error:
                raise QbError(f"qb.modify: {error}") from None
            affected.append(target)
        return affected

    # ------------------------------------------------------------------ global callbacks
    def submitcallback(self, callback: Any, *more: Any) -> List[Callback]:
        """Global callbacks, attached to no job; Qube allows them to administrators only."""
        if not self.target.is_admin(self.user):
            raise QbPermissionError(
                f"qb.submitcallback: global callbacks need a Qube administrator; the script runs as "
                f"{self.user!r}, who is not one (run with --user and an administrator's name, e.g. admin)"
            )
        out = []
        for number, spec in enumerate((callback, *more), 1):
            if not isinstance(spec, Mapping):
                raise QbError(f"qb.submitcallback: argument {number} is a {_type_name(spec)}, not a callback "
                              "(a dict with triggers, language and code)")
            plain = _plain(spec, "submitcallback", f"callback {number}", "")
            try:
                stored = self.target.submit_callback(plain, user=self.user)
            except NotImplementedError as error:
                raise QbError(f"qb.submitcallback: {error}") from None
            stored = dict(stored)
            if "id" not in stored and "handle" in stored:
                stored["id"] = stored["handle"]  # Qube's Callback has an id
            self.callbacks.append(stored)
            out.append(Callback(stored))
        return out

    # ------------------------------------------------------------------ archives
    def archivejob(self, filename: Any, job: Any, format: Any = QB_API_XML) -> int:  # noqa: A002 - Qube's name
        """Write ``job`` to ``filename`` as JSON (a list of one job; see the module docstring);
        return the file's size in bytes, as Qube does."""
        if not isinstance(job, Mapping):
            raise QbError(f"qb.archivejob: the job must be a qb.Job or dict, not {_type_name(job)}")
        if format not in (QB_API_XML, QB_API_BINARY):
            raise QbError(f"qb.archivejob: format must be qb.QB_API_XML ({QB_API_XML}) or qb.QB_API_BINARY "
                          f"({QB_API_BINARY}), not {format!r}")
        if not isinstance(filename, (str, os.PathLike)) or not os.fspath(filename):
            raise QbError(f"qb.archivejob: the file name must be a non-empty str, not {filename!r}")
        data = json.dumps([_plain(job, "archivejob", _job_name(job, 0), "")], indent=2) + "\n"
        path = os.fspath(filename)
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(data)
        except OSError as error:
            raise QbError(f"qb.archivejob: cannot write {path!r}: {error.strerror or error}") from None
        self.archived.append(str(path))
        return len(data.encode("utf-8"))

    def recoverjob(self, filename: Any) -> Job:
        """Read back a job that :meth:`archivejob` wrote (or a JSON job dict or list)."""
        path = os.fspath(filename)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as error:
            raise QbError(f"qb.recoverjob: cannot read {path!r}: {error.strerror or error}") from None
        except ValueError as error:
            raise QbError(f"qb.recoverjob: {path!r} is not a job archive qbtrigger wrote (JSON): {error}") from None
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, dict):
            raise QbError(f"qb.recoverjob: {path!r} holds no job")
        return wrap_job(data)
