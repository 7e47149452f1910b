"""A workload's callbacks as concrete conditions, for the peers that know nothing of qbtrigger.

Rule engines have no ``self``, ``parent`` or labels and no OR inside a rule: each callback becomes
a list of branches (its expression in disjunctive normal form), each branch a list of
:class:`Cond`: event name(s), type, a resolved job id and a work name (``None`` for job events,
``"*"`` for any). Labels resolve at registration here, which is what a peer can do; the workload
adds every job before its callbacks, so that agrees with qbtrigger's event-time resolution.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

from qbtrigger import And, Atom, Or, parse
from qbtrigger.workload import Workload

__all__ = ["Cond", "resolve", "dnf", "split_event"]

DONE = ("complete", "failed", "killed")


class Cond(NamedTuple):
    names: Tuple[str, ...]  # ("complete",) or, for done, ("complete", "failed", "killed")
    type: str
    job: Optional[int]
    extra: Optional[str]


def dnf(node: object) -> List[List[Atom]]:
    """The expression as an OR of ANDs of atoms (no duplicate atoms inside one AND)."""
    if isinstance(node, Atom):
        return [[node]]
    if isinstance(node, Or):
        return [branch for child in node.children for branch in dnf(child)]
    assert isinstance(node, And)
    branches: List[List[Atom]] = [[]]
    for child in node.children:
        branches = [b + [a for a in c if a not in b] for b in branches for c in dnf(child)]
    return branches


def resolve(workload: Workload) -> List[List[List[Cond]]]:
    """Per callback (in registration order), its branches of resolved conditions."""
    jobs = {jobid: (pgrp, label, pid) for jobid, pgrp, label, pid in workload.jobs}
    by_label = {(pgrp, label): jobid for jobid, (pgrp, label, _) in jobs.items() if label is not None}
    out = []
    for triggers, owner in workload.callbacks:
        pgrp, _, pid = jobs[owner]
        items = [triggers] if isinstance(triggers, str) else list(triggers)
        branches = []
        for text in items:
            for branch in dnf(parse(text, owner=owner, pid=pid)):
                conds = []
                for atom in branch:
                    if atom.context == "self":
                        job: Optional[int] = owner
                    elif atom.context == "parent":
                        job = pid
                    elif atom.context == "label":
                        job = by_label.get((pgrp, atom.label))
                    else:
                        job = atom.job
                    names = DONE if atom.name == "done" else (atom.name,)
                    conds.append(Cond(names, atom.type, job, atom.extra))
                branches.append(conds)
        out.append(branches)
    return out


def split_event(event: str) -> Tuple[str, str, Optional[int], Optional[str]]:
    """name, type, job id, extra of ``name-type-jobid[-extra]`` (the peers' event fields)."""
    name, type_, rest = event.split("-", 2)
    jobid, sep, extra = rest.partition("-")
    return name.lower(), type_.lower(), int(jobid), extra if sep else None
