"""The ``dependency`` field: shorthand compiled into qube callbacks at submission (SPEC §8).

Entries are separated by commas and ANDed:

- ``1234``: wait for job 1234 to complete (``link-complete-job-1234``);
- ``link-STATE-TYPE-CTX`` (``link-`` may be left out): STATE is complete, done, failed or killed,
  TYPE job, work or subjob, CTX a job id or a label of the job's pgrp;
- ``info-...``: a display hint, kept but not compiled. Its text may hold JSON with commas, as in
  Qube's documented ``info-complete-{"1":["540:3"], "*":["600:*"], "":["700"]}``: an info entry
  runs to the next comma outside brackets, braces and quotes (double quotes anywhere, single quotes
  inside brackets, as Python writes a dict), and one whose brackets or quotes do not balance is a
  problem with a caret.

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

from .. import MAX_JOB_ID
from .._common import LABEL_SYNTAX
from ..vocabulary import COMPLETE, DONE_STATES, ITEM_TYPES

__all__ = ["DependencyEntry", "DependencyCallback", "DependencyPlan", "parse_dependency", "compile_dependency"]

_STATES = DONE_STATES
_TYPES = ITEM_TYPES
_CONTEXT = re.compile(r"(?:[0-9]+|" + LABEL_SYNTAX + r")\Z", re.ASCII)
#: A job id: ASCII digits only ('²' and '١٢٣' are not numbers here), at most MAX_JOB_ID.
_JOB_ID = re.compile(r"[0-9]+\Z", re.ASCII)
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


_CLOSES = {"}": "{", "]": "["}
_INFO_END = "in an info entry (it runs to the next comma outside brackets and quotes)"


def _info_end(text: str, start: int) -> Tuple[int, Optional[Tuple[int, str]]]:
    """Where the info entry that starts at ``start`` ends (its top-level comma, or the end of the
    field), and the first problem with its brackets and quotes: ``(column, message)``, or None."""
    problem: Optional[Tuple[int, str]] = None
    opened: List[Tuple[str, int]] = []  # brackets still open, with their columns
    quote, quote_at = "", 0
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 1  # the escaped character is text
            elif c == quote:
                quote = ""
        elif c == '"' or (c == "'" and opened):
            quote, quote_at = c, i
        elif c == "{" or c == "[":
            opened.append((c, i))
        elif c == "}" or c == "]":
            want = _CLOSES[c]
            depth = next((k for k in range(len(opened) - 1, -1, -1) if opened[k][0] == want), None)
            if depth is None:
                problem = problem or (i, f"'{c}' closes nothing in an info entry")
            else:
                if depth != len(opened) - 1 and problem is None:
                    inner, at = opened[-1]
                    problem = (at, f"'{inner}' is never closed in an info entry: a '{c}' closes the '{want}' around it")
                del opened[depth:]
        elif c == "," and not opened:
            break
        i += 1
    if problem is None and quote:
        kind = "double" if quote == '"' else "single"
        problem = (quote_at, f"a {kind} quote is never closed {_INFO_END}")
    if problem is None and opened:
        problem = (opened[-1][1], f"'{opened[-1][0]}' is never closed {_INFO_END}")
    return i, problem


def _split_entries(text: str) -> List[Tuple[int, str, Optional[Tuple[int, str]]]]:
    """The field's entries as ``(column, raw text, problem)``: split at commas, except inside an
    info entry's brackets and quotes (``_info_end``). Columns count from the field's start."""
    out: List[Tuple[int, str, Optional[Tuple[int, str]]]] = []
    pos, n = 0, len(text)
    while True:
        item_start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
        problem = None
        if text[item_start : item_start + 5].lower() == "info-":
            end, problem = _info_end(text, item_start)
        else:
            comma = text.find(",", pos)
            end = n if comma < 0 else comma
        out.append((pos, text[pos:end], problem))
        if end >= n:
            return out
        pos = end + 1


def _job_id(text: str) -> Optional[str]:
    """A job id's canonical digits (no leading zeros), or None when ``text`` is not one in range.
    Read digit by digit: ``int()`` refuses more than 4,300 digits."""
    if not _JOB_ID.match(text):
        return None
    digits = text.lstrip("0") or "0"
    return digits if len(digits) <= len(str(MAX_JOB_ID)) and int(digits) <= MAX_JOB_ID else None


def parse_dependency(text: str) -> Tuple[List[DependencyEntry], List[str], List[str]]:
    """``(entries, info hints, problems)``; each problem carries the field and a caret."""
    entries: List[DependencyEntry] = []
    info: List[str] = []
    problems: List[str] = []
    if not text.strip():
        return entries, info, problems
    for column, raw, info_problem in _split_entries(text):
        start = column + (len(raw) - len(raw.lstrip()))
        item = raw.strip()
        if not item:
            problems.append(_caret(text, start, "empty entry (two commas, or a comma at an end)"))
            continue
        lowered = item.lower()
        if lowered.startswith("info-"):
            if info_problem is not None:
                problems.append(_caret(text, *info_problem))
            else:
                info.append(item)
            continue
        if _JOB_ID.match(item):
            jobid = _job_id(item)
            if jobid is None:
                problems.append(_caret(text, start, f"job id '{item}' is out of range (at most {MAX_JOB_ID})"))
            else:
                entries.append(DependencyEntry(COMPLETE, "job", jobid, start))
            continue
        parts = item.split("-")
        if parts[0].lower() == "link":
            parts = parts[1:]
        if len(parts) != 3:
            problems.append(_caret(text, start, f"'{item}' is not a job id, link-STATE-TYPE-CTX or info-..."
                                   + _glued_type_hint(parts)))
            continue
        state, type_, context = parts[0].lower(), parts[1].lower(), parts[2]
        if state not in _STATES:
            problems.append(_caret(text, start, f"unknown state '{parts[0]}' in '{item}' (one of {', '.join(_STATES)})"))
        elif type_ not in _TYPES:
            problems.append(_caret(text, start, f"unknown type '{parts[1]}' in '{item}' (one of {', '.join(_TYPES)})"))
        elif context.lower() in ("self", "parent") or not _CONTEXT.match(context):
            problems.append(_caret(text, start, f"'{context}' in '{item}' is not a job id or a label"))
        elif _JOB_ID.match(context) and _job_id(context) is None:
            problems.append(_caret(text, start, f"job id '{context}' in '{item}' is out of range (at most {MAX_JOB_ID})"))
        else:
            entries.append(DependencyEntry(state, type_, _job_id(context) or context, start))
    return entries, info, problems


def _glued_type_hint(parts: List[str]) -> str:
    """``link-complete-jobA``: a TYPE run into its CTX, the one dash missing."""
    if len(parts) == 2 and parts[0].lower() in _STATES:
        for type_ in _TYPES:
            if parts[1].lower().startswith(type_) and len(parts[1]) > len(type_):
                return f": did you mean 'link-{parts[0]}-{parts[1][:len(type_)]}-{parts[1][len(type_):]}'?"
    return ""


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
