"""Which store a supervisor's ``db`` argument names: the one place a new backend is plugged in."""

from __future__ import annotations

import os
from typing import Union

from .sqlite import SqliteStore
from .store import Store

__all__ = ["open_store", "StoreSpec"]

#: What ``Supervisor(db=...)`` takes: None (memory), a SQLite file path, or a :class:`Store`.
StoreSpec = Union[None, str, "os.PathLike[str]", Store]


def open_store(db: StoreSpec) -> Store:
    """The store for a supervisor's ``db`` argument: a :class:`Store` as it is, else SQLite (a
    file path, or None for a private in-memory database)."""
    if isinstance(db, Store):
        return db
    return SqliteStore(db)
