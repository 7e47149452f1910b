"""The pure-Python twin of the matcher: a discrimination network, not a re-evaluator.

Layout (docs/semantics.md is the behaviour; this is how it is made fast):

- **Keys.** Every atom is resolved at registration to a context, its *where*: a job id for
  ``self``/``parent``/numeric atoms, ``"@pgrp@label"`` for label atoms, None for global ones. Its
  alpha key is the canonical event text ``name-type-jobid[-extra]`` (``name-type[-extra]`` for global
  atoms) when an event could spell it, and a tuple ``(name, type, where, extra)`` otherwise (label
  contexts, extra ``*``). So every str key is a valid canonical event, and a canonical event string
  is its own probe key.
- **Alpha index.** A key maps to one *ref* ``(callback, st, leaf, parent slot, need of that slot)``
  or, when several latches share the key, to a dict ``ref id -> ref`` (ref id ``handle << 32 |
  leaf``). An event probes its own key; then, only where some atom could answer (the gates count
  entries per where), the ``*`` key (work/subjob/host), the ``done`` keys (complete/failed/killed)
  and, when its job is an added job with a label, the same keys with that label context.
- **Events.** ``feed`` and ``feed_many`` take one path: ``_decode`` (a canonical job event is split
  without ``parse_event`` if its name is one the network knows: Qube's, and those it has met spelt
  canonically), then ``_apply`` per event (its item's state, the probes, the latches: the hot path,
  written once), then ``_fire``. On a *plain* network (not state-aware, no ``*``/``done``/label
  atoms) an event can only match its own key, so an event string that is a key of the index is
  applied as it is, unparsed.
- **Latches.** A callback's expression compiles to one state list ``st``: ``st[0]`` is the
  generation base, ``st[1..L]`` the latches in expression order, then the AND/OR nodes (flattened:
  no AND directly under an AND). A latch is set when ``st[i] > base``; a node counts its true
  children as ``st[n] - base`` when positive. Setting a latch walks up only while a node's truth
  flips (count reaching ``need``: all children for AND, one for OR); firing adds ``step`` to the
  base, which clears every latch and node of the callback at once.
- **Clock.** A heap of moments and a dict ``moment -> {ref id: (callback, leaf, interval)}``. A
  ``repeat`` latch, once set, is *parked* on its callback instead of rescheduled: only firing can
  clear it, so its next occurrence matters only after the callback fires. A long ``advance`` past a
  repeat whose callback never fires does not visit every occurrence. ``next_due`` still counts it:
  a second heap holds each parked leaf at an occurrence, moved on lazily once the clock passes it.
- **States** (state-aware): a dict ``"type-jobid[-extra]" -> state``; a state change retracts
  through the same alpha keys, before the event's own latches are set.
"""

from __future__ import annotations

import heapq
import sys
import threading
from array import array
from sys import intern
from typing import Iterable, List, Optional, Sequence, Tuple, Union, cast

from . import _snapshot
from ._firings import TYPECODE, Firings, split_text
from .errors import DuplicateError, EventError, UnknownCallbackError, UnknownJobError
from ._common import (
    MAX_ATOMS,
    MAX_STRAY_STATES,
    STATE_NAMES,
    STATEFUL_TYPES,
    TERMINAL_STATES,
    And,
    Atom,
    Event,
    Or,
    TriggerSyntaxError,
    WhyNot,
    callback_batch,
    callback_item,
    check_event_batch,
    check_handle,
    check_id,
    check_int,
    check_label,
    check_maximum,
    check_time,
    event_type_error,
    parse,
    parse_event,
    repeat_value,
    time_value,
    too_many_atoms,
    trigger_list,
)

__all__ = ["Network"]

#: An event as _decode gives it to _apply: (name, type, jobid, extra, key); jobid None: global.
_Decoded = Tuple[str, str, Optional[int], Optional[str], str]

_STAR_TYPES = frozenset(("work", "subjob", "host"))
_EXTRA_TYPES = frozenset(("subjob", "work", "host", "time", "repeat"))
#: Names an event can take the fast path with from the start (canonical, lower case); each network
#: adds those it meets spelt canonically (Network._names), up to _NAMES_LIMIT.
_KNOWN_NAMES = frozenset(
    "complete failed killed done submit blocked running waiting pending suspended assigned removed"
    " modified timeout dummy".split()
)
_NAMES_LIMIT = 4096
#: Callback shapes (parent and need tuples) shared between callbacks, at most this many.
_SHAPES_LIMIT = 4096


def _event_key(name: str, type_: str, jobid: Optional[int], extra: Optional[str]) -> str:
    if jobid is None:
        return f"{name}-{type_}" if extra is None else f"{name}-{type_}-{extra}"  # name-global: no extra
    if extra is None:
        return f"{name}-{type_}-{jobid}"
    return f"{name}-{type_}-{jobid}-{extra}"


def _where(atom: Atom, owner: int, pid: Optional[int], pgrp: int) -> object:
    """An atom's context resolved at registration: a job id, "@pgrp@label", or None (global)."""
    context = atom.context
    if context == "self":
        return owner
    if context == "parent":
        return pid
    if context == "id":
        return atom.job
    if context == "label":
        return f"@{pgrp}@{atom.label}"
    return None


def _atom_key(atom: Atom, where: object) -> object:
    """The alpha key: the canonical event text when an event can spell it, else a tuple."""
    if where is None:
        return f"{atom.name}-{atom.type}" if atom.extra is None else f"{atom.name}-{atom.type}-{atom.extra}"
    extra = atom.extra
    if type(where) is str or extra == "*":
        return (atom.name, atom.type, where, extra)
    if extra is None:
        return f"{atom.name}-{atom.type}-{where}"
    return f"{atom.name}-{atom.type}-{where}-{extra}"


def _climb(cb: _Callback, node: int, fired: list) -> None:
    """``node`` just turned true: count it in its ancestors while they turn true too."""
    st = cb.st
    base = st[0]
    par = cb.par
    needs = cb.need
    node = par[node]
    while node >= 0:
        value = st[node]
        value = value + 1 if value > base else base + 1
        st[node] = value
        if value - base != needs[node]:
            return
        node = par[node]
    fired.append(cb)




def _next_occurrence(start: int, interval: int, after: int) -> int:
    """The first ``start + k*interval`` (k >= 0) that is greater than ``after``."""
    if start > after:
        return start
    return start + ((after - start) // interval + 1) * interval


class _Callback:
    """One registered callback. ``par`` and ``need`` are shared by callbacks of the same shape.

    A ref id (alpha entry dicts, clock moments) is ``handle << 32 | leaf``: unique, never stored.
    """

    __slots__ = (
        "handle",
        "owner",
        "maximum",
        "count",
        "st",
        "par",
        "need",
        "step",
        "atoms",
        "keys",
        "sched",
        "parked",
        "repeats",
    )

    def __init__(
        self, handle: int, owner: int, maximum: Optional[int], atoms: list, par: tuple, need: tuple
    ) -> None:
        self.handle = handle
        self.owner = owner
        self.maximum = maximum
        self.count = 0
        self.atoms = atoms
        self.par = par
        self.need = need
        self.st = [0] * len(par)
        self.step = len(par) + 1  # more than any count, so adding it to the base clears everything
        self.keys: tuple = ()  # alpha key of each leaf
        # The clock's bookkeeping, None until a time atom needs it:
        self.sched: Optional[dict] = None  # leaf -> moment it is scheduled at
        self.parked: Optional[list] = None  # leaves of set repeat latches, rescheduled at firing
        self.repeats: Optional[dict] = None  # leaf -> (start, interval) of repeat atoms


def _flat_children(node: Union[And, Or]) -> list:
    """Children of an AND/OR node with nested nodes of the same kind spliced in, order kept."""
    kind = type(node)
    out: list = []
    stack = list(reversed(node.children))
    while stack:
        child = stack.pop()
        if type(child) is kind:
            stack.extend(reversed(child.children))
        else:
            out.append(child)
    return out


def _compile(tree: object) -> Tuple[list, list, list]:
    """Atoms in expression order, parent index and need of every slot (slot 0 is the base)."""
    atoms: list = []
    leaves: list = []  # parent of each leaf, in expression order
    inner_par: list = []
    inner_need: list = []
    stack: list = [(tree, -1)]
    while stack:
        node, parent = stack.pop()
        if isinstance(node, Atom):
            atoms.append(node)
            leaves.append(parent)
        else:
            children = _flat_children(node)
            inner_par.append(parent)
            inner_need.append(len(children) if isinstance(node, And) else 1)
            me = -2 - (len(inner_par) - 1)  # provisional: inner node k is -2-k until we know L
            for child in reversed(children):
                stack.append((child, me))
    first_inner = len(atoms) + 1

    def fix(p: int) -> int:
        return p if p == -1 else first_inner + (-2 - p)

    par = [-1] + [fix(p) for p in leaves] + [fix(p) for p in inner_par]
    need = [0] + [1] * len(atoms) + inner_need
    return atoms, par, need


class Network:
    """A shared matching network of trigger expressions (see docs/semantics.md)."""

    def __init__(self, state_aware: bool = False) -> None:
        state_aware = bool(state_aware)
        self._state_aware = state_aware
        self._jobs: dict = {}  # jobid -> (pgrp, label, pid)
        self._labels: dict = {}  # (pgrp, label) -> jobid
        self._jlabel: dict = {}  # jobid -> label context "@pgrp@label", for added labelled jobs
        self._owned: dict = {}  # jobid -> {handle: None}, callbacks owned, in handle order
        self._cbs: dict = {}  # handle -> _Callback
        self._next_handle = 1
        self._shapes: dict = {}  # (par, need) -> itself, so that callbacks of one shape share it
        # key -> one ref (cb, st, leaf, parent slot, need of that slot), or {ref id: ref} for several
        self._alpha: dict = {}
        # Which extra probes can answer, per context ("where": a job id, a label context "@pgrp@label",
        # None for global atoms): number of alpha entries whose extra is '*', whose name is 'done',
        # and (label contexts) that use the label at all.
        self._star_where: dict = {}
        self._done_where: dict = {}
        self._label_used: dict = {}
        # True while an event can only match its own key: not state-aware, no '*', 'done' or label
        # atoms. Then a canonical event string is looked up as it is.
        self._plain = not state_aware
        self._more = False  # some event may match keys besides its own ('*', 'done', labels)
        self._names = set(_KNOWN_NAMES)  # names an event can take _decode's fast path with
        self._nlatches = 0
        self._parked_seq = 0
        self._clock = 0
        self._heap: list = []
        self._due: dict = {}  # moment -> {ref id: (cb, leaf, interval)}
        # Parked repeat leaves, for next_due: (a moment it is due at, tie-break, cb, leaf, cb.parked
        # when noted); an entry whose list is no longer cb.parked is stale (unparked or dropped).
        self._parked_heap: list = []
        self._nparked = 0  # leaves parked now (the live entries of _parked_heap)
        self._states: dict = {}  # item "type-jobid[-extra]" -> state (state-aware)
        self._job_items: dict = {}  # jobid -> items of that job in _states, for remove_job
        self._caught_up: list = []  # (handle, Event) of callbacks fired by catch-up, until drained
        self._stray = 0  # items in _states whose job is not an added job (at most MAX_STRAY_STATES)
        # Every public method holds it for its whole call: one network, one thread at a time.
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ properties

    @property
    def clock(self) -> int:
        """The network's clock (Qube time); starts at 0 and only goes forward."""
        with self._lock:
            return self._clock

    @property
    def state_aware(self) -> bool:
        """Whether state events set item states, with retraction and catch-up (SPEC §5)."""
        return self._state_aware

    # ------------------------------------------------------------------ jobs

    def add_job(
        self, jobid: int, pgrp: Optional[int] = None, label: Optional[str] = None, pid: Optional[int] = None
    ) -> None:
        """Add a job. ``pgrp`` defaults to ``jobid``; a label is unique inside its pgrp."""
        with self._lock:
            jobid = check_id(jobid, "job id")
            pgrp = jobid if pgrp is None else check_id(pgrp, "pgrp")
            check_label(label)
            if pid is not None:
                pid = check_id(pid, "pid")
            if jobid in self._jobs:
                raise DuplicateError(f"job {jobid} is already added")
            if label is not None:
                holder = self._labels.get((pgrp, label))
                if holder is not None:
                    raise DuplicateError(f"label '{label}' is already used in pgrp {pgrp} by job {holder}")
                self._labels[(pgrp, label)] = jobid
                self._jlabel[jobid] = f"@{pgrp}@{label}"
            self._jobs[jobid] = (pgrp, label, pid)
            self._stray -= len(self._job_items.get(jobid, ()))  # its items' states are its own now

    def remove_job(self, jobid: int) -> None:
        """Remove a job, the callbacks it owns and (state-aware) the states of its items."""
        with self._lock:
            jobid = check_int(jobid, "job id")
            job = self._jobs.get(jobid)
            if job is None:
                raise UnknownJobError(f"unknown job {jobid}")
            for handle in list(self._owned.get(jobid, ())):
                self._drop(self._cbs[handle])
            self._owned.pop(jobid, None)
            pgrp, label, _ = job
            if label is not None:
                del self._labels[(pgrp, label)]
                del self._jlabel[jobid]
            del self._jobs[jobid]
            states = self._states
            for item in self._job_items.pop(jobid, ()):
                del states[item]

    # ------------------------------------------------------------------ callbacks

    def add(self, triggers: Union[str, Sequence[str]], owner: int, maximum: Optional[int] = None) -> int:
        """Register a callback owned by ``owner``; return its handle (1, 2, 3, ...)."""
        exprs = trigger_list(triggers)
        owner = check_int(owner, "owner")
        with self._lock:
            job = self._job_of(owner)
            maximum = check_maximum(maximum) or None
            return self._register(self._compile_callback(exprs, owner, job), owner, maximum, job)

    def add_many(self, callbacks: Iterable[tuple]) -> List[int]:
        """Register callbacks in order, as :meth:`add` would one by one; return their handles.

        Each item is ``(triggers, owner)`` or ``(triggers, owner, maximum)``. Every item is checked
        before any is registered: the arguments of every item in order, then the expressions of
        every item in order; the first failure is raised as :meth:`add` raises it, and nothing is
        registered."""
        items = callback_batch(callbacks)
        with self._lock:
            checked = []
            for index, item in enumerate(items):
                exprs, owner, maximum = callback_item(item, index)
                job = self._job_of(owner)
                checked.append((exprs, owner, check_maximum(maximum) or None, job))
            compiled = [self._compile_callback(exprs, owner, job) for exprs, owner, _, job in checked]
            return [
                self._register(parts, owner, maximum, job)
                for parts, (_, owner, maximum, job) in zip(compiled, checked)
            ]

    def _job_of(self, owner: int) -> tuple:
        job = self._jobs.get(owner)
        if job is None:
            raise UnknownJobError(f"unknown job {owner}")
        return job

    def _compile_callback(self, exprs: Tuple[str, ...], owner: int, job: tuple) -> tuple:
        """A callback's expressions parsed and compiled: (atoms, par, need). Changes nothing."""
        if not exprs:
            raise TriggerSyntaxError("", 0, "empty trigger list")
        pid = job[2]
        trees = [parse(text, owner=owner, pid=pid) for text in exprs]
        tree = trees[0] if len(trees) == 1 else Or(tuple(trees))
        parsed_atoms, par_list, need_list = _compile(tree)
        if len(parsed_atoms) > MAX_ATOMS:
            raise too_many_atoms()
        # Keep atoms small: keywords interned, no source text (why_not only needs canonical()).
        atoms = [
            Atom(intern(a.name), intern(a.type), intern(a.context), a.job, a.label, a.extra, 0, "")
            for a in parsed_atoms
        ]
        shape = (tuple(par_list), tuple(need_list))
        shared = self._shapes.get(shape)
        if shared is None:
            shared = shape
            if len(self._shapes) < _SHAPES_LIMIT:  # a bounded cache: past it, shapes are not shared
                self._shapes[shape] = shape
        return atoms, shared[0], shared[1]

    def _register(self, compiled: tuple, owner: int, maximum: Optional[int], job: tuple) -> int:
        """Registers a compiled callback; nothing can fail here."""
        atoms, par, need = compiled
        pgrp, _, pid = job
        handle = self._next_handle
        self._next_handle = handle + 1
        cb = _Callback(handle, owner, maximum, atoms, par, need)
        self._cbs[handle] = cb
        self._owned.setdefault(owner, {})[handle] = None
        self._nlatches += len(atoms)
        alpha = self._alpha
        st = cb.st
        clock = self._clock
        keys = []
        for i, atom in enumerate(atoms, 1):
            where = _where(atom, owner, pid, pgrp)
            key = _atom_key(atom, where)
            keys.append(key)
            node = par[i]
            ref = (cb, st, i, node, need[node] if node >= 0 else 0)
            entry = alpha.get(key)
            if entry is None:
                alpha[key] = ref
                self._count_entry(atom, where, 1)
            elif type(entry) is tuple:
                alpha[key] = {entry[0].handle << 32 | entry[2]: entry, handle << 32 | i: ref}
            else:
                entry[handle << 32 | i] = ref
            type_ = atom.type
            if type_ == "time" or type_ == "globaltime":
                moment = cast(int, time_value(cast(str, atom.extra)))  # clock atoms always have one
                if moment > clock:
                    self._schedule(cb, i, moment, 0)
            elif type_ == "repeat" or type_ == "globalrepeat":
                start_i, interval_i = cast(Tuple[int, int], repeat_value(cast(str, atom.extra)))
                if cb.repeats is None:
                    cb.repeats = {}
                cb.repeats[i] = (start_i, interval_i)
                self._schedule(cb, i, _next_occurrence(start_i, interval_i, clock), interval_i)
        cb.keys = tuple(keys)
        if self._state_aware:
            self._catch_up(cb, owner, pid, pgrp)
        return handle

    def remove(self, handle: int) -> None:
        """Remove a live callback."""
        with self._lock:
            self._drop(self._get(handle))

    def count(self, handle: int) -> int:
        """How many times a live callback has fired."""
        with self._lock:
            return self._get(handle).count

    def owner(self, handle: int) -> int:
        """The job that owns a live callback."""
        with self._lock:
            return self._get(handle).owner

    def why_not(self, handle: int) -> WhyNot:
        """The atoms of a live callback split into latched and awaited, in expression order."""
        with self._lock:
            cb = self._get(handle)
            st = cb.st
            base = st[0]
            latched: List[str] = []
            awaited: List[str] = []
            for i, atom in enumerate(cb.atoms, 1):
                (latched if st[i] > base else awaited).append(atom.canonical())
            return WhyNot(tuple(latched), tuple(awaited))

    def drain_catch_up(self) -> List[int]:
        """Handles that fired at registration (state-aware catch-up) since the last drain."""
        with self._lock:
            out = self._caught_up
            self._caught_up = []
            return [handle for handle, _ in out]

    def drain_catch_up_events(self) -> List[Tuple[int, Event]]:
        """Like :meth:`drain_catch_up` (the same queue), with the :class:`Event` each handle stands
        for: the state event of the item whose catch-up latch completed the callback (its name is the
        item's state: ``failed`` for a ``done`` atom on a failed item), or ``dummy-globaltime-T`` when
        a time atom whose moment T had passed completed it."""
        with self._lock:
            out = self._caught_up
            self._caught_up = []
            return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._cbs)

    def __contains__(self, handle: object) -> bool:
        with self._lock:
            return isinstance(handle, int) and not isinstance(handle, bool) and handle in self._cbs

    def stats(self) -> dict:
        """Sizes: live callbacks, their latches, distinct atom keys, jobs and ``bytes``, an estimate
        of the memory the network holds (``sys.getsizeof`` over its containers; O(size) to compute)."""
        with self._lock:
            size = sys.getsizeof
            total = size(self) + sum(
                size(d)
                for d in (
                    self._jobs,
                    self._labels,
                    self._jlabel,
                    self._owned,
                    self._cbs,
                    self._alpha,
                    self._star_where,
                    self._done_where,
                    self._label_used,
                    self._shapes,
                    self._heap,
                    self._due,
                    self._parked_heap,
                    self._states,
                    self._job_items,
                )
            )
            ref_size = size((None,) * 5)
            for key, entry in self._alpha.items():
                total += size(key) + (size(entry) + ref_size * len(entry) if type(entry) is dict else ref_size)
            for cb in self._cbs.values():
                total += size(cb) + size(cb.st) + size(cb.keys) + size(cb.atoms)
                for atom in cb.atoms:
                    total += size(atom) + (0 if atom.extra is None else size(atom.extra))
                if cb.sched is not None:
                    total += size(cb.sched) + size(cb.repeats or ()) + size(cb.parked or ())
            for par, need in self._shapes:
                total += size(par) + size(need)
            for job in self._jobs.values():
                total += size(job)
            for owned in self._owned.values():
                total += size(owned)
            for refs in self._due.values():
                total += size(refs) + size((None,) * 3) * len(refs)
            for item in self._states:
                total += size(item)
            for items in self._job_items.values():
                total += size(items)
            return {
                "callbacks": len(self._cbs),
                "atoms": self._nlatches,
                "alpha_entries": len(self._alpha),
                "jobs": len(self._jobs),
                "bytes": total,
            }

    # ------------------------------------------------------------------ snapshots (_snapshot.py)

    def snapshot(self) -> bytes:
        """The whole network as bytes, in the format both twins read (docs/embedding.md)."""
        with self._lock:
            return _snapshot.snapshot(self)

    def restore(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Replace everything in this network, state-awareness included, with a snapshot's contents.
        A bad snapshot raises SnapshotError and leaves the network as it was."""
        fresh = _snapshot.restore(type(self), data)  # read aside: this network's lock is not needed
        contents = {name: value for name, value in vars(fresh).items() if name != "_lock"}
        with self._lock:
            vars(self).update(contents)

    @classmethod
    def from_snapshot(cls, data: Union[bytes, bytearray, memoryview]) -> "Network":
        """A new network holding a snapshot's contents."""
        return _snapshot.restore(cls, data)

    def __reduce__(self) -> tuple:
        return (type(self).from_snapshot, (self.snapshot(),))

    # ------------------------------------------------------------------ events

    def feed(self, event: Union[str, Event]) -> List[int]:
        """Apply one event; return the handles that fired, in handle order."""
        with self._lock:
            fired: list = []
            if self._plain and type(event) is str and event in self._alpha:
                self._apply(event, fired)  # a key of a plain network: see _decode
            else:
                self._apply(self._decode(event), fired)
            return self._fire(fired) if fired else fired

    def feed_many(self, events: Iterable[Union[str, Event]]) -> List[Tuple[int, int]]:
        """Decode every event, then apply them in order; return (event index, handle) pairs."""
        with self._lock:
            check_event_batch(events)
            decode = self._decode
            if self._plain:  # keys of a plain network are kept as they are: see _decode
                alpha = self._alpha
                batch = [e if type(e) is str and e in alpha else decode(e, i) for i, e in enumerate(events)]
            else:
                batch = [decode(event, index) for index, event in enumerate(events)]
            # Every event is decoded before any is applied: a malformed one applies none.
            apply = self._apply
            out: list = []
            fired: list = []
            for index, event in enumerate(batch):
                apply(event, fired)
                if fired:
                    for handle in self._fire(fired):
                        out.append((index, handle))
                    fired = []
            return out

    def feed_batch(self, events: Iterable[Union[str, Event]]) -> Firings:
        """Like :meth:`feed_many`, the firings as two parallel arrays (see :class:`Firings`)."""
        pairs = self.feed_many(events)  # the twin makes its pairs anyway; the arrays are the API
        return Firings(array(TYPECODE, [i for i, _ in pairs]), array(TYPECODE, [h for _, h in pairs]))

    def feed_text(self, data: Union[bytes, bytearray, memoryview]) -> Firings:
        """:meth:`feed_batch` of UTF-8 events, one per line, in one buffer."""
        return self.feed_batch(split_text(data))

    def _decode(self, event: object, index: Optional[int] = None) -> _Decoded:
        """An event as _apply takes it: ``(name, type, jobid, extra, key)``. Errors are parse_event's,
        with the index in feed_many's: "bad event '...' at index 3: reason". (On a plain network,
        feed and feed_many skip this for an event string that is a key of the alpha index: a str key
        is a valid canonical event, and there an event can match only its own key.)

        A job-bound event already in canonical form (a name this network knows, lower-case type, job
        id without leading zero) is its own key and is split here; anything else goes to parse_event.
        """
        if type(event) is not str:
            if isinstance(event, Event):
                return self._decode(str(event), index)  # fed as its text, as the C core does
            if not isinstance(event, str):
                raise event_type_error(event, index)
            return self._parse(event, index)  # a str subclass
        parts = event.split("-", 3)
        if len(parts) == 4:
            name, type_, job, extra = parts
            fast = extra != "" and extra != "*" and type_ in _EXTRA_TYPES
        elif len(parts) == 3:
            name, type_, job = parts
            extra = None
            fast = type_ == "job"
        else:
            return self._parse(event, index)
        if (
            fast
            and name in self._names
            and job.isascii()
            and job.isdigit()
            and job[0] != "0"
            and (len(job) < 10 or (len(job) == 10 and job <= "2147483647"))
        ):
            return (name, type_, int(job), extra, event)
        return self._parse(event, index)

    def _parse(self, event: str, index: Optional[int]) -> _Decoded:
        """_decode's slow path, through parse_event. A name spelt canonically joins the names known."""
        try:
            ev = parse_event(event)
        except ValueError as exc:
            if index is None:
                raise
            prefix = f"bad event '{event}'"
            message = str(exc)
            if message.startswith(prefix):
                message = f"{prefix} at index {index}{message[len(prefix) :]}"
            raise EventError(message) from None
        name = ev.name
        if len(self._names) < _NAMES_LIMIT and event.startswith(name + "-"):
            self._names.add(name)
        return (name, ev.type, ev.jobid, ev.extra, _event_key(name, ev.type, ev.jobid, ev.extra))

    # ------------------------------------------------------------------ time

    def advance(self, now: int) -> List[int]:
        """Move the clock to ``now``, applying every due moment in order; return fired handles."""
        return [handle for _, handle in self._advance(now)]

    def advance_many(self, now: int) -> List[Tuple[int, int]]:
        """Like :meth:`advance`, returning (moment, handle) pairs."""
        return self._advance(now)

    def _advance(self, now: int) -> list:
        with self._lock:
            now = check_time(now, self._clock)
            out: list = []
            heap = self._heap
            due = self._due
            heappop = heapq.heappop
            while heap and heap[0] <= now:
                moment = heappop(heap)
                refs = due.pop(moment, None)
                if refs is None:
                    continue
                self._clock = moment
                fired: list = []
                parking: list = []
                for cb, leaf, interval in refs.values():
                    del cb.sched[leaf]
                    if interval:
                        if cb.parked is None:
                            cb.parked = [leaf]
                        else:
                            cb.parked.append(leaf)
                        parking.append((cb, leaf, moment + interval))
                        self._nparked += 1
                    self._set(cb, leaf, fired)
                if fired:
                    for handle in self._fire(fired):
                        out.append((moment, handle))
                for cb, leaf, then in parking:
                    if cb.parked is not None:  # its callback did not fire: it stays parked
                        self._note_parked(cb, leaf, then)
            self._clock = now
            return out

    def next_due(self, *, repeats: bool = True) -> Optional[int]:
        """The next moment (after the clock) at which a live callback's time atom is due: the first
        one :meth:`advance` would apply; None if none. ``repeats=False`` counts one-shot atoms only
        (``time``, ``globaltime``): whether something is still to come once, rather than forever."""
        with self._lock:
            heap = self._heap
            due = self._due
            while heap and heap[0] not in due:  # moments whose refs all went: advance would skip them
                heapq.heappop(heap)
            if not repeats:  # one pass over the schedule (parked leaves are all repeats)
                once = [moment for moment, refs in due.items() if any(not ref[2] for ref in refs.values())]
                return min(once) if once else None
            parked = self._next_parked()
            if not heap:
                return parked
            return heap[0] if parked is None or heap[0] < parked else parked

    def _note_parked(self, cb: _Callback, leaf: int, moment: int) -> None:
        """Remember a parked leaf's next occurrence (``moment``) for next_due."""
        heap = self._parked_heap
        self._parked_seq += 1
        if len(heap) > 2 * self._nparked + 64:  # drop the stale entries
            heap[:] = [entry for entry in heap if entry[2].parked is entry[4]]
            heapq.heapify(heap)
        heapq.heappush(heap, (moment, self._parked_seq, cb, leaf, cb.parked))

    def _next_parked(self) -> Optional[int]:
        """The next occurrence after the clock of any parked leaf, None if none is parked."""
        heap = self._parked_heap
        clock = self._clock
        while heap:
            moment, seq, cb, leaf, parked = heap[0]
            if cb.parked is not parked:
                heapq.heappop(heap)
            elif moment <= clock:  # passed while parked: move it on to its next occurrence
                start, interval = cb.repeats[leaf]  # type: ignore[index]
                heapq.heapreplace(heap, (_next_occurrence(start, interval, clock), seq, cb, leaf, parked))
            else:
                return moment
        return None

    # ------------------------------------------------------------------ internals

    def _get(self, handle: object) -> _Callback:
        cb = self._cbs.get(check_handle(handle))
        if cb is None:
            raise UnknownCallbackError(f"unknown callback handle {handle}")
        return cb

    def _count_entry(self, atom: Atom, where: object, delta: int) -> None:
        """Keep the probe gates right when an alpha entry appears (+1) or goes (-1)."""
        gates = []
        if atom.extra == "*":
            gates.append(self._star_where)
        if atom.name == "done":
            gates.append(self._done_where)
        if atom.context == "label":
            gates.append(self._label_used)
        for gate in gates:
            left = gate.get(where, 0) + delta
            if left:
                gate[where] = left
            else:
                del gate[where]
        self._more = bool(self._star_where or self._done_where or self._label_used)
        self._plain = not (self._state_aware or self._more)

    def _schedule(self, cb: _Callback, leaf: int, moment: int, interval: int) -> None:
        refs = self._due.get(moment)
        if refs is None:
            refs = self._due[moment] = {}
            heap = self._heap
            if len(heap) > 2 * len(self._due) + 64:  # drop moments whose refs are all gone
                heap[:] = list(self._due)
                heapq.heapify(heap)
            else:
                heapq.heappush(heap, moment)
        refs[cb.handle << 32 | leaf] = (cb, leaf, interval)
        if cb.sched is None:
            cb.sched = {}
        cb.sched[leaf] = moment

    def _drop(self, cb: _Callback) -> None:
        """Forget a callback: its alpha refs, its clock refs and its handle."""
        alpha = self._alpha
        owner = cb.owner
        pgrp, _, pid = self._jobs[owner]
        tag = cb.handle << 32
        for leaf, (atom, key) in enumerate(zip(cb.atoms, cb.keys), 1):
            entry = alpha[key]
            if type(entry) is tuple:
                del alpha[key]
                self._count_entry(atom, _where(atom, owner, pid, pgrp), -1)
            else:
                del entry[tag | leaf]
                if len(entry) == 1:
                    alpha[key] = next(iter(entry.values()))
        if cb.sched:
            due = self._due
            for leaf, moment in cb.sched.items():
                refs = due[moment]
                del refs[tag | leaf]
                if not refs:
                    del due[moment]
        cb.sched = None
        if cb.parked:
            self._nparked -= len(cb.parked)
        cb.parked = None
        self._nlatches -= len(cb.atoms)
        del self._cbs[cb.handle]
        del self._owned[cb.owner][cb.handle]

    def _fire(self, fired: list) -> list:
        """Fire callbacks whose expression became true; return their handles in handle order."""
        if len(fired) > 1:
            fired.sort(key=_handle_of)
        out = []
        for cb in fired:
            out.append(cb.handle)
            count = cb.count + 1
            cb.count = count
            cb.st[0] += cb.step
            if count == cb.maximum:
                self._drop(cb)
            elif cb.parked:
                self._unpark(cb)
        return out

    def _unpark(self, cb: _Callback) -> None:
        clock = self._clock
        repeats = cb.repeats
        parked = cb.parked
        assert repeats is not None and parked is not None  # a callback with parked leaves
        self._nparked -= len(parked)
        for leaf in parked:
            start, interval = repeats[leaf]
            self._schedule(cb, leaf, _next_occurrence(start, interval, clock), interval)
        cb.parked = None

    @staticmethod
    def _set(cb: _Callback, leaf: int, fired: list) -> None:
        """Set one latch, walking up while truth flips; append the callback if its root turns true."""
        st = cb.st
        base = st[0]
        if st[leaf] > base:
            return
        st[leaf] = base + 1
        _climb(cb, leaf, fired)

    @staticmethod
    def _unset(cb: _Callback, leaf: int) -> None:
        """Clear one set latch, walking up while truth flips back to false."""
        st = cb.st
        base = st[0]
        if st[leaf] <= base:
            return
        st[leaf] = base
        par = cb.par
        need = cb.need
        node = par[leaf]
        while node >= 0:
            value = st[node] - 1
            st[node] = value
            if value - base != need[node] - 1:
                return
            node = par[node]

    def _apply(self, event: Union[str, _Decoded], fired: list) -> None:
        """The hot path of feed and feed_many: apply a decoded event (see _decode). It updates its
        item's state (state-aware), then sets the latches of every alpha entry it matches, each one
        walking up while a node's truth flips; the callbacks whose root turns true go to ``fired``."""
        if isinstance(event, str):  # a plain network's key (see _decode): it can match only itself
            probes: Sequence[object] = (event,)
        else:
            name, type_, jobid, extra, key = event
            if self._state_aware and name in STATE_NAMES and type_ in STATEFUL_TYPES:
                self._set_state(name, type_, jobid, extra, key)  # type: ignore[arg-type]  # a job event
            probes = [key]
            if self._more:  # the other keys it can match, where the gates count an entry that could
                star = self._star_where if type_ in _STAR_TYPES else None
                done = self._done_where if name in TERMINAL_STATES else None
                if star and jobid in star:
                    probes.append((name, type_, jobid, "*"))
                    if done and jobid in done:
                        probes.append(("done", type_, jobid, "*"))
                if done and jobid in done:
                    probes.append("done" + key[len(name) :])
                label_used = self._label_used
                if label_used and jobid is not None:
                    where = self._jlabel.get(jobid)  # its job's label context
                    if where is not None and where in label_used:
                        probes.append((name, type_, where, extra))
                        if star and where in star:
                            probes.append((name, type_, where, "*"))
                            if done and where in done:
                                probes.append(("done", type_, where, "*"))
                        if done and where in done:
                            probes.append(("done", type_, where, extra))
        alpha = self._alpha
        for probe in probes:
            entry = alpha.get(probe)
            if entry is None:
                continue
            # an entry is one ref (cb, st, leaf, parent slot, need of that slot) or a dict of them
            for cb, st, leaf, node, need in (entry,) if type(entry) is tuple else entry.values():
                base = st[0]
                if st[leaf] > base:
                    continue
                st[leaf] = base + 1
                if node < 0:
                    fired.append(cb)
                    continue
                value = st[node]
                value = value + 1 if value > base else base + 1
                st[node] = value
                if value - base == need:
                    _climb(cb, node, fired)

    def _set_state(self, name: str, type_: str, jobid: int, extra: Optional[str], key: str) -> None:
        """A state event for item (type, jobid, extra): retract what the old state latched, record it."""
        item = key[len(name) + 1 :]  # the canonical key "name-type-jobid[-extra]" without the name
        states = self._states
        old = states.get(item)
        if old != name:
            if old is None:
                if jobid not in self._jobs:  # a job not added: its items count against a cap
                    if self._stray >= MAX_STRAY_STATES:
                        return
                    self._stray += 1
                items = self._job_items.get(jobid)
                if items is None:
                    self._job_items[jobid] = [item]
                else:
                    items.append(item)
            else:
                self._retract(old, type_, jobid, extra, name)
            states[item] = name

    def _retract(self, old: str, type_: str, jobid: int, extra: Optional[str], new: str) -> None:
        """Clear the set latches of atoms naming the item (exactly) with the state it leaves."""
        names = [old]
        if old in TERMINAL_STATES and new not in TERMINAL_STATES:
            names.append("done")
        wheres: list = [jobid]
        label_where = self._jlabel.get(jobid)
        if label_where is not None:
            wheres.append(label_where)
        tail = "" if extra is None else "-" + extra
        alpha = self._alpha
        unset = self._unset
        for name in names:
            for where in wheres:
                if type(where) is int:
                    entry = alpha.get(f"{name}-{type_}-{where}{tail}")
                else:
                    entry = alpha.get((name, type_, where, extra))
                if entry is None:
                    continue
                for ref in (entry,) if type(entry) is tuple else entry.values():
                    unset(ref[0], ref[2])

    def _catch_up(self, cb: _Callback, owner: int, pid: Optional[int], pgrp: int) -> None:
        """State-aware registration: latch atoms whose item is already in their state (or whose time
        has passed), in expression order, until one completes the callback: it fires, queued with
        that atom's event."""
        states = self._states
        clock = self._clock
        fired: list = []
        for i, atom in enumerate(cb.atoms, 1):
            type_ = atom.type
            if type_ in STATEFUL_TYPES:
                if atom.extra == "*":
                    continue
                context = atom.context
                if context == "self":
                    jobid: Optional[int] = owner
                elif context == "parent":
                    jobid = pid
                elif context == "id":
                    jobid = atom.job
                else:
                    jobid = self._labels.get((pgrp, atom.label))
                if jobid is None:
                    continue
                if atom.extra is None:
                    state = states.get(f"{type_}-{jobid}")
                else:
                    state = states.get(f"{type_}-{jobid}-{atom.extra}")
                if state is not None and (
                    atom.name == state or (atom.name == "done" and state in TERMINAL_STATES)
                ):
                    self._set(cb, i, fired)
                    if fired:
                        self._fire(fired)
                        self._caught_up.append((cb.handle, Event(state, type_, jobid, atom.extra)))
                        return
            elif type_ == "time" or type_ == "globaltime":
                moment = cast(int, time_value(cast(str, atom.extra)))
                if moment <= clock:
                    self._set(cb, i, fired)
                    if fired:
                        self._fire(fired)
                        self._caught_up.append((cb.handle, Event("dummy", "globaltime", None, str(moment))))
                        return


def _handle_of(cb: _Callback) -> int:
    return cb.handle
