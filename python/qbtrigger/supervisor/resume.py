"""Opening a stored supervisor again: load the farm, replay the journal, report what cannot be read.

:func:`resume` loads the jobs and states a :class:`~.supervisor.Supervisor`'s store holds
(:func:`load_store`), restores the store's checkpoint if it has one
(:func:`~.checkpoint.restore_checkpoint`) and *replays the journal* after it
(:func:`replay_journal`; all of it without a checkpoint) into its fresh engine with every
callback's code switched off: the network ends exactly as it was at the last commit (latches set
by edges, ``*`` atoms, counts, spent callbacks, the clock, the firing count) and no callback runs
twice. The three steps are separate functions so that a module following a store (a standby) can
call them in its own order.

A store written by another qbtrigger may hold something this one cannot read: a stored trigger
that no longer parses, job data that does not decode, an event text refused today. Such a store
still opens: the job concerned is loaded with its stored states but without the callbacks that
cannot be read (its own and its dependency's), and each finding is one :class:`Unreadable`
(job, field, why) in :attr:`Supervisor.unreadable`, which ``qbtrigger simulate`` prints. The rest
of the farm replays as usual.
"""

from __future__ import annotations

import gc
import json
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Tuple

from ..callbacks import Submission, SubmissionError
from ..callbacks.languages import Callback, Runner
from .store import ADVANCE, CALLBACK, EVENT, REGISTER, REMOVE, UNREADABLE
from .submission import compile_view, stored_dict

if TYPE_CHECKING:  # pragma: no cover
    from .farm import Job
    from .supervisor import Supervisor

__all__ = ["Unreadable", "resume", "load_store", "replay_journal", "replayed_runner", "stored_view", "bare_data"]

#: The meta entry the supervisor's timers are saved under.
TIMERS_KEY = "timers"


class Unreadable(NamedTuple):
    """Something a store holds that this qbtrigger cannot read. ``jobid`` the job it belongs to
    (0: global callbacks; None: not one job's), ``field`` where it is (``callbacks[2]``,
    ``dependency``, ``data``, ``journal line 812``), ``message`` why."""

    jobid: Optional[int]
    field: str
    message: str

    def __str__(self) -> str:
        who = "the store" if self.jobid is None else f"job {self.jobid}"
        first = self.message.strip().split("\n", 1)[0]
        return f"{who}: stored {self.field} cannot be read by this qbtrigger ({first})"


def replayed_runner(_inv: Any) -> None:
    """The runner every callback has while the journal replays: its effects are already stored."""


def resume(sup: "Supervisor") -> None:
    """Load ``sup``'s farm, logs, clock and timers from its store, restore its checkpoint and
    replay the journal after it."""
    from .checkpoint import restore_checkpoint  # it builds on this module

    # Millions of long-lived objects are made here and none is garbage: the cyclic collector
    # would walk them again and again for nothing (it took a third of a restore's time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        load_store(sup)
        replay_journal(sup, restore_checkpoint(sup))
        sup.farm.rebuild_ready()
    finally:
        if collecting:
            gc.enable()


def load_store(sup: "Supervisor") -> None:
    """Load the farm (jobs, work items, subjobs), logs, clock, timers and next job id from the
    store into ``sup``, whose engine is left as it is; report job data that cannot be read. It
    may be called again (a standby that kept its network up to date taking over): what it
    loaded before is replaced, and the jobs the engine has registered get their handles (and
    their bare reading, :func:`bare_data`) back."""
    store = sup.store
    sup._next_id = store.get_meta("next_id")
    sup.farm.restore(store.jobs(), store.work(), store.subjobs())
    sup._logs.clear()
    for jobid, text in store.logs():
        sup._logs.setdefault(jobid, []).append(text)
    sup._now = sup._stored_clock = store.get_meta("clock")
    sup._timers.restore(store.get_meta(TIMERS_KEY, []))
    sup._timers.origin = store.get_meta("timer_origin", 0)
    sup.unreadable[:] = [u for u in sup.unreadable if u.field != "data"]
    jobs = sup.farm.jobs
    for j in jobs.values():
        if UNREADABLE in j.data:
            sup.unreadable.append(Unreadable(j.id, "data", str(j.data[UNREADABLE])))
    for jobid, handles in sup.engine.registrations().items():
        if jobid in jobs:
            jobs[jobid].handles = list(handles)
    for jobid in sup._read_bare:
        if jobid in jobs:
            jobs[jobid].data = bare_data(jobs[jobid])


def replay_journal(sup: "Supervisor", after: int = 0) -> int:
    """Bring ``sup``'s network from journal line ``after`` (0: a fresh engine; else the line its
    checkpoint covers, or the last line replayed before: a follower may call it again and again)
    to the store's last line, with the callbacks' code switched off (:attr:`CallbackEngine.muted`).
    Returns the last line's number; the supervisor's next journal line follows it."""
    engine = sup.engine
    problems = sup.unreadable
    runners: List[Tuple[Callback, Runner]] = []
    number = after
    sup._replaying = engine.muted = True
    try:
        lines = sup.store.journal(after) if after else sup.store.journal()  # a backend may not know `after`
        for number, kind, text in lines:  # noqa: B007 - number is used after the loop
            try:
                if kind == EVENT:
                    engine.feed(text)
                elif kind == REGISTER:
                    ids = [int(i) for i in text.split(",")]
                    sup._register(_compile_stored(sup, ids, number), ids, replay=runners)
                elif kind == ADVANCE:
                    engine.advance(int(text))
                elif kind == REMOVE:
                    engine.remove_job(int(text))
                elif kind == CALLBACK:
                    callback = engine.compile_global(json.loads(text))
                    runners.append((callback, callback.runner))  # it has run: its effects are stored
                    callback.runner = replayed_runner
                    sup._globals.append(callback)
                    engine.register_global(callback)
            except Exception as error:  # noqa: BLE001 - one unreadable line must not lock the store
                problems.append(Unreadable(_line_job(kind, text), f"journal line {number}", _why(error)))
    finally:
        sup._replaying = engine.muted = False
        for callback, runner in runners:
            callback.runner = runner
        sup._batch.journal.clear()  # replayed, not new
        sup._batch.journal_first = number + 1
    return number


def _compile_stored(sup: "Supervisor", ids: List[int], number: int) -> Submission:
    """Compile the stored jobs of one submission again. A job whose callbacks this qbtrigger
    cannot compile any more is compiled bare (no callbacks, no dependency) and reported."""
    engine = sup.engine
    jobs = sup.farm.jobs
    missing = [i for i in ids if i not in jobs]
    if missing:
        raise KeyError(f"the journal registers job(s) {missing} that the store does not hold")
    views = {i: (_bare_view(sup, jobs[i]) if UNREADABLE in jobs[i].data else _view(jobs[i])) for i in ids}
    try:
        return engine.compile([views[i] for i in ids])
    except Exception:  # noqa: BLE001 - find out which job, below
        pass
    for i in ids:  # each alone: the ones that fail on their own are read bare
        if UNREADABLE in jobs[i].data:
            continue
        try:
            engine.compile([views[i]])
        except Exception as error:  # noqa: BLE001
            sup.unreadable.extend(_problems_of(i, error))
            views[i] = _bare_view(sup, jobs[i])
    try:
        return engine.compile([views[i] for i in ids])
    except Exception as error:  # noqa: BLE001 - the jobs fail together: read them all bare
        for i in ids:
            sup.unreadable.extend(_problems_of(i, error))
        return engine.compile([_bare_view(sup, jobs[i]) for i in ids])


def _view(j: "Job") -> Dict[str, Any]:
    return compile_view(stored_dict(j))


def stored_view(j: "Job", bare: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """What the engine compiles for a stored job: its stored dict, or the ``bare`` data
    (:func:`bare_data`) it was read as."""
    if bare is None:
        return _view(j)
    data = j.data
    j.data = bare
    try:
        return _view(j)
    finally:
        j.data = data


def bare_data(j: "Job") -> Dict[str, Any]:
    """The job's data read bare: nothing that could fail to compile (no callbacks, no dependency)."""
    data = {k: v for k, v in j.data.items() if k not in ("callbacks", "dependency", UNREADABLE)}
    data.update(id=j.id, pgrp=j.pgrp, label=j.label, user=j.user)
    if j.pid is not None:
        data["pid"] = j.pid
    return data


def _bare_view(sup: "Supervisor", j: "Job") -> Dict[str, Any]:
    """The job read bare (:func:`bare_data`). The farm keeps it so (what reports compile again
    must compile) and a checkpoint remembers it; the job's stored text is left as it is, unless
    the job is modified, which stores its readable fields only."""
    j.data = bare_data(j)
    sup._read_bare.add(j.id)
    return _view(j)


def _problems_of(jobid: int, error: Exception) -> List[Unreadable]:
    if isinstance(error, SubmissionError) and error.problems:
        found = []
        for p in error.problems:
            if p.callback is not None:
                field = f"callbacks[{p.callback}]"
            elif p.detail.startswith("bad dependency"):
                field = "dependency"
            else:
                field = "job"
            found.append(Unreadable(jobid, field, p.detail))
        return found
    return [Unreadable(jobid, "callbacks", _why(error))]


def _why(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _line_job(kind: int, text: str) -> Optional[int]:
    """The job a journal line is about, when it says."""
    if kind == EVENT:
        parts = text.split("-", 3)
        return int(parts[2]) if len(parts) >= 3 and parts[2].isdigit() and len(parts[2]) < 20 else None
    if kind == REMOVE and text.isdigit() and len(text) < 20:
        return int(text)
    if kind == CALLBACK:
        return 0
    return None
