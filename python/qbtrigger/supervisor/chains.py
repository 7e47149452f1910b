"""The root cause of a stuck job or frame: follow what it waits for, job to job, to where it ends.

"comp frame 3 waits for render frame 3 to complete, which failed (retries exhausted: retrywork
0)": a blocked job or frame is released by a callback (its own, its ``dependency``'s, a universal
one); what that callback still awaits (the matcher's why-not) names items of other jobs, and the
state of each says why it has not happened: it failed, was killed or removed, does not exist, or
is itself stuck, and then the same question is asked of it. A chain that comes back to where it
started is a cycle, and is named as one. Read-only, like :mod:`.diagnosis`, which uses it.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Set, Tuple

from .. import atoms_of, parse
from .._common import Atom, Or
from ..callbacks import Callback, CallbackEngine
from ..errors import Error
from ..vocabulary import BLOCKED, COMPLETE, FAILED, KILLED, PENDING, RUNNING, SUSPENDED, TIME_TYPES, WAITING
from .farm import Farm, Job
from .report import job_title

__all__ = ["Chains"]

#: How far a chain is followed before it is cut short ("..."), and how many awaited atoms of one
#: callback are followed (the rest are named as written).
_MAX_DEPTH = 6
_ATOMS_EXPLAINED = 3

#: What an awaited event asks of its item, in words ("render frame 3 to complete").
_AWAITED = {COMPLETE: "to complete", FAILED: "to fail", KILLED: "to be killed", "done": "to finish",
            RUNNING: "to run", PENDING: "to be pending", BLOCKED: "to be blocked", SUSPENDED: "to be suspended"}

def _reached(name: str, state: str) -> bool:
    """The item is already in the state an atom waits for the event of (so it will not come)."""
    return name == state or (name == "done" and state in (COMPLETE, FAILED, KILLED))


#: (jobid, work index; None for the job, -1 - n for its subjob n): what a chain has visited
Node = Tuple[int, Optional[int]]
#: The live callbacks that would release a job (``verb``) or a frame: (engine, job, ...) -> list
Finder = Callable[[Job], List[Callback]]


class Chains:
    """Root-cause phrases over one farm and engine. ``job_releasers(j)``: the job's live callbacks
    that would unblock it; ``frame_releasers(j, name)``: those that would unblock that frame."""

    def __init__(self, farm: Farm, engine: CallbackEngine, job_releasers: Finder,
                 frame_releasers: Callable[[Job, str], List[Callback]],
                 spent: Optional[Callable[[Job, str], str]] = None) -> None:
        self.farm = farm
        self.engine = engine
        self.job_releasers = job_releasers
        self.frame_releasers = frame_releasers
        #: ``spent(job, scope)``: what became of the job's releasing callbacks that are no longer
        #: live ("its callback 0 (python) failed on complete-job-1: NameError: ..."), or "".
        self.spent = spent

    # ------------------------------------------------------------------ public
    def job(self, j: Job) -> str:
        """Why job ``j`` is not done, to the root: "is blocked: its dependency waits for ..."."""
        return self._job(j, [(j.id, None)])

    def frame(self, j: Job, idx: int) -> str:
        """Why frame ``idx`` of ``j`` has not run, to the root: "waits for render frame 3 ..."."""
        return self._frame(j, idx, [(j.id, idx)])

    def title(self, j: Job) -> str:
        return job_title(j.id, j.label, j.name)

    # ------------------------------------------------------------------ jobs
    def _job(self, j: Job, path: List[Node]) -> str:
        if j.removed:
            return "was removed"
        if j.status == FAILED:
            return "failed" + self._failed_frames(j)
        if j.status == KILLED:
            return "was killed"
        if j.status == COMPLETE:
            return "completed"
        if j.hold == BLOCKED:
            return "is blocked" + self._released_by(j, self.job_releasers(j), "unblock", path, "job")
        if j.hold == SUSPENDED:
            return "is suspended, and nothing resumes it (a suspended job waits for a person or a program)"
        if j.status == RUNNING:
            return "is still running"
        blocked = j.items_in((BLOCKED,))
        if blocked:
            idx = blocked[0]
            more = f" (and {len(blocked) - 1} more blocked frame(s))" if len(blocked) > 1 else ""
            return f"has blocked frames: frame {j.names[idx]} {self._frame(j, idx, path + [(j.id, idx)])}{more}"
        held = [n for n, h in enumerate(j.held) if h]
        if held:
            n = held[0]
            more = f" (and {len(held) - 1} more held subjob(s))" if len(held) > 1 else ""
            return f"has held subjobs: subjob {n} {self._subjob(j, n, path + [(j.id, -1 - n)])}{more}"
        return "has work that never ran"

    def _failed_frames(self, j: Job) -> str:
        failed = j.items_in((FAILED,))
        if not failed:
            return ""
        names = ", ".join(str(i if j.anonymous else j.names[i]) for i in failed[:5]) + (", ..." if len(failed) > 5 else "")
        what = "subjob" if j.anonymous else "frame"
        return f" ({what}{'s' if len(failed) > 1 else ''} {names}: {self._retries(j, failed[0])})"

    @staticmethod
    def _retries(j: Job, idx: int) -> str:
        if not j.retrywork:
            return "retries exhausted: retrywork 0"
        return f"retries exhausted: {j.retries.get(idx, 0)} of retrywork {j.retrywork}"

    # ------------------------------------------------------------------ frames
    def _frame(self, j: Job, idx: int, path: List[Node]) -> str:
        state = j.state[idx]
        if state == FAILED:
            return f"failed ({self._retries(j, idx)})"
        if state == KILLED:
            return "was killed"
        if state == COMPLETE:
            return "completed"
        if state == RUNNING:
            return "is still running"
        if state == BLOCKED:
            name = j.names[idx]
            return "is blocked" + self._released_by(j, self.frame_releasers(j, name or ""), "unblock", path, "work")
        if state in (PENDING, WAITING):
            if j.removed or j.hold is not None or j.status in (FAILED, KILLED, COMPLETE):
                return f"cannot run: its job {self._job(j, path)}"
            return "is waiting for a worker"
        return f"is {state}"

    def _subjob(self, j: Job, n: int, path: List[Node]) -> str:
        state = j.state[n] if j.anonymous else j.subs[n]  # an agenda-less job's items are its subjobs
        if state == FAILED:
            return f"failed ({self._retries(j, n)})" if j.anonymous else "failed"
        if state in (KILLED, COMPLETE, RUNNING):
            return {KILLED: "was killed", COMPLETE: "completed", RUNNING: "is still running"}[state]
        if j.held[n] and j.subs[n] == BLOCKED:
            return "is blocked" + self._released_by(j, self._subjob_releasers(j, n), "unblock", path, "job")
        if j.held[n]:
            return f"is held ({j.subs[n]}), and nothing releases it"
        if j.removed or j.hold is not None:
            return f"cannot run: its job {self._job(j, path)}"
        return "is waiting for a worker"

    def _subjob_releasers(self, j: Job, n: int) -> List[Callback]:
        """The job's releasing callbacks, those whose atoms name subjob ``n`` first."""
        found = self.job_releasers(j)
        named = [cb for cb in found if str(n) in _subjob_extras(cb, j.pid)]
        return named or found

    # ------------------------------------------------------------------ what releases
    def _released_by(self, j: Job, callbacks: Sequence[Callback], verb: str, path: List[Node], scope: str) -> str:
        if not callbacks:
            spent = self.spent(j, scope) if self.spent is not None else ""
            if spent:
                return f", and nothing can {verb} it any more: {spent}"
            return f", and nothing can {verb} it (no live callback of the job, dependency or time trigger would)"
        cb = callbacks[0]
        awaited = list(self.engine.why_not(cb.handle).awaited)
        if not awaited:
            if cb.count:
                return (f": {self._who(cb)} ({cb.language}) fired {cb.count} time(s) and left it blocked; "
                        f"it fires again only when an event it waits for happens again")
            return f": {self._who(cb)} can fire on its next event"
        if len(path) > _MAX_DEPTH:
            return f": {self._who(cb)} waits for {', '.join(awaited)} (...)"
        needed = self._needed(cb, set(self.engine.why_not(cb.handle).latched), path)
        if needed is not None:
            return f": {self._who(cb)} waits for {needed}"
        reasons = [self._atom(cb, text, path) for text in awaited[:3]]
        more = f" (and {len(awaited) - 3} more)" if len(awaited) > 3 else ""
        return f": {self._who(cb)} waits for " + "; and for ".join(reasons) + more

    def _needed(self, cb: Callback, latched: Set[str], path: List[Node]) -> Optional[str]:
        """What the callback still needs, by its expression: the atoms of the branches that are
        not satisfied ("X; and for Y", "either X; or for Y"), an OR with a satisfied branch needing
        nothing more. None when the triggers cannot be read (the caller lists the atoms)."""
        owner = self.farm.jobs.get(cb.jobid)
        pid = owner.pid if owner else None
        texts = [cb.triggers] if isinstance(cb.triggers, str) else list(cb.triggers)
        try:
            trees = [parse(text, owner=cb.jobid, pid=pid) for text in texts]
        except (Error, ValueError):
            return None
        budget = [_ATOMS_EXPLAINED]

        def need(node: Any) -> Optional[str]:
            if isinstance(node, Atom):
                text = node.canonical()
                if text in latched:
                    return None
                if budget[0] <= 0:
                    return text
                budget[0] -= 1
                return self._atom(cb, text, path)
            parts = [need(child) for child in node.children]
            if isinstance(node, Or):
                if any(part is None for part in parts):
                    return None
                return "either " + "; or for ".join(p for p in parts if p)
            missing = [p for p in parts if p]
            return "; and for ".join(missing) if missing else None

        parts = [need(tree) for tree in trees]
        if any(part is None for part in parts):
            return None if len(parts) == 1 else "nothing more (it can fire on its next event)"
        return parts[0] if len(parts) == 1 else "either " + "; or for ".join(p for p in parts if p)

    def _who(self, cb: Callback) -> str:
        if cb.origin == "dependency":
            return "its dependency"
        return f"its {cb.describe()}"

    # ------------------------------------------------------------------ one awaited atom
    def _atom(self, cb: Callback, text: str, path: List[Node]) -> str:
        owner = self.farm.jobs.get(cb.jobid)
        try:
            (atom,) = atoms_of(parse(text, owner=cb.jobid, pid=owner.pid if owner else None))
        except (Error, ValueError):
            return text
        if atom.type in TIME_TYPES:
            return f"{text} (a time trigger that did not come due)"
        target = self._target(atom, owner)
        if target is None:
            who = atom.label if atom.context == "label" else atom.job
            return f"{text}, but no job is {who!r}: nothing will raise it"
        what = _AWAITED.get(atom.name, f"to raise '{atom.name}'")
        if atom.type == "job":
            if _reached(atom.name, target.status):
                return f"{self.title(target)} {what}, which already happened{self._fired(cb)}"
            return f"{self.title(target)} {what}{self._job_step(target, path)}"
        if atom.type == "work" and atom.extra is not None:
            try:
                idx = target.idx(atom.extra)
            except Error:
                return f"{self.title(target)} frame {atom.extra} {what}, but it has no such frame: nothing will raise it"
            if _reached(atom.name, target.state[idx]):
                return f"{self.title(target)} frame {atom.extra} {what}, which already happened{self._fired(cb)}"
            return f"{self.title(target)} frame {atom.extra} {what}{self._frame_step(target, idx, path)}"
        if atom.type == "subjob" and atom.extra is not None:
            if not (atom.extra.isdigit() and int(atom.extra) < len(target.subs)):
                return f"{self.title(target)} subjob {atom.extra} {what}, but it has no such subjob: nothing will raise it"
            n = int(atom.extra)
            node = (target.id, -1 - n)
            if node in path:
                return f"{self.title(target)} subjob {n} {what}: a cycle ({self._cycle(path, node)})"
            return f"{self.title(target)} subjob {n} {what}, which {self._subjob(target, n, path + [node])}"
        return f"{text} ({self.title(target)}{self._job_step(target, path)})"

    @staticmethod
    def _fired(cb: Callback) -> str:
        if not cb.count:
            return " (before the callback was registered; catch-up did not fire it)"
        return (f" (the callback fired {cb.count} time(s) and left it blocked; it fires again only if "
                f"that happens again)")

    def _target(self, atom: Atom, owner: Optional[Job]) -> Optional[Job]:
        jobs = self.farm.jobs
        if atom.context == "self":
            return owner
        if atom.context == "parent":
            return jobs.get(owner.pid) if owner is not None and owner.pid is not None else None
        if atom.context == "id":
            return jobs.get(atom.job) if atom.job is not None else None
        if atom.context == "label" and owner is not None:
            found = self.farm.labels.get((owner.pgrp, atom.label or ""))
            return jobs.get(found) if found is not None else None
        return None

    def _job_step(self, target: Job, path: List[Node]) -> str:
        """", which failed" or ": a cycle (...)" when the chain comes back to where it was."""
        node = (target.id, None)
        if node in path:
            return f": a cycle ({self._cycle(path, node)})"
        return ", which " + self._job(target, path + [node])

    def _frame_step(self, target: Job, idx: int, path: List[Node]) -> str:
        node = (target.id, idx)
        if node in path:
            return f": a cycle ({self._cycle(path, node)})"
        return ", which " + self._frame(target, idx, path + [node])

    def _cycle(self, path: List[Node], node: Node) -> str:
        names = []
        for jobid, idx in path[path.index(node):] + [node]:
            j = self.farm.jobs[jobid]
            if idx is None:
                names.append(self.title(j))
            else:
                names.append(f"{self.title(j)} frame {j.names[idx]}" if idx >= 0 else f"{self.title(j)} subjob {-1 - idx}")
        return " -> ".join(names)


def _subjob_extras(cb: Callback, pid: Optional[int]) -> List[str]:
    """The subjob numbers a callback's subjob atoms name."""
    out = []
    for text in [cb.triggers] if isinstance(cb.triggers, str) else cb.triggers:
        try:
            atoms = atoms_of(parse(text, owner=cb.jobid, pid=pid))
        except (Error, ValueError):
            continue
        out += [a.extra for a in atoms if a.type == "subjob" and a.extra is not None]
    return out
