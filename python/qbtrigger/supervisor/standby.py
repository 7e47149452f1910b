"""A warm standby: a supervisor that keeps itself in memory while the active one runs.

A cold standby waits for the store's lock and only then resumes: it loads every table and replays
the whole journal, compiling every callback again, so its takeover grows with the run. A
:class:`WarmStandby` does that work *while it waits*: on a session of its own that only reads, it
resumes a supervisor from the store (farm, network, timers, logs), then follows the store every
``follow_seconds``: each *catch-up* reads, in one consistent snapshot (a ``REPEATABLE READ READ
ONLY`` transaction), the rows written after the last write it saw (every row of ``jobs``,
``work`` and ``subjobs`` carries the number of the write that last changed it, ``written``), the
journal lines and log entries after its position, and the meta values; it applies the rows to
its farm and replays the journal lines into its network with every callback's code switched
off, exactly as a resume replays them. When the lock comes (the active supervisor stopped or
died: the server frees its lock with its session), one last catch-up reads what the active one
committed last, and the supervisor steps on, holding the lock.

Correctness first: whatever goes wrong while following (the store cannot be read, its layout
changed, the journal is not continuous, an error of this code), the warm supervisor is thrown
away and the standby resumes cold, as before, once it holds the lock (:attr:`WarmStandby.fallback`
says why). The follower never writes: its session is read-only and its store refuses writes.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import Error, StoreError
from ..vocabulary import TERMINAL_STATES
from .farm import Farm, Job
from .mailbox import CAPTURED_KEY, MailCapture
from .postgres import PostgresStore
from .resume import TIMERS_KEY, Unreadable, replay_journal
from .store import SCHEMA_VERSION, UNREADABLE, WRITES_KEY, Batch, Store, decode_job_row
from .supervisor import _DEATHS_KEY, Supervisor

__all__ = ["WarmStandby", "StoreReader", "Follower", "FollowError", "FOLLOW_SECONDS"]

#: How often a warm standby reads what the active supervisor committed.
FOLLOW_SECONDS = 0.3
_JOB_COLUMNS = "id, pgrp, label, status, hold, removed, fired, handles, data"


class FollowError(Error):
    """The store cannot be followed (any more): the standby resumes cold once it holds the lock."""


class StoreReader(PostgresStore):
    """A PostgreSQL job store opened to follow it: a session of its own, read-only, that never
    takes the lock and refuses to write. Reads are meant inside :meth:`snapshot`."""

    _ROLE = "qbtrigger standby"
    _SESSION_SQL = "SET default_transaction_read_only = on"

    def __init__(self, dsn: str, *, connect_timeout: int = 10) -> None:  # noqa: D107 - no lock, no tables made
        self._open(dsn, 0.0, connect_timeout)
        self.conn.isolation_level = self._psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True

    def snapshot(self) -> Any:
        """A transaction seeing one commit of the store throughout (``with reader.snapshot():``)."""
        return self.conn.transaction()

    def write(self, batch: Batch) -> None:
        raise StoreError(f"{self.name}: a standby only follows the job store; it never writes")

    def _recover(self) -> bool:
        raise FollowError(f"{self.name}: the standby lost its reading session")

    def position(self) -> Tuple[Any, int, int, int, int]:
        """``(schema, last write, last journal chunk, last log entry, journal lines)``."""
        row = self._read(
            "SELECT (SELECT value FROM meta WHERE key = 'schema'),"
            f" (SELECT value FROM meta WHERE key = '{WRITES_KEY}'),"
            " (SELECT coalesce(max(chunk), 0) FROM journal), (SELECT coalesce(max(seq), 0) FROM logs),"
            " (SELECT coalesce(sum(n), 0) FROM journal)"
        )[0]
        schema = None if row[0] is None else json.loads(row[0])
        return schema, int(json.loads(row[1] or "0")), int(row[2]), int(row[3]), int(row[4])

    def checkpoint_seq(self) -> int:
        """The journal line the stored checkpoint covers (0: none)."""
        return int(self._read("SELECT coalesce(max(seq), 0) FROM checkpoint")[0][0])

    def meta(self) -> Dict[str, Any]:
        return {key: json.loads(value) for key, value in self._read("SELECT key, value FROM meta")}

    def jobs_after(self, write: int) -> List[Tuple[Any, ...]]:
        """The ``jobs`` rows written after write ``write``, undecoded, in id order."""
        return self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE written > %s ORDER BY id", (write,))

    def work_after(self, write: int) -> List[Tuple[Any, ...]]:
        return self._read("SELECT jobid, idx, name, status, retries FROM work WHERE written > %s"
                          " ORDER BY jobid, idx", (write,))

    def subjobs_after(self, write: int) -> List[Tuple[Any, ...]]:
        return self._read("SELECT jobid, idx, status, held FROM subjobs WHERE written > %s ORDER BY jobid, idx",
                          (write,))

    def logs_after(self, seq: int) -> List[Tuple[Any, ...]]:
        return self._read("SELECT jobid, text FROM logs WHERE seq > %s ORDER BY seq", (seq,))

    def journal_tail(self, chunk: int) -> Tuple[int, int]:
        """``(number of the first line, lines)`` of the journal chunks after ``chunk`` (0, 0: none)."""
        first, lines = self._read("SELECT coalesce(min(first), 0), coalesce(sum(n), 0) FROM journal"
                                  " WHERE chunk > %s", (chunk,))[0]
        return int(first), int(lines)

    def close(self) -> None:
        self.conn.close()


class Follower:
    """A supervisor resumed from a :class:`StoreReader` and kept up with the store by
    :meth:`catch_up`. ``make(store)`` builds the supervisor (the options of the run)."""

    def __init__(self, reader: StoreReader, make: Callable[[Store], Supervisor]) -> None:
        self.reader = reader
        self.make = make
        self.supervisor: Optional[Supervisor] = None
        self.write = self.chunk = self.log_seq = 0
        self.catch_ups = 0

    def load(self) -> bool:
        """Resume the supervisor from the store as it is now; False while there is nothing to
        resume yet (the active supervisor has not made the store)."""
        reader = self.reader
        with reader.snapshot():
            schema, write, chunk, log_seq, lines = reader.position()
            if schema is None or reader.get_meta("next_id") is None:
                return False
            _check_schema(reader, schema)
            sup = self.make(reader)
        try:
            if sup.journal_length != lines:
                raise FollowError(f"{reader.name}: resumed {sup.journal_length} journal lines of {lines}")
        except BaseException:
            _discard(sup)
            raise
        self.supervisor = sup
        self.write, self.chunk, self.log_seq = write, chunk, log_seq
        return True

    def catch_up(self, final: bool = False) -> bool:
        """Apply what the store committed since the last catch-up; whether there was anything.
        ``final``: the standby holds the lock now: the meta values only a stepping supervisor
        needs (workers' deaths, captured mail) are read too."""
        reader, sup = self.reader, self.supervisor
        assert sup is not None
        with reader.snapshot():
            schema, write, chunk, log_seq, lines = reader.position()
            _check_schema(reader, schema)
            if write == self.write and chunk == self.chunk and log_seq == self.log_seq and not final:
                return False
            if write < self.write or chunk < self.chunk:
                raise FollowError(f"{reader.name}: the store went back (write {write} after {self.write})")
            first, new_lines = reader.journal_tail(self.chunk)
            known = sup.journal_length
            if new_lines and first != known + 1:
                raise FollowError(f"{reader.name}: the journal goes on at line {first}, after line {known}")
            _apply_rows(sup, reader.jobs_after(self.write), reader.work_after(self.write),
                        reader.subjobs_after(self.write))
            if new_lines:
                replay_journal(sup, known)
            if sup.journal_length != known + new_lines:
                raise FollowError(f"{reader.name}: read {sup.journal_length - known} journal lines of {new_lines}")
            for jobid, text in reader.logs_after(self.log_seq):
                sup._logs.setdefault(jobid, []).append(text)
            _apply_meta(sup, reader.meta(), final)
            # the checkpoint the active one stored last: the next is due from there, as after a resume
            sup._checkpoint_seq = reader.checkpoint_seq()
        self.write, self.chunk, self.log_seq = write, chunk, log_seq
        self.catch_ups += 1
        return True

    def close(self) -> None:
        if self.supervisor is not None:
            _discard(self.supervisor)
            self.supervisor = None
        self.reader.close()


class WarmStandby:
    """Wait for the lock of the PostgreSQL store ``dsn`` as a standby, keeping a supervisor warm
    meanwhile (see the module docstring); :meth:`run` returns it once it holds the lock.

    ``make(store)`` builds the supervisor on a store (with the run's options: the same as the
    active supervisor's). ``on_wait(text)`` is told once when the wait begins, ``on_note(text)``
    when following fails and the standby will resume cold. After :meth:`run`: :attr:`locked_at`
    and :attr:`ready_at` (``time.time()`` when the lock came, and when the supervisor was ready
    to step), :attr:`warm` (whether it took over warm) and :attr:`fallback` (why not, or None).
    """

    def __init__(self, dsn: str, make: Callable[[Store], Supervisor], *,
                 on_wait: Optional[Callable[[str], None]] = None, on_note: Optional[Callable[[str], None]] = None,
                 follow_seconds: float = FOLLOW_SECONDS) -> None:
        self.dsn = dsn
        self.make = make
        self.on_wait = on_wait
        self.on_note = on_note
        self.follow_seconds = follow_seconds
        self.locked_at = self.ready_at = 0.0
        self.warm = False
        self.fallback: Optional[str] = None
        self.follower: Optional[Follower] = None

    def run(self) -> Supervisor:
        locked = threading.Event()
        got: List[Any] = []

        def take_lock() -> None:
            try:
                got.append(PostgresStore(self.dsn, standby=True, on_wait=self.on_wait))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
                got.append(error)
            finally:
                self.locked_at = time.time()
                locked.set()

        threading.Thread(target=take_lock, name="qbtrigger-standby-lock", daemon=True).start()
        try:
            while not locked.is_set():
                self._follow()
                locked.wait(self.follow_seconds)
        except BaseException:
            self._give_up(None)
            raise
        if isinstance(got[0], BaseException):
            self._give_up(None)
            raise got[0]
        store: PostgresStore = got[0]
        try:
            sup = self._take_over(store)
        except BaseException:
            store.close()
            raise
        self.ready_at = time.time()
        return sup

    def _follow(self) -> None:
        """One step of following: the first load, or a catch-up (a failure ends following)."""
        if self.fallback is not None:
            return
        try:
            if self.follower is None:
                self.follower = Follower(StoreReader(self.dsn), self.make)
            if self.follower.supervisor is None:
                self.follower.load()
            else:
                self.follower.catch_up()
        except Exception as error:  # noqa: BLE001 - correctness first: resume cold instead
            self._give_up(f"{type(error).__name__}: {error}")

    def _give_up(self, why: Optional[str]) -> None:
        if why is not None and self.fallback is None:
            self.fallback = why
            if self.on_note is not None:
                self.on_note(f"standby: cannot follow the job store ({why}); it will resume from the store"
                             " when it takes over")
        if self.follower is not None:
            try:
                self.follower.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
            self.follower = None

    def _take_over(self, store: PostgresStore) -> Supervisor:
        follower = self.follower
        if follower is not None and self.fallback is None:
            try:
                if follower.supervisor is None:  # the store was made meanwhile, or the lock came at once
                    follower.load()
                if follower.supervisor is not None:
                    follower.catch_up(final=True)
                    sup = follower.supervisor
                    follower.supervisor = None
                    follower.close()
                    self.follower = None
                    sup.store = store
                    sup.farm.rebuild_ready()
                    self.warm = True
                    return sup
            except Exception as error:  # noqa: BLE001 - correctness first: resume cold instead
                self._give_up(f"{type(error).__name__}: {error}")
        self._give_up(None)
        return self.make(store)


# ---------------------------------------------------------------------- applying a catch-up
def _check_schema(reader: StoreReader, schema: Any) -> None:
    if schema != SCHEMA_VERSION:
        raise FollowError(f"{reader.name}: store schema {schema}, this standby follows {SCHEMA_VERSION}")


def _apply_rows(sup: Supervisor, jobs: List[Tuple[Any, ...]], work: List[Tuple[Any, ...]],
                subjobs: List[Tuple[Any, ...]]) -> None:
    """Bring the farm's jobs to their stored rows (the rows written since the last catch-up), as
    :meth:`Farm.restore` would have loaded them."""
    farm = sup.farm
    known = farm.jobs
    new = set()
    touched: Dict[int, Job] = {}
    for row in jobs:
        jobid, status, hold, removed, fired, text = row[0], row[3], row[4], row[5], row[6], row[8]
        j = known.get(jobid)
        if j is None or j.text != text:  # a new job, or one whose data changed (modified)
            decoded = decode_job_row(row)
            data = decoded[8]
            fresh = Job(jobid, decoded[1], data.get("pid"), decoded[2], data.get("user"), data, [], [])
            if j is None:
                new.add(jobid)
                if UNREADABLE in data:
                    sup.unreadable.append(Unreadable(jobid, "data", str(data[UNREADABLE])))
            else:
                _carry_over(j, fresh)
            known[jobid] = j = fresh
        j.status, j.hold, j.removed, j.fired = status, hold, bool(removed), fired
    for jobid, idx, name, status, retries in work:
        j = known[jobid]
        if jobid in new or idx == len(j.state):
            j.names.append(name)
            j.state.append(status)
            j.counts[status] = j.counts.get(status, 0) + 1
        else:
            old = j.state[idx]
            j.state[idx] = status
            j.counts[old] -= 1
            j.counts[status] = j.counts.get(status, 0) + 1
        if retries:
            j.retries[idx] = retries
        else:
            j.retries.pop(idx, None)
    for jobid, idx, status, held in subjobs:
        j = touched[jobid] = known[jobid]
        if jobid in new or idx == len(j.subs):
            j.subs.append(status)
            j.held.append(bool(held))
        else:
            j.subs[idx] = status
            j.held[idx] = bool(held)
    for j in touched.values():
        j.free = j.held.count(False)
    _recount(farm)


def _carry_over(old: Job, fresh: Job) -> None:
    """A job rebuilt from changed data keeps its items, subjobs, counts and handles."""
    for name in ("names", "index", "state", "retries", "counts", "subs", "held", "free", "handles", "queue", "offered"):
        setattr(fresh, name, getattr(old, name))


def _recount(farm: Farm) -> None:
    """The farm's labels and progress counts, as :meth:`Farm.restore` derives them."""
    labels: Dict[Tuple[int, str], int] = {}
    items = done = 0
    for jobid, j in farm.jobs.items():
        if j.removed:
            continue
        if j.label is not None:
            labels[(j.pgrp, j.label)] = jobid
        items += len(j.state)
        counts = j.counts
        done += sum(counts.get(s, 0) for s in TERMINAL_STATES)
    farm.labels, farm.items, farm.done = labels, items, done


def _apply_meta(sup: Supervisor, meta: Dict[str, Any], final: bool) -> None:
    """The supervisor's values kept in meta, as :func:`~.resume.resume` reads them."""
    sup._next_id = meta["next_id"]
    sup._now = sup._stored_clock = meta["clock"]
    sup._timers.restore(meta.get(TIMERS_KEY, []))
    sup._timers.origin = meta.get("timer_origin", 0)
    if final:
        workers = sup.engine.workers
        if workers is not None:
            workers.ledger.deaths = {key: list(causes) for key, causes in meta.get(_DEATHS_KEY, {}).items()}
        if sup._mail.capture is not None:
            sup._mail.capture = MailCapture(meta.get(CAPTURED_KEY))


def _discard(sup: Supervisor) -> None:
    """Throw a follower's supervisor away: it writes nothing, and its store is the reader's."""
    sup.abandon("a standby's follower is thrown away")
    try:
        sup.engine.close()
    except Exception:  # noqa: BLE001 - nothing of it is kept
        pass

