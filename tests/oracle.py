"""A brute-force evaluator of SPEC §4-§6 as pinned down by docs/semantics.md: the referee.

It has the API of ``qbtrigger.Network`` and is written to be obviously right, not fast:

- every callback keeps its parsed tree and one latch (a bool) per atom occurrence;
- on every event, every atom of every live callback is tested directly against the event, and then
  every expression is evaluated again from its latches;
- the clock finds its next moment by scanning every time atom of every live callback.

There is no index, no label table, no state machine beyond a dict. Parsing is shared on purpose
(``_common.parse`` and ``_common.parse_event`` are the source of truth for syntax errors), so this
module only decides *when callbacks fire*.

Messages of ``TypeError`` are not pinned by the semantics; the oracle's own texts are placeholders and
the differential tests compare only the exception type for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from qbtrigger.errors import ClockError, DuplicateError, EventError, LimitError, UnknownCallbackError, UnknownJobError
from qbtrigger._common import (
    MAX_ATOMS,
    MAX_JOB_ID,
    MAX_STRAY_STATES,
    MAX_TIME,
    STATE_NAMES,
    TERMINAL_STATES,
    And,
    Atom,
    Event,
    Or,
    TriggerSyntaxError,
    WhyNot,
    parse,
    parse_event,
)

STATEFUL_TYPES = ("job", "work", "subjob")
WILDCARD_TYPES = ("work", "subjob", "host")
CLOCK_TYPES = ("time", "repeat", "globaltime", "globalrepeat")


@dataclass
class Job:
    jobid: int
    pgrp: int
    label: Optional[str]
    pid: Optional[int]


@dataclass
class Callback:
    handle: int
    owner: int
    tree: object  # a tree of Atom / And / Or, as parse() builds it
    atoms: list  # the atom occurrences in expression order
    maximum: Optional[int]
    latches: list = field(default_factory=list)  # one bool per atom occurrence
    count: int = 0


def _check_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def _check_id(value, what: str) -> int:
    _check_int(value, what)
    if not 0 <= value <= MAX_JOB_ID:
        raise LimitError(f"{what} {value} is out of range (0 to {MAX_JOB_ID})")
    return value


def _parse_any_event(event) -> Event:
    """An Event is taken as its text, so a hand-made one is checked and normalised like a string."""
    if isinstance(event, Event):
        return parse_event(str(event))
    return parse_event(event)


class Network:
    """The brute-force referee, with the API of ``qbtrigger.Network``."""

    def __init__(self, state_aware: bool = False) -> None:
        self._state_aware = bool(state_aware)
        self._jobs: dict = {}  # jobid -> Job
        self._callbacks: dict = {}  # handle -> Callback, live ones only
        self._last_handle = 0
        self._clock = 0
        self._states: dict = {}  # (type, jobid, extra) -> state name; state-aware only
        self._catch_up: list = []

    # ------------------------------------------------------------------ properties

    @property
    def clock(self) -> int:
        return self._clock

    @property
    def state_aware(self) -> bool:
        return self._state_aware

    def __len__(self) -> int:
        return len(self._callbacks)

    def __contains__(self, handle) -> bool:
        return type(handle) is int and handle in self._callbacks

    # ------------------------------------------------------------------ jobs

    def add_job(self, jobid, pgrp=None, label=None, pid=None) -> None:
        _check_id(jobid, "job id")
        if pgrp is None:
            pgrp = jobid
        _check_id(pgrp, "pgrp")
        if label is not None and not isinstance(label, str):
            raise TypeError(f"label must be a str or None, not {type(label).__name__}")
        if pid is not None:
            _check_id(pid, "pid")
        if jobid in self._jobs:
            raise DuplicateError(f"job {jobid} is already added")
        if label is not None:
            for other in self._jobs.values():
                if other.pgrp == pgrp and other.label == label:
                    raise DuplicateError(f"label '{label}' is already used in pgrp {pgrp} by job {other.jobid}")
        self._jobs[jobid] = Job(jobid, pgrp, label, pid)

    def _strays(self) -> int:
        """Items with a state whose job is not an added job."""
        return sum(1 for item in self._states if item[1] not in self._jobs)

    def remove_job(self, jobid) -> None:
        _check_int(jobid, "job id")
        if jobid not in self._jobs:
            raise UnknownJobError(f"unknown job {jobid}")
        del self._jobs[jobid]
        for handle in [h for h, cb in self._callbacks.items() if cb.owner == jobid]:
            del self._callbacks[handle]
        for item in [item for item in self._states if item[1] == jobid]:
            del self._states[item]

    # ------------------------------------------------------------------ callbacks

    def add(self, triggers, owner, maximum=None) -> int:
        self._check_add_arguments(triggers, owner, maximum)
        tree, atoms = self._compile(triggers, owner)

        self._last_handle += 1
        handle = self._last_handle
        callback = Callback(handle, owner, tree, atoms, maximum, [False] * len(atoms))
        self._callbacks[handle] = callback

        if self._state_aware:
            self._catch_up_callback(callback)
        return handle

    def add_many(self, callbacks) -> list:
        """Every item's arguments checked in order, then every item's expressions, then each added."""
        if isinstance(callbacks, (str, bytes)):
            raise TypeError("add_many takes items, not a str")
        items = list(callbacks)
        for item in items:
            if not isinstance(item, tuple) or not 2 <= len(item) <= 3:
                raise TypeError("an add_many item must be a (triggers, owner[, maximum]) tuple")
            self._check_add_arguments(*item)
        for item in items:
            self._compile(*item[:2])
        return [self.add(*item) for item in items]

    def _check_add_arguments(self, triggers, owner, maximum=None) -> list:
        if isinstance(triggers, str):
            texts = [triggers]
        elif isinstance(triggers, (list, tuple)):
            texts = list(triggers)
        else:
            raise TypeError(f"triggers must be a str or a list of str, not {type(triggers).__name__}")
        for text in texts:  # the type of every item is part of the first check
            if not isinstance(text, str):
                raise TypeError(f"a trigger expression must be a str, not {type(text).__name__}")
        _check_int(owner, "owner")
        if owner not in self._jobs:
            raise UnknownJobError(f"unknown job {owner}")
        if maximum is not None:
            _check_int(maximum, "maximum")
            if maximum < 1:
                raise ValueError("maximum must be at least 1")
        return texts

    def _compile(self, triggers, owner) -> tuple:
        texts = [triggers] if isinstance(triggers, str) else list(triggers)
        if not texts:
            raise TriggerSyntaxError("", 0, "empty trigger list")
        pid = self._jobs[owner].pid
        trees = [parse(text, owner=owner, pid=pid) for text in texts]
        tree = trees[0] if len(trees) == 1 else Or(tuple(trees))
        atoms: list = []
        _collect_atoms(tree, atoms)
        if len(atoms) > MAX_ATOMS:
            raise LimitError(f"a callback may hold at most {MAX_ATOMS} events")
        return tree, atoms

    def remove(self, handle) -> None:
        self._get(handle)
        del self._callbacks[handle]

    def count(self, handle) -> int:
        return self._get(handle).count

    def owner(self, handle) -> int:
        return self._get(handle).owner

    def why_not(self, handle) -> WhyNot:
        callback = self._get(handle)
        latched = tuple(a.canonical() for a, on in zip(callback.atoms, callback.latches) if on)
        awaited = tuple(a.canonical() for a, on in zip(callback.atoms, callback.latches) if not on)
        return WhyNot(latched, awaited)

    def drain_catch_up(self) -> list:
        fired, self._catch_up = self._catch_up, []
        return [handle for handle, _ in fired]

    def drain_catch_up_events(self) -> list:
        fired, self._catch_up = self._catch_up, []
        return fired

    def stats(self) -> dict:
        keys = set()
        for callback in self._callbacks.values():
            for atom in callback.atoms:
                keys.add(self._atom_key(atom, callback.owner))
        return {
            "callbacks": len(self._callbacks),
            "atoms": sum(len(cb.atoms) for cb in self._callbacks.values()),
            "alpha_entries": len(keys),
            "jobs": len(self._jobs),
            "bytes": 0,  # the oracle does not account memory
        }

    def _get(self, handle) -> Callback:
        if isinstance(handle, bool) or not isinstance(handle, int):
            raise TypeError(f"a callback handle must be an int, not {type(handle).__name__}")
        callback = self._callbacks.get(handle)
        if callback is None:
            raise UnknownCallbackError(f"unknown callback handle {handle}")
        return callback

    # ------------------------------------------------------------------ events

    def feed(self, event) -> list:
        parsed = _parse_any_event(event)
        return self._apply_event(parsed)

    def feed_many(self, events) -> list:
        parsed = []
        for index, event in enumerate(list(events)):
            try:
                parsed.append(_parse_any_event(event))
            except ValueError as exc:
                prefix = f"bad event '{event}': "
                reason = str(exc)[len(prefix) :] if str(exc).startswith(prefix) else str(exc)
                raise EventError(f"bad event '{event}' at index {index}: {reason}") from None
        fired = []
        for index, event in enumerate(parsed):
            fired.extend((index, handle) for handle in self._apply_event(event))
        return fired

    def _apply_event(self, event: Event) -> list:
        if self._state_aware and event.name in STATE_NAMES and event.type in STATEFUL_TYPES:
            item = (event.type, event.jobid, event.extra)
            old = self._states.get(item)
            if old is not None and old != event.name:
                self._retract(item, old, event.name)
            if old is not None or event.jobid in self._jobs or self._strays() < MAX_STRAY_STATES:
                self._states[item] = event.name  # past the cap, a new stray item is not recorded
        for callback in self._callbacks.values():
            for i, atom in enumerate(callback.atoms):
                if self._matches(atom, callback.owner, event):
                    callback.latches[i] = True
        return self._fire_true_callbacks()

    def _retract(self, item: tuple, old: str, new: str) -> None:
        for callback in self._callbacks.values():
            for i, atom in enumerate(callback.atoms):
                if not callback.latches[i] or not self._names_item(atom, callback.owner, item):
                    continue
                if atom.name == old:
                    callback.latches[i] = False
                elif atom.name == "done" and old in TERMINAL_STATES and new not in TERMINAL_STATES:
                    callback.latches[i] = False

    # ------------------------------------------------------------------ time

    def advance(self, now) -> list:
        return [handle for _moment, handle in self.advance_many(now)]

    def advance_many(self, now) -> list:
        _check_int(now, "now")
        if now < self._clock:
            raise ClockError(f"the clock cannot go back from {self._clock} to {now}")
        if now > MAX_TIME:  # not in docs/semantics.md: the twins' own limit and text
            raise LimitError(f"time {now} is out of range (0 to {MAX_TIME})")
        fired = []
        while True:
            moment = self._next_moment(after=self._clock, until=now)
            if moment is None:
                break
            for callback in self._callbacks.values():
                for i, atom in enumerate(callback.atoms):
                    if _due_at(atom, moment):
                        callback.latches[i] = True
            fired.extend((moment, handle) for handle in self._fire_true_callbacks())
            self._clock = moment
        self._clock = now
        return fired

    def next_due(self, *, repeats=True) -> Optional[int]:
        """The first moment after the clock at which an atom of a live callback is due."""
        best = None
        for callback in self._callbacks.values():
            for atom in callback.atoms:
                if not repeats and atom.type in ("repeat", "globalrepeat"):
                    continue
                moment = _first_due_after(atom, self._clock)
                if moment is not None and (best is None or moment < best):
                    best = moment
        return best

    def _next_moment(self, after: int, until: int) -> Optional[int]:
        best = None
        for callback in self._callbacks.values():
            for atom in callback.atoms:
                moment = _first_due_after(atom, after)
                if moment is not None and moment <= until and (best is None or moment < best):
                    best = moment
        return best

    # ------------------------------------------------------------------ the rules

    def _resolve(self, atom: Atom, owner: int) -> Optional[int]:
        """The job id the atom's context names now, or None (a label no current job holds)."""
        if atom.context == "self":
            return owner
        if atom.context == "parent":
            return self._jobs[owner].pid
        if atom.context == "id":
            return atom.job
        if atom.context == "label":
            pgrp = self._jobs[owner].pgrp
            for job in self._jobs.values():
                if job.pgrp == pgrp and job.label == atom.label:
                    return job.jobid
            return None
        raise AssertionError(f"no job context in {atom.text!r}")

    def _matches(self, atom: Atom, owner: int, event: Event) -> bool:
        if not (atom.name == event.name or (atom.name == "done" and event.name in TERMINAL_STATES)):
            return False
        if atom.type != event.type:
            return False
        if atom.context != "global":
            jobid = self._resolve(atom, owner)
            if jobid is None or jobid != event.jobid:
                return False
        return atom.extra == event.extra or (atom.extra == "*" and atom.type in WILDCARD_TYPES)

    def _names_item(self, atom: Atom, owner: int, item: tuple) -> bool:
        type_, jobid, extra = item
        if atom.type != type_ or atom.extra != extra:
            return False
        resolved = self._resolve(atom, owner)
        return resolved is not None and resolved == jobid

    def _catch_up_callback(self, callback: Callback) -> None:
        """Latch atoms in expression order; the first one after which the expression is true
        completes it, and the callback is queued with that atom's event."""
        for i, atom in enumerate(callback.atoms):
            event = None
            if atom.type in STATEFUL_TYPES and atom.extra != "*":
                jobid = self._resolve(atom, callback.owner)
                if jobid is None:
                    continue
                state = self._states.get((atom.type, jobid, atom.extra))
                if state is None:
                    continue
                if atom.name == state or (atom.name == "done" and state in TERMINAL_STATES):
                    callback.latches[i] = True
                    event = Event(state, atom.type, jobid, atom.extra)
            elif atom.type in ("time", "globaltime") and _number(atom.extra) <= self._clock:
                callback.latches[i] = True
                event = Event("dummy", "globaltime", None, str(_number(atom.extra)))
            if event is not None and _evaluate(callback.tree, iter(callback.latches)):
                self._fire(callback)
                self._catch_up.append((callback.handle, event))
                return

    def _fire_true_callbacks(self) -> list:
        fired = []
        for handle in sorted(self._callbacks):
            callback = self._callbacks[handle]
            if _evaluate(callback.tree, iter(callback.latches)):
                self._fire(callback)
                fired.append(handle)
        return fired

    def _fire(self, callback: Callback) -> None:
        callback.count += 1
        callback.latches = [False] * len(callback.atoms)
        if callback.maximum is not None and callback.count >= callback.maximum:
            del self._callbacks[callback.handle]

    def _atom_key(self, atom: Atom, owner: int) -> tuple:
        if atom.context == "global":
            where = None
        elif atom.context == "label":
            where = ("label", self._jobs[owner].pgrp, atom.label)
        else:
            where = self._resolve(atom, owner)
        return (atom.name, atom.type, where, atom.extra)


# ---------------------------------------------------------------------- tree helpers


def _collect_atoms(node, out: list) -> None:
    """Append the atoms of a tree to ``out`` in expression order (left to right)."""
    if isinstance(node, Atom):
        out.append(node)
    else:
        for child in node.children:
            _collect_atoms(child, out)


def _evaluate(node, latches) -> bool:
    """Truth of a tree; ``latches`` yields one bool per atom in expression order.

    Every child is visited (no short-circuit) so that the iterator stays aligned with the atoms.
    """
    if isinstance(node, Atom):
        return next(latches)
    values = [_evaluate(child, latches) for child in node.children]
    if isinstance(node, And):
        return all(values)
    assert isinstance(node, Or)
    return any(values)


def _number(digits: str) -> int:
    """A number the parser accepted: ASCII digits, any number of leading zeros (which int() alone
    would refuse past 4,300 digits)."""
    return int(digits.lstrip("0") or "0")


def _time_and_interval(atom: Atom) -> tuple:
    """(T, None) for time atoms, (T, I) for repeat atoms."""
    if atom.type in ("time", "globaltime"):
        return _number(atom.extra), None
    start, _, interval = atom.extra.partition("-")
    return _number(start), _number(interval)


def _due_at(atom: Atom, moment: int) -> bool:
    if atom.type not in CLOCK_TYPES:
        return False
    start, interval = _time_and_interval(atom)
    if interval is None:
        return moment == start
    return moment >= start and (moment - start) % interval == 0


def _first_due_after(atom: Atom, after: int) -> Optional[int]:
    """The first moment strictly after ``after`` at which the atom is due, or None."""
    if atom.type not in CLOCK_TYPES:
        return None
    start, interval = _time_and_interval(atom)
    if interval is None:
        return start if start > after else None
    if start > after:
        return start
    steps = (after - start) // interval + 1
    return start + steps * interval
