"""The naive evaluator: after every event, re-evaluate every registered expression.

No index at all: each event is compared with every atom of every callback, and every callback's
expression is evaluated again from its latches. This is what a script that keeps a list of
``(expression, latches)`` and loops over it does; its cost per event grows with the number of
callbacks, which is the point of measuring it. Same subset of the API and the same bare edge
semantics (SPEC §4) as :mod:`qbtrigger.bench.reference`, whose parser and evaluator it shares, so
the two differ only in the missing index.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Union

from qbtrigger import TriggerSyntaxError, parse
from qbtrigger import Or
from qbtrigger.bench.reference import _compile, _split, _true

__all__ = ["NaiveNetwork"]

_DONE_NAMES = ("complete", "failed", "killed")


class _Callback:
    __slots__ = ("handle", "tree", "atoms", "latched", "count", "maximum")

    def __init__(self, handle: int, tree: object, atoms: list, maximum: Optional[int]) -> None:
        self.handle, self.tree, self.atoms, self.maximum = handle, tree, atoms, maximum
        self.latched = [False] * len(atoms)
        self.count = 0


class NaiveNetwork:
    """Every callback in one list, every expression re-evaluated after every event."""

    def __init__(self, state_aware: bool = False) -> None:
        if state_aware:
            raise NotImplementedError("the naive evaluator has bare edge semantics only")
        self._jobs: dict = {}  # jobid -> (pgrp, label, pid)
        self._callbacks: list = []  # registration order, which is also the firing order
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
        matchers = []
        for atom in atoms:
            if atom.context == "self":
                where: object = owner
            elif atom.context == "parent":
                where = pid
            elif atom.context == "label":
                where = ("label", pgrp, atom.label)
            else:
                where = atom.job
            names = _DONE_NAMES if atom.name == "done" else (atom.name,)
            matchers.append((names, atom.type, where, atom.extra))
        cb = _Callback(self._next, compiled, matchers, maximum)
        self._next += 1
        self._callbacks.append(cb)
        return cb.handle

    def feed(self, event: str) -> list:
        return self._apply(_split(event))

    def feed_many(self, events: Iterable[str]) -> list:
        parsed = [_split(e) for e in events]
        apply = self._apply
        return [(i, h) for i, ev in enumerate(parsed) for h in apply(ev)]

    def _apply(self, ev: tuple) -> list:
        name, type_, jobid, extra = ev
        job = self._jobs.get(jobid)
        label = ("label", job[0], job[1]) if job is not None and job[1] is not None else None
        fired = []
        removed = False
        for cb in self._callbacks:
            latched = cb.latched
            for i, (names, atype, where, aextra) in enumerate(cb.atoms):
                if (
                    name in names
                    and atype == type_
                    and (where == jobid or where == label)
                    and (aextra == extra or aextra == "*")
                ):
                    latched[i] = True
            # The whole point: every expression, every event.
            if _true(cb.tree, latched):
                fired.append(cb.handle)
                cb.count += 1
                cb.latched = [False] * len(latched)
                if cb.maximum is not None and cb.count >= cb.maximum:
                    cb.maximum = -1  # marked; dropped after the loop
                    removed = True
        if removed:
            self._callbacks = [cb for cb in self._callbacks if cb.maximum != -1]
        return fired
