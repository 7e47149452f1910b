"""A submission's dependency graph as plain data: its jobs, and the links between them.

A link goes from the job whose events are awaited to the job that waits (its ``dependency`` field,
or one of its callbacks whose triggers name the other job), or from a callback's owner to a job its
callback acted on (seen in a simulation). Per-frame links (``link-complete-work-render``, or one
``complete-work-render-N`` callback per frame) are counted into one link per pair of jobs, not kept
one by one: a 1,000-frame link is one edge that says "1,000 frames".

Nothing here draws or imports the drawing libraries; :mod:`.graph` lays the graph out and draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .. import Atom, TriggerSyntaxError, atoms_of, parse
from ..callbacks.dependency import parse_dependency
from ..callbacks.jobs import JobView, read_job
from ..supervisor.report import job_title
from ..vocabulary import BLOCKED, ITEM_TYPES, PENDING

__all__ = ["DEPENDENCY", "CALLBACK", "ACTS", "Node", "Link", "Graph", "build_graph"]

#: Link kinds: a ``dependency`` entry, a callback's triggers, a callback acting on another job.
DEPENDENCY = "dependency"
CALLBACK = "callback"
ACTS = "acts on"

#: Example atoms kept per link (the hover shows them).
EXAMPLES_KEPT = 3

# A one-atom trigger naming a work item or subjob (``complete-work-render-7``): the per-frame form
# a submission repeats once per frame. It is parsed once with ``*`` for its item and reused,
# so a 1,000,000-callback submission is not parsed callback by callback (the matcher's own parser
# still decides what that part means; anything else is parsed whole).
_PER_ITEM_ATOM = re.compile(r"\s*([A-Za-z]+-(?:work|subjob)-[A-Za-z0-9_.]+)-([^\s()&|!-]+)\s*\Z", re.ASCII)


@dataclass
class Node:
    """One job: how it is named, its state (final, or as submitted), its work items, what the
    hover says about it, and its problem (a stuck job's root cause, a finding) when it has one."""

    id: int
    title: str
    status: str
    work: int
    lines: List[str] = field(default_factory=list)
    problem: Optional[str] = None


@dataclass
class Link:
    """Every link of one kind from ``source`` to ``target``: ``per_frame`` when each frame (or
    subjob) is linked to its namesake, ``count`` the links counted into it, ``examples`` a few of
    their atoms."""

    source: int
    target: int
    kind: str
    per_frame: bool
    count: int = 0
    examples: List[str] = field(default_factory=list)

    def describe(self, title: Mapping[int, str]) -> str:
        """One line: "comp waits for render, frame by frame (20 links: dependency)"."""
        src, dst = title.get(self.source, f"job {self.source}"), title.get(self.target, f"job {self.target}")
        if self.kind == ACTS:
            what = f"{src}'s callbacks acted on {dst}"
        else:
            what = f"{dst} waits for {src}" + (", frame by frame" if self.per_frame else "")
        plural = "s" if self.count != 1 else ""
        return f"{what} ({self.count:,} link{plural}: {self.kind}; e.g. {', '.join(self.examples)})"


@dataclass
class Graph:
    """Jobs by id, and links by ``(source, target, kind, per_frame)``."""

    nodes: Dict[int, Node] = field(default_factory=dict)
    links: Dict[Tuple[int, int, str, bool], Link] = field(default_factory=dict)

    def link(self, source: int, target: int, kind: str, per_frame: bool, example: str, count: int = 1) -> None:
        """Count ``count`` links (a link from a job to itself is not drawn)."""
        if source == target:
            return
        key = (source, target, kind, per_frame)
        found = self.links.get(key)
        if found is None:
            found = self.links[key] = Link(source, target, kind, per_frame)
        found.count += count
        if len(found.examples) < EXAMPLES_KEPT and example not in found.examples:
            found.examples.append(example)

    def titles(self) -> Dict[int, str]:
        return {jobid: node.title for jobid, node in self.nodes.items()}


class _Resolver:
    """Finds the submission's job an atom or a dependency entry names (by id, or by label in the
    job's pgrp), and parses triggers with the per-frame shortcut."""

    def __init__(self, views: List[JobView]) -> None:
        self.ids = {v.id for v in views}
        self.by_label: Dict[Tuple[int, Optional[str]], int] = {(v.pgrp, v.label): v.id for v in views if v.label}
        self._parsed: Dict[Tuple[str, int, Optional[int]], List[Atom]] = {}
        self._heads: Dict[Tuple[str, int], List[Tuple[int, str]]] = {}

    def job(self, owner: JobView, context: str, jobid: Optional[int], label: Optional[str]) -> Optional[int]:
        if context == "self":
            return owner.id
        if context == "parent":
            return owner.pid if owner.pid in self.ids else None
        if context == "id":
            return jobid if jobid in self.ids else None
        if context == "label":
            return self.by_label.get((owner.pgrp, label))
        return None

    def atoms(self, text: str, owner: JobView) -> List[Atom]:
        """The atoms of a trigger expression (none when it does not parse: `check` says why)."""
        match = _PER_ITEM_ATOM.match(text)
        if match is None:
            return self._parse(text, owner)
        head, extra = match.groups()
        star = text[: match.end(1)] + "-*"  # the same atom for any item: its parse is shared
        return [atom._replace(extra=extra, text=f"{head}-{extra}") for atom in self._parse(star, owner)]

    def links(self, text: str, owner: JobView) -> List[Tuple[int, bool, str]]:
        """``(source job, per frame, atom)`` for each atom of a trigger expression that names an item
        of another job of the submission. The per-frame form costs a match and a lookup: its part
        before the item is resolved once per job."""
        match = _PER_ITEM_ATOM.match(text)
        if match is None:
            out = []
            for atom in self.atoms(text, owner):
                source = self.job(owner, atom.context, atom.job, atom.label) if atom.type in ITEM_TYPES else None
                if source is not None:
                    out.append((source, atom.type != "job" and atom.extra not in (None, "*"), atom.canonical()))
            return out
        key = (text[: match.end(1)], owner.id)
        heads = self._heads.get(key)
        if heads is None:
            heads = []
            for atom in self._parse(text[: match.end(1)] + "-*", owner):
                source = self.job(owner, atom.context, atom.job, atom.label)
                if source is not None:
                    heads.append((source, atom.canonical()[:-2]))  # without its "-*"
            if len(self._heads) < 100_000:
                self._heads[key] = heads
        extra = match.group(2)
        return [(source, extra != "*", f"{head}-{extra}") for source, head in heads]

    def _parse(self, text: str, owner: JobView) -> List[Atom]:
        key = (text, owner.id, owner.pid)
        found = self._parsed.get(key)
        if found is None:
            try:
                found = atoms_of(parse(text, owner=owner.id, pid=owner.pid))
            except (TriggerSyntaxError, ValueError):
                found = []
            if len(self._parsed) < 100_000:
                self._parsed[key] = found
        return found


def _trigger_texts(spec: Any) -> List[str]:
    triggers = spec.get("triggers") if isinstance(spec, Mapping) else None
    if isinstance(triggers, str):
        return [triggers]
    return [t for t in triggers if isinstance(t, str)] if isinstance(triggers, (list, tuple)) else []


def build_graph(jobs: Sequence[Mapping[str, Any]]) -> Graph:
    """The graph of job dicts that have ids (a supervisor's, or a submission given provisional
    ids): a node per job (status as submitted: ``blocked`` when its dependency or status holds it),
    a link per ``dependency`` entry and per callback atom naming another job of the submission."""
    pairs = [(view, job) for view, job in ((read_job(job, i)[0], job) for i, job in enumerate(jobs)) if view is not None]
    resolve = _Resolver([view for view, _ in pairs])
    graph = Graph()
    for view, job in pairs:
        entries, info, _problems = parse_dependency(view.dependency) if view.dependency.strip() else ([], [], [])
        held = (view.status or "").lower() == BLOCKED or any(e.type == "job" for e in entries)
        title = job_title(view.id, view.label, job.get("name") if isinstance(job.get("name"), str) else None)
        lines = [f"job {view.id}" + (f", label {view.label}" if view.label else ""),
                 f"{len(view.work_names):,} work item(s), {len(view.callbacks):,} callback(s)"]
        if view.dependency.strip():
            lines.append(f"dependency: {view.dependency[:120]}")
        graph.nodes[view.id] = Node(view.id, title, BLOCKED if held else PENDING, len(view.work_names), lines)
        for entry in entries:
            context = entry.context
            source = resolve.job(view, "id", int(context), None) if context.isdigit() else resolve.job(view, "label", None, context)
            if source is not None:  # a work (subjob) entry links each frame (subjob) of the job
                count = {"job": 1, "work": len(view.work_names), "subjob": view.cpus}[entry.type]
                graph.link(source, view.id, DEPENDENCY, entry.type != "job", f"link-{entry.atom()}", max(count, 1))
        for spec in view.callbacks:
            for text in _trigger_texts(spec):
                for source, per_frame, example in resolve.links(text, view):
                    graph.link(source, view.id, CALLBACK, per_frame, example)
    return graph
