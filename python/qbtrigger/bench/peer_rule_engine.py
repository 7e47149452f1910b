"""rule-engine (PyPI ``rule-engine``: expressions evaluated against a dict) as a contender.

rule-engine evaluates one expression against one object; it has no network, no joins and no
memory of earlier events. So, as a user would: every distinct atom of every trigger is compiled
once into a ``rule_engine.Rule`` over the event's fields (``name == 'complete' and type == 'work'
and frame == '5'``), the rules are kept in a dict by the job id they name (the one field a user
would obviously key on; each atom names exactly one job), and on each event the rules of the
event's job are evaluated. A rule that matches sets the latches of its atom in every callback that
holds it, and each touched callback's expression is re-evaluated from its latches (the same
latches-and-clear bookkeeping as the reference, SPEC §4). Callbacks fire in registration order.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from qbtrigger.bench.contenders import Contender
from qbtrigger.bench.resolve import Cond, resolve, split_event
from qbtrigger.workload import Workload

__all__ = ["RuleEngineContender", "rule_text"]


def rule_text(cond: Cond) -> str:
    """The rule-engine expression of one resolved atom (its job is the index key, not a test)."""
    if len(cond.names) == 1:
        parts = [f"name == {cond.names[0]!r}"]
    else:
        parts = [f"name in [{', '.join(repr(n) for n in cond.names)}]"]
    parts.append(f"type == {cond.type!r}")
    if cond.extra is not None and cond.extra != "*":
        parts.append(f"frame == {cond.extra!r}")
    return " and ".join(parts)


class _Callback:
    __slots__ = ("branches", "latched")

    def __init__(self, branches: List[List[int]], n_atoms: int) -> None:
        self.branches = branches  # each branch: positions in latched
        self.latched = [False] * n_atoms


class _Engine:
    def __init__(self) -> None:
        self.by_job: Dict[Optional[int], List[tuple]] = {}  # job -> [(Rule, [(callback, position)])]
        self.callbacks: List[_Callback] = []


class RuleEngineContender(Contender):
    name = "rule-engine"
    ordered = True
    modes = ("feed",)
    requires = "rule_engine"

    def register(self, workload: Workload) -> _Engine:
        import rule_engine

        engine = _Engine()
        holders: Dict[Cond, list] = {}  # one rule per distinct atom, compiled once
        for index, branches in enumerate(resolve(workload)):
            positions: Dict[Cond, int] = {}
            shape = []
            for branch in branches:
                shape.append([positions.setdefault(c, len(positions)) for c in branch])
            engine.callbacks.append(_Callback(shape, len(positions)))
            for cond, pos in positions.items():
                holders.setdefault(cond, []).append((index, pos))
        for cond, holding in holders.items():
            engine.by_job.setdefault(cond.job, []).append((rule_engine.Rule(rule_text(cond)), holding))
        return engine

    def feed(self, engine: _Engine, events: list, mode: str, collect: bool) -> Any:
        by_job = engine.by_job
        callbacks = engine.callbacks
        out: List[tuple] = []
        count = 0
        for i, event in enumerate(events):
            name, type_, job, extra = split_event(event)
            fields = {"name": name, "type": type_, "frame": extra}
            touched = set()
            for rule, holding in by_job.get(job, ()):
                if rule.matches(fields):
                    for index, pos in holding:
                        callbacks[index].latched[pos] = True
                        touched.add(index)
            for index in sorted(touched):
                cb = callbacks[index]
                latched = cb.latched
                if any(all(latched[p] for p in branch) for branch in cb.branches):
                    cb.latched = [False] * len(latched)
                    count += 1
                    if collect:
                        out.append((i, index))
        return out if collect else count
