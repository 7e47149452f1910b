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


def stuck_jobs(farm: Farm, engine: CallbackEngine,
               logs: Optional[Callable[[int], List[str]]] = None) -> List[StuckJob]:
    """Every live job that is not done, with why (to the root cause: :mod:`.chains`), in id order.
    ``logs(jobid)``: the job's callback log, where a releasing callback that failed says why."""
    frame_callbacks: Dict[int, Dict[str, List[Callback]]] = {}

    def spent(j: Job, scope: str) -> str:
        return _spent(j, engine, scope, logs(j.id) if logs is not None else [])

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

    chains = Chains(farm, engine, job_releasers, frame_releasers, spent)
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


def _spent(j: Job, engine: CallbackEngine, scope: str, log: List[str]) -> str:
    """What became of the job's callbacks that would ``unblock`` it (``scope`` 'job') or its
    frames ('work') but are live no more: each fired, and failed (its error, from the log) or
    did something else; "" when there were none."""
    if j.removed:
        return ""
    notes = []
    for info in callback_counts(j, engine):
        language = engine.language(info["language"])
        if info["live"] or language is None or not language.may_act(info["code"].strip(), "unblock", scope):
            continue
        who = "its dependency" if info["origin"] == "dependency" else (
            f"its callback {info['index']}" if info["origin"] == "job" else f"its {info['origin']} callback")
        failure = _failure(log, info)
        if failure:
            notes.append(f"{who} ({info['language']}) {failure}")
        else:
            notes.append(f"{who} ({info['language']}) fired and is spent (maximum {info['maximum']}), "
                         f"and what it did left this {'job' if scope == 'job' else 'frame'} blocked")
    if notes and not any(" failed on " in note for note in notes):
        error = _last_error(log)
        if error:
            notes.append(f"the job's callback log has an error: {error}")
    return "; ".join(notes[:3])


def _failure(log: List[str], info: Dict[str, Any]) -> str:
    """"failed on EVENT: ERROR" from the last log entry of that callback's failure, or ""."""
    if info["origin"] != "job":
        return ""
    head = f"callback {info['index']} ({info['language']}) failed on "
    for entry in reversed(log):
        if entry.startswith(head):
            lines = [line for line in entry.rstrip().split("\n") if line.strip()]
            event = lines[0][len(head):].rstrip(":")
            return f"failed on {event}: {lines[-1].strip()}" if len(lines) > 1 else f"failed on {event}"
    return ""


def _last_error(log: List[str]) -> str:
    """The last line of the last traceback in a callback log, or ""."""
    for entry in reversed(log):
        if "Traceback (most recent call last)" in entry:
            lines = [line.strip() for line in entry.rstrip().split("\n") if line.strip()]
            return lines[-1]
    return ""


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
