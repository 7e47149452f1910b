"""Snapshots of the pure twin, in the format the C core writes and reads (native/snapshot.c).

docs/embedding.md describes the format byte by byte. In short: a 32-byte header (signature
``qbtsnap\\0``, format version, CRC-32 of everything after the checksum field, total length, offset
of the string table), then unsigned LEB128 integers: flags, clock, next handle; the jobs by id;
the callbacks by handle with their tree (nodes root first, numbered as the atoms first reach them)
and atoms (parent node, set bit, context kind, type, name, job or label, extra); the catch-up queue;
the item states by job, each job's in the order they were first set; and the string table.

The header checks and their messages are the C core's, word for word. The body is rebuilt into a
new network through the twin's own registration (each callback's tree as an expression), so a
restored network is made of what registration makes; the network restored into is replaced only
when all of the snapshot has been read.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ._common import MAX_STRAY_STATES, TYPES, Event, parse_event
from .errors import Error, SnapshotError
from .vocabulary import STATES

if TYPE_CHECKING:
    from ._pure import Network

__all__ = ["FORMAT_VERSION", "snapshot", "restore", "check_header"]

FORMAT_VERSION = 1
MAGIC = b"qbtsnap\x00"
HEADER_BYTES = 32
FLAG_STATE_AWARE = 1
NUMBER_MAX = 999_999_999  # the largest extra written as a number (the C core's number ids)
KINDS = ("self", "parent", "id", "label", "global")
_TYPE_INDEX = {name: i for i, name in enumerate(TYPES)}
_GLOBAL_TYPES = frozenset(("global", "globaltime", "globalrepeat"))
_STATE_NAMES = frozenset(STATES)


# --------------------------------------------------------------------------- header


def check_header(data: bytes) -> int:
    """Raise SnapshotError unless ``data`` has a sound header and checksum; the string table's offset."""
    size = len(data)
    if size < HEADER_BYTES or data[:8] != MAGIC:
        if size >= 8 and data[:8] == MAGIC:
            raise SnapshotError(f"snapshot truncated: {size} bytes, shorter than the header")
        raise SnapshotError("not a qbtrigger snapshot (no 'qbtsnap' signature)")
    version = int.from_bytes(data[8:12], "little")
    total = int.from_bytes(data[16:24], "little")
    strings_at = int.from_bytes(data[24:32], "little")
    if version != FORMAT_VERSION:
        how = "is newer than" if version > FORMAT_VERSION else "is not one"
        raise SnapshotError(f"snapshot format version {version} {how} this qbtrigger reads ({FORMAT_VERSION})")
    if total != size:
        what = "snapshot truncated" if total > size else "snapshot has trailing bytes"
        raise SnapshotError(f"{what}: {size} bytes where its header says {total}")
    if zlib.crc32(memoryview(data)[16:]) != int.from_bytes(data[12:16], "little"):
        raise SnapshotError("snapshot corrupted: its checksum does not match its contents")
    if not HEADER_BYTES <= strings_at <= size:
        raise SnapshotError("snapshot corrupted: the string table is out of place")
    return strings_at


# --------------------------------------------------------------------------- writing


def _var(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray(HEADER_BYTES)
        self.index: Dict[str, int] = {}
        self.strings: List[str] = []

    def var(self, value: int) -> None:
        _var(self.out, value)

    def string(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.strings)
            self.strings.append(text)
        return i

    def extra(self, text: Optional[str]) -> None:
        if text is None:
            self.var(0)
        elif text.isascii() and text.isdigit() and len(text) <= 9 and (text[0] != "0" or text == "0"):
            self.var(int(text) << 1 | 1)
        else:
            self.var((self.string(text) + 1) << 1)

    def finish(self) -> bytes:
        out = self.out
        strings_at = len(out)
        self.var(len(self.strings))
        for text in self.strings:
            raw = text.encode("utf-8", "surrogatepass")
            self.var(len(raw))
            out += raw
        out[0:8] = MAGIC
        out[8:12] = FORMAT_VERSION.to_bytes(4, "little")
        out[16:24] = len(out).to_bytes(8, "little")
        out[24:32] = strings_at.to_bytes(8, "little")
        out[12:16] = zlib.crc32(memoryview(out)[16:]).to_bytes(4, "little")
        return bytes(out)


def _write_callback(w: _Writer, cb: Any, previous: int) -> None:
    atoms, par, need, st = cb.atoms, cb.par, cb.need, cb.st
    natoms = len(atoms)
    # Nodes renumbered root first, then as each atom's ancestors are first met, top-down.
    number = {-1: 0} if natoms + 1 == len(par) else {natoms + 1: 0}  # a lone atom: an OR of one
    order = [-1 if natoms + 1 == len(par) else natoms + 1]
    for leaf in range(1, natoms + 1):
        chain = []
        node = par[leaf]
        while node not in number:
            chain.append(node)
            node = par[node]
        for node in reversed(chain):
            number[node] = len(order)
            order.append(node)
    children: Dict[int, int] = {}
    for slot in range(1, len(par)):
        children[par[slot]] = children.get(par[slot], 0) + 1
    w.var(cb.handle - previous)
    w.var(cb.owner)
    w.var(cb.maximum or 0)
    w.var(cb.count)
    w.var(natoms)
    w.var(len(order))
    for k, node in enumerate(order):
        is_and = node >= 0 and need[node] > 1
        w.var(int(is_and) if k == 0 else number[par[node]] << 1 | is_and)
    base = st[0]
    out = w.out
    for leaf, atom in enumerate(atoms, 1):
        parent = par[leaf]
        w.var(number[parent] if parent in number else 0)
        kind = KINDS.index(atom.context)
        out.append((st[leaf] > base) << 7 | kind << 4 | _TYPE_INDEX[atom.type])
        w.var(w.string(atom.name))
        if kind == 2:
            w.var(atom.job)
        elif kind == 3:
            w.var(w.string(atom.label))
        w.extra(atom.extra)


def snapshot(net: Network) -> bytes:
    """The pure twin's network as snapshot bytes."""
    w = _Writer()
    w.var(FLAG_STATE_AWARE if net._state_aware else 0)
    w.var(net._clock)
    w.var(net._next_handle)
    w.var(len(net._jobs))
    for jobid in sorted(net._jobs):
        pgrp, label, pid = net._jobs[jobid]
        w.var(jobid)
        w.var(pgrp)
        w.var(0 if pid is None else pid + 1)
        w.var(0 if label is None else w.string(label) + 1)
    w.var(len(net._cbs))
    previous = 0
    for handle in sorted(net._cbs):
        _write_callback(w, net._cbs[handle], previous)
        previous = handle
    w.var(len(net._caught_up))
    for handle, event in net._caught_up:
        w.var(handle)
        w.out.append(_TYPE_INDEX[event.type])
        if event.type == "globaltime":
            w.var(int(event.extra))
            continue
        w.var(w.string(event.name))
        w.var(event.jobid)
        w.extra(event.extra)
    w.var(len(net._states))
    for jobid in sorted(net._job_items):
        for item in net._job_items[jobid]:
            type_, _, rest = item.partition("-")
            _, _, extra = rest.partition("-")
            w.var(jobid)
            w.out.append(_TYPE_INDEX[type_])
            w.extra(extra if type_ != "job" else None)
            w.var(w.string(net._states[item]))
    return w.finish()


# --------------------------------------------------------------------------- reading


class _Corrupt(Exception):
    """What is wrong with a snapshot's body (becomes a SnapshotError)."""


class _Reader:
    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data = data
        self.pos = start
        self.end = end
        self.strings: List[str] = []

    def var(self) -> int:
        data, pos, value, shift = self.data, self.pos, 0, 0
        while True:
            if pos >= self.end:
                raise _Corrupt("a section ends early")
            if shift >= 64:
                raise _Corrupt("an integer is too long")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                self.pos = pos
                return value

    def most(self, limit: int, what: str) -> int:
        value = self.var()
        if value > limit:
            raise _Corrupt(what)
        return value

    def byte(self) -> int:
        if self.pos >= self.end:
            raise _Corrupt("a section ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def string(self) -> str:
        i = self.var()
        if i >= len(self.strings):
            raise _Corrupt("a string index is out of range")
        return self.strings[i]

    def extra(self) -> Optional[str]:
        code = self.var()
        if code == 0:
            return None
        if code & 1:
            if code >> 1 > NUMBER_MAX:
                raise _Corrupt("a number extra is too large")
            return str(code >> 1)
        i = (code >> 1) - 1
        if i >= len(self.strings):
            raise _Corrupt("a string index is out of range")
        return self.strings[i]


def _read_strings(data: bytes, strings_at: int) -> List[str]:
    r = _Reader(data, strings_at, len(data))
    n = r.var()
    if n > r.end - r.pos:
        raise _Corrupt("the string table is too short")
    strings = []
    for _ in range(n):
        size = r.var()
        if size > r.end - r.pos:
            raise _Corrupt("a string runs past the end")
        try:
            strings.append(data[r.pos : r.pos + size].decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            raise _Corrupt("a string is not UTF-8") from None
        r.pos += size
    if r.pos != r.end:
        raise _Corrupt("bytes after the string table")
    return strings


def _atom_text(r: _Reader, type_: str, kind: str) -> Tuple[str, Optional[str]]:
    """An atom as an expression would spell it, and its extra."""
    name = r.string()
    where = ""
    if kind == "id":
        where = str(r.most(2**31 - 1, "a job id is out of range"))
    elif kind == "label":
        where = r.string()
    elif kind != "global":
        where = kind
    extra = r.extra()
    parts = [name, type_] + ([where] if where else []) + ([extra] if extra is not None else [])
    return "-".join(parts), extra


def _read_callback(r: _Reader, net: Network, handle: int, next_handle: int) -> Tuple[int, Any, List[int]]:
    delta = r.var()
    owner = r.most(2**31 - 1, "a job id is out of range")
    maximum = r.most(2**32 - 1, "a maximum is out of range")
    count = r.most(2**32 - 1, "a count is out of range")
    natoms = r.most(32000, "a callback has too many atoms")
    nnode = r.most(32000, "a callback has too many nodes")
    if delta == 0 or handle + delta >= next_handle:
        raise _Corrupt("callback handles are out of order")
    if owner not in net._jobs:
        raise _Corrupt("a callback's owner is not a job")
    if natoms == 0 or nnode == 0 or nnode > natoms:
        raise _Corrupt("a callback has no atoms or too many nodes")
    if maximum and count >= maximum:
        raise _Corrupt("a callback has reached its maximum")
    handle += delta
    kinds = [r.most(1, "a node's kind is out of range")]
    parents = [-1]
    for k in range(1, nnode):
        value = r.var()
        if value >> 1 >= k:
            raise _Corrupt("a node's parent does not come before it")
        kinds.append(value & 1)
        parents.append(value >> 1)
    members: List[List[Any]] = [[] for _ in range(nnode)]  # atom texts, and node numbers (ints)
    # Children in order: an atom or a node joins its parent where it first appears.
    placed = [False] * nnode
    placed[0] = True
    latched: List[int] = []
    for leaf in range(1, natoms + 1):
        parent = r.most(nnode - 1, "an atom's parent is out of range")
        byte = r.byte()
        type_index, kind_index = byte & 0xF, (byte >> 4) & 7
        if type_index >= len(TYPES) or kind_index >= len(KINDS):
            raise _Corrupt("an atom has a bad type or context")
        type_, kind = TYPES[type_index], KINDS[kind_index]
        if (type_ in _GLOBAL_TYPES) != (kind == "global"):
            raise _Corrupt("an atom has a bad type or context")
        text, _ = _atom_text(r, type_, kind)
        if byte & 0x80:
            latched.append(leaf)
        chain = [parent]
        while not placed[chain[-1]]:
            chain.append(parents[chain[-1]])
        for node in reversed(chain[:-1]):
            placed[node] = True
            members[parents[node]].append(node)
        members[parent].append(text)
    if not all(members):
        raise _Corrupt("a node has no children")

    def spell(node: int) -> str:
        return (" && " if kinds[node] else " || ").join(
            f"({spell(m)})" if type(m) is int else m for m in members[node]
        )

    try:
        text = spell(0)
    except RecursionError:
        raise _Corrupt("a callback's tree is too deep") from None
    return handle, (text, owner, maximum or None, count, natoms), latched


def restore(cls: type, data: Any) -> Network:
    """A new pure network from snapshot bytes (anything bytes() takes); SnapshotError if bad."""
    data = bytes(data)
    strings_at = check_header(data)
    try:
        return _read(cls, data, strings_at)
    except _Corrupt as exc:
        raise SnapshotError(f"snapshot corrupted: {exc}") from None


def _read(cls: type, data: bytes, strings_at: int) -> Network:
    strings = _read_strings(data, strings_at)
    r = _Reader(data, HEADER_BYTES, strings_at)
    r.strings = strings
    flags, clock, next_handle = r.var(), r.var(), r.var()
    if flags & ~FLAG_STATE_AWARE:
        raise _Corrupt("unknown flags")
    if next_handle == 0:
        raise _Corrupt("the next handle is 0")
    state_aware = bool(flags & FLAG_STATE_AWARE)
    net = cls(state_aware=False)  # callbacks are registered without catch-up, then it is set
    net._clock = clock
    for _ in range(r.var()):
        jobid = r.most(2**31 - 1, "a job id is out of range")
        pgrp = r.most(2**31 - 1, "a pgrp is out of range")
        pid = r.most(2**31, "a pid is out of range")
        label = r.most(len(strings), "a string index is out of range")
        if jobid in net._jobs:
            raise _Corrupt("a job or a label appears twice")
        try:
            net.add_job(jobid, pgrp, strings[label - 1] if label else None, pid - 1 if pid else None)
        except Error:
            raise _Corrupt("a job or a label appears twice") from None
    handle = 0
    for _ in range(r.var()):
        handle, (text, owner, maximum, count, natoms), latched = _read_callback(r, net, handle, next_handle)
        net._next_handle = handle
        try:
            net.add(text, owner, maximum)
        except (Error, ValueError) as exc:
            raise _Corrupt(f"callback {handle} cannot be registered: {exc}") from None
        if len(net._cbs[handle].atoms) != natoms:
            raise _Corrupt(f"callback {handle} cannot be registered: its atoms do not read back")
        _set_latches(net, net._cbs[handle], latched)
        net._cbs[handle].count = count
    for _ in range(r.most(r.end - r.pos, "the catch-up queue is too long")):
        net._caught_up.append(_read_catch_up(r))
    for _ in range(r.most(r.end - r.pos, "too many item states")):
        _read_state(r, net)
    if r.pos != r.end:
        raise _Corrupt("bytes after the last section")
    net._next_handle = next_handle
    net._state_aware = state_aware
    net._plain = not (state_aware or net._more)
    return net


def _set_latches(net: Network, cb: Any, leaves: List[int]) -> None:
    """Sets a restored callback's latches as they were. A time or repeat latch stays on the clock's
    schedule at its next moment, as one an event set does: the clock setting it again changes
    nothing, and next_due names the same moment as the network the snapshot was taken from."""
    fired: list = []
    for leaf in leaves:
        net._set(cb, leaf, fired)
    if fired:
        raise _Corrupt("a callback's latches make it true")


def _read_catch_up(r: _Reader) -> Tuple[int, Event]:
    handle = r.var()
    type_index = r.byte()
    if type_index == _TYPE_INDEX["globaltime"]:
        return handle, Event("dummy", "globaltime", None, str(r.var()))
    state = r.string()
    jobid = r.most(2**31 - 1, "a job id is out of range")
    if type_index > _TYPE_INDEX["work"] or state not in _STATE_NAMES:
        raise _Corrupt("a catch-up entry has a bad type or state")
    return handle, Event(state, TYPES[type_index], jobid, r.extra())


def _read_state(r: _Reader, net: Network) -> None:
    jobid = r.most(2**31 - 1, "a job id is out of range")
    type_index = r.byte()
    extra = r.extra()
    state = r.string()
    type_ = TYPES[type_index] if type_index <= _TYPE_INDEX["work"] else None
    item = None
    if type_ is not None and (type_ == "job") == (extra is None) and state in _STATE_NAMES:
        item = f"{type_}-{jobid}" if extra is None else f"{type_}-{jobid}-{extra}"
        try:
            parse_event(f"{state}-{item}")
        except ValueError:
            item = None
    if item is None or item in net._states:
        raise _Corrupt("an item state is bad or appears twice")
    if jobid not in net._jobs:
        if net._stray >= MAX_STRAY_STATES:
            raise _Corrupt("too many item states of jobs that are not added")
        net._stray += 1
    net._states[item] = state
    net._job_items.setdefault(jobid, []).append(item)
