"""The plain matcher every figure is compared with: what a careful Python programmer writes first.

A dict from atom key to the callbacks that hold that atom; on each event, probe the keys the event
can match, set those latches, then re-evaluate each touched callback's whole expression from its
latches (no node counters, no shared network). Same subset of the API as ``qbtrigger.Network``:
``add_job``, ``add``, ``feed``, ``feed_many``, ``len``; bare Qube edge semantics (SPEC §4);
labels resolve at event time, as in docs/semantics.md. Expressions are parsed with the shared
``qbtrigger.parse``; events are split with ``str.split``, as a plain matcher would, not validated
(so it ran at about 2 M events/s with 1k callbacks on the issue's machine, the calibration the
targets were set against).
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple, Union

from qbtrigger import And, Atom, Or, TriggerSyntaxError, parse

_DONE = ("complete", "failed", "killed")


class _Callback:
    __slots__ = ("handle", "tree", "latched", "count", "maximum", "live")

    def __init__(self, handle: int, tree: object, n_atoms: int, maximum: Optional[int]) -> None:
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

    def add_job(self, jobid: int, pgrp: Optional[int] = None, label: Optional[str] = None, pid: Optional[int] = None) -> None:
        if jobid in self._jobs:
            raise ValueError(f"job {jobid} is already added")
        self._jobs[jobid] = (jobid if pgrp is None else pgrp, label, pid)

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, triggers: Union[str, Sequence[str]], owner: int, maximum: Optional[int] = None) -> int:
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
            where: Union[None, int, Tuple[str, int, Optional[str]]]
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

    def feed(self, event: str) -> list:
        return self._apply(_split(event))

    def feed_many(self, events: Iterable[str]) -> list:
        parsed = [_split(e) for e in events]
        apply = self._apply
        return [(i, h) for i, ev in enumerate(parsed) for h in apply(ev)]

    def _apply(self, ev) -> list:
        name, type_, jobid, extra = ev
        names = (name, "done") if name in _DONE else (name,)
        wheres = [jobid]
        job = self._jobs.get(jobid)
        if job is not None and job[1] is not None:
            wheres.append(("label", job[0], job[1]))
        extras = (extra, "*") if extra is not None else (None,)
        index = self._index
        touched = {}
        for name in names:
            for where in wheres:
                for extra in extras:
                    for cb, i in index.get((name, type_, where, extra), ()):
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


def _split(event: str) -> tuple:
    """name, type, job id, extra of ``name-type-jobid[-extra]`` (global types: job id None)."""
    name, type_, rest = event.split("-", 2)
    name, type_ = name.lower(), type_.lower()
    if type_ in ("globaltime", "globalrepeat"):
        return name, type_, None, rest
    jobid, _, extra = rest.partition("-")
    return name, type_, int(jobid), extra if _ else None


def _true(node, latched) -> bool:
    if node.__class__ is int:
        return latched[node]
    kind, children = node
    if kind == "and":
        for child in children:
            if not _true(child, latched):
                return False
        return True
    for child in children:
        if _true(child, latched):
            return True
    return False
