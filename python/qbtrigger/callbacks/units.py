"""A validated submission as the static checks and ``explain`` read it: its jobs (by id, by
label, which are submitted blocked) and its callback expressions, parsed (SPEC §9).

Made from the jobs :func:`~.validation.validate_submission` prepared, so the checks read exactly
what the supervisor would store. Nothing here reports anything: :mod:`.checks` and
:mod:`.release` do, in :class:`Finding` records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Set, Tuple

from .. import Atom, TriggerSyntaxError, parse
from ..vocabulary import BLOCKED, DEFAULT_LANGUAGE
from .dependency import compile_dependency, parse_dependency
from .jobs import JobView, read_job
from .validation import MAX_EXPRESSION

__all__ = ["Finding", "Unit", "Jobs", "make_jobs", "make_units", "resolve", "atoms", "PROVISIONAL_FIRST_ID"]

#: Provisional ids of checked jobs start here, well above the ids farms hand out.
PROVISIONAL_FIRST_ID = 2_000_000_000


@dataclass(frozen=True)
class Finding:
    """One finding: which job, which callback (None: the job or its dependency), what."""

    job: str
    callback: Optional[int]
    message: str
    expression: Optional[str] = None
    column: Optional[int] = None
    #: "error" (the submission would fail or misbehave), "warning" (accepted, but likely not what
    #: was meant), "note" (something the checker could not read, said with "may"; not counted)
    #: or "ignored" (fields qbtrigger keeps but does not act on).
    level: str = "error"

    def __str__(self) -> str:
        where = self.job if self.callback is None else f"{self.job}, callback {self.callback}"
        text = f"{where}: {self.message}" if self.level == "error" else f"{where}: {self.level}: {self.message}"
        if self.expression is not None and self.column is not None:
            text += f"\n    {self.expression}\n    {' ' * self.column}^"
        return text


@dataclass
class Unit:
    """One callback expression as the analysis sees it: its owner, tree, code and where it came
    from (``index`` None: the dependency field; ``work``: the frame a per-frame link releases)."""

    job: JobView
    index: Optional[int]
    text: str
    tree: Any
    language: str
    code: str
    work: Optional[str] = None


class Jobs(list):
    """The submission's jobs, with what every check looks up: by id, by (pgrp, label), which are
    submitted blocked and which of their frames are. Made once per check."""

    def __init__(self, views: List[JobView], prepared: List[Dict[str, Any]]) -> None:
        super().__init__(views)
        self.by_id: Dict[int, JobView] = {}
        self.by_label: Dict[Tuple[int, Optional[str]], JobView] = {}
        for view in views:
            self.by_id.setdefault(view.id, view)
            self.by_label.setdefault((view.pgrp, view.label), view)
        self.blocked: Set[int] = set()
        #: job id -> the frames submitted blocked (by their status, or by a per-frame link)
        self.blocked_work: Dict[int, List[str]] = {}
        for view in views:
            entries = parse_dependency(view.dependency)[0]
            if (view.status or "").lower() == BLOCKED or any(e.type == "job" for e in entries):
                self.blocked.add(view.id)
            agenda = (prepared[view.index].get("agenda") or []) if view.index < len(prepared) else []
            linked = any(e.type == "work" for e in entries)
            frames = [w["name"] for w in agenda if isinstance(w, dict) and (linked or w.get("status") == BLOCKED)]
            if frames:
                self.blocked_work[view.id] = frames


def make_jobs(prepared: List[Dict[str, Any]]) -> Jobs:
    """The :class:`Jobs` of prepared job dicts (every one that has an id, bad fields or not)."""
    views = [v for v, _ in (read_job(job, i) for i, job in enumerate(prepared)) if v is not None]
    return Jobs(views, prepared)


def make_units(views: Jobs) -> List[Unit]:
    """Every callback expression and dependency link that parses, in job order (one past the
    size limit is not even read: validation reports it)."""
    units: List[Unit] = []
    for job in views:
        for index, spec in enumerate(job.callbacks):
            if not isinstance(spec, dict):
                continue
            triggers = spec.get("triggers")
            texts = [triggers] if isinstance(triggers, str) else list(triggers) if isinstance(triggers, (list, tuple)) else []
            for text in texts:
                if not isinstance(text, str) or len(text) > MAX_EXPRESSION:
                    continue
                try:
                    tree = parse(text, owner=job.id, pid=job.pid)
                except TriggerSyntaxError:
                    continue
                language = str(spec.get("language", DEFAULT_LANGUAGE)).strip().lower()
                code = spec.get("code", "")
                units.append(Unit(job, index, text, tree, language, code.strip() if isinstance(code, str) else ""))
        if job.dependency.strip():
            entries, _, problems = parse_dependency(job.dependency)
            if not problems:
                plan, _ = compile_dependency(entries, job.work_names, job.cpus)
                for text, keyword, work in plan.callbacks:
                    try:
                        tree = parse(text, owner=job.id, pid=job.pid)
                    except TriggerSyntaxError:
                        continue
                    units.append(Unit(job, None, text, tree, "qube", keyword, work))
    return units


def atoms(tree: Any) -> List[Atom]:
    """The atoms of an expression tree, left to right."""
    if isinstance(tree, Atom):
        return [tree]
    return [atom for child in tree.children for atom in atoms(child)]


def resolve(atom: Atom, owner: JobView, views: Jobs) -> Optional[JobView]:
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


def where(unit: Unit, atom: Atom) -> Dict[str, Any]:
    """The Finding fields that place a finding at an atom of a unit."""
    if unit.index is None:
        return {"callback": None, "expression": None, "column": None}
    return {"callback": unit.index, "expression": unit.text, "column": atom.column}


def atom_finding(unit: Unit, atom: Atom, what: str, level: str = "error") -> Finding:
    """A finding about one atom: at its column, or in the dependency field it was compiled from."""
    if unit.index is None:
        what = f"dependency: {what}"
    return Finding(unit.job.name, message=what, level=level, **where(unit, atom))
