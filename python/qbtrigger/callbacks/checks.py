"""Static checks of a submission (SPEC §9): what can be known without running anything.

:func:`check_submission` reports, as :class:`Finding` records:

- every registration problem the engine would raise at submission (syntax errors with column
  and caret, unknown or disabled languages, bad qube keywords, Python that does not compile, bad
  ``dependency`` entries);
- labels that name no job of the submission (job ids are fine: they may be on the farm already);
- callbacks that wait on their own job finishing while that job is submitted blocked and nothing
  else in the submission can unblock it;
- dependency cycles between jobs or work items (through ``dependency`` fields and through
  ``unblock-self`` / ``unblock-work-self`` qube callbacks);
- per-frame triggers naming frames the upstream job's agenda lacks.

Jobs in a submission have no ids yet; the checker gives them provisional ones, far from ids a
trigger would name, and every finding names jobs by label or index instead.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .. import And, Atom, Or, TriggerSyntaxError, parse
from .dependency import compile_dependency, parse_dependency
from .engine import CallbackEngine
from ..vocabulary import BLOCKED, DEFAULT_LANGUAGE, DEFAULT_LANGUAGE_FLAGS, DONE_STATES
from .errors import SubmissionError
from .fields import JobReview, normalize_job
from .host import Host
from .jobs import JobView, job_name, read_job

__all__ = ["Finding", "check_submission", "review_fields", "explain_job", "with_provisional_ids", "PROVISIONAL_FIRST_ID"]

#: Provisional ids of checked jobs start here, well above the ids farms hand out.
PROVISIONAL_FIRST_ID = 2_000_000_000
_TERMINAL = DONE_STATES


@dataclass(frozen=True)
class Finding:
    """One finding: which job, which callback (None: the job or its dependency), what."""

    job: str
    callback: Optional[int]
    message: str
    expression: Optional[str] = None
    column: Optional[int] = None
    #: "error" (the submission would fail or misbehave), "warning" (accepted, but likely not what
    #: was meant) or "ignored" (fields qbtrigger keeps but does not act on).
    level: str = "error"

    def __str__(self) -> str:
        where = self.job if self.callback is None else f"{self.job}, callback {self.callback}"
        text = f"{where}: {self.message}" if self.level == "error" else f"{where}: {self.level}: {self.message}"
        if self.expression is not None and self.column is not None:
            text += f"\n    {self.expression}\n    {' ' * self.column}^"
        return text


class _NoFarm(Host):
    """The checker's host: nothing exists, nothing runs."""

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return []

    def act(self, verb: str, jobid: int, **where: Any) -> None:  # pragma: no cover - never runs
        raise RuntimeError("the checker runs nothing")

    def modify(self, jobid: int, fields: Any) -> None:  # pragma: no cover - never runs
        raise RuntimeError("the checker runs nothing")


@dataclass
class _Unit:
    """One callback as the analysis sees it: its owner, tree, code and where it came from."""

    job: JobView
    index: Optional[int]  # None: from the dependency field
    text: str
    tree: Any
    language: str
    code: str


def with_provisional_ids(jobs: Sequence[Any], first: int = PROVISIONAL_FIRST_ID) -> List[Any]:
    """The jobs, those without an ``id`` copied with ids ``first``, ``first + 1``, ... (by position)
    and pgrp ``first``, as a farm would number a submission."""
    out = []
    for index, job in enumerate(jobs):
        if isinstance(job, dict) and job.get("id") is None:
            job = dict(job, id=first + index)
            job.setdefault("pgrp", first)
        out.append(job)
    return out


def check_submission(
    jobs: Sequence[Any],
    *,
    language_flags: str = DEFAULT_LANGUAGE_FLAGS,
    universal: Optional[str] = None,
    first_id: int = PROVISIONAL_FIRST_ID,
) -> List[Finding]:
    """Every finding for a submission (a list of job dicts), in job order; [] when it is clean.
    Jobs without an ``id`` get provisional ones from ``first_id`` on."""
    if not isinstance(jobs, (list, tuple)):
        return [Finding("submission", None, "a submission is a list of job dicts")]
    jobs = with_provisional_ids(jobs, first_id)
    findings: List[Finding] = []
    jobs, reviews = _normalized(jobs)
    for index, review in enumerate(reviews):
        findings += [Finding(job_name(jobs[index], index), None, p) for p in review.problems]
    engine = CallbackEngine(_NoFarm(), language_flags=language_flags, universal=universal)
    try:
        engine.compile(jobs)
    except SubmissionError as error:
        findings += [Finding(p.job, p.callback, p.detail) for p in error.problems]
    views = _Jobs([v for v, _ in (read_job(job, i) for i, job in enumerate(jobs)) if v is not None])
    units = _units(views)
    findings += _unknown_labels(views, units)
    findings += _missing_frames(views, units)
    findings += _self_waits(views, units)
    findings += _cycles(views, units)
    order = {job_name(job, i): i for i, job in enumerate(jobs)}
    return sorted(findings, key=lambda f: (order.get(f.job, -1), -1 if f.callback is None else f.callback))


def review_fields(jobs: Sequence[Any]) -> List[Finding]:
    """The warnings (likely misspelt fields) and ignored fields of a submission's jobs: for the
    engineer to read; they do not make a check fail."""
    if not isinstance(jobs, (list, tuple)):
        return []
    jobs, reviews = _normalized(jobs)
    out: List[Finding] = []
    for index, review in enumerate(reviews):
        name = job_name(jobs[index], index)
        out += [Finding(name, None, w, level="warning") for w in review.warnings]
        if review.ignored:
            out.append(Finding(name, None, f"{', '.join(review.ignored)} (qbtrigger does not model them)", level="ignored"))
    return out


def _normalized(jobs: Sequence[Any]) -> Tuple[List[Any], List[JobReview]]:
    """Copies of the jobs as :func:`normalize_job` reads them, and each one's review."""
    out: List[Any] = []
    reviews: List[JobReview] = []
    for job in jobs:
        if isinstance(job, dict):
            try:
                job = json.loads(json.dumps(job))
            except (TypeError, ValueError):
                job = copy.deepcopy(job)  # the engine's compile will say what is not JSON
            reviews.append(normalize_job(job))
        else:
            reviews.append(JobReview())
        out.append(job)
    return out, reviews


def _units(views: List[JobView]) -> List[_Unit]:
    units: List[_Unit] = []
    for job in views:
        for index, spec in enumerate(job.callbacks):
            if not isinstance(spec, dict):
                continue
            triggers = spec.get("triggers")
            texts = [triggers] if isinstance(triggers, str) else list(triggers or [])
            for text in texts:
                if not isinstance(text, str):
                    continue
                try:
                    tree = parse(text, owner=job.id, pid=job.pid)
                except TriggerSyntaxError:
                    continue
                language = str(spec.get("language", DEFAULT_LANGUAGE)).strip().lower()
                code = spec.get("code", "")
                units.append(_Unit(job, index, text, tree, language, code.strip() if isinstance(code, str) else ""))
        if job.dependency.strip():
            entries, _, problems = parse_dependency(job.dependency)
            if not problems:
                plan, _ = compile_dependency(entries, job.work_names, job.cpus)
                for text, keyword, _work in plan.callbacks:
                    try:
                        units.append(_Unit(job, None, text, parse(text, owner=job.id, pid=job.pid), "qube", keyword))
                    except TriggerSyntaxError:
                        continue
    return units


def _atoms(tree: Any) -> List[Atom]:
    if isinstance(tree, Atom):
        return [tree]
    return [atom for child in tree.children for atom in _atoms(child)]


class _Jobs(list):
    """The submission's jobs, with what every check looks up: by id, by (pgrp, label), and which
    are submitted blocked. Made once per check: the checks resolve an atom per callback."""

    def __init__(self, views: List[JobView]) -> None:
        super().__init__(views)
        self.by_id: Dict[int, JobView] = {}
        self.by_label: Dict[Tuple[int, Optional[str]], JobView] = {}
        for view in views:
            self.by_id.setdefault(view.id, view)
            self.by_label.setdefault((view.pgrp, view.label), view)
        self.blocked: Set[int] = {
            view.id
            for view in views
            if (view.status or "").lower() == BLOCKED
            or any(e.type == "job" for e in parse_dependency(view.dependency)[0])
        }


def _resolve(atom: Atom, owner: JobView, views: _Jobs) -> Optional[JobView]:
    """The submission's job an atom names, or None (another job on the farm, or nobody)."""
    if atom.context == "self":
        return owner
    if atom.context == "parent":
        return None if owner.pid is None else views.by_id.get(owner.pid)
    if atom.context == "id":
        return None if atom.job is None else views.by_id.get(atom.job)
    if atom.context == "label":
        return views.by_label.get((owner.pgrp, atom.label))
    return None


def _where(unit: _Unit, atom: Atom) -> Dict[str, Any]:
    if unit.index is None:
        return {"callback": None, "expression": None, "column": None}
    return {"callback": unit.index, "expression": unit.text, "column": atom.column}


def _atom_finding(unit: _Unit, atom: Atom, what: str) -> Finding:
    """A finding about one atom: at its column, or in the dependency field it was compiled from."""
    if unit.index is None:
        what = f"dependency: {what}"
    return Finding(unit.job.name, message=what, **_where(unit, atom))


def _unknown_labels(views: _Jobs, units: List[_Unit]) -> List[Finding]:
    out = []
    for unit in units:
        for atom in _atoms(unit.tree):
            if atom.context == "label" and _resolve(atom, unit.job, views) is None:
                out.append(_atom_finding(unit, atom, f"label '{atom.label}' names no job of {_pgrp_text(unit.job)}"))
    return out


def _pgrp_text(job: JobView) -> str:
    return "this submission" if job.pgrp >= PROVISIONAL_FIRST_ID else f"pgrp {job.pgrp} in this submission"


def _missing_frames(views: _Jobs, units: List[_Unit]) -> List[Finding]:
    out = []
    for unit in units:
        for atom in _atoms(unit.tree):
            if atom.type != "work" or atom.extra in (None, "*"):
                continue
            upstream = _resolve(atom, unit.job, views)
            if upstream is not None and atom.extra not in upstream.work_names:
                what = f"{upstream.name} has no work item '{atom.extra}' (its agenda: {_agenda(upstream)})"
                out.append(_atom_finding(unit, atom, what))
    return out


def _agenda(job: JobView) -> str:
    names = job.work_names
    if not names:
        return "empty"
    return ", ".join(names[:5]) + (f", ... ({len(names)} items)" if len(names) > 5 else "")


# --------------------------------------------------------------------------- blocking analysis
# Nodes: ("job", id) = the job finishes; ("work", id, name) = the work item finishes.

Node = Tuple


def _requires(tree: Any, owner: JobView, views: _Jobs) -> Set[Node]:
    """What must finish for the expression to hold: union over AND, intersection over OR.
    Only finishing atoms (complete/done/failed/killed) of the submission's jobs count."""
    if isinstance(tree, Atom):
        if tree.name not in _TERMINAL:
            return set()
        job = _resolve(tree, owner, views)
        if job is None:
            return set()
        if tree.type == "job":
            return {("job", job.id)}
        if tree.type == "work" and tree.extra not in (None, "*"):
            return {("work", job.id, tree.extra)}
        return set()
    sets = [_requires(child, owner, views) for child in tree.children]
    if isinstance(tree, And):
        return set().union(*sets)
    assert isinstance(tree, Or)
    return set.intersection(*sets) if sets else set()


def _unblockers(views: _Jobs, units: List[_Unit]):
    """For each blocked node, the requirement sets of the callbacks that unblock it; None marks
    an opaque unblocker (python or perl code may unblock anything)."""
    job_unblock: Dict[int, List[Optional[Set[Node]]]] = {}
    work_unblock: Dict[Tuple[int, str], List[Optional[Set[Node]]]] = {}
    opaque = any(u.language in ("python", "perl") for u in units)
    for unit in units:
        if unit.language != "qube":
            continue
        needs = _requires(unit.tree, unit.job, views)
        if unit.code == "unblock-self":
            job_unblock.setdefault(unit.job.id, []).append(needs)
        elif unit.code == "unblock-work-self":
            frames = {a.extra for a in _atoms(unit.tree) if a.type == "work" and a.extra not in (None, "*")}
            for frame in frames:
                work_unblock.setdefault((unit.job.id, frame), []).append(needs)
    return job_unblock, work_unblock, opaque


def _self_waits(views: _Jobs, units: List[_Unit]) -> List[Finding]:
    job_unblock, _, opaque = _unblockers(views, units)
    out = []
    for unit in units:
        job = unit.job
        if job.id not in views.blocked:
            continue
        needs = _requires(unit.tree, job, views)
        own = {n for n in needs if n[1] == job.id}
        if not own:
            continue
        # Something else could unblock the job first: an unblocker not waiting on the job itself.
        others = [s for s in job_unblock.get(job.id, []) if not any(n[1] == job.id for n in s)]
        if others or opaque:
            continue
        atom = next(a for a in _atoms(unit.tree) if a.name in _TERMINAL and _resolve(a, job, views) is job)
        out.append(
            Finding(
                job.name,
                message=f"waits for {job.name} to finish, but it is submitted blocked and nothing unblocks "
                "it before then: this callback can never fire",
                **_where(unit, atom),
            )
        )
    return out


def _cycles(views: _Jobs, units: List[_Unit]) -> List[Finding]:
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
    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        path, seen, node = [start], {start}, start
        while True:
            nxt = min(n for n in edges[node] if n in members)
            if nxt in seen:
                cycles.append(path[path.index(nxt):])
                break
            path.append(nxt)
            seen.add(nxt)
            node = nxt
    return cycles


# --------------------------------------------------------------------------- explain


def explain_job(jobs: Sequence[Any], label: str, *, first_id: int = PROVISIONAL_FIRST_ID) -> str:
    """The callbacks of the job with this label (else this ``name``, else this id or index): their atoms, and
    which jobs and work items they wait on. Raises KeyError when no job matches."""
    jobs, _ = _normalized(with_provisional_ids(jobs, first_id))
    views = _Jobs([v for v, _ in (read_job(job, i) for i, job in enumerate(jobs)) if v is not None])
    job = next((v for v in views if v.label == label), None)
    if job is None:  # then by the job's name field, as reports name a job without a label
        job = next((v for v in views if isinstance(jobs[v.index], dict) and jobs[v.index].get("name") == label), None)
    if job is None and label.isdigit():
        job = next((v for v in views if v.id == int(label) or v.index == int(label)), None)
    if job is None:
        known = ", ".join(repr(v.label) for v in views if v.label) or "none"
        raise KeyError(f"no job labelled {label!r} in this submission (labels: {known})")
    units = [u for u in _units(views) if u.job is job]
    lines = [f"{job.name}: {len(job.work_names)} work item(s), {len(units)} callback expression(s)"]
    if job.dependency.strip():
        lines.append(f"  dependency: {job.dependency}")
    waits: Dict[str, Set[str]] = {}
    for unit in units:
        which = "dependency" if unit.index is None else f"callback {unit.index}"
        lines.append(f"  {which} [{unit.language}: {_short(unit.code)}]  {unit.text}")
        for atom in _atoms(unit.tree):
            target = _resolve(atom, job, views)
            if target is not None:
                whom = target.name
            elif atom.context == "id":
                whom = f"job {atom.job} (not in this submission)"
            elif atom.context == "label":
                whom = f"label '{atom.label}' (no such job in this submission)"
            else:
                whom = "the clock" if atom.type in ("time", "repeat", "globaltime", "globalrepeat") else "-"
            item = "" if atom.extra is None or atom.type in ("time", "repeat") else f" {atom.type} '{atom.extra}'"
            lines.append(f"      {atom.canonical():<40} {atom.name} of {whom}{item}")
            if whom != "-":
                waits.setdefault(whom, set())
                if atom.type == "work" and atom.extra is not None:
                    waits[whom].add(atom.extra)
    if not units:
        lines.append("  no callbacks")
    if waits:
        lines.append("  waits on:")
        for whom, frames in waits.items():
            lines.append(f"    {whom}" + (f": work {_frames_text(frames)}" if frames else ""))
    return "\n".join(lines)


def _short(code: str) -> str:
    first = code.strip().splitlines()[0] if code.strip() else ""
    return first if len(first) <= 40 else first[:37] + "..."


def _frames_text(frames: Set[str]) -> str:
    names = sorted(frames, key=lambda n: (not n.lstrip("-").isdigit(), int(n) if n.lstrip("-").isdigit() else 0, n))
    return ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:6])}, ... ({len(names)} items)"
