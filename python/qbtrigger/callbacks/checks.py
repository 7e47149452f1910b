"""Static checks of a submission (SPEC §9): what can be known without running anything.

:func:`check_submission` reports, as :class:`~.units.Finding` records:

- every problem :func:`~.validation.validate_submission` finds, the very function
  ``Supervisor.submit`` refuses a submission with: bad fields (with the field named), sizes past
  the limits, syntax errors (column and caret), unknown or disabled languages, bad qube keywords,
  Python that does not compile, bad ``dependency`` entries. What check calls clean, the
  supervisor accepts;
- labels that name no job of the submission (job ids are fine: they may be on the farm already),
  with "did you mean" for a label that differs from one only in case;
- per-frame triggers naming frames the upstream job's agenda lacks;
- what can release a blocked job or frame (:mod:`.release`): callbacks waiting on their own
  blocked job, dependency cycles, and jobs or frames that nothing can ever release.

Jobs in a submission have no ids yet; the checker numbers them provisionally, far from ids a
trigger would name, as the supervisor would (by position, from the submission's first id), and
every finding names jobs by label, ``name`` or index instead.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .._common import LABEL_SYNTAX, is_label
from ..vocabulary import DEFAULT_LANGUAGE_FLAGS
from .explain import explain_job
from .fields import normalize_job
from .jobs import job_name
from .reach import code_reach
from .release import cycles, self_waits, unreleasable
from .units import PROVISIONAL_FIRST_ID, Finding, Jobs, Unit, atom_finding, atoms, make_jobs, make_units, resolve
from .validation import farmless_engine, validate_submission

__all__ = [
    "Finding", "check_submission", "review_fields", "explain_job", "with_provisional_ids", "PROVISIONAL_FIRST_ID",
]


def with_provisional_ids(jobs: Sequence[Any], first: int = PROVISIONAL_FIRST_ID) -> List[Any]:
    """The job dicts copied with ids ``first``, ``first + 1``, ... by position (a job's own ``id``
    is not kept, as the supervisor does not keep it) and pgrp ``first`` unless given, as a farm
    numbers a submission."""
    out = []
    for index, job in enumerate(jobs):
        if isinstance(job, dict):
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
    live_labels: Mapping[Tuple[int, str], int] = {},
    acted: Iterable[int] = (),
    global_callbacks: Sequence[Mapping[str, Any]] = (),
    farm: Iterable[int] = (),
) -> List[Finding]:
    """Every finding for a submission (a list of job dicts), in job order; [] when it is clean.
    Jobs are numbered from ``first_id`` on. ``live_labels``: ``(pgrp, label) -> id`` of jobs
    submitted before (by the same script); ``acted``: job ids the script itself acts on (it may
    unblock them); ``global_callbacks``: the script's global callbacks (their code may too);
    ``farm``: ids of the jobs it submitted before (outside this submission, but they exist).
    Raises ``UniversalConfigError`` for a bad universal folder."""
    engine = farmless_engine(language_flags, universal)
    checked = validate_submission(jobs, engine, first_id=first_id, live_labels=live_labels)
    findings = [Finding(p.job, p.callback, p.detail) for p in checked.problems]
    if not checked.jobs:
        return findings
    views = make_jobs(checked.jobs)
    units = make_units(views)
    findings += _unknown_labels(views, units)
    findings += _missing_frames(views, units)
    waits = self_waits(views, units)
    loops = cycles(views, units)
    findings += waits + loops
    opaque = [f"universal callback '{u.file}'" for u in engine.universal if code_reach(u.language, u.code) != frozenset()]
    opaque += [
        f"global callback {i}" for i, spec in enumerate(global_callbacks)
        if code_reach(str(spec.get("language", "qube")).strip().lower(), str(spec.get("code", ""))) is None
    ]
    # a job already reported for a cycle or a self-wait, or with a callback or dependency that
    # does not register (fixing it may well release the job), is not reported again
    reported = {f.job for f in waits + loops} | {p.job for p in checked.problems if p.callback is not None
                                                 or p.detail.startswith("bad dependency")}
    findings += unreleasable(views, units, acted=acted, opaque=opaque, skip=reported, farm=farm)
    order = {job_name(job, i): i for i, job in enumerate(jobs)}
    return sorted(findings, key=lambda f: (order.get(f.job, -1), -1 if f.callback is None else f.callback))


def review_fields(jobs: Sequence[Any]) -> List[Finding]:
    """The warnings (likely misspelt fields) and ignored fields of a submission's jobs: for the
    engineer to read; they do not make a check fail."""
    if not isinstance(jobs, (list, tuple)):
        return []
    out: List[Finding] = []
    ignored: Dict[str, List[str]] = {}  # message -> the names of the jobs it is about: one line for a farm's many jobs
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            continue
        review = normalize_job(dict(job))
        name = job_name(job, index)
        out += [Finding(name, None, w, level="warning") for w in review.warnings]
        if review.ignored:
            ignored.setdefault(f"{', '.join(review.ignored)} (qbtrigger does not model them)", []).append(name)
    for message, names in ignored.items():
        out.append(Finding(_jobs_named(names), None, message, level="ignored"))
    return out


def _jobs_named(names: List[str], shown: int = 5) -> str:
    """``job 'a'``, or ``jobs 'a', 'b' and 3 more``."""
    if len(names) == 1:
        return names[0]
    listed = ", ".join(n[len("job "):] for n in names[:shown])
    return f"jobs {listed}" + (f" and {len(names) - shown:,} more" if len(names) > shown else "")


def _unknown_labels(views: Jobs, units: List[Unit]) -> List[Finding]:
    out = []
    for unit in units:
        for atom in atoms(unit.tree):
            if atom.context == "label" and resolve(atom, unit.job, views) is None:
                what = f"label '{atom.label}' names no job of {_pgrp_text(unit.job)}"
                near = _near_label(atom.label, unit.job.pgrp, views)
                if near is not None:
                    what += f": did you mean '{near}'?"
                    if not is_label(near):
                        what += f" A trigger cannot name that label (a label there is {LABEL_SYNTAX}): rename it"
                out.append(atom_finding(unit, atom, what))
    return out


def _near_label(label: Optional[str], pgrp: int, views: Jobs) -> Optional[str]:
    """A label of the pgrp that differs from ``label`` only in case (labels are case-sensitive), or
    also in characters a trigger cannot hold ('job A' for 'jobA')."""
    if label is None:
        return None
    labels = [v.label for v in views if v.pgrp == pgrp and v.label is not None]
    for fold in (str.casefold, _trigger_fold):
        folded = fold(label)
        near = next((other for other in labels if fold(other) == folded), None)
        if near is not None:
            return near
    return None


def _trigger_fold(label: str) -> str:
    return "".join(c for c in label.casefold() if c.isalnum() or c in "_.")


def _pgrp_text(job: Any) -> str:
    return "this submission" if job.pgrp >= PROVISIONAL_FIRST_ID else f"pgrp {job.pgrp} in this submission"


def _missing_frames(views: Jobs, units: List[Unit]) -> List[Finding]:
    out = []
    for unit in units:
        for atom in atoms(unit.tree):
            if atom.type != "work" or atom.extra in (None, "*"):
                continue
            upstream = resolve(atom, unit.job, views)
            if upstream is not None and atom.extra not in upstream.work_names:
                what = f"{upstream.name} has no work item '{atom.extra}' (its agenda: {_agenda(upstream.work_names)})"
                out.append(atom_finding(unit, atom, what))
    return out


def _agenda(names: List[str]) -> str:
    if not names:
        return "empty"
    return ", ".join(names[:5]) + (f", ... ({len(names)} items)" if len(names) > 5 else "")


