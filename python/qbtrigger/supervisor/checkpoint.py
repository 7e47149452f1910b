"""Checkpoints: reopening a store without replaying its whole history.

Without one, a reopened supervisor rebuilds its callback network by replaying the journal from its
first line (:mod:`.resume`): every submission compiled again, every event fed again, so reopening
costs time in proportion to everything the farm ever did. A *checkpoint* is the network and the
engine's bookkeeping as they were at journal line ``seq``; reopening restores it and replays only
the lines after ``seq`` (the *tail*).

The store keeps one checkpoint. :meth:`~.supervisor.Supervisor.commit` takes a new one when it
is due (:func:`due`) and hands it to the store in the batch it writes, so the checkpoint is
replaced in the same transaction as the rows and journal lines it covers: it is never half
written, and never ahead of or behind the tables it goes with. A checkpoint is only taken
between steps (never from inside a cascade, whose queued events are journalled but not yet
applied).

What it holds (:func:`take`), beside the journal line it covers:

- the network, as :meth:`Network.snapshot` writes it (latches, counts, spent callbacks gone,
  item states, the clock, the next handle; docs/embedding.md);
- per registered job, in registration order: its id, its callbacks' handles (spent included, as
  runs of consecutive handles) and whether the job was read *bare* (callbacks that could not be
  read, see :mod:`.resume`);
- the global callbacks (their spec, handle and count), the engine's firing count, and what the
  store held that could not be read (reported again at every reopen).

The callback objects themselves are not stored: they are compiled again from the stored job rows
without checking their triggers (they were checked at submission) and each handed its handle and
its count from the network (:meth:`CallbackEngine.adopt`); their code is switched off while the
tail replays, as in a full replay (:attr:`CallbackEngine.muted`).

A checkpoint that cannot be used (cut, corrupted, a format newer than this qbtrigger's, jobs or
callbacks that no longer match the store: another universal folder, say) is reported as an
:class:`~.resume.Unreadable` of the store and the whole journal is replayed instead: the store
always opens, and the next checkpoint replaces the bad one.

Format (version :data:`FORMAT_VERSION`): a 32-byte little-endian header, ``qbtckpt\\0``, the
format version (u32), the CRC-32 of every byte after offset 16 (u32), ``seq`` (u64) and the length
of the state (u64); then the state as UTF-8 JSON; then the network snapshot (which carries its own
version and checksum). A reader refuses a newer version.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

from ..callbacks import Submission
from ..errors import Error
from .resume import Unreadable, bare_data, stored_view

if TYPE_CHECKING:  # pragma: no cover
    from .supervisor import Supervisor

__all__ = [
    "Checkpoint", "CheckpointError", "FORMAT_VERSION", "DEFAULT_EVERY", "encode", "decode", "due", "take",
    "restore_checkpoint",
]

FORMAT_VERSION = 1
SIGNATURE = b"qbtckpt\0"
_HEADER = struct.Struct("<8sIIQQ")  # signature, version, CRC-32 of bytes 16.., seq, state length
#: Journal lines between two checkpoints, at least (see :func:`due`); 0 or None: never.
DEFAULT_EVERY = 100_000


class CheckpointError(Error, ValueError):
    """A stored checkpoint this qbtrigger cannot use (the store still opens: see the module)."""


@dataclass
class Checkpoint:
    """One checkpoint: the state as of journal line ``seq`` (see the module docstring)."""

    seq: int
    state: Dict[str, Any]
    network: bytes


def encode(checkpoint: Checkpoint) -> bytes:
    """The checkpoint's bytes (the format in the module docstring)."""
    state = json.dumps(checkpoint.state, separators=(",", ":")).encode()
    body = struct.pack("<QQ", checkpoint.seq, len(state)) + state + checkpoint.network
    return struct.pack("<8sII", SIGNATURE, FORMAT_VERSION, zlib.crc32(body)) + body


def decode(data: bytes) -> Checkpoint:
    """Read a checkpoint's bytes; :class:`CheckpointError` says what is wrong with bad ones."""
    if len(data) < _HEADER.size:
        raise CheckpointError(f"checkpoint truncated: {len(data)} bytes, shorter than its header")
    signature, version, crc, seq, size = _HEADER.unpack_from(data)
    if signature != SIGNATURE:
        raise CheckpointError("not a qbtrigger checkpoint (no 'qbtckpt' signature)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format version {version} is newer than this qbtrigger reads ({FORMAT_VERSION})")
    if zlib.crc32(memoryview(data)[16:]) != crc:
        raise CheckpointError("checkpoint corrupted: its checksum does not match its contents")
    end = _HEADER.size + size
    if end > len(data):
        raise CheckpointError(f"checkpoint truncated: its state needs {end} bytes, it has {len(data)}")
    try:
        state = json.loads(bytes(data[_HEADER.size:end]))
    except ValueError as error:
        raise CheckpointError(f"checkpoint corrupted: its state does not read ({error})") from None
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint corrupted: its state is not an object")
    return Checkpoint(seq, state, bytes(data[end:]))


# ---------------------------------------------------------------------- taking one
def due(sup: "Supervisor", closing: bool = False) -> bool:
    """Whether the commit being made should carry a checkpoint: between steps, once the journal
    has grown by ``checkpoint_every`` lines since the last one, and by at least as many lines as
    the network has live callbacks (a checkpoint costs time in proportion to those; so its cost
    stays a small share of the run's, and reopening costs about the same whatever the history).
    ``closing``: the last commit of :meth:`~.supervisor.Supervisor.close`, where the first rule
    alone applies (one checkpoint more, so that the next start replays next to nothing). Never
    for a store that does not keep checkpoints (:attr:`.store.Store.keeps_checkpoints`)."""
    every = sup.checkpoint_every
    if not every or not sup.store.keeps_checkpoints or sup._depth or sup._replaying or sup.engine.running is not None:
        return False
    grown = sup.journal_length - sup._checkpoint_seq
    return grown >= every and (closing or grown >= len(sup.engine.network))


def take(sup: "Supervisor") -> Tuple[int, bytes]:
    """``(seq, bytes)`` of a checkpoint of ``sup`` as it is now (between steps)."""
    engine = sup.engine
    bare = sup._read_bare
    jobs = [[jobid, int(jobid in bare), _runs(handles)]
            for jobid, handles in engine.registrations().items() if jobid != 0]
    globals_ = [[{"triggers": cb.triggers, "language": cb.language, "code": cb.code, "maximum": cb.maximum},
                 cb.handle, cb.count] for cb in sup._globals]
    # what the replay found (the data's are found again at each reopen, a checkpoint's is past)
    unreadable = [list(u) for u in sup.unreadable if u.field not in ("data", "checkpoint")]
    state = {"firings": engine.firings, "live": len(engine.network), "jobs": jobs, "globals": globals_,
             "unreadable": unreadable}
    seq = sup.journal_length
    return seq, encode(Checkpoint(seq, state, engine.network.snapshot()))


def _runs(handles: Sequence[int]) -> List[int]:
    """Handles as ``[first, length, first, length...]`` runs (a job's are mostly consecutive)."""
    out: List[int] = []
    for h in handles:
        if out and out[-2] + out[-1] == h:
            out[-1] += 1
        else:
            out += [h, 1]
    return out


def _unrun(runs: Sequence[int]) -> List[int]:
    out: List[int] = []
    for i in range(0, len(runs), 2):
        first, length = runs[i], runs[i + 1]
        out.extend(range(first, first + length))
    return out


# ---------------------------------------------------------------------- restoring one
def restore_checkpoint(sup: "Supervisor") -> int:
    """Restore the store's checkpoint into ``sup`` (its farm already loaded, its engine fresh):
    the network, the engine's jobs and callbacks, the firing count. Returns the journal line it covers, from which the tail is to be replayed: 0 when the store
    has no checkpoint, or one that cannot be used (reported in :attr:`Supervisor.unreadable`;
    nothing of it is left behind)."""
    sup._checkpoint_seq = 0
    stored = sup.store.checkpoint() if sup.store.keeps_checkpoints else None
    if stored is None:
        return 0
    try:
        checkpoint = decode(stored[1])
        if checkpoint.seq != stored[0]:
            raise CheckpointError(f"checkpoint corrupted: stored for journal line {stored[0]}, "
                                  f"its header says {checkpoint.seq}")
        _restore(sup, checkpoint)
    except Exception as error:  # noqa: BLE001 - a checkpoint that does not fit is replaced by the replay
        first = str(error).strip().split("\n", 1)[0]
        sup.unreadable.append(Unreadable(None, "checkpoint", f"{type(error).__name__}: {first}; "
                                         "the whole journal was replayed instead"))
        return 0
    sup._checkpoint_seq = checkpoint.seq
    return checkpoint.seq


def _restore(sup: "Supervisor", checkpoint: Checkpoint) -> None:
    """Everything is read and compiled before anything changes; the network, restored last but
    one, is put back as it was should the checkpoint not match it."""
    engine = sup.engine
    state = checkpoint.state
    farm_jobs = sup.farm.jobs
    plans = []
    handles: Dict[int, List[int]] = {}
    bare: Dict[int, Dict[str, Any]] = {}
    for jobid, is_bare, runs in state["jobs"]:
        j = farm_jobs.get(jobid)
        if j is None:
            raise CheckpointError(f"the checkpoint registers job {jobid}, which the store does not hold")
        if is_bare:
            bare[jobid] = bare_data(j)
        view = stored_view(j, bare.get(jobid))
        plans.extend(engine.compile([view], trusted=True).jobs)
        handles[jobid] = job_handles = _unrun(runs)
        if len(job_handles) != len(plans[-1].callbacks):
            raise CheckpointError(f"job {jobid}: {len(plans[-1].callbacks)} callback(s) compile from the store, "
                                  f"the checkpoint holds {len(job_handles)} (another universal folder?)")
    globals_ = []
    for index, (spec, handle, count) in enumerate(state["globals"]):
        callback = engine.compile_global(spec)
        callback.index = index
        globals_.append((callback, int(handle), int(count)))
    firings = int(state["firings"])
    unreadable = [Unreadable(jobid, str(field), str(message)) for jobid, field, message in state["unreadable"]]
    network = engine.network
    blank = network.snapshot()
    state_aware = network.state_aware
    network.restore(checkpoint.network)
    try:
        if network.state_aware != state_aware:  # the replay would build it as the supervisor asks
            raise CheckpointError(f"the checkpoint's network is {_aware(network.state_aware)}, "
                                  f"this supervisor's is {_aware(state_aware)}")
        live = sum(1 for job_handles in handles.values() for h in job_handles if h in network)
        live += sum(1 for _, handle, _ in globals_ if handle in network)
        if live != len(network) or live != state["live"]:
            raise CheckpointError(f"the checkpoint's network holds {len(network)} live callbacks, "
                                  f"its jobs {live} (of {state['live']} when it was taken)")
    except BaseException:
        network.restore(blank)
        raise
    # from here on nothing can fail but memory
    engine.adopt(Submission(plans), handles)
    for callback, handle, count in globals_:
        engine.adopt_global(callback, handle, count)
        sup._globals.append(callback)
    engine.firings = firings
    for plan in plans:
        farm_jobs[plan.job.id].handles = handles[plan.job.id]
    for jobid, data in bare.items():
        farm_jobs[jobid].data = data
    sup._read_bare.update(bare)
    sup.unreadable.extend(unreadable)


def _aware(flag: bool) -> str:
    return "state-aware" if flag else "not state-aware"
