"""The supervisor's side of python callback isolation: a small pool of worker processes.

Each worker is a warden (:mod:`.warden`, trusted, a child subreaper) and the process it forked to
run callbacks (:mod:`.executor`). Workers are kept per *principal*: the owner (``user``) of the
callback's job, or ``admin`` for the administrator's universal and global callbacks; so whatever
a callback leaves behind in its worker (a patched ``qb``, a global) only ever meets callbacks of
the same owner. At most :attr:`CallbackLimits.workers` live at once (least recently used first
out); each starts on first need.

A firing is one message to the worker; the worker's ``qb`` calls come back over the channel
(:mod:`.channel`) and are answered here by the engine's :class:`~qbtrigger.callbacks.QbApi`, bound
to that firing: the permission check, the host and the store stay in this process. The firing
ends with the worker's ``done``; if instead the time limit passes, the worker breaks the protocol
or dies (exit, signal, out of memory), the worker and everything below it is killed, the firing
fails with the cause in the job's callback log, the death is counted in the :class:`DeathLedger`,
and the next firing gets a new worker. A firing whose workers died
:attr:`CallbackLimits.quarantine_after` times (across resumes, when the ledger is stored) is
quarantined: logged, never run again.
"""

from __future__ import annotations

import json
from json import scanner as json_scanner
import marshal
import os
import select
import signal
import subprocess
import sys
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ...vocabulary import JOB_VERBS
from ..qbapi import JOB_FUNCTIONS, QB_FUNCTIONS, WORK_ALIASES, WORK_FUNCTIONS
from . import reaper
from .channel import _HEADER, ChannelClosed, ChannelTimeout, FrameReader, write_all

if TYPE_CHECKING:  # pragma: no cover
    from ..callback import Invocation
    from ..qbapi import QbApi

__all__ = ["CallbackLimits", "DeathLedger", "WorkerPool", "firing_key"]

_WARDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "warden.py")
#: How long a new worker may take to say it is ready (a loaded machine starts python slowly).
_START_TIMEOUT = 120.0
#: How long a warden may take to kill its worker and exit before it is killed itself.
_WARDEN_GRACE = 5.0
#: marshal's format 2 (no back-references): its dumps and loads skip the table of objects seen
#: that formats 3 and 4 keep, the cheaper for the small messages of a firing.
_MARSHAL_VERSION = 2
#: Owners (and pgrp and label) remembered by job id (each cache starts over past this many).
_PRINCIPALS_KEPT = 1 << 16


@dataclass(frozen=True)
class CallbackLimits:
    """Limits of isolated python callbacks (and the time limit of perl ones).

    ``timeout``: seconds one firing may take (wall clock), default 30 as perl's. ``memory``: bytes
    of address space of each worker (``RLIMIT_AS``; None: no limit), default 2 GiB. ``workers``:
    worker processes alive at once at most (one per callback owner). ``quarantine_after``: worker
    deaths after which a firing is no longer run."""

    timeout: float = 30.0
    memory: Optional[int] = 2 << 30
    workers: int = 4
    quarantine_after: int = 3

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"the callback time limit must be > 0 seconds, not {self.timeout!r}")
        if self.memory is not None and self.memory < (64 << 20):
            raise ValueError(f"the callback memory limit must be at least 64 MiB, not {self.memory!r}")
        if self.workers < 1 or self.quarantine_after < 1:
            raise ValueError("workers and quarantine_after must be at least 1")


def firing_key(inv: "Invocation") -> str:
    """A name of one firing that is the same when a resumed run fires it again: the firing id
    when the invocation has one, else owner job, handle, count and event."""
    firing_id = getattr(inv, "firing_id", None)
    if firing_id is not None:
        return str(firing_id)
    cb = inv.callback
    return f"{cb.jobid}:{cb.handle}:{cb.count}:{inv.event}"


class DeathLedger:
    """How often each firing's worker died, and why. ``save`` (if given) is called with the whole
    record after each change, at once: a supervisor stores it outside its step, so that a crash
    of the supervisor itself does not forget it."""

    def __init__(self, deaths: Optional[Dict[str, List[str]]] = None,
                 save: Optional[Callable[[Dict[str, List[str]]], None]] = None) -> None:
        self.deaths: Dict[str, List[str]] = {k: list(v) for k, v in (deaths or {}).items()}
        self._save = save

    def __bool__(self) -> bool:
        return bool(self.deaths)

    def count(self, key: str) -> int:
        return len(self.deaths.get(key, ()))

    def record(self, key: str, cause: str) -> int:
        causes = self.deaths.setdefault(key, [])
        causes.append(cause)
        if self._save is not None:
            self._save(self.deaths)
        return len(causes)


class WorkerDied(Exception):
    """A firing's worker is gone; ``cause`` says how."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def _what(inv: "Invocation") -> str:
    """How the callback log names the firing's callback."""
    return f"python {inv.callback.describe()} of job {inv.callback.jobid}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "PermissionError"
    return type(exc).__name__


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


class _Worker:
    """One warden and its worker process, serving one principal."""

    def __init__(self, principal: str, limits: CallbackLimits) -> None:
        self.principal = principal
        self.codes: set = set()
        self.pid = 0
        self.started: Optional[str] = None
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", _WARDEN, str(to_r), str(from_w)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                pass_fds=(to_r, from_w), close_fds=True, start_new_session=True,
            )
        except BaseException:
            for fd in (self.to_w, self.from_r):
                os.close(fd)
            raise
        finally:
            os.close(to_r)
            os.close(from_w)
        self.reader = FrameReader(self.from_r)
        config = {
            "functions": list(QB_FUNCTIONS),
            "job_functions": list(JOB_FUNCTIONS),
            "work_functions": sorted(WORK_FUNCTIONS) + sorted(WORK_ALIASES),
            "memory": limits.memory,
        }
        try:
            self.send(marshal.dumps(config))
            ready = json.loads(self.reader.read(time.monotonic() + _START_TIMEOUT))
            self.pid = int(ready[1])
            self.started = _start_time(self.pid)
        except (OSError, ChannelClosed, ChannelTimeout, ValueError, TypeError, IndexError) as error:
            cause = self.stop("kill")
            raise WorkerDied(f"the worker could not start ({cause or error})") from None

    def send(self, payload: bytes) -> None:
        data = _HEADER.pack(len(payload)) + payload
        written = os.write(self.to_w, data)
        if written != len(data):  # a pipe takes small frames whole; a big one goes in parts
            write_all(self.to_w, data[written:])

    def stop(self, how: str = "exit") -> str:
        """End the worker and return the warden's status line (``exit N``, ``signal N``,
        ``killed``, or '' when it gave none). ``how``: ``exit`` (ask it to finish), ``kill`` (at
        once, everything below it too) or ``dead`` (it died: hear the warden say how first)."""
        proc = self.proc
        stdin, stdout = proc.stdin, proc.stdout
        status = ""
        if how == "dead" and stdout is not None:
            ready, _, _ = select.select([stdout], [], [], _WARDEN_GRACE)
            if ready:
                status = stdout.readline().decode("ascii", "replace").strip()
        try:
            if how == "exit":
                self.send(marshal.dumps(("exit",)))
            elif stdin is not None:
                stdin.write(b"k")
                stdin.flush()
        except OSError:
            pass
        for fd in (self.to_w, self.from_r):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            if stdin is not None:
                stdin.close()
        except OSError:
            pass
        try:
            rest = (proc.communicate(timeout=_WARDEN_GRACE)[0] or b"").decode("ascii", "replace").strip()
            status = status or rest
        except subprocess.TimeoutExpired:
            # The warden itself does not answer: kill it and whatever it watched.
            reaper.kill_tree([pid for pid in (self.pid, proc.pid) if pid])
            proc.wait()
        except (OSError, ValueError):
            proc.wait()
        # A worker whose warden was killed under it (by a callback) is no one's to kill: do it.
        if self.pid and self.started is not None and _start_time(self.pid) == self.started:
            reaper.kill_tree([self.pid])
        return status

    def cause(self, status: str) -> str:
        kind, _, value = status.partition(" ")
        if kind == "signal" and value.isdigit():
            number = int(value)
            if number == signal.SIGKILL:
                return "the worker was killed by SIGKILL (out of memory?)"
            return f"the worker was killed by {_signal_name(number)}"
        if kind == "exit":
            return f"the worker exited with status {value}"
        return "the worker died"


def _start_time(pid: int) -> Optional[str]:
    """When process ``pid`` started (clock ticks since boot), to tell it from a later one that
    reuses its pid; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _shutdown(workers: "OrderedDict[str, _Worker]") -> None:
    while workers:
        _, worker = workers.popitem()
        worker.stop()


class WorkerPool:
    """Runs python callbacks in worker processes (see the module docstring).

    ``qb`` answers the workers' ``qb`` calls. ``user_of(jobid)`` names a job's owner, and
    ``job_facts(jobid)`` gives ``(pgrp, label)`` of an event's job for ``qb.event()`` (None when
    unknown). Call :meth:`close` when done (it also happens when the pool is collected)."""

    def __init__(
        self,
        qb: "QbApi",
        limits: CallbackLimits,
        *,
        user_of: Callable[[int], Optional[str]],
        job_facts: Callable[[int], Optional[Tuple[Any, Any]]],
        ledger: Optional[DeathLedger] = None,
    ) -> None:
        self.qb = qb
        self.limits = limits
        self.ledger = ledger if ledger is not None else DeathLedger()
        self._user_of = user_of
        self._job_facts = job_facts
        self._workers: "OrderedDict[str, _Worker]" = OrderedDict()
        self._code_ids: Dict[str, int] = {}
        self._principals: Dict[int, str] = {}
        #: ``(pgrp, label)`` of registered jobs by id, as ``job_facts`` gave them (a registered
        #: job's are fixed; :meth:`forget` drops them with the job).
        self._facts: Dict[Any, Tuple[Any, Any]] = {}
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)

    def close(self) -> None:
        """Stop every worker (each kills what its callbacks left running). The pool may be used
        again: the next firing starts a new worker."""
        _shutdown(self._workers)

    @property
    def worker_pids(self) -> Dict[str, int]:
        """The pid of each live worker process, by principal (for tests and diagnostics)."""
        return {name: worker.pid for name, worker in self._workers.items()}

    def start(self, user: Optional[str] = None, *, admin: bool = False) -> int:
        """Start the worker of ``user``'s callbacks (``admin``: of the administrator's) now rather
        than at its first firing; returns its pid."""
        return self._worker("admin" if admin else f"user:{user}").pid

    def code_id(self, code: str) -> int:
        """The number the workers know ``code`` by (each compiles it once)."""
        found = self._code_ids.get(code)
        if found is None:
            found = self._code_ids[code] = len(self._code_ids)
        return found

    def _worker(self, principal: str) -> _Worker:
        workers = self._workers
        worker = workers.get(principal)
        if worker is not None:
            if len(workers) > 1:
                workers.move_to_end(principal)
            return worker
        while len(workers) >= self.limits.workers:
            _, old = workers.popitem(last=False)
            old.stop()
        worker = workers[principal] = _Worker(principal, self.limits)
        return worker

    def _principal(self, jobid: int) -> str:
        """Whose worker runs the callbacks of job ``jobid``: its owner's (a job's user is fixed)."""
        found = self._principals.get(jobid)
        if found is None:
            found = self._principals[jobid] = f"user:{self._user_of(jobid)}"
            if len(self._principals) > _PRINCIPALS_KEPT:
                self._principals.clear()
        return found

    def forget(self, jobid: int) -> None:
        """The job is gone (its id may come back for another owner, pgrp and label)."""
        self._principals.pop(jobid, None)
        self._facts.pop(jobid, None)

    def _drop(self, worker: _Worker, how: str) -> str:
        if self._workers.get(worker.principal) is worker:
            del self._workers[worker.principal]
        return worker.stop(how)

    def _event(self, inv: "Invocation") -> Optional[Tuple[Any, ...]]:
        """``qb.event()`` of the firing as the worker gets it: the values of its fields in the
        order of the worker's ``_EVENT_KEYS`` (a tuple is the cheapest thing to send)."""
        ev = inv.event
        if ev is None:
            return None
        jobid = ev.jobid
        facts = self._facts.get(jobid)
        if facts is None:
            facts = self._job_facts(jobid) if jobid is not None else None
            if facts is None:
                facts = (None, None)  # not remembered: the job may be registered later
            else:
                if len(self._facts) >= _PRINCIPALS_KEPT:
                    self._facts.clear()
                self._facts[jobid] = facts
        return (ev.name, ev.type, jobid, ev.extra, facts[0], facts[1], inv.text or str(ev))

    # ------------------------------------------------------------------ one firing
    def run(self, code_id: int, code: str, inv: "Invocation") -> None:
        """Run one firing of python ``code`` (known as ``code_id``) in its owner's worker: one
        message out (with the code the first time this worker meets it), then the worker's
        calls answered until its ``done``."""
        callback = inv.callback
        if self.ledger.deaths and self._quarantined(inv):
            return
        if callback.admin:
            principal = "admin"
        else:
            principal = self._principals.get(callback.jobid) or self._principal(callback.jobid)
        workers = self._workers
        worker = workers.get(principal)
        if worker is None or len(workers) > 1:
            try:
                worker = self._worker(principal)
            except WorkerDied as death:
                self._died(inv, death.cause)
                return
        fresh = code_id not in worker.codes
        payload = marshal.dumps(("run", code_id, code if fresh else None, callback.jobid, callback.count,
                                 self._event(inv), inv.firing or None, callback.admin), _MARSHAL_VERSION)
        deadline = time.monotonic() + self.limits.timeout
        try:
            worker.send(payload)
            if fresh:
                worker.codes.add(code_id)
            output, failure = self._serve(worker, inv, deadline)
        except ChannelTimeout:
            self._drop(worker, "kill")
            self._died(inv, f"killed after {self.limits.timeout:g} s (time limit)")
            return
        except (ChannelClosed, OSError) as error:
            status = self._drop(worker, "dead")
            self._died(inv, worker.cause(status) if status and status != "killed" else f"the worker died ({error})")
            return
        except _ProtocolFault as fault:
            self._drop(worker, "kill")
            self._died(inv, f"the worker broke the channel's protocol ({fault})")
            return
        except BaseException:
            # Ctrl-C (or anything else of the engine's own) while the worker was busy: it is in
            # the middle of a firing no one will finish, so it goes.
            self._drop(worker, "kill")
            raise
        if failure:
            output += failure
        if output:
            inv.log(output)

    def _quarantined(self, inv: "Invocation") -> bool:
        """Whether the firing's workers died too often: then it is logged and not run."""
        key = firing_key(inv)
        if self.ledger.count(key) < self.limits.quarantine_after:
            return False
        causes = self.ledger.deaths[key]
        inv.log(f"{_what(inv)}: quarantined, not run: its worker died {len(causes)} times (last: {causes[-1]})\n")
        return True

    def _died(self, inv: "Invocation", cause: str) -> None:
        count = self.ledger.record(firing_key(inv), cause)
        what = _what(inv)
        text = f"{what}: the firing failed: {cause}; a new worker takes the next firing\n"
        if count >= self.limits.quarantine_after:
            text += f"{what}: quarantined: its worker died {count} times; this firing will not run again\n"
        inv.log(text)

    def _serve(self, worker: _Worker, inv: "Invocation", deadline: float) -> Tuple[str, str]:
        """Answer the worker's calls until its ``done``: ``(output, failure of an action sent
        ahead, or '')``."""
        qb = self.qb
        outer, qb._inv = qb._inv, inv
        try:
            while True:
                message = _decode(worker.reader.read(deadline))
                kind, pending = message[0], message[1]
                failure = self._apply(pending) if pending else None
                if kind == "done":
                    output = message[2] if len(message) == 3 else None
                    if type(output) is not str:
                        raise _ProtocolFault("a 'done' without its output")
                    return output, (f"{failure[2]} failed: {failure[0]}: {failure[1]}\n" if failure else "")
                if kind != "call" or len(message) != 3:
                    raise _ProtocolFault(f"an unknown message {str(kind)[:40]!r}")
                if failure:
                    reply: Tuple[Any, ...] = ("reply", False, (failure[0], failure[1]))
                else:
                    reply = self._call(message[2])
                try:
                    data = marshal.dumps(reply, _MARSHAL_VERSION)
                except ValueError:
                    data = marshal.dumps(("reply", False, ("TypeError", "the answer is not plain data")))
                worker.send(data)
        finally:
            qb._inv = outer

    def _call(self, request: Any) -> Tuple[Any, ...]:
        if not (isinstance(request, list) and len(request) == 3):
            raise _ProtocolFault("a malformed call")
        name, args, kwargs = request
        if name is None:  # qb.sync(), or a flush of actions sent ahead
            return ("reply", True, None)
        if not (isinstance(name, str) and isinstance(args, list) and isinstance(kwargs, dict)):
            raise _ProtocolFault("a malformed call")
        try:
            return ("reply", True, self.qb.call(name, args, kwargs))
        except Exception as exc:  # noqa: BLE001 - every refusal goes back to the callback
            return ("reply", False, (_error_kind(exc), _error_text(exc)))

    def _apply(self, pending: Any) -> Optional[Tuple[str, str, str]]:
        """Apply actions sent ahead, in order; stop at the first that fails and return
        ``(error kind, message, 'qb.name(...) at line N')``."""
        if type(pending) is not list:
            raise _ProtocolFault("malformed actions")
        qb = self.qb
        for action in pending:
            if type(action) is not list or len(action) != 4:
                raise _ProtocolFault("a malformed action")
            name, args, kwargs, line = action
            if type(name) is not str or name not in _ACTIONS or type(args) is not list or type(kwargs) is not dict:
                raise _ProtocolFault("a malformed action")
            try:
                if kwargs:
                    getattr(qb, name)(*args, **kwargs)
                else:
                    getattr(qb, name)(*args)
            except Exception as exc:  # noqa: BLE001 - the callback learns of it, the engine goes on
                shown = ", ".join(repr(a) for a in args)
                return _error_kind(exc), _error_text(exc), f"qb.{name}({shown}) at line {line}"
        return None


#: The functions a worker may send ahead (the actions; queries always wait).
_ACTIONS = frozenset(["modify", *JOB_VERBS, *WORK_FUNCTIONS, *WORK_ALIASES])


class _ProtocolFault(Exception):
    """The worker sent something the channel's protocol does not allow."""


_scan = json_scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # (the stub names the class)


def _decode(payload: bytes) -> list:
    """A worker's message: a JSON list of at least two items (the kind, the actions sent ahead),
    read by the C scanner alone; anything else is a protocol fault."""
    try:
        text = payload.decode("utf-8", "surrogatepass")
        message, end = _scan(text, 0)
    except (ValueError, StopIteration, RecursionError) as error:
        raise _ProtocolFault(f"an unreadable message: {error!r}") from None
    if end != len(text) or type(message) is not list or len(message) < 2:
        raise _ProtocolFault("an unreadable message")
    return message  # type: ignore[no-any-return]
