"""What can release a blocked job or frame, read statically (SPEC §9): callbacks that wait on
their own blocked job, dependency cycles, and jobs or frames submitted blocked that nothing can
ever release.

The model: a blocked job is released by a callback of its own whose action releases its job
(qube ``unblock-self`` and the like, its dependency, python/perl code acting on ``qb.jobid()``:
:mod:`.reach`), by a frame of it being released (docs/semantics.md), or by the submit script
acting on it; a blocked frame by a work action of its job's callbacks. A callback fires when
every job and frame its expression must see finish (AND: all, OR: any branch) can finish; time
atoms and events that are not "finished" never stop it. :func:`unreleasable` computes what can
finish as a least fixed point, so chains are followed (B waits for A, which nothing releases:
B is stuck too). Whatever the checker cannot read (code acting on a computed job, universal
callbacks, a global callback) may release anything: then nothing is reported as an error, only
as a note saying "may".
"""

from __future__ import annotations

from typing import AbstractSet, Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .. import And, Atom, Or
from ..vocabulary import ASSIGNED, DONE_STATES, EVENT_NAMES, RUNNING, TIME_TYPES, TIMEOUT
from .jobs import JobView
from .reach import Reach, code_reach, python_undefined
from .units import Finding, Jobs, Unit, atoms, resolve, where

__all__ = ["self_waits", "cycles", "unreleasable", "requires", "Node"]

_TERMINAL = DONE_STATES
#: Events that happen only to a job that runs: they need the job released first.
_RUNNING = frozenset((RUNNING, ASSIGNED, TIMEOUT))
#: ("job", id): the job finishes; ("work", id, name): the frame finishes; ("outside", id): a job
#: of the farm outside the submission finishes; ("event", atom): a program raises an event of a
#: name of its own (``approved-work-12-5``: Qube's C++ API, ``Supervisor.emit``), which nothing
#: in a submission can do; ("released", id): the job runs (it is not blocked, or was released).
Node = Tuple[Any, ...]


def requires(tree: Any, owner: JobView, views: Jobs) -> Set[Node]:
    """What must finish for the expression to hold: union over AND, intersection over OR.
    Only finishing atoms (complete/done/failed/killed) count."""
    if isinstance(tree, Atom):
        if tree.name not in EVENT_NAMES and tree.type not in TIME_TYPES:
            return {("event", tree.canonical())}  # a name of its own: only a program raises it
        if tree.name not in _TERMINAL and tree.name not in _RUNNING:
            return set()
        job = resolve(tree, owner, views)
        if tree.name in _RUNNING:
            return set() if job is None else {("released", job.id)}
        if job is None:
            if tree.context == "id" and tree.job is not None and tree.type in ("job", "work", "subjob"):
                return {("outside", tree.job)}
            return set()
        if tree.type == "job":
            return {("job", job.id)}
        if tree.type == "work" and tree.extra not in (None, "*"):
            return {("work", job.id, tree.extra)}
        return set()
    sets = [requires(child, owner, views) for child in tree.children]
    if isinstance(tree, And):
        return set().union(*sets)
    assert isinstance(tree, Or)
    return set.intersection(*sets) if sets else set()


def _unblockers(views: Jobs, units: List[Unit]):
    """For each blocked node, the requirement sets of the qube callbacks that unblock it; the
    third value is True when python or perl code may unblock anything."""
    job_unblock: Dict[int, List[Set[Node]]] = {}
    work_unblock: Dict[Tuple[int, str], List[Set[Node]]] = {}
    opaque = any(u.language in ("python", "perl") for u in units)
    for unit in units:
        if unit.language != "qube":
            continue
        needs = {n for n in requires(unit.tree, unit.job, views) if n[0] in ("job", "work")}
        if unit.code == "unblock-self":
            job_unblock.setdefault(unit.job.id, []).append(needs)
        elif unit.code == "unblock-work-self":
            frames = {unit.work} if unit.work is not None else {
                a.extra for a in atoms(unit.tree) if a.type == "work" and a.extra not in (None, "*")}
            for frame in frames:
                work_unblock.setdefault((unit.job.id, frame), []).append(needs)
    return job_unblock, work_unblock, opaque


def self_waits(views: Jobs, units: List[Unit]) -> List[Finding]:
    """Callbacks waiting for their own job to finish while it is blocked and nothing else
    unblocks it first: they can never fire."""
    job_unblock, _, opaque = _unblockers(views, units)
    out = []
    for unit in units:
        job = unit.job
        if job.id not in views.blocked:
            continue
        needs = requires(unit.tree, job, views)
        own = {n for n in needs if n[0] in ("job", "work") and n[1] == job.id}
        if not own:
            continue
        # Something else could unblock the job first: an unblocker not waiting on the job itself.
        others = [s for s in job_unblock.get(job.id, []) if not any(n[1] == job.id for n in s)]
        if others or opaque:
            continue
        atom = next(a for a in atoms(unit.tree) if a.name in _TERMINAL and resolve(a, job, views) is job)
        out.append(
            Finding(
                job.name,
                message=f"waits for {job.name} to finish, but it is submitted blocked and nothing unblocks "
                "it before then: this callback can never fire",
                **where(unit, atom),
            )
        )
    return out


# --------------------------------------------------------------------------- cycles


def cycles(views: Jobs, units: List[Unit]) -> List[Finding]:
    """Dependency cycles between jobs or frames (each waits for the next to finish)."""
    job_unblock, work_unblock, _ = _unblockers(views, units)
    by_id = {v.id: v for v in views}
    edges: Dict[Node, Set[Node]] = {}
    for job in views:
        job_node = ("job", job.id)
        edges.setdefault(job_node, set()).update(("work", job.id, n) for n in job.work_names)
        gate: Set[Node] = set()
        if job.id in views.blocked and job.id in job_unblock:
            gate = set.intersection(*job_unblock[job.id])
        for name in job.work_names:
            node = ("work", job.id, name)
            deps = set(gate)
            if (job.id, name) in work_unblock:
                deps |= set.intersection(*work_unblock[(job.id, name)])
            edges.setdefault(node, set()).update(deps)
        if not job.work_names:
            edges[job_node] |= gate
    out = []
    reported: Set[frozenset] = set()
    for cycle in _find_cycles(edges):
        key = frozenset(cycle)
        if key in reported:
            continue
        reported.add(key)
        first = by_id[cycle[0][1]]
        path = " -> ".join(_node_text(n, by_id) for n in cycle + [cycle[0]])
        out.append(Finding(first.name, None, f"dependency cycle: {path} (each waits for the next to finish)"))
    return out


def _node_text(node: Node, by_id: Dict[int, JobView]) -> str:
    if node[0] == "outside":
        return f"job {node[1]} (not in this submission)"
    job = by_id[node[1]]
    return job.name if node[0] == "job" else f"{job.name} work '{node[2]}'"


def _find_cycles(edges: Dict[Node, Set[Node]]) -> List[List[Node]]:
    """One cycle per strongly connected component with a cycle (iterative Tarjan, then a walk)."""
    index: Dict[Node, int] = {}
    low: Dict[Node, int] = {}
    on_stack: Set[Node] = set()
    stack: List[Node] = []
    components: List[List[Node]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    components.append(component)
    found = []
    for component in components:
        members = set(component)
        start = min(component)
        path, seen, node = [start], {start}, start
        while True:
            nxt = min(n for n in edges[node] if n in members)
            if nxt in seen:
                found.append(path[path.index(nxt):])
                break
            path.append(nxt)
            seen.add(nxt)
            node = nxt
    return found


# --------------------------------------------------------------------------- nothing releases it


class _Releaser:
    """A callback whose action may release something: its unit, what it releases (its own job,
    its own frames: :mod:`.reach`) and what must finish for it to fire."""

    __slots__ = ("unit", "targets", "offsets", "needs", "frames")

    def __init__(self, unit: Unit, reach: Reach, needs: Set[Node]) -> None:
        self.unit = unit
        assert reach is not None
        #: ("job" or "work", offset from the callback's own job), and the same with job ids
        self.offsets = sorted(reach)
        self.targets = [(kind, unit.job.id + offset) for kind, offset in self.offsets]
        self.needs = needs
        #: the frames a work action may release: one (a per-frame link, a named frame), or None: any
        self.frames: Optional[Set[str]] = None
        if unit.work is not None:
            self.frames = {unit.work}
        elif unit.language == "qube":
            named = [a.extra for a in atoms(unit.tree) if a.type == "work"]
            if named and all(extra not in (None, "*") for extra in named):
                self.frames = {str(extra) for extra in named}


class _Model:
    """The least fixed point of what can finish (see the module docstring)."""

    def __init__(self, views: Jobs, releasers: List[_Releaser], acted: Set[int], outside_finishes: bool,
                 farm: Set[int]) -> None:
        self.views = views
        self.outside_finishes = outside_finishes
        self.farm = farm
        self.job_releasers: Dict[int, List[_Releaser]] = {}
        self.work_releasers: Dict[int, List[_Releaser]] = {}
        for r in releasers:
            for kind, target in r.targets:
                (self.job_releasers if kind == "job" else self.work_releasers).setdefault(target, []).append(r)
        self.acted = acted
        self.released: Set[int] = set()
        self.frame_ok: Set[Tuple[int, str]] = set()
        self.done: Set[Node] = set()
        self._solve()

    def fires(self, r: _Releaser) -> bool:
        return all(self._finishes(n) for n in r.needs)

    def _finishes(self, node: Node) -> bool:
        if node[0] == "outside":
            return self.outside_finishes or node[1] in self.farm
        if node[0] == "event":
            return self.outside_finishes
        if node[0] == "released":
            return node[1] in self.released
        return node in self.done

    def _solve(self) -> None:
        views = self.views
        changed = True
        while changed:
            changed = False
            for job in views:
                jid = job.id
                blocked_frames = set(views.blocked_work.get(jid, ()))
                frame_release = [r for r in self.work_releasers.get(jid, ()) if self.fires(r)]
                # the frames those release: any (None in the set) or the ones they name
                freed_frames: Set[Optional[str]] = set()
                for r in frame_release:
                    freed_frames.update([None] if r.frames is None else r.frames)
                if jid not in self.released and (
                    jid not in views.blocked or jid in self.acted or frame_release
                    or any(self.fires(r) for r in self.job_releasers.get(jid, ()))
                ):
                    self.released.add(jid)
                    changed = True
                for name in job.work_names:
                    key = (jid, name)
                    if key in self.frame_ok:
                        continue
                    if None in freed_frames or name in freed_frames or jid in self.acted or (jid in self.released and name not in blocked_frames):
                        self.frame_ok.add(key)
                        self.done.add(("work", jid, name))
                        changed = True
                job_node = ("job", jid)
                if job_node not in self.done and jid in self.released and all(
                    (jid, name) in self.frame_ok for name in job.work_names
                ):
                    self.done.add(job_node)
                    changed = True


def unreleasable(
    views: Jobs, units: List[Unit], *, acted: Iterable[int] = (), opaque: Sequence[str] = (),
    skip: AbstractSet[str] = frozenset(), farm: Iterable[int] = (),
) -> List[Finding]:
    """Jobs and frames submitted blocked that nothing can release. ``acted``: job ids the submit
    script itself acts on; ``opaque``: descriptions of callbacks outside the submission's jobs
    that may release anything (universal, global); ``skip``: job names already reported (a cycle,
    a self-wait); ``farm``: ids of jobs outside the submission known to exist (submitted before
    by the same script). A job waiting on any other job id gets a warning: simulate's farm holds
    only what the script submits."""
    releasers: List[_Releaser] = []
    unknown: List[Unit] = []
    for unit in units:
        reach = code_reach(unit.language, unit.code)
        if reach is None:
            unknown.append(unit)
        elif reach:
            releasers.append(_Releaser(unit, reach, requires(unit.tree, unit.job, views)))
    acted_ids, known = set(acted), set(farm)
    hopeful = _Model(views, releasers, acted_ids, outside_finishes=True, farm=known)
    strict = _Model(views, releasers, acted_ids, outside_finishes=False, farm=known)
    may = [_unit_text(u) for u in unknown] + list(opaque)
    out: List[Finding] = []
    for job in views:
        if job.name in skip:
            continue
        stuck_job = job.id in views.blocked and job.id not in hopeful.released
        frames = [n for n in views.blocked_work.get(job.id, ()) if (job.id, n) not in hopeful.frame_ok]
        if stuck_job or (frames and job.id in hopeful.released):
            what = ("submitted blocked, and nothing can ever release it" if stuck_job
                    else f"{_frames(frames)} {'is' if len(frames) == 1 else 'are'} submitted blocked, "
                    f"and nothing can ever release {'it' if len(frames) == 1 else 'them'}")
            reason = _reason(job, views, hopeful, releasers, units, frames_only=not stuck_job)
            if may:
                out.append(Finding(job.name, None, f"{what.replace('nothing can ever', 'nothing may')}, unless "
                                   f"{_list(may)} does (its target cannot be read without running it): {reason}",
                                   level="note"))
            else:
                out.append(Finding(job.name, None, f"{what}: {reason}"))
            continue
        outside_stuck = job.id in views.blocked and job.id not in strict.released
        outside_frames = [n for n in views.blocked_work.get(job.id, ()) if (job.id, n) not in strict.frame_ok]
        if outside_stuck or outside_frames:
            waits = sorted({n[1] for r in releasers if r.unit.job is job for n in r.needs
                            if n[0] == "outside" and n[1] not in known})
            if waits:
                names = ", ".join(f"job {w}" for w in waits)
                out.append(Finding(job.name, None, f"waits for {names}, which {'is' if len(waits) == 1 else 'are'} "
                                   "not in this submission: on a farm without it, it stays blocked (simulate's "
                                   "virtual farm holds only this submission)", level="warning"))
            events = sorted({n[1] for r in releasers if r.unit.job is job for n in r.needs if n[0] == "event"})
            if events:
                names = ", ".join(f"'{e}'" for e in events)
                out.append(Finding(job.name, None, f"waits for {names}, an event of a name of its own that only a "
                                   "program raises (Supervisor.emit, Qube's C++ API): until one does, it stays "
                                   "blocked (simulate raises none)", level="warning"))
    return out


def _reason(job: JobView, views: Jobs, model: _Model, releasers: List[_Releaser], units: List[Unit],
            frames_only: bool) -> str:
    own = [r for r in releasers if any(target == job.id and (kind == "work" or not frames_only)
                                       for kind, target in r.targets)]
    if own:
        parts = []
        for r in own[:3]:
            missing = next((n for n in sorted(r.needs, key=str) if not model._finishes(n)), None)
            parts.append(f"{_unit_text(r.unit)} {_wait_text(missing, views)}")
        return "; ".join(parts)
    text = f"no callback, dependency or time trigger of {job.name} {'releases its frames' if frames_only else 'unblocks it'}"
    hints = []
    for unit in units:
        if unit.job is job and unit.language == "python":
            names = python_undefined(unit.code)
            if names:
                hints.append(f"{_unit_text(unit)} acts on '{names[0]}', which its code never defines: the call "
                             "raises NameError")
    # callbacks acting where that does nothing (on a job that is not blocked): likely meant for
    # this one (attached to the wrong job, or qb.jobid() taken for another job's id)
    for r in releasers:
        kind, target = r.targets[0]
        offset = r.offsets[0][1]
        if r.unit.index is None or len(hints) >= 2 or any(
                (t in views.blocked if k == "job" else t in views.blocked_work) for k, t in r.targets):
            continue
        if (r.unit.job is job) == (offset == 0):  # its own code missing it, or another job's own
            continue
        whom = views.by_id[target].name if target in views.by_id else "no job of this submission"
        if r.unit.language == "qube":
            how = f"runs {r.unit.code}, which acts on {whom} itself (the job the callback is attached to)"
        elif offset == 0:
            how = f"acts on qb.jobid(), which is {whom} itself (the job the callback is attached to)"
        else:
            how = f"acts on qb.jobid() {'+' if offset > 0 else '-'} {abs(offset)}, which is {whom}"
        hints.append(f"{_unit_text(r.unit)} {how}, not {job.name}")
    return text + ("; " + "; ".join(hints) if hints else "")


def _wait_text(node: Optional[Node], views: Jobs) -> str:
    """What a callback that cannot fire waits for, and why that never comes."""
    if node is None:
        return "can never fire"
    if node[0] == "outside":
        return f"waits for job {node[1]} to finish, which can never happen"
    if node[0] == "event":
        return f"waits for the event '{node[1]}', which nothing in the submission raises"
    owner = views.by_id[node[1]]
    if node[0] == "released":
        return f"waits for {owner.name} to run, which it cannot while it is blocked"
    what = owner.name if node[0] == "job" else f"{owner.name} work '{node[2]}'"
    return f"waits for {what} to finish, which can never happen"


def _unit_text(unit: Unit) -> str:
    which = "its dependency" if unit.index is None else f"callback {unit.index}"
    return f"{unit.job.name}, {which} ({unit.language}),"


def _list(items: List[str]) -> str:
    shown = items[:3]
    more = f" or {len(items) - 3} more" if len(items) > 3 else ""
    return ", ".join(shown) + more


def _frames(names: List[str]) -> str:
    if len(names) == 1:
        return f"work item '{names[0]}'"
    shown = ", ".join(names[:5]) + (f", ... ({len(names)} items)" if len(names) > 5 else "")
    return f"work items {shown}"
