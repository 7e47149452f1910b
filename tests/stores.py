"""Looking into a store from outside, as a tool beside a running supervisor would: without taking
its lock, and whichever backend holds it (a SQLite file, or a ``postgresql://`` database)."""

from __future__ import annotations

import sqlite3
from typing import Any, List, Tuple

from qbtrigger.supervisor.postgres import is_postgres_dsn


def query(db: Any, sql: str) -> List[Tuple[Any, ...]]:
    """The rows of ``sql`` (no parameters) on the store ``db`` (none for a statement without)."""
    if is_postgres_dsn(db):
        import psycopg

        with psycopg.connect(str(db), autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute(sql).fetchall()


def journal_length(db: Any) -> int:
    """How many journal lines the store holds (0 while it has no journal yet)."""
    try:
        return int(query(db, "SELECT coalesce(sum(n), 0) FROM journal")[0][0])
    except Exception:  # noqa: BLE001 - not created yet, or busy: nothing to see yet
        return 0
