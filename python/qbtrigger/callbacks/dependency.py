"""The ``dependency`` field: shorthand compiled into qube callbacks at submission (SPEC §8).

Entries are separated by commas and ANDed:

- ``1234``: wait for job 1234 to complete (``link-complete-job-1234``);
- ``link-STATE-TYPE-CTX`` (``link-`` may be left out): STATE is complete, done, failed or killed,
  TYPE job, work or subjob, CTX a job id or a label of the job's pgrp;
- ``info-...``: a display hint, kept but not compiled.

What they compile to (each callback has ``maximum`` 1: a dependency unblocks once):

- all ``job`` entries together: one callback ``STATE-job-CTX && ...`` running ``unblock-self``; the
  job is submitted blocked;
- ``work`` entries, frame by frame: for each work item N of the job, one callback
  ``STATE-work-CTX-N && ...`` (every work entry, same N) running ``unblock-work-self``; the work
  items are submitted blocked. A job with only work entries is not blocked itself: its frames wait,
  one by one, which is the point of a frame-by-frame link;
- ``subjob`` entries likewise per subjob id 0 .. cpus-1, running ``unblock-subjob-self``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional, Tuple

from ..vocabulary import COMPLETE, DONE_STATES, ITEM_TYPES

__all__ = ["DependencyEntry", "DependencyCallback", "DependencyPlan", "parse_dependency", "compile_dependency"]

_STATES = DONE_STATES
_TYPES = ITEM_TYPES
_CONTEXT = re.compile(r"(?:[0-9]+|[A-Za-z_][A-Za-z0-9_.]*)\Z", re.ASCII)
_WORK_NAME_FORBIDDEN = re.compile(r"[\s()&|]")


@dataclass(frozen=True)
class DependencyEntry:
    state: str
    type: str
    context: str  # a job id (digits) or a label
    column: int  # 0-based column of the entry in the field

    def atom(self, extra: Optional[str] = None) -> str:
        base = f"{self.state}-{self.type}-{self.context}"
        return base if extra is None else f"{base}-{extra}"


class DependencyCallback(NamedTuple):
    """One callback a dependency compiles to: its triggers, its qube keyword, and for a per-frame
    link the frame it releases (whatever event completes its triggers)."""

    triggers: str
    keyword: str
    work: Optional[str] = None


@dataclass
class DependencyPlan:
    """What a dependency field compiles to."""

    callbacks: List[DependencyCallback] = field(default_factory=list)
    block_job: bool = False
    block_work: bool = False
    block_subjobs: bool = False
    info: List[str] = field(default_factory=list)


def _caret(text: str, column: int, message: str) -> str:
    return f"bad dependency: {message}\n{text}\n{' ' * column}^"


def parse_dependency(text: str) -> Tuple[List[DependencyEntry], List[str], List[str]]:
    """``(entries, info hints, problems)``; each problem carries the field and a caret."""
    entries: List[DependencyEntry] = []
    info: List[str] = []
    problems: List[str] = []
    if not text.strip():
        return entries, info, problems
    column = 0
    for raw in text.split(","):
        start = column + (len(raw) - len(raw.lstrip()))
        column += len(raw) + 1
        item = raw.strip()
        if not item:
            problems.append(_caret(text, start, "empty entry (two commas, or a comma at an end)"))
            continue
        lowered = item.lower()
        if lowered.startswith("info-"):
            info.append(item)
            continue
        if item.isdigit():
            entries.append(DependencyEntry(COMPLETE, "job", str(int(item)), start))
            continue
        parts = item.split("-")
        if parts[0].lower() == "link":
            parts = parts[1:]
        if len(parts) != 3:
            problems.append(
                _caret(text, start, f"'{item}' is not a job id, link-STATE-TYPE-CTX or info-...")
            )
            continue
        state, type_, context = parts[0].lower(), parts[1].lower(), parts[2]
        if state not in _STATES:
            problems.append(_caret(text, start, f"unknown state '{parts[0]}' in '{item}' (one of {', '.join(_STATES)})"))
        elif type_ not in _TYPES:
            problems.append(_caret(text, start, f"unknown type '{parts[1]}' in '{item}' (one of {', '.join(_TYPES)})"))
        elif context.lower() in ("self", "parent") or not _CONTEXT.match(context):
            problems.append(_caret(text, start, f"'{context}' in '{item}' is not a job id or a label"))
        else:
            if context.isdigit():
                context = str(int(context))
            entries.append(DependencyEntry(state, type_, context, start))
    return entries, info, problems


def compile_dependency(
    entries: List[DependencyEntry], work_names: List[str], cpus: int
) -> Tuple[DependencyPlan, List[str]]:
    """The callbacks for ``entries`` on a job with these work items and subjob count."""
    plan = DependencyPlan()
    problems: List[str] = []
    job_entries = [e for e in entries if e.type == "job"]
    work_entries = [e for e in entries if e.type == "work"]
    subjob_entries = [e for e in entries if e.type == "subjob"]
    if job_entries:
        plan.callbacks.append(DependencyCallback(" && ".join(e.atom() for e in job_entries), "unblock-self"))
        plan.block_job = True
    if work_entries:
        if not work_names:
            problems.append("a link to work items needs an agenda: this job has no work items to unblock")
        # Releasing a frame of a blocked job releases the job (see the farm's work verbs), so a
        # frame also waits for the job entries: the whole dependency still holds before it runs.
        job_atoms = [e.atom() for e in job_entries]
        for name in work_names:
            if _WORK_NAME_FORBIDDEN.search(name):
                problems.append(f"work item '{name}' cannot be named in a trigger (whitespace, parentheses, & or |)")
                continue
            triggers = " && ".join(job_atoms + [e.atom(name) for e in work_entries])
            plan.callbacks.append(DependencyCallback(triggers, "unblock-work-self", name))
        plan.block_work = True
    if subjob_entries:
        for subjob in range(cpus):
            plan.callbacks.append(
                DependencyCallback(" && ".join(e.atom(str(subjob)) for e in subjob_entries), "unblock-subjob-self")
            )
        plan.block_subjobs = True
    return plan, problems
