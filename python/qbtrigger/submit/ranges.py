"""Qube's frame-range helpers: ``rangesplit``, ``rangechunk``, ``rangepartition`` and the agenda
builders over them, ``genframes``, ``genchunks``, ``genpartitions``.

A range string is a comma-separated list of items; several strings may be given as more
arguments and are read as if joined by commas. An item is

- ``N`` (one frame), ``A-B`` (A to B, counting down when B < A) or ``A-BxS`` (every S-th frame),
  negative frames included (``-10--1``) and spaces allowed around ``-`` and ``x``;
- anything else that is not made only of digits, spaces, ``-`` and ``x`` (``Initialize``,
  ``echo HI``): a literal work name, kept as it is, as Qube keeps it.

An item made only of those characters that is still not one of the three forms (``1-5-9``,
``1-10x0``) is an error that names it, rather than a guess. Duplicates are removed (first one
kept) unless ``removeDuplicates=False``. ``binarySort=True`` reorders the result the way Qube's
``binarySort`` does: first item, last item, then the middle of what lies between, then the
middles of each half, level by level, so a partial render samples the whole shot early.

Chunks (``rangechunk``, ``genchunks``): literal items come first, as single items; the frames are
then cut into chunks of at most ``chunksize`` frames, each stepping evenly, and each chunk is named
``A-B`` (step 1, a single frame being ``A-A``) or ``A-BxS``: a range that ``rangesplit`` turns back
into exactly that chunk's frames. ``rangepartition(n, ...)`` makes chunks of ``ceil(frames / n)``.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any, Deque, Iterable, List, Sequence, Tuple, TypeVar

from .errors import QbError

__all__ = [
    "MAX_FRAMES",
    "binary_sort",
    "genchunks",
    "genframes",
    "genpartitions",
    "rangechunk",
    "rangepartition",
    "rangesplit",
]

#: A range that would expand to more items than this is refused (a typo such as ``1-1000000000``).
MAX_FRAMES = 1_000_000

_NUMERIC_LOOKING = re.compile(r"[\d\s-]+(?:x[\d\s-]*)?\Z")
_RANGE = re.compile(r"(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*x\s*(-?\d+))?)?\Z")
_FORMS = "N, A-B or A-BxSTEP, comma-separated"

T = TypeVar("T")


def _items(fn: str, ranges: Sequence[Any]) -> List[str]:
    """The comma-separated items of every range argument, stripped, empty ones dropped."""
    items: List[str] = []
    for value in ranges:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise QbError(
                f"qb.{fn}: a frame range is a str such as '1-100x2' or '1,5,10-20', not {type(value).__name__}"
            )
        items.extend(part.strip() for part in str(value).split(","))
    return [item for item in items if item]


def _expand(fn: str, item: str) -> List[int]:
    """The frames of one numeric item."""
    match = _RANGE.match(item)
    if match is None:
        raise QbError(f"qb.{fn}: bad frame range {item!r} (forms: {_FORMS}; other text is kept as a work name)")
    start = int(match.group(1))
    end = start if match.group(2) is None else int(match.group(2))
    step = 1 if match.group(3) is None else int(match.group(3))
    if step < 1:
        raise QbError(f"qb.{fn}: bad frame range {item!r}: the step after 'x' must be 1 or more")
    count = abs(end - start) // step + 1
    if count > MAX_FRAMES:
        raise QbError(f"qb.{fn}: frame range {item!r} makes {count} frames; qbtrigger stops at {MAX_FRAMES}")
    return list(range(start, end + 1, step) if end >= start else range(start, end - 1, -step))


def _split(fn: str, ranges: Sequence[Any]) -> List[Tuple[bool, str, List[int]]]:
    """Each item as ``(numeric, text, frames)``."""
    out = []
    for item in _items(fn, ranges):
        if _NUMERIC_LOOKING.match(item):
            out.append((True, item, _expand(fn, item)))
        else:
            out.append((False, item, []))
    return out


def _unique(values: Iterable[T]) -> List[T]:
    seen = set()
    out = []
    for value in values:
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _check_keywords(fn: str, kwargs: dict, accepted: Tuple[str, ...]) -> None:
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise QbError(f"qb.{fn}: unknown keyword argument '{unknown[0]}' (accepted: {', '.join(accepted)})")


def _count(fn: str, value: Any, what: str) -> int:
    """``chunksize`` or ``numPartitions``: an int (a string of digits too, as Qube's ``int()`` takes)."""
    if isinstance(value, bool):
        raise QbError(f"qb.{fn}: {what} must be an int, not bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise QbError(f"qb.{fn}: {what} must be an int, not {value!r}")


def binary_sort(items: Sequence[T]) -> List[T]:
    """Qube's ``binarySort``: the first item, the last, then the middle items level by level."""
    if len(items) < 2:
        return list(items)
    out = [items[0], items[-1]]
    pending: Deque[Sequence[T]] = deque([items[1:-1]])
    while pending:
        part = pending.popleft()
        if not part:
            continue
        middle = (len(part) - 1) // 2
        out.append(part[middle])
        pending.append(part[:middle])
        pending.append(part[middle + 1:])
    return out


def rangesplit(range_: Any, *more: Any, _fn: str = "rangesplit", **kwargs: Any) -> List[str]:
    """Qube's ``rangesplit(range, *extraRanges, binarySort=False, removeDuplicates=True)``: the
    items of the ranges, one string per frame or literal name."""
    _check_keywords(_fn, kwargs, ("binarySort", "removeDuplicates"))
    names: List[str] = []
    for numeric, text, frames in _split(_fn, (range_, *more)):
        if numeric:
            names.extend(str(frame) for frame in frames)
        else:
            names.append(text)
    if kwargs.get("removeDuplicates", True):
        names = _unique(names)
    if kwargs.get("binarySort", False):
        names = binary_sort(names)
    if len(names) > MAX_FRAMES:
        raise QbError(f"qb.{_fn}: the ranges make {len(names)} items; qbtrigger stops at {MAX_FRAMES}")
    return names


def _chunk_name(frames: List[int]) -> str:
    first, last = frames[0], frames[-1]
    step = abs(frames[1] - frames[0]) if len(frames) > 1 else 1
    return f"{first}-{last}" if step == 1 else f"{first}-{last}x{step}"


def rangechunk(chunksize: Any, range_: Any, *more: Any, _fn: str = "rangechunk", **kwargs: Any) -> List[str]:
    """Qube's ``rangechunk(chunksize, range, *extraRanges, binarySort=False)``: literal items, then
    the frames in chunks of at most ``chunksize`` evenly stepping frames, named ``A-B`` or ``A-BxS``."""
    _check_keywords(_fn, kwargs, ("binarySort",))
    size = _count(_fn, chunksize, "chunksize")
    if size < 1:
        raise QbError(f"qb.{_fn}: chunksize must be 1 or more, not {size}")
    literals: List[str] = []
    frames: List[int] = []
    for numeric, text, expanded in _split(_fn, (range_, *more)):
        if numeric:
            frames.extend(expanded)
        else:
            literals.append(text)
    names = _unique(literals)
    chunk: List[int] = []
    for frame in _unique(frames):
        if chunk and (len(chunk) == size or (len(chunk) > 1 and frame - chunk[-1] != chunk[1] - chunk[0])):
            names.append(_chunk_name(chunk))
            chunk = []
        chunk.append(frame)
    if chunk:
        names.append(_chunk_name(chunk))
    if kwargs.get("binarySort", False):
        names = binary_sort(names)
    return names


def rangepartition(parts: Any, range_: Any, *more: Any, _fn: str = "rangepartition", **kwargs: Any) -> List[str]:
    """Qube's ``rangepartition(numPartitions, range, *extraRanges, binarySort=False)``: the ranges
    in ``numPartitions`` chunks (fewer when there are fewer frames; below 1, one item per frame)."""
    _check_keywords(_fn, kwargs, ("binarySort",))
    count = _count(_fn, parts, "numPartitions")
    items = rangesplit(range_, *more, _fn=_fn)
    if count < 1 or not items:
        names = items
    else:
        names = rangechunk(-(-len(items) // count), range_, *more, _fn=_fn)
    if kwargs.get("binarySort", False):
        names = binary_sort(names)
    return names


def _work(names: List[str]) -> List[Any]:
    from .objects import Work

    return [Work({"name": name}) for name in names]


def genframes(range_: Any, *more: Any, **kwargs: Any) -> List[Any]:
    """Qube's ``genframes``: :func:`rangesplit` as a list of ``qb.Work`` items."""
    return _work(rangesplit(range_, *more, _fn="genframes", **kwargs))


def genchunks(chunksize: Any, range_: Any, *more: Any, **kwargs: Any) -> List[Any]:
    """Qube's ``genchunks``: :func:`rangechunk` as a list of ``qb.Work`` items."""
    return _work(rangechunk(chunksize, range_, *more, _fn="genchunks", **kwargs))


def genpartitions(parts: Any, range_: Any, *more: Any, **kwargs: Any) -> List[Any]:
    """Qube's ``genpartitions``: :func:`rangepartition` as a list of ``qb.Work`` items."""
    return _work(rangepartition(parts, range_, *more, _fn="genpartitions", **kwargs))
