"""The shared store: one PostgreSQL database (psycopg 3), for a supervisor, its standby and tools.

It implements :class:`~qbtrigger.supervisor.store.Store` with the tables of the SQLite store (see
:mod:`.sqlite`), created on first use; ``meta.schema`` holds their version. Every write is one
:class:`Batch` in one transaction: new rows and changed work/subjob rows go in with ``COPY`` (the
changes through a temporary table and one ``UPDATE ... FROM``), the rest with pipelined
``executemany``.

The lock. A store is opened by one *active* supervisor at a time: it holds a session-level
advisory lock (:data:`LOCK_CLASS`, the hash of the schema name) on the very connection it writes
through, for as long as it lives. A second active supervisor is refused
(:class:`~qbtrigger.errors.StoreLockedError`, naming the holder); a *standby* (``standby=True``)
waits for the lock instead. The server drops a session's locks when the session ends, so when the
active process dies (``kill -9`` included) its open transaction is rolled back, its lock freed and
the standby, woken at once, resumes from what was committed.

Faults. A connection lost during a write (a server restart, a cut session) is reopened for up to
``reconnect_seconds``; the lock is taken again (if another supervisor holds it by then, this one
stops with :class:`StoreLockedError`: it has been replaced), and the transaction is replayed unless
it had committed before the connection went: each write also sets ``meta.writes`` to its own
sequence number, which tells the two apart. Nothing is lost or written twice. A server that cannot
be reached, or refuses the credentials, is a :class:`~qbtrigger.errors.StoreError` naming the
database without its password.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import StoreError, StoreLockedError
from .store import (
    EVENT, JOURNAL_KINDS, SCHEMA_VERSION, TRACKING_INDEXES, WRITES_KEY as _WRITES_KEY, Batch, JobRow, Store, SubjobRow,
    WorkRow, decode_job_row, schema_upgrade, tracking_upgrade,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "is_postgres_dsn", "display_dsn", "LOCK_CLASS"]

#: The first key of the advisory lock ('qbtr'); the second is the hash of the schema's name.
LOCK_CLASS = 0x71627472
_JOURNAL_PAGE = 256  # journal chunks read per query while replaying

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id bigint PRIMARY KEY, pgrp bigint NOT NULL, label text, status text NOT NULL,
    hold text, removed integer NOT NULL DEFAULT 0, fired bigint NOT NULL DEFAULT 0,
    handles text NOT NULL DEFAULT '[]', data text NOT NULL, written bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS work (
    jobid bigint NOT NULL, idx integer NOT NULL, name text, status text NOT NULL,
    retries integer NOT NULL DEFAULT 0, written bigint NOT NULL DEFAULT 0, PRIMARY KEY (jobid, idx))
    WITH (fillfactor = 50);
CREATE TABLE IF NOT EXISTS subjobs (
    jobid bigint NOT NULL, idx integer NOT NULL, status text NOT NULL,
    held integer NOT NULL DEFAULT 0, written bigint NOT NULL DEFAULT 0, PRIMARY KEY (jobid, idx));
CREATE TABLE IF NOT EXISTS journal (
    chunk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, first bigint NOT NULL, n integer NOT NULL,
    entries text NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, jobid bigint NOT NULL, text text NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_job ON logs (jobid);
CREATE TABLE IF NOT EXISTS checkpoint (
    id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, data bytea NOT NULL);
"""

# Per session: where changed work items and subjobs are copied before one UPDATE applies them.
_SESSION = """
CREATE TEMP TABLE IF NOT EXISTS work_changes (status text, retries integer, jobid bigint, idx integer)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS subjob_changes (status text, held integer, jobid bigint, idx integer)
    ON COMMIT DELETE ROWS;
"""

_LOCK_KEY = "%s, hashtext(current_schema())"


def is_postgres_dsn(db: object) -> bool:
    """Whether a ``db`` argument names a PostgreSQL database (a ``postgresql://`` URI)."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def display_dsn(dsn: str) -> str:
    """``dsn`` as messages show it: user, host, port and database, never the password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a DSN psycopg cannot parse is still shown, minus its secret
        scheme, sep, rest = dsn.partition("://")
        userinfo, at, hostpart = rest.rpartition("@")
        return f"{scheme}{sep}{userinfo.split(':')[0]}{at}{hostpart.split('?')[0]}" if at else dsn.split("?")[0]
    user, host, port, dbname = (str(parts.get(k) or "") for k in ("user", "host", "port", "dbname"))
    where = f"{host}:{port}" if port and host and not host.startswith("/") else host
    text = f"postgresql://{user + '@' if user else ''}{'' if where.startswith('/') else where}/{dbname}"
    return f"{text}?host={where}{'&port=' + port if port else ''}" if where.startswith("/") else text


class PostgresStore(Store):
    """A PostgreSQL job store at ``dsn`` (a ``postgresql://`` URI; see the module docstring).

    ``standby``: wait for the active supervisor to go instead of refusing to open (``on_wait(text)``
    is told once, when the wait begins). ``reconnect_seconds``: how long a lost connection is
    retried before the write fails. ``connect_timeout``: seconds per connection attempt.
    """

    def __init__(
        self,
        dsn: str,
        *,
        standby: bool = False,
        on_wait: Optional[Callable[[str], None]] = None,
        reconnect_seconds: float = 30.0,
        connect_timeout: int = 10,
    ) -> None:
        self._open(dsn, reconnect_seconds, connect_timeout)
        if standby:
            self._wait_for_lock(on_wait)
        elif not self._try_lock():
            holder = self._holder()
            self.conn.close()
            raise StoreLockedError(
                f"{self.name}: another supervisor is active on this job store ({holder}); a second one"
                " may not write beside it (wait for it to stop, or run this one as its standby: --standby)"
            )
        self._create_schema()

    # ------------------------------------------------------------------ connection and lock
    #: How the server lists this store's session (``pg_stat_activity``), and what each session runs first.
    _ROLE = "qbtrigger supervisor"
    _SESSION_SQL = _SESSION

    def _open(self, dsn: str, reconnect_seconds: float, connect_timeout: int) -> None:
        """Everything but the lock and the tables: the first session."""
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                "the PostgreSQL store needs psycopg 3: pip install 'qbtrigger[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.keeps_checkpoints = True
        self.dsn = dsn
        self.name = display_dsn(dsn)
        self.reconnect_seconds = reconnect_seconds
        self.connect_timeout = connect_timeout
        self._secret = str(_conninfo(dsn).get("password") or "")
        self._writes = 0
        self.conn = self._connect()

    def _connect(self) -> "psycopg.Connection[Tuple[Any, ...]]":
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=self.connect_timeout,
                application_name=f"{self._ROLE} (pid {os.getpid()} on {socket.gethostname()})",
            )
        except psycopg.Error as error:
            raise StoreError(f"cannot open the job store {self.name}: {self._scrub(error)}") from None
        conn.execute(self._SESSION_SQL)
        if conn.info.server_version >= 140000:
            # A killed client's backend notices within this while a statement runs (not only once
            # it ends), so its transaction is rolled back and its lock freed sooner: a standby's wait.
            conn.execute("SET client_connection_check_interval = '100ms'")
        return conn  # type: ignore[no-any-return]

    def _try_lock(self) -> bool:
        row = self.conn.execute(f"SELECT pg_try_advisory_lock({_LOCK_KEY})", (LOCK_CLASS,)).fetchone()
        return bool(row and row[0])

    def _wait_for_lock(self, on_wait: Optional[Callable[[str], None]]) -> None:
        """Block until this session holds the lock (reconnecting if the server goes away meanwhile)."""
        if self._try_lock():
            return
        if on_wait is not None:
            on_wait(f"standby: waiting for the active supervisor on {self.name} to stop ({self._holder()})")
        while True:
            try:
                self.conn.execute(f"SELECT pg_advisory_lock({_LOCK_KEY})", (LOCK_CLASS,))
                return
            except self._psycopg.OperationalError:
                if not self.conn.closed and not self.conn.broken:
                    raise
                self.conn = self._reconnect()
                if self._try_lock():
                    return

    def _holder(self) -> str:
        """Who holds the lock, for messages: its application name and server pid."""
        row = self.conn.execute(
            "SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND a.pid <> pg_backend_pid() LIMIT 1",
            (LOCK_CLASS,),
        ).fetchone()
        if row is None:
            return "its session is gone"
        pid, app, since = row
        when = "" if since is None else f", connected since {since:%Y-%m-%d %H:%M:%S %Z}"
        return f"{app or 'a client'}, server pid {pid}{when}"

    def _reconnect(self) -> "psycopg.Connection[Tuple[Any, ...]]":
        """A new session, retried for up to ``reconnect_seconds`` (the server may be restarting)."""
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - the old session is gone either way
            pass
        deadline = time.monotonic() + self.reconnect_seconds
        pause = 0.1
        while True:
            try:
                return self._connect()
            except StoreError as error:
                if time.monotonic() + pause > deadline:
                    raise StoreError(f"lost the connection to the job store and could not reconnect"
                                     f" within {self.reconnect_seconds:g} s: {error}") from None
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _scrub(self, error: BaseException) -> str:
        text = str(error).strip()
        return text.replace(self._secret, "***") if self._secret else text

    def _create_schema(self) -> None:
        with self.conn.transaction():
            self.conn.execute(_SCHEMA)
            version = self.get_meta("schema")
            try:
                upgrade = version is None or schema_upgrade(self.name, version)  # tables made above
            except ValueError as error:
                raise StoreError(str(error)) from None
            if upgrade:  # new, or of an older layout: made current in this transaction
                for statement in [*tracking_upgrade(version, self._tracked), *TRACKING_INDEXES]:
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO meta VALUES ('schema', %s) ON CONFLICT (key) DO UPDATE"
                                  " SET value = excluded.value", (json.dumps(SCHEMA_VERSION),))
        self._writes = int(self.get_meta(_WRITES_KEY, 0))

    def _tracked(self, table: str) -> bool:
        return bool(self.conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s AND column_name = 'written'", (table,)).fetchone())

    # ------------------------------------------------------------------ the one write path
    def write(self, batch: Batch) -> None:
        """Apply ``batch`` in one transaction, then clear it; a lost connection is reopened and
        the transaction retried (or found committed). On an error nothing is written."""
        if not batch:
            return
        psycopg = self._psycopg
        while True:
            try:
                self._apply(batch)
                break
            except psycopg.OperationalError as error:
                if not self.conn.closed and not self.conn.broken:
                    raise StoreError(f"cannot write to the job store {self.name}: {self._scrub(error)}") from None
                if self._recover():
                    break  # it had committed before the connection went
            except psycopg.Error as error:
                raise StoreError(f"cannot write to the job store {self.name}: {self._scrub(error)}") from None
            except BaseException:  # an interrupt (Ctrl-C): if it landed after the COMMIT, say so
                if self._committed():
                    self._writes += 1
                    batch.written()
                raise
        self._writes += 1
        batch.written()

    def _committed(self) -> bool:
        """Whether the write in flight committed (asked after an interrupt; False if unknown)."""
        try:
            if self.conn.closed or self.conn.broken or self.conn.info.transaction_status != 0:  # not IDLE
                return False
            return int(self.get_meta(_WRITES_KEY, 0)) == self._writes + 1
        except Exception:  # noqa: BLE001 - cannot tell: the write counts as not done
            return False

    def _recover(self) -> bool:
        """After a lost connection: a new session holding the lock again. True when the write in
        flight had committed (``meta.writes`` moved to its number), False when it must be redone."""
        self.conn = self._reconnect()
        if not self._try_lock():
            raise StoreLockedError(
                f"{self.name}: lost the connection, and another supervisor took the job store over"
                f" meanwhile ({self._holder()}); this one stops"
            )
        stored = int(self.get_meta(_WRITES_KEY, 0))
        if stored not in (self._writes, self._writes + 1):
            raise StoreLockedError(f"{self.name}: another supervisor wrote to the job store while this"
                                   f" one was disconnected (write {stored}, expected {self._writes}); this one stops")
        return stored == self._writes + 1

    def _apply(self, batch: Batch) -> None:
        conn = self.conn
        w = int(self._writes + 1)  # this write's number: every row it touches carries it (`written`)
        with conn.transaction(), conn.cursor() as cur:
            if batch.new_jobs:
                _copy(cur, "jobs (id, pgrp, label, status, hold, data, written)", batch.new_jobs, w)
            if batch.new_work:
                _copy(cur, "work (jobid, idx, name, status, retries, written)", batch.new_work, w)
            if batch.new_subjobs:
                _copy(cur, "subjobs (jobid, idx, status, held, written)", batch.new_subjobs, w)
            if batch.handles:
                cur.executemany(f"UPDATE jobs SET handles = %s, written = {w} WHERE id = %s", batch.handles)
            if batch.jobs:
                cur.executemany(
                    "UPDATE jobs SET status = %s, hold = %s, removed = %s, fired = %s, data = coalesce(%s, data),"
                    f" written = {w} WHERE id = %s",
                    batch.jobs,
                )
            if batch.work:
                _copy(cur, "work_changes", _last_per_item(batch.work))
                cur.execute("ANALYZE work_changes")  # else the plan guesses, and scans all of work
                cur.execute(f"UPDATE work SET status = c.status, retries = c.retries, written = {w}"
                            " FROM work_changes c WHERE work.jobid = c.jobid AND work.idx = c.idx")
            if batch.subjobs:
                _copy(cur, "subjob_changes", _last_per_item(batch.subjobs))
                cur.execute("ANALYZE subjob_changes")
                cur.execute(f"UPDATE subjobs SET status = c.status, held = c.held, written = {w}"
                            " FROM subjob_changes c WHERE subjobs.jobid = c.jobid AND subjobs.idx = c.idx")
            if batch.journal:
                cur.execute("INSERT INTO journal (first, n, entries) VALUES (%s, %s, %s)",
                            (batch.journal_first, len(batch.journal), "\n".join(batch.journal)))
            if batch.logs:
                _copy(cur, "logs (jobid, text)", batch.logs)
            if batch.checkpoint is not None:
                cur.execute("INSERT INTO checkpoint VALUES (1, %s, %s) ON CONFLICT (id) DO UPDATE"
                            " SET seq = excluded.seq, data = excluded.data", batch.checkpoint)
            meta = [(key, json.dumps(value)) for key, value in batch.meta.items()]
            meta.append((_WRITES_KEY, json.dumps(w)))
            cur.executemany("INSERT INTO meta VALUES (%s, %s)"
                            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", meta)

    # ------------------------------------------------------------------ reads
    def _read(self, query: str, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
        """Rows of a query, reconnecting once if the session was lost (the lock is retaken)."""
        psycopg = self._psycopg
        try:
            return self.conn.execute(query, params).fetchall()
        except psycopg.OperationalError as error:
            if not self.conn.closed and not self.conn.broken:
                raise StoreError(f"cannot read the job store {self.name}: {self._scrub(error)}") from None
        self._recover()
        return self.conn.execute(query, params).fetchall()

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM meta WHERE key = %s", (key,))
        return default if not rows else json.loads(rows[0][0])

    def jobs(self) -> List[JobRow]:
        rows = self._read("SELECT id, pgrp, label, status, hold, removed, fired, handles, data FROM jobs ORDER BY id")
        return [decode_job_row(row) for row in rows]

    def work(self) -> List[WorkRow]:
        return self._read("SELECT jobid, idx, name, status, retries FROM work ORDER BY jobid, idx")  # type: ignore[return-value]

    def subjobs(self) -> List[SubjobRow]:
        return self._read("SELECT jobid, idx, status, held FROM subjobs ORDER BY jobid, idx")  # type: ignore[return-value]

    def journal(self, after: int = 0) -> Iterator[Tuple[int, int, str]]:
        number = 0
        last = 0
        if after:  # start at the chunk holding line after + 1, found from the end (see sqlite.py)
            start = self._read("SELECT chunk, first FROM journal WHERE first <= %s ORDER BY chunk DESC LIMIT 1",
                               (after + 1,))
            if start:
                last, number = start[0][0] - 1, start[0][1] - 1
        while True:
            page = self._read("SELECT chunk, entries FROM journal WHERE chunk > %s ORDER BY chunk LIMIT %s",
                              (last, _JOURNAL_PAGE))
            for last, entries in page:  # noqa: B007 - the next page starts after the last chunk
                for line in entries.split("\n"):
                    number += 1
                    if number <= after:
                        continue
                    if line[0] == "#":
                        word, _, text = line.partition(" ")
                        yield number, JOURNAL_KINDS[word], text
                    else:
                        yield number, EVENT, line
            if len(page) < _JOURNAL_PAGE:
                return

    def journal_length(self) -> int:
        return int(self._read("SELECT coalesce(sum(n), 0) FROM journal")[0][0])

    def logs(self) -> List[Tuple[int, str]]:
        return self._read("SELECT jobid, text FROM logs ORDER BY seq")  # type: ignore[return-value]

    def checkpoint(self) -> Optional[Tuple[int, bytes]]:
        rows = self._read("SELECT seq, data FROM checkpoint WHERE id = 1")
        return None if not rows else (int(rows[0][0]), bytes(rows[0][1]))

    def close(self) -> None:
        """Free the lock and close the session: a standby takes over. The lock is freed by name
        first, because a closed session's backend frees it only when it exits, a moment after:
        a store reopened at once would find it still held."""
        try:
            if not self.conn.closed and not self.conn.broken:
                self.conn.execute("SELECT pg_advisory_unlock_all()")
        except self._psycopg.Error:
            pass  # the session is gone: so is its lock
        finally:
            self.conn.close()


# ---------------------------------------------------------------------- helpers
def _conninfo(dsn: str) -> Dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - psycopg.connect reports a bad DSN itself
        return {}


def _copy(cur: Any, target: str, rows: Sequence[Tuple[Any, ...]], written: Optional[int] = None) -> None:
    """COPY ``rows`` into ``target`` (``written``: a last column every row gets)."""
    with cur.copy(f"COPY {target} FROM STDIN") as copy:
        if written is None:
            for row in rows:
                copy.write_row(row)
        else:
            last = (written,)
            for row in rows:
                copy.write_row(row + last)


def _last_per_item(rows: Sequence[Tuple[Any, Any, int, int]]) -> List[Tuple[Any, Any, int, int]]:
    """One row per (jobid, idx), the last one: ``UPDATE ... FROM`` applies only one per target row
    (a batch kept after a failed write may name an item twice)."""
    return list({(row[2], row[3]): row for row in rows}.values())
