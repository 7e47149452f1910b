"""The embedded default store: one SQLite database (a file, or private memory).

It implements :class:`~qbtrigger.supervisor.store.Store`: every write is one :class:`Batch`
applied in a single transaction with ``executemany``.

Tables (``data`` columns hold JSON):

``meta(key, value)``
    schema version, next job id, the clock, the simulator's saved state.
``jobs(id, pgrp, label, status, hold, removed, fired, handles, data, written)``
    ``data`` is the submitted job dict without its agenda and status (plus modified fields);
    ``hold`` the explicit state (blocked/suspended/killed) the status is pinned to, if any;
    ``fired`` how many times the job's callbacks have run; ``handles`` (a JSON list) the network
    handles of its callbacks in registration order. Per-callback counts are not stored apart: the
    journal replay restores them exactly, and a callback that left the network fired its maximum.
``work(jobid, idx, name, status, retries, written)``
    one row per agenda item; an agenda-less job has one row with a NULL name (the job itself).
``subjobs(jobid, idx, status, held, written)``
    ``written`` (in these three tables, indexed): the number of the write that last inserted or
    changed the row; ``meta.writes`` is the number of the last write. A follower (a PostgreSQL
    standby, :mod:`.standby`) reads "the rows changed after write S" with it.
``journal(chunk, first, n, entries)``
    everything the callback network saw, in order, one row per commit: ``entries`` holds ``n``
    lines, numbered from ``first``: an event text (``complete-work-12-5``), or ``#register IDS``
    (a submission's job ids, comma-separated), ``#advance T`` (the clock moved to Qube time T),
    ``#remove ID``. Replaying it rebuilds the network exactly (see
    :mod:`qbtrigger.supervisor.supervisor`). One row per commit rather than per event: a big
    simulation emits millions of events, and one INSERT each was the store's largest cost.
``logs(seq, jobid, text)``
    the callback log.
``checkpoint(id, seq, data)``
    at most one row (``id`` 1): the last checkpoint (:mod:`qbtrigger.supervisor.checkpoint`), the
    state as of journal line ``seq``; replaced in the transaction of the batch it ends.

A file store runs in WAL mode with ``synchronous=NORMAL``: a commit survives the process being
killed (only a power cut may lose the last commits, never corrupt the file).
"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Iterator, List, Optional, Tuple, Union

from .store import (
    EVENT, JOURNAL_KINDS, SCHEMA_VERSION, TRACKING_INDEXES, WRITES_KEY, Batch, JobRow, Store, SubjobRow, WorkRow,
    decode_job_row, schema_upgrade, tracking_upgrade,
)

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, pgrp INTEGER NOT NULL, label TEXT, status TEXT NOT NULL,
    hold TEXT, removed INTEGER NOT NULL DEFAULT 0, fired INTEGER NOT NULL DEFAULT 0,
    handles TEXT NOT NULL DEFAULT '[]', data TEXT NOT NULL, written INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS work (
    jobid INTEGER NOT NULL, idx INTEGER NOT NULL, name TEXT, status TEXT NOT NULL,
    retries INTEGER NOT NULL DEFAULT 0, written INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (jobid, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subjobs (
    jobid INTEGER NOT NULL, idx INTEGER NOT NULL, status TEXT NOT NULL,
    held INTEGER NOT NULL DEFAULT 0, written INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (jobid, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    chunk INTEGER PRIMARY KEY, first INTEGER NOT NULL, n INTEGER NOT NULL, entries TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (seq INTEGER PRIMARY KEY, jobid INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_job ON logs (jobid);
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, data BLOB NOT NULL);
"""


class SqliteStore(Store):
    """A SQLite job store: ``path`` a file (WAL) or None for a private in-memory database."""

    def __init__(self, path: Optional[Union[str, "os.PathLike[str]"]] = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.name = self.path or ":memory:"
        self.keeps_checkpoints = self.path is not None  # nothing reopens a private memory store
        # isolation_level=None: we open and commit transactions ourselves (one per Batch).
        self.db = sqlite3.connect(self.path or ":memory:", isolation_level=None, check_same_thread=False)
        if self.path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        else:
            self.db.execute("PRAGMA journal_mode=MEMORY")
        self.db.executescript(_SCHEMA)
        version = self.get_meta("schema")
        if version is None or schema_upgrade(self.name, version):  # the script made the new tables
            self.db.execute("BEGIN IMMEDIATE")  # new, or of an older layout: made current at once
            try:
                for statement in [*tracking_upgrade(version, self._tracked), *TRACKING_INDEXES]:
                    self.db.execute(statement)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA_VERSION),))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        self._writes = int(self.get_meta(WRITES_KEY, 0))

    def _tracked(self, table: str) -> bool:
        return any(column[1] == "written" for column in self.db.execute(f"PRAGMA table_info({table})"))

    # ------------------------------------------------------------------ the one write path
    def write(self, batch: Batch) -> None:
        """Apply ``batch`` in one transaction, then clear it. On an error nothing is written."""
        if not batch:
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        committing = False
        w = int(self._writes + 1)  # this write's number: every row it touches carries it (`written`)
        try:
            if batch.new_jobs:
                db.executemany(
                    f"INSERT INTO jobs (id, pgrp, label, status, hold, data, written) VALUES (?, ?, ?, ?, ?, ?, {w})",
                    batch.new_jobs,
                )
            if batch.new_work:
                db.executemany(f"INSERT INTO work VALUES (?, ?, ?, ?, ?, {w})", batch.new_work)
            if batch.new_subjobs:
                db.executemany(f"INSERT INTO subjobs VALUES (?, ?, ?, ?, {w})", batch.new_subjobs)
            if batch.handles:
                db.executemany(f"UPDATE jobs SET handles = ?, written = {w} WHERE id = ?", batch.handles)
            if batch.jobs:
                db.executemany(
                    "UPDATE jobs SET status = ?, hold = ?, removed = ?, fired = ?, data = coalesce(?, data),"
                    f" written = {w} WHERE id = ?",
                    batch.jobs,
                )
            if batch.work:
                db.executemany(f"UPDATE work SET status = ?, retries = ?, written = {w} WHERE jobid = ? AND idx = ?",
                               batch.work)
            if batch.subjobs:
                db.executemany(f"UPDATE subjobs SET status = ?, held = ?, written = {w} WHERE jobid = ? AND idx = ?",
                               batch.subjobs)
            if batch.journal:
                db.execute(
                    "INSERT INTO journal (first, n, entries) VALUES (?, ?, ?)",
                    (batch.journal_first, len(batch.journal), "\n".join(batch.journal)),
                )
            if batch.logs:
                db.executemany("INSERT INTO logs (jobid, text) VALUES (?, ?)", batch.logs)
            meta = [(key, json.dumps(value)) for key, value in batch.meta.items()]
            meta.append((WRITES_KEY, json.dumps(w)))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            if batch.checkpoint is not None:
                db.execute("INSERT OR REPLACE INTO checkpoint VALUES (1, ?, ?)", batch.checkpoint)
            committing = True
            db.execute("COMMIT")
        except BaseException as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            elif committing and not isinstance(error, sqlite3.Error):
                self._writes = w
                batch.written()  # COMMIT went through and an interrupt landed just after it
            raise
        self._writes = w
        batch.written()

    # ------------------------------------------------------------------ reads
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def jobs(self) -> List[JobRow]:
        """``(id, pgrp, label, status, hold, removed, fired, handles list, data dict)`` in id order."""
        rows = self.db.execute(
            "SELECT id, pgrp, label, status, hold, removed, fired, handles, data FROM jobs ORDER BY id"
        ).fetchall()
        return [decode_job_row(row) for row in rows]

    def work(self) -> List[WorkRow]:
        """``(jobid, idx, name, status, retries)`` ordered by job and index."""
        return self.db.execute("SELECT jobid, idx, name, status, retries FROM work ORDER BY jobid, idx").fetchall()

    def subjobs(self) -> List[SubjobRow]:
        return self.db.execute("SELECT jobid, idx, status, held FROM subjobs ORDER BY jobid, idx").fetchall()

    def journal(self, after: int = 0) -> Iterator[Tuple[int, int, str]]:
        """Iterate the journal as ``(number, kind, text)`` (see :meth:`Store.journal`)."""
        # the chunk holding line after + 1: found from the end, so a tail costs only its own rows
        start = self.db.execute(
            "SELECT chunk, first FROM journal WHERE first <= ? ORDER BY chunk DESC LIMIT 1", (after + 1,)
        ).fetchone() if after else None
        chunk, number = (start[0], start[1] - 1) if start else (0, 0)
        for (entries,) in self.db.execute("SELECT entries FROM journal WHERE chunk >= ? ORDER BY chunk", (chunk,)):
            for line in entries.split("\n"):
                number += 1
                if number <= after:
                    continue
                if line[0] == "#":
                    word, _, text = line.partition(" ")
                    yield number, JOURNAL_KINDS[word], text
                else:
                    yield number, EVENT, line

    def journal_length(self) -> int:
        row = self.db.execute("SELECT sum(n) FROM journal").fetchone()
        return row[0] or 0

    def logs(self) -> List[Tuple[int, str]]:
        return self.db.execute("SELECT jobid, text FROM logs ORDER BY seq").fetchall()

    def checkpoint(self) -> Optional[Tuple[int, bytes]]:
        row = self.db.execute("SELECT seq, data FROM checkpoint WHERE id = 1").fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def close(self) -> None:
        self.db.close()
