"""What both matcher twins share: exceptions, constants, the expression tree and the parsers.

This module is the executable form of SPEC §2-§3 and of docs/semantics.md. The C core
(native/parse.c) is a port of the two parsers below and must produce the same accept/reject
decisions, the same columns and the same message texts; the differential tests check that.

Parsing is lazy and left to right: a token is read only when the grammar needs it and an atom is
validated when it is taken as an operand, so the first error met in that order is the one reported.
"""

from __future__ import annotations

import re
from typing import Iterable, List, NamedTuple, NoReturn, Optional, Tuple, Union, cast

from .errors import ClockError, EventError, LimitError, TriggerSyntaxError
from .vocabulary import DUMMY, EVENT_TYPES, GLOBAL_TYPES, STATEFUL_TYPES, STATES, TERMINAL_STATES

__all__ = [
    "MAX_DEPTH",
    "MAX_JOB_ID",
    "MAX_TIME",
    "TYPES",
    "STATE_NAMES",
    "TERMINAL_STATES",
    "GLOBAL_TYPES",
    "STATEFUL_TYPES",
    "TriggerSyntaxError",
    "Atom",
    "And",
    "Or",
    "Node",
    "Event",
    "WhyNot",
    "parse",
    "parse_event",
    "number_value",
    "time_value",
    "repeat_value",
    "LABEL_SYNTAX",
    "is_label",
]

MAX_DEPTH = 256
MAX_JOB_ID = 2**31 - 1
MAX_TIME = 2**62
#: Atoms one callback may hold (the C core indexes them with 16 bits).
MAX_ATOMS = 32000
#: State-aware networks: item states kept for job ids that are not added jobs, at most (a new item
#: of such a job past it is not recorded; docs/semantics.md). QBT_MAX_STRAY_STATES in C.
MAX_STRAY_STATES = 65536

#: Atom and event types, in the order error messages list them.
TYPES = EVENT_TYPES
#: Names whose events set an item's state (SPEC §5).
STATE_NAMES = frozenset(STATES)

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z", re.ASCII)
#: What a label is where a trigger or a dependency names one (SPEC §2): a job's label of any other
#: form is still its label, but nothing can wait on the job by it.
LABEL_SYNTAX = "[A-Za-z_][A-Za-z0-9_.]*"
_LABEL = re.compile(LABEL_SYNTAX + r"\Z", re.ASCII)
_DIGITS = re.compile(r"[0-9]+\Z", re.ASCII)
_WHITESPACE = " \t\n\r\f\v"
_WORD_END = _WHITESPACE + "()&|"
_NOT_MESSAGE = "there is no NOT: events are edges, and 'did not happen' has no moment to fire at"
#: The two-field clock forms ``globaltime-T`` and ``globalrepeat-T-I`` (PipelineFX's Perl example
#: writes them): the first field is the type and the event is named ``dummy``, Qube's name for time
#: events. A second field that starts with a digit tells them from a three-field atom whose event
#: name is ``globaltime``: a type never starts with a digit.
_CLOCK_FORMS = ("globaltime", "globalrepeat")
_MISSING_EXTRA = {
    "work": "a work name or '*'",
    "subjob": "a subjob id or '*'",
    "host": "a host name or '*'",
    "time": "a Qube time",
    "repeat": "a start and an interval (T-I)",
}


class Atom(NamedTuple):
    """One event pattern. ``context`` is ``self``, ``parent``, ``id``, ``label`` or ``global``;
    ``job`` is the id for ``id`` contexts, ``label`` the label for ``label`` contexts."""

    name: str
    type: str
    context: str
    job: Optional[int]
    label: Optional[str]
    extra: Optional[str]
    column: int
    text: str

    def canonical(self) -> str:
        """The atom in its own words: keywords lower-cased, a numeric job id without zeros; the
        two-field clock forms with their event name (``globaltime-5`` is ``dummy-globaltime-5``)."""
        if self.context == "global":
            return f"{self.name}-{self.type}" if self.extra is None else f"{self.name}-{self.type}-{self.extra}"
        if self.context == "id":
            where = str(self.job)
        elif self.context == "label":
            where = str(self.label)
        else:
            where = self.context
        tail = "" if self.extra is None else f"-{self.extra}"
        return f"{self.name}-{self.type}-{where}{tail}"


class And(NamedTuple):
    children: Tuple[Node, ...]


class Or(NamedTuple):
    children: Tuple[Node, ...]


Node = Union[Atom, And, Or]


class Event(NamedTuple):
    """A parsed event string ``name-type-jobid[-extra]`` (``jobid`` is None for global types, and
    ``extra`` None for the ``global`` type)."""

    name: str
    type: str
    jobid: Optional[int]
    extra: Optional[str]

    def __str__(self) -> str:
        parts = [self.name, self.type]
        if self.jobid is not None:
            parts.append(str(self.jobid))
        if self.extra is not None:
            parts.append(self.extra)
        return "-".join(parts)


class WhyNot(NamedTuple):
    """Atoms of a callback in expression order, split by whether their latch is set."""

    latched: Tuple[str, ...]
    awaited: Tuple[str, ...]


# --------------------------------------------------------------------------- expressions

_ATOM, _LPAREN, _RPAREN, _AND, _OR, _END = range(6)


class _Parser:
    __slots__ = ("text", "pos", "tok", "tok_col", "tok_text", "depth", "owner", "pid")

    def __init__(self, text: str, owner: Optional[int], pid: Optional[int]) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.owner = owner
        self.pid = pid
        self.advance()

    def fail(self, column: int, message: str) -> NoReturn:
        raise TriggerSyntaxError(self.text, column, message)

    def advance(self) -> None:
        text, pos, n = self.text, self.pos, len(self.text)
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        self.tok_col = pos
        if pos == n:
            self.tok, self.tok_text, self.pos = _END, "", pos
            return
        ch = text[pos]
        if ch == "(" or ch == ")":
            self.tok = _LPAREN if ch == "(" else _RPAREN
            self.tok_text, self.pos = ch, pos + 1
            return
        if ch == "&" or ch == "|":
            if pos + 1 < n and text[pos + 1] == ch:
                self.tok = _AND if ch == "&" else _OR
                self.tok_text, self.pos = ch + ch, pos + 2
                return
            word = "and" if ch == "&" else "or"
            self.fail(pos, f"single '{ch}': write '{ch}{ch}' or '{word}'")
        end = pos
        while end < n and text[end] not in _WORD_END:
            end += 1
        word = text[pos:end]
        lowered = _ascii_lower(word)
        if word[0] == "!" or lowered == "not":
            self.fail(pos, _NOT_MESSAGE)
        self.tok = _AND if lowered == "and" else _OR if lowered == "or" else _ATOM
        self.tok_text, self.pos = word, end

    def operator(self) -> None:
        """Step over an '&&'/'AND' ('||'/'OR'); the same operator written both ways at once
        (``AND&&``, ``&& and``: what a flattened copy of Qube's docs shows) is an error."""
        tok, column, symbol = self.tok, self.tok_col, self.tok_text[0] in "&|"
        self.advance()
        if self.tok == tok and (self.tok_text[0] in "&|") != symbol:
            self.fail(column, "write '&&' or 'AND', not both" if tok == _AND else "write '||' or 'OR', not both")

    def expression(self) -> Node:
        branches = [self.conjunction()]
        while self.tok == _OR:
            self.operator()
            branches.append(self.conjunction())
        return branches[0] if len(branches) == 1 else Or(tuple(branches))

    def conjunction(self) -> Node:
        operands = [self.primary()]
        while self.tok == _AND:
            self.operator()
            operands.append(self.primary())
        if self.tok == _ATOM or self.tok == _LPAREN:
            expected = "'&&', '||' or ')'" if self.depth else "'&&' or '||'"
            self.fail(self.tok_col, f"expected {expected} before '{self.tok_text}'")
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def primary(self) -> Node:
        tok = self.tok
        if tok == _ATOM:
            atom = _atom(self.tok_text, self.tok_col, self)
            self.advance()
            return atom
        if tok == _LPAREN:
            opened = self.tok_col
            self.depth += 1
            if self.depth > MAX_DEPTH:
                self.fail(opened, f"nesting deeper than {MAX_DEPTH} levels")
            self.advance()
            inner = self.expression()
            if self.tok != _RPAREN:  # only _END can be left here
                self.fail(opened, "'(' is never closed")
            self.depth -= 1
            self.advance()
            return inner
        if tok == _END:
            self.fail(self.tok_col, "expected an event or '(' but the expression ends")
        self.fail(self.tok_col, f"expected an event or '(' before '{self.tok_text}'")
        raise AssertionError("unreachable")

    def whole(self) -> Node:
        if self.tok == _END:
            self.fail(0, "empty expression")
        tree = self.expression()
        if self.tok == _RPAREN:
            self.fail(self.tok_col, "unmatched ')'")
        return tree


def is_label(text: str) -> bool:
    """Whether a trigger or a dependency can name ``text`` as a label."""
    return _LABEL.match(text) is not None


def _ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else "".join(
        c.lower() if "A" <= c <= "Z" else c for c in text
    )


# --------------------------------------------------------------------------- numbers
# One rule for every number in expressions and events (job ids, subjob ids, times, repeat start
# and interval), the C core's (parse.c parse_digits) too: one or more ASCII digits, leading zeros
# allowed in any number and not counted, the value at most the documented maximum. int() is never
# given the raw text: past 4,300 digits it refuses (sys.get_int_max_str_digits), while a zero-padded
# number that long is still a small value here.


def number_value(text: str, maximum: int) -> Optional[int]:
    """The value of ``text`` if it is a number of ASCII digits (any leading zeros) at most
    ``maximum``; None otherwise."""
    if _DIGITS.match(text) is None:
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None


def time_value(text: str) -> Optional[int]:
    """A Qube time (whole seconds, 0 to MAX_TIME), None if ``text`` is not one."""
    return number_value(text, MAX_TIME)


def repeat_value(text: str) -> Optional[Tuple[int, int]]:
    """``start-interval`` of a repeat atom (times, interval at least 1), None if ``text`` is not one."""
    start_text, sep, interval_text = text.partition("-")
    start, interval = time_value(start_text), time_value(interval_text)
    if not sep or start is None or interval is None or interval < 1:
        return None
    return start, interval


def _is_time(text: str) -> bool:
    return time_value(text) is not None


def _is_repeat(text: str) -> bool:
    return repeat_value(text) is not None


def _clock_form(text: str, h1: int) -> Optional[str]:
    """The type of a two-field clock form (``globaltime-T``, ``globalrepeat-T-I``) whose first hyphen
    is at ``h1``, or None when ``text`` is not one."""
    if h1 + 1 < len(text) and "0" <= text[h1 + 1] <= "9":
        first = _ascii_lower(text[:h1])
        if first in _CLOCK_FORMS:
            return first
    return None


def _check_clock_extra(type_: str, extra: str, column: int, parser: _Parser) -> None:
    if type_ == "globaltime" and not _is_time(extra):
        parser.fail(column, f"bad time '{extra}': expected whole seconds since 2000-01-01 05:00 UTC (Qube time)")
    if type_ == "globalrepeat" and not _is_repeat(extra):
        parser.fail(column, f"bad repeat '{extra}': expected start-interval in whole seconds, e.g. 0-60")


def _atom(word: str, col: int, parser: _Parser) -> Atom:
    fail = parser.fail
    h1 = word.find("-")
    if h1 < 0:
        fail(col, f"incomplete event '{word}': expected name-type-context[-extra]")
    name = word[:h1]
    if _NAME.match(name) is None:
        fail(col, f"bad event name '{name}': expected letters, digits and '_', starting with a letter")
    clock = _clock_form(word, h1)
    if clock is not None:  # globaltime-T, globalrepeat-T-I: the event dummy-globaltime-T
        _check_clock_extra(clock, word[h1 + 1 :], col + h1 + 1, parser)
        return Atom(DUMMY, clock, "global", None, None, word[h1 + 1 :], col, word)
    h2 = word.find("-", h1 + 1)
    type_text = word[h1 + 1 : h2 if h2 >= 0 else len(word)]
    type_ = _ascii_lower(type_text)
    if type_ not in TYPES:
        fail(col + h1 + 1, f"unknown type '{type_text}': expected {', '.join(TYPES[:-1])} or {TYPES[-1]}")
    name = name.lower()

    extra: Optional[str]
    if type_ == "global":  # name-global: an event of no job, with no extra
        if h2 >= 0:
            fail(col + h2, f"a global event takes no context and no extra, but '{word[h2:]}' follows the type")
        return Atom(name, type_, "global", None, None, None, col, word)
    if type_ in GLOBAL_TYPES:
        extra = word[h2 + 1 :] if h2 >= 0 else ""
        if not extra:
            shape = "T" if type_ == "globaltime" else "T-I"
            fail(col + len(word), f"missing time after '{type_text}': expected name-{type_}-{shape}")
        _check_clock_extra(type_, extra, col + h2 + 1, parser)
        return Atom(name, type_, "global", None, None, extra, col, word)

    ctx_start = h2 + 1 if h2 >= 0 else len(word)
    h3 = word.find("-", ctx_start) if h2 >= 0 else -1
    ctx_text = word[ctx_start : h3 if h3 >= 0 else len(word)]
    if not ctx_text:
        fail(col + ctx_start, "missing context: expected name-type-context, the context being self, parent, a job id or a label")
    ctx_lower = _ascii_lower(ctx_text)
    job: Optional[int] = None
    label: Optional[str] = None
    if ctx_lower == "self" or ctx_lower == "parent":
        context = ctx_lower
        if context == "parent" and parser.owner is not None and parser.pid is None:
            fail(col + ctx_start, f"'parent' needs a parent job, but job {parser.owner} has no pid")
    elif _DIGITS.match(ctx_text):
        job = number_value(ctx_text, MAX_JOB_ID)
        if job is None:
            fail(col + ctx_start, f"job id '{ctx_text}' is out of range (at most {MAX_JOB_ID})")
        context = "id"
    elif _LABEL.match(ctx_text):
        context, label = "label", ctx_text
    else:
        fail(col + ctx_start, f"bad context '{ctx_text}': expected self, parent, a job id or a label")

    extra = word[h3 + 1 :] if h3 >= 0 else None
    if type_ == "job":
        if h3 >= 0:
            fail(col + h3, f"a job event takes no extra, but '-{extra}' follows the context")
    elif not extra:
        fail(col + len(word), f"missing extra: a {type_} event needs {_MISSING_EXTRA[type_]} after the context")
    elif type_ == "subjob" and extra != "*" and _DIGITS.match(extra) is None:
        fail(col + h3 + 1, f"bad subjob id '{extra}': expected a number or '*'")
    elif type_ == "subjob" and extra != "*" and number_value(extra, MAX_JOB_ID) is None:
        fail(col + h3 + 1, f"subjob id '{extra}' is out of range (at most {MAX_JOB_ID})")
    elif type_ == "time" and not _is_time(extra):
        fail(col + h3 + 1, f"bad time '{extra}': expected whole seconds since 2000-01-01 05:00 UTC (Qube time)")
    elif type_ == "repeat" and not _is_repeat(extra):
        fail(col + h3 + 1, f"bad repeat '{extra}': expected start-interval in whole seconds, e.g. 0-60")
    return Atom(name, type_, context, job, label, extra, col, word)


def parse(expression: str, *, owner: Optional[int] = None, pid: Optional[int] = None) -> Node:
    """Parse one trigger expression into a tree of :class:`Atom`, :class:`And` and :class:`Or`.

    With ``owner`` given, ``parent`` is checked against ``pid`` (an error when it is None), as
    ``Network.add`` does. Raises :class:`TriggerSyntaxError`.
    """
    if not isinstance(expression, str):
        raise TypeError(f"a trigger expression must be a str, not {type(expression).__name__}")
    return _Parser(expression, owner, pid).whole()


def atoms_of(tree: Node) -> List[Atom]:
    """The atoms of a tree in expression order."""
    out: List[Atom] = []
    stack: List[Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Atom):
            out.append(node)
        else:
            stack.extend(reversed(node.children))
    return out


# --------------------------------------------------------------------------- arguments
# Both twins validate their arguments with these, so types, order and texts agree.


def check_int(value: object, what: str) -> int:
    """An int (bool is not an int here)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return int(value)


def check_id(value: object, what: str = "job id") -> int:
    """An id to store (add_job's job id, pgrp, pid): an int from 0 to MAX_JOB_ID.

    Ids that are only looked up (an owner, remove_job's id) need just check_int: any other int
    is simply an unknown job.
    """
    value = check_int(value, what)
    if not 0 <= value <= MAX_JOB_ID:
        raise LimitError(f"{what} {value} is out of range (0 to {MAX_JOB_ID})")
    return value


def check_label(label: object) -> Optional[str]:
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a str or None, not {type(label).__name__}")
    return label


def check_maximum(maximum: object) -> int:
    """0 for unlimited (None), else an int >= 1."""
    if maximum is None:
        return 0
    maximum = check_int(maximum, "maximum")
    if maximum < 1:
        raise ValueError("maximum must be at least 1")
    return maximum


def trigger_list(triggers: object) -> Tuple[str, ...]:
    """The expressions of a callback's ``triggers``: a str, or a list/tuple of str."""
    if isinstance(triggers, str):
        return (triggers,)
    if not isinstance(triggers, (list, tuple)):
        raise TypeError(f"triggers must be a str or a list of str, not {type(triggers).__name__}")
    for item in triggers:
        if not isinstance(item, str):
            raise TypeError(f"a trigger expression must be a str, not {type(item).__name__}")
    return tuple(triggers)


def check_time(now: object, clock: int) -> int:
    now = check_int(now, "now")
    if now < clock:
        raise ClockError(f"the clock cannot go back from {clock} to {now}")
    if now > MAX_TIME:
        raise LimitError(f"time {now} is out of range (0 to {MAX_TIME})")
    return now


def check_handle(handle: object) -> int:
    if not isinstance(handle, int) or isinstance(handle, bool):
        raise TypeError(f"a callback handle must be an int, not {type(handle).__name__}")
    return int(handle)


def event_type_error(event: object, index: Optional[int] = None) -> TypeError:
    where = "" if index is None else f" (at index {index})"
    return TypeError(f"an event must be a str or an Event, not {type(event).__name__}{where}")


def callback_batch(callbacks: object) -> List[object]:
    """add_many's argument as a list of its items (a single str is refused, as by feed_many)."""
    if isinstance(callbacks, (str, bytes)):
        raise TypeError("add_many takes an iterable of (triggers, owner[, maximum]) items, not a single str")
    return list(cast(Iterable[object], callbacks))  # a non-iterable raises TypeError here


def callback_item(item: object, index: int) -> Tuple[Tuple[str, ...], int, object]:
    """One add_many item, ``(triggers, owner)`` or ``(triggers, owner, maximum)``: its expressions
    and owner checked as add() checks them; the maximum is left to check_maximum, which add() runs
    after the owner's existence."""
    if not isinstance(item, tuple) or not 2 <= len(item) <= 3:
        what = f"tuple of {len(item)}" if isinstance(item, tuple) else type(item).__name__
        raise TypeError(f"an add_many item must be a (triggers, owner[, maximum]) tuple, not a {what} (at index {index})")
    expressions = trigger_list(item[0])
    owner = check_int(item[1], "owner")
    return expressions, owner, item[2] if len(item) == 3 else None


def check_event_batch(events: object) -> None:
    if isinstance(events, (str, bytes)):
        raise TypeError("feed_many takes an iterable of events, not a single str")


def too_many_atoms() -> LimitError:
    return LimitError(f"a callback may hold at most {MAX_ATOMS} events")


def event_index_error(event: str, error: ValueError, index: int) -> EventError:
    """Turns parse_event's "bad event 'x': reason" into "bad event 'x' at index N: reason"."""
    reason = str(error)[len(f"bad event '{event}': ") :]
    return EventError(f"bad event '{event}' at index {index}: {reason}")


# --------------------------------------------------------------------------- events


def _bad_event(text: str, reason: str) -> EventError:
    return EventError(f"bad event '{text}': {reason}")


def parse_event(text: str) -> Event:
    """Parse ``name-type-jobid[-extra]``, or an event of no job: ``name-global``,
    ``name-globaltime-T``, ``name-globalrepeat-T-I``, and the two-field clock forms ``globaltime-T``
    and ``globalrepeat-T-I`` (read as ``dummy-globaltime-T``, ``dummy-globalrepeat-T-I``).

    Name and type are case-insensitive and come back lower-cased; the extra is kept as written.
    Raises :class:`EventError` (a ValueError) naming the event.
    """
    if not isinstance(text, str):
        raise TypeError(f"an event must be a str, not {type(text).__name__}")
    h1 = text.find("-")
    if h1 >= 0:
        clock = _clock_form(text, h1)
        if clock is not None:
            return Event(DUMMY, clock, None, text[h1 + 1 :])
    h2 = text.find("-", h1 + 1) if h1 >= 0 else -1
    if h2 < 0 and (h1 < 0 or _ascii_lower(text[h1 + 1 :]) != "global"):
        raise _bad_event(text, "expected name-type-jobid[-extra]")
    name = text[:h1]
    if _NAME.match(name) is None:
        raise _bad_event(text, f"bad name '{name}'")
    if h2 < 0:
        return Event(name.lower(), "global", None, None)
    type_text = text[h1 + 1 : h2]
    type_ = _ascii_lower(type_text)
    if type_ not in TYPES:
        raise _bad_event(text, f"unknown type '{type_text}'")
    rest = text[h2 + 1 :]
    if type_ == "global":
        raise _bad_event(text, "a global event takes no job id and no extra")
    if type_ in GLOBAL_TYPES:
        if not rest:
            raise _bad_event(text, f"a {type_} event needs a time")
        return Event(name.lower(), type_, None, rest)
    h3 = rest.find("-")
    job_text = rest if h3 < 0 else rest[:h3]
    jobid = number_value(job_text, MAX_JOB_ID)
    if jobid is None:
        raise _bad_event(text, f"job id '{job_text}' is not a number from 0 to {MAX_JOB_ID}")
    extra: Optional[str] = None if h3 < 0 else rest[h3 + 1 :]
    if type_ == "job":
        if extra is not None:
            raise _bad_event(text, "a job event takes no extra")
    elif not extra:
        raise _bad_event(text, f"a {type_} event needs an extra after the job id")
    elif extra == "*":
        raise _bad_event(text, "'*' is for triggers; an event names one item")
    return Event(name.lower(), type_, jobid, extra)
