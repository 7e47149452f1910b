"""Which store a supervisor's ``db`` argument names: the one place a new backend is plugged in."""

from __future__ import annotations

import os
from typing import Union

from .postgres import PostgresStore, is_postgres_dsn
from .sqlite import SqliteStore
from .store import Store

__all__ = ["open_store", "StoreSpec"]

#: What ``Supervisor(db=...)`` takes: None (memory), a SQLite file path, a ``postgresql://`` URI,
#: or a :class:`Store`.
StoreSpec = Union[None, str, "os.PathLike[str]", Store]


def open_store(db: StoreSpec) -> Store:
    """The store for a supervisor's ``db`` argument: a :class:`Store` as it is; a
    ``postgresql://`` URI a :class:`~.postgres.PostgresStore` (as the active supervisor: refused
    while another is active; pass ``PostgresStore(uri, standby=True)`` to wait instead); else
    SQLite (a file path, or None for a private in-memory database)."""
    if isinstance(db, Store):
        return db
    if is_postgres_dsn(db):
        return PostgresStore(str(db))
    return SqliteStore(db)
