"""The correctness gate of ``qbtrigger bench``: does a contender fire what the reference fires?

Firings are ``(event index, callback index)`` pairs. A contender that promises registration order
must match the expected list exactly; one that does not must fire the same set of callbacks on
every event. The answer is None or one sentence naming the first event that differs.
"""

from __future__ import annotations

from itertools import groupby
from typing import List, Optional, Sequence, Tuple

__all__ = ["first_difference"]


def _by_event(firings: Sequence[Tuple[int, int]]) -> dict:
    return {i: [cb for _, cb in group] for i, group in groupby(sorted(firings, key=lambda p: p[0]), key=lambda p: p[0])}


def first_difference(
    got: List[Tuple[int, int]], expected: List[Tuple[int, int]], ordered: bool, events: Sequence[str]
) -> Optional[str]:
    """None if ``got`` agrees with ``expected``; otherwise why not, at the first differing event."""
    got = [tuple(p) for p in got]  # type: ignore[misc]
    if ordered and got == expected:
        return None
    mine, theirs = _by_event(got), _by_event(expected)
    for i in sorted(set(mine) | set(theirs)):
        a, b = mine.get(i, []), theirs.get(i, [])
        same = a == b if ordered else sorted(a) == sorted(b) and len(set(a)) == len(a)
        if not same:
            what = "fired" if ordered else "fired (as a set)"
            return (
                f"fires wrong: event {i} ({events[i]!r}) {what} callbacks {a[:8]} where the reference "
                f"fires {b[:8]} ({len(got):,} firings in all, expected {len(expected):,})"
            )
    return None
