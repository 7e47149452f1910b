"""``qbtrigger explain``'s text: one job's callbacks, their atoms, and which jobs and frames they
wait on.

A job with a callback per frame (a per-frame ``dependency`` link, or a script that adds one
callback per frame) would print thousands of near-identical lines; by default callbacks that
differ only in the frame they name are summarised as one line per run of frames ("frames
1-2000: each waits for complete-work-up-F", F standing for the frame). ``full=True`` prints
every callback.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from ..vocabulary import LANGUAGE_FLAGS
from .units import PROVISIONAL_FIRST_ID, Jobs, Unit, atoms, make_jobs, make_units, resolve
from .validation import farmless_engine, validate_submission

__all__ = ["explain_job", "SUMMARY_MIN"]

#: Callbacks alike but for their frame are summarised from this many on.
SUMMARY_MIN = 3
_WORD_END = re.compile(r"[\s()&|]")
_NUMBER = re.compile(r"-?[0-9]+\Z", re.ASCII)


def explain_job(
    jobs: Sequence[Any], label: str, *, first_id: int = PROVISIONAL_FIRST_ID, full: bool = False
) -> str:
    """The callbacks of the job with this label (else this ``name``, else this id or index):
    their atoms, and which jobs and work items they wait on. Raises KeyError when no job matches."""
    prepared = validate_submission(jobs, farmless_engine(",".join(LANGUAGE_FLAGS)), first_id=first_id).jobs
    views = make_jobs(prepared)
    job = _find(views, prepared, label)
    units = [u for u in make_units(views) if u.job is job]
    lines = [f"{job.name}: {len(job.work_names)} work item(s), {len(units)} callback expression(s)"]
    if job.dependency.strip():
        lines.append(f"  dependency: {job.dependency}")
    waits: Dict[str, Set[str]] = {}
    for group in ([[u] for u in units] if full else _groups(units)):
        unit = group[0]
        which = "dependency" if unit.index is None else f"callback {unit.index}"
        if len(group) == 1:
            lines.append(f"  {which} [{unit.language}: {_short(unit.code)}]  {unit.text}")
        else:
            frames = [_frame_of(u) or "" for u in group]
            which = "dependency" if unit.index is None else f"callbacks {unit.index}-{group[-1].index}"
            template = _template(unit, frames[0]) or unit.text
            lines.append(f"  {which} [{unit.language}: {_short(unit.code)}]  frames {_ranges(frames)}: "
                         f"each waits for {template}")
        for member in group:
            for atom in atoms(member.tree):
                whom = _whom(atom, job, views)
                if whom != "-":
                    waits.setdefault(whom, set())
                    if atom.type == "work" and atom.extra is not None:
                        waits[whom].add(atom.extra)
        for atom in atoms(unit.tree):
            canonical, extra = atom.canonical(), atom.extra
            if len(group) > 1 and extra is not None and extra == _frame_of(unit):
                canonical, extra = canonical[: -len(extra)] + "F", "F"
            item = "" if extra is None or atom.type in ("time", "repeat") else f" {atom.type} '{extra}'"
            lines.append(f"      {canonical:<40} {atom.name} of {_whom(atom, job, views)}{item}")
    if not units:
        lines.append("  no callbacks")
    if waits:
        lines.append("  waits on:")
        for whom, frames_waited in waits.items():
            lines.append(f"    {whom}" + (f": work {_frames_text(frames_waited)}" if frames_waited else ""))
    return "\n".join(lines)


def _find(views: Jobs, prepared: List[Dict[str, Any]], label: str) -> Any:
    job = next((v for v in views if v.label == label), None)
    if job is None:  # then by the job's name field, as reports name a job without a label
        job = next((v for v in views if prepared[v.index].get("name") == label), None)
    if job is None and label.isascii() and label.isdigit():
        job = next((v for v in views if v.id == int(label) or v.index == int(label)), None)
    if job is None:
        known = ", ".join(repr(v.label) for v in views if v.label) or "none"
        raise KeyError(f"no job labelled {label!r} in this submission (labels: {known})")
    return job


def _whom(atom: Any, job: Any, views: Jobs) -> str:
    target = resolve(atom, job, views)
    if target is not None:
        return str(target.name)
    if atom.context == "id":
        return f"job {atom.job} (not in this submission)"
    if atom.context == "label":
        return f"label '{atom.label}' (no such job in this submission)"
    return "the clock" if atom.type in ("time", "repeat", "globaltime", "globalrepeat") else "-"


def _frame_of(unit: Unit) -> Optional[str]:
    """The one frame a callback is about: its per-frame link's, or the one frame every work atom
    of its expression names; None when there is no such frame."""
    if unit.work is not None:
        return unit.work
    extras = {a.extra for a in atoms(unit.tree) if a.type == "work"}
    if len(extras) == 1:
        (extra,) = extras
        if extra not in (None, "*"):
            return str(extra)
    return None


def _template(unit: Unit, frame: str) -> Optional[str]:
    """The expression with its frame written F (each work atom ends with ``-frame``)."""
    text, out, last = unit.text, [], 0
    for atom in atoms(unit.tree):
        if atom.type != "work":
            continue
        end = _WORD_END.search(text, atom.column)
        stop = len(text) if end is None else end.start()
        if not text[atom.column:stop].endswith("-" + frame):
            return None
        out.append(text[last: stop - len(frame)] + "F")
        last = stop
    return "".join(out) + text[last:]


def _groups(units: List[Unit]) -> List[List[Unit]]:
    """Runs of consecutive callbacks alike but for their frame (same origin, language, code and
    expression with the frame written F); shorter runs than :data:`SUMMARY_MIN` stay single."""
    out: List[List[Unit]] = []
    run: List[Unit] = []
    key: Optional[Tuple[Any, ...]] = None
    for unit in units:
        frame = _frame_of(unit)
        template = None if frame is None else _template(unit, frame)
        this = None if template is None else (unit.index is None, unit.language, unit.code, template)
        if this is not None and this == key and (unit.index is None or unit.index == run[-1].index + 1):  # type: ignore[operator]
            run.append(unit)
            continue
        out += [run] if len(run) >= SUMMARY_MIN else [[u] for u in run]
        run, key = [unit], this
    out += [run] if len(run) >= SUMMARY_MIN else [[u] for u in run]
    return out


def _ranges(frames: List[str]) -> str:
    """``1-2000`` or ``1-10, 20-30``: runs of consecutive numbers; names as they are."""
    if not all(_NUMBER.match(f) for f in frames):
        return ", ".join(frames[:6]) + (f", ... ({len(frames)} frames)" if len(frames) > 6 else "")
    numbers = [int(f) for f in frames]
    parts: List[str] = []
    start = prev = numbers[0]
    for n in numbers[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts) if len(parts) <= 8 else ", ".join(parts[:6]) + f", ... ({len(frames)} frames)"


def _short(code: str) -> str:
    first = code.strip().splitlines()[0] if code.strip() else ""
    return first if len(first) <= 40 else first[:37] + "..."


def _frames_text(frames: Set[str]) -> str:
    names = sorted(frames, key=lambda n: (not _NUMBER.match(n), int(n) if _NUMBER.match(n) else 0, n))
    if len(names) > 8 and all(_NUMBER.match(n) for n in names):
        return _ranges(names)
    return ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:6])}, ... ({len(names)} items)"
