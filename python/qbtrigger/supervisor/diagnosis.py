"""Why a job is not done (its blocked or held state, and which callbacks would release it), and
what its callbacks have done so far.

Read-only: it looks at the farm's states and asks the engine which live callbacks of the job
could release it (each language says what its code may do: :meth:`Language.may_act`) and what
each still awaits (the matcher's ``why_not``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from .. import atoms_of, parse
from ..callbacks import Callback, CallbackEngine
from ..vocabulary import BLOCKED, SUSPENDED, TERMINAL_STATES
from .chains import Chains
from .farm import Farm, Job
from .report import CallbackWait, StuckItem, StuckJob
from .submission import compile_view, stored_dict

__all__ = ["stuck_jobs", "callback_counts"]


def callback_counts(j: Job, engine: CallbackEngine) -> List[Dict[str, Any]]:
    """Every callback ever registered for the job, in order: handle, origin, index, language,
    triggers, code, maximum, count, live."""
    # The job's callbacks as compiled at submission, in registration order (the same order as
    # its handles). A callback no longer in the engine reached its maximum (or its job left).
    out = []
    compiled = engine.compile([compile_view(stored_dict(j, fresh_id=True))]).jobs[0].callbacks
    for cb, handle in zip(compiled, j.handles):
        live = handle in engine.network
        count = engine.callback(handle).count if live else (cb.maximum or 0)
        out.append(dict(handle=handle, origin=cb.origin, index=cb.index, language=cb.language,
                        triggers=cb.triggers_text(), code=cb.code, maximum=cb.maximum, count=count, live=live))
    return out


def stuck_jobs(farm: Farm, engine: CallbackEngine) -> List[StuckJob]:
    """Every live job that is not done, with why (to the root cause: :mod:`.chains`), in id order."""
    frame_callbacks: Dict[int, Dict[str, List[Callback]]] = {}

    def job_releasers(j: Job) -> List[Callback]:
        if j.removed:
            return []
        return [cb for cb in engine.callbacks(j.id) if _may_act(engine, cb, "unblock", "job")]

    def frame_releasers(j: Job, name: str) -> List[Callback]:
        if j.removed:
            return []
        per_frame = frame_callbacks.get(j.id)
        if per_frame is None:
            per_frame = frame_callbacks[j.id] = _frame_callbacks(j, engine)
        return per_frame.get(name, []) + per_frame.get("*", [])

    chains = Chains(farm, engine, job_releasers, frame_releasers)
    out = []
    for jobid in sorted(farm.jobs):
        j = farm.jobs[jobid]
        if j.removed or j.status in TERMINAL_STATES:
            continue
        out.append(_stuck_job(j, engine, chains, frame_releasers))
    return out


def _stuck_job(j: Job, engine: CallbackEngine, chains: Chains,
               frame_releasers: Callable[[Job, str], List[Callback]]) -> StuckJob:
    if j.hold == BLOCKED or (j.hold is None and j.free == 0):
        waits = _waits(j, engine, "unblock")
    elif j.hold == SUSPENDED:
        waits = _waits(j, engine, "resume")
    else:
        waits = []
    items = [
        StuckItem(work=j.names[i], status=BLOCKED, reason=chains.frame(j, i),
                  callbacks=[_wait(engine, cb) for cb in frame_releasers(j, j.names[i] or "")])
        for i in j.items_in((BLOCKED,))
    ]
    return StuckJob(
        id=j.id, label=j.label, status=j.status, reason=chains.job(j), callbacks=waits, work=items,
        work_counts=j.work_counts(), name=j.name, subjobs=_held_subjobs(j),
    )


def _held_subjobs(j: Job) -> Dict[str, List[int]]:
    """State -> the subjobs held in it (blocked, suspended, failed, killed), for one grouped line."""
    out: Dict[str, List[int]] = {}
    for s, (state, held) in enumerate(zip(j.subs, j.held)):
        if held:
            out.setdefault(state, []).append(s)
    return out


def _wait(engine: CallbackEngine, cb: Callback) -> CallbackWait:
    why = engine.why_not(cb.handle)
    return CallbackWait(
        handle=cb.handle, jobid=cb.jobid, callback=cb.describe(), triggers=cb.triggers_text(),
        language=cb.language, code=cb.code, latched=tuple(why.latched), awaited=tuple(why.awaited),
    )


def _may_act(engine: CallbackEngine, cb: Callback, verb: str, scope: str) -> bool:
    language = engine.language(cb.language)
    return language is not None and language.may_act(cb.code.strip(), verb, scope)


def _acts_on_event_item(engine: CallbackEngine, cb: Callback) -> bool:
    language = engine.language(cb.language)
    return language is not None and language.acts_on_event_item


def _waits(j: Job, engine: CallbackEngine, verb: str) -> List[CallbackWait]:
    """The job's live callbacks whose code would ``verb`` the job itself."""
    return [_wait(engine, cb) for cb in engine.callbacks(j.id) if _may_act(engine, cb, verb, "job")]


def _frame_callbacks(j: Job, engine: CallbackEngine) -> Dict[str, List[Callback]]:
    """Work name (or '*') -> the job's live callbacks that would unblock that frame: the frames
    its triggers name when the language acts on the triggering event's item (qube), else any."""
    out: Dict[str, List[Callback]] = {}
    for cb in engine.callbacks(j.id):
        if not _may_act(engine, cb, "unblock", "work"):
            continue
        extras = _work_extras(cb, j.pid) if _acts_on_event_item(engine, cb) else {"*"}
        for extra in sorted(extras):
            out.setdefault(extra, []).append(cb)
    return out


def _work_extras(cb: Callback, pid: Optional[int]) -> set:
    """The work names (or '*') a callback's work atoms name."""
    extras = set()
    for text in [cb.triggers] if isinstance(cb.triggers, str) else cb.triggers:
        for atom in atoms_of(parse(text, owner=cb.jobid, pid=pid)):
            if atom.type == "work" and atom.extra is not None:
                extras.add(atom.extra)
    return extras
