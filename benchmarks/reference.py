"""The plain matcher every figure is compared with: what a careful Python programmer writes first.

A dict from atom key to the callbacks that hold that atom; on each event, probe the keys the event
can match, set those latches, then re-evaluate each touched callback's whole expression from its
latches (no node counters, no shared network). Same subset of the API as ``qbtrigger.Network``:
``add_job``, ``add``, ``feed``, ``feed_many``, ``len``; bare Qube edge semantics (SPEC §4);
labels resolve at event time, as in docs/semantics.md. Parsing is the shared ``qbtrigger.parse``.
"""

from __future__ import annotations

from qbtrigger import And, Atom, Or, TriggerSyntaxError, parse, parse_event

_DONE = ("complete", "failed", "killed")


class _Callback:
    __slots__ = ("handle", "tree", "latched", "count", "maximum", "live")

    def __init__(self, handle, tree, n_atoms, maximum):
        self.handle, self.tree, self.maximum = handle, tree, maximum
        self.latched = [False] * n_atoms
        self.count = 0
        self.live = True


class ReferenceNetwork:
    def __init__(self, state_aware: bool = False) -> None:
        if state_aware:
            raise NotImplementedError("the reference matcher has bare edge semantics only")
        self._jobs: dict = {}  # jobid -> (pgrp, label, pid)
        self._index: dict = {}  # (name, type, where, extra) -> [(callback, atom index)]
        self._callbacks: dict = {}  # handle -> _Callback
        self._next = 1

    def add_job(self, jobid, pgrp=None, label=None, pid=None) -> None:
        if jobid in self._jobs:
            raise ValueError(f"job {jobid} is already added")
        self._jobs[jobid] = (jobid if pgrp is None else pgrp, label, pid)

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, triggers, owner, maximum=None) -> int:
        pgrp, _, pid = self._jobs[owner]
        items = [triggers] if isinstance(triggers, str) else list(triggers)
        if not items:
            raise TriggerSyntaxError("", 0, "empty trigger list")
        trees = [parse(text, owner=owner, pid=pid) for text in items]
        tree = trees[0] if len(trees) == 1 else Or(tuple(trees))
        atoms: list = []
        compiled = _compile(tree, atoms)
        cb = _Callback(self._next, compiled, len(atoms), maximum)
        self._next += 1
        for i, atom in enumerate(atoms):
            if atom.context == "self":
                where = owner
            elif atom.context == "parent":
                where = pid
            elif atom.context == "label":
                where = ("label", pgrp, atom.label)
            else:
                where = atom.job  # id, or None for global types
            self._index.setdefault((atom.name, atom.type, where, atom.extra), []).append((cb, i))
        self._callbacks[cb.handle] = cb
        return cb.handle

    def feed(self, event) -> list:
        ev = parse_event(event) if isinstance(event, str) else event
        return self._apply(ev)

    def feed_many(self, events) -> list:
        parsed = []
        for i, e in enumerate(events):
            try:
                parsed.append(parse_event(e) if isinstance(e, str) else e)
            except ValueError as exc:
                raise ValueError(f"{str(exc).replace(': ', f' at index {i}: ', 1)}") from None
        return [(i, h) for i, ev in enumerate(parsed) for h in self._apply(ev)]

    def _apply(self, ev) -> list:
        names = (ev.name, "done") if ev.name in _DONE else (ev.name,)
        wheres = [ev.jobid]
        job = self._jobs.get(ev.jobid)
        if job is not None and job[1] is not None:
            wheres.append(("label", job[0], job[1]))
        extras = (ev.extra, "*") if ev.extra is not None else (None,)
        index = self._index
        touched = {}
        for name in names:
            for where in wheres:
                for extra in extras:
                    for cb, i in index.get((name, ev.type, where, extra), ()):
                        if cb.live:
                            cb.latched[i] = True
                            touched[cb.handle] = cb
        fired = []
        for handle in sorted(touched):
            cb = touched[handle]
            if _true(cb.tree, cb.latched):
                fired.append(handle)
                cb.count += 1
                cb.latched = [False] * len(cb.latched)
                if cb.maximum is not None and cb.count >= cb.maximum:
                    cb.live = False
                    del self._callbacks[handle]
        return fired


def _compile(node, atoms: list):
    """Replace atoms by their index in ``atoms``: a tree of ("and"|"or", children) and ints."""
    if isinstance(node, Atom):
        atoms.append(node)
        return len(atoms) - 1
    kind = "and" if isinstance(node, And) else "or"
    return (kind, [_compile(child, atoms) for child in node.children])


def _true(node, latched) -> bool:
    if isinstance(node, int):
        return latched[node]
    if node[0] == "and":
        return all(_true(child, latched) for child in node[1])
    return any(_true(child, latched) for child in node[1])
