"""Firings: what ``Network.feed_batch`` and ``Network.feed_text`` return, in both twins.

A batch's firings as two parallel arrays of unsigned 64-bit integers, with no object per firing:
``events[i]`` is the index of the event (in the batch) that fired ``handles[i]``. They are
``array.array('Q')`` objects, so ``memoryview``, ``numpy.frombuffer`` and anything else that takes
the buffer protocol read them in place. ``len()`` counts the firings, and iterating gives
``(index, handle)`` pairs, the items ``feed_many`` returns, in the same order.
"""

from __future__ import annotations

from array import array
from typing import Iterator, Optional, Tuple

__all__ = ["Firings"]

#: The arrays' type code: unsigned long long, 64 bits wherever CPython runs.
TYPECODE = "Q"
assert array(TYPECODE).itemsize == 8


class Firings:
    """The firings of one batch: ``events`` and ``handles``, parallel ``array('Q')``s."""

    __slots__ = ("events", "handles")

    def __init__(self, events: Optional[array] = None, handles: Optional[array] = None) -> None:
        self.events: array = array(TYPECODE) if events is None else events
        self.handles: array = array(TYPECODE) if handles is None else handles
        if len(self.events) != len(self.handles):
            raise ValueError("events and handles must have the same length")

    def __len__(self) -> int:
        return len(self.handles)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        return zip(self.events, self.handles)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Firings):
            return NotImplemented
        return self.events == other.events and self.handles == other.handles

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    def __repr__(self) -> str:
        shown = ", ".join(f"({e}, {h})" for e, h in zip(self.events[:5], self.handles[:5]))
        more = ", ..." if len(self) > 5 else ""
        return f"Firings([{shown}{more}], {len(self)} firings)"


def split_text(data: object) -> list:
    """feed_text's events: the lines of UTF-8 ``data`` (bytes-like). A final newline ends the last
    event rather than starting an empty one, and a carriage return before a newline is dropped."""
    if isinstance(data, str) or not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"feed_text takes bytes (UTF-8 events, one per line), not {type(data).__name__}")
    raw = bytes(data)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        from .errors import EventError

        raise EventError(f"event data is not UTF-8 at byte {exc.start}") from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
