"""``qbtrigger simulate --log``: every event once, as a JSON line, however often the run is
killed and resumed.

A line is ``{"n": N, "time": virtual seconds, "qube_time": T, "event": text}``, ``n`` the event's
number in the store's journal. Lines are written as events happen and flushed before every
commit, so the file always holds at least what the store holds. What it holds beyond (the events
of steps a ``kill -9`` or a second Ctrl-C cut off, which the resumed run does again) is cut off
when the log is opened for the resumed run, and at exit after an abandoned step: lines whose
``n`` the store has not committed, and a last line left half written.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, BinaryIO, Iterator, Optional, Tuple

from .common import CLIError

if TYPE_CHECKING:
    from qbtrigger.supervisor import Simulator, Supervisor

__all__ = ["EventLog", "cut_uncommitted"]

_BLOCK = 1 << 16


class EventLog:
    """The ``--log`` file of one run: it listens to every event the supervisor emits (those of
    the submission included), stamped with the simulator's virtual time; :meth:`close` at the end."""

    def __init__(self, path: str, supervisor: "Supervisor", simulator: "Simulator") -> None:
        self.path = path
        self.supervisor = supervisor
        self.simulator = simulator
        try:
            if supervisor.job_ids(removed=True):  # a resumed store: drop what it did not keep
                cut_uncommitted(path, supervisor.store.journal_length())
            self.file = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from None
        supervisor.add_commit_hook(self.flush)
        supervisor.add_listener(self)

    def __call__(self, text: str) -> None:
        sup = self.supervisor
        record = {"n": sup.journal_length, "time": round(self.simulator.time, 6), "qube_time": sup.now, "event": text}
        self.file.write(json.dumps(record) + "\n")

    def flush(self) -> None:
        """Before each commit: the file holds at least what the store will."""
        if not self.file.closed:
            self.file.flush()

    def close(self) -> None:
        """Close the file; after an abandoned step, cut what the store did not keep."""
        self.file.close()
        if self.supervisor.abandoned is not None:
            cut_uncommitted(self.path, self.supervisor.store.journal_length())


def cut_uncommitted(path: str, committed: int) -> None:
    """Cut the end of the log at ``path`` after its last whole line with ``n <= committed``
    (lines without ``n``, written by something else, are kept, and so is all before them)."""
    try:
        f = open(path, "r+b")
    except FileNotFoundError:
        return
    with f:
        end = f.seek(0, os.SEEK_END)
        keep = end
        for start, line in _lines_backward(f, end):
            if start + len(line) == end:  # no newline after it: half written
                keep = start
                continue
            number = _number(line)
            if number is not None and number > committed:
                keep = start
                continue
            break
        if keep < end:
            f.truncate(keep)


def _number(line: bytes) -> Optional[int]:
    try:
        value = json.loads(line).get("n")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _lines_backward(f: BinaryIO, end: int) -> Iterator[Tuple[int, bytes]]:
    """``(offset, line without its newline)`` from the last line to the first; a file ending in a
    newline has no empty last line."""
    pos = end
    rest = b""  # the head of the earliest line seen so far, maybe not whole yet
    while pos > 0:
        size = min(_BLOCK, pos)
        pos -= size
        f.seek(pos)
        parts = (f.read(size) + rest).split(b"\n")
        rest = parts[0]
        offset = pos + len(rest) + 1
        found = []
        for part in parts[1:]:
            found.append((offset, part))
            offset += len(part) + 1
        if found and found[-1] == (end, b""):
            found.pop()  # the newline that ends the file
        yield from reversed(found)
    if rest:
        yield 0, rest
