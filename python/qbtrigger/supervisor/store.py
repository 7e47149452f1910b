"""The supervisor's persistence boundary: one :class:`Store` interface, one write path.

Every write the supervisor makes goes through :meth:`Store.write`, which applies one
:class:`Batch` (rows gathered in memory since the last commit) in a single transaction. The
supervisor keeps its hot state in Python objects and hands the store only what changed; so a
crash (Ctrl-C, ``kill -9``) loses at most the changes since the last commit, and what is stored is
always a state the supervisor was in at a commit point, never half of one. A step interrupted
half-way (Ctrl-C, an error escaping it) is never committed: the supervisor *abandons* its
uncommitted changes (:meth:`~qbtrigger.supervisor.Supervisor.abandon`) and any later commit raises
:class:`AbandonedError`; the store stays at its last commit, which a reopen resumes from.

A backend implements the abstract methods below. :class:`~qbtrigger.supervisor.sqlite.SqliteStore`
is the embedded default; :func:`~qbtrigger.supervisor.backends.open_store` picks a backend for a
``db`` argument. The journal
(everything the callback network saw, in order) is what a resumed supervisor replays: its lines
are event texts, or one of the words of :data:`JOURNAL_WORDS` and its argument.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import Error

__all__ = [
    "Store", "Batch", "SCHEMA_VERSION", "EVENT", "REGISTER", "ADVANCE", "REMOVE", "CALLBACK",
    "JOURNAL_WORDS", "JOURNAL_KINDS", "UNREADABLE", "decode_job_row", "AbandonedError", "schema_upgrade",
    "WRITES_KEY", "TRACKED_TABLES", "TRACKING_INDEXES", "tracking_upgrade",
]

#: The layout's version (``meta.schema``). 2 added the ``checkpoint`` table, 3 change tracking
#: (the ``written`` columns); a store of an older version gets them when opened
#: (:func:`schema_upgrade`, :func:`tracking_upgrade`).
SCHEMA_VERSION = 3
#: Versions a store may have and be upgraded from when opened.
_UPGRADABLE = frozenset({1, 2})
#: The meta entry holding the number of the last committed write (every write counts one up).
WRITES_KEY = "writes"
#: Tables whose rows carry ``written``: the number of the write that last inserted or changed
#: them (indexed), so "the rows changed after write S" is one cheap query (a following standby).
TRACKED_TABLES = ("jobs", "work", "subjobs")
#: The indexes of change tracking (made once the columns exist; the same SQL on every backend).
TRACKING_INDEXES = tuple(f"CREATE INDEX IF NOT EXISTS {t}_by_write ON {t} (written)" for t in TRACKED_TABLES)
#: journal kinds
EVENT, REGISTER, ADVANCE, REMOVE, CALLBACK = 0, 1, 2, 3, 4
#: how journal lines spell the kinds that are not events (an event text never starts with '#')
JOURNAL_WORDS = {REGISTER: "#register", ADVANCE: "#advance", REMOVE: "#remove", CALLBACK: "#callback"}
JOURNAL_KINDS = {word: kind for kind, word in JOURNAL_WORDS.items()}
#: A job whose stored data a backend cannot decode comes back from :meth:`Store.jobs` with the
#: data ``{UNREADABLE: why}``: the store still opens, and the supervisor reports the job.
UNREADABLE = "__unreadable__"


class AbandonedError(Error, RuntimeError):
    """A commit asked of a supervisor that abandoned its uncommitted changes (an interrupted step):
    its memory may be half a step ahead of the store. Reopen the store to go on."""

# The rows a Batch carries and a Store reads back, as tuples in column order.
#: (id, pgrp, label, status, hold, data JSON): a new job
NewJobRow = Tuple[int, int, Optional[str], str, Optional[str], str]
#: (jobid, idx, name, status, retries): a new work item, and a stored one
WorkRow = Tuple[int, int, Optional[str], str, int]
#: (jobid, idx, status, held): a new subjob, and a stored one
SubjobRow = Tuple[int, int, str, int]
#: (handles JSON, jobid)
HandlesRow = Tuple[str, int]
#: (status, hold, removed, fired, data JSON or None, id): a changed job
JobUpdateRow = Tuple[str, Optional[str], int, int, Optional[str], int]
#: (status, retries, jobid, idx): a changed work item
WorkUpdateRow = Tuple[str, int, int, int]
#: (status, held, jobid, idx): a changed subjob
SubjobUpdateRow = Tuple[str, int, int, int]
#: (jobid, text): a callback log entry
LogRow = Tuple[int, str]
#: (id, pgrp, label, status, hold, removed, fired, handles list, data dict): a stored job
JobRow = Tuple[int, int, Optional[str], str, Optional[str], int, int, List[int], Dict[str, Any]]


def schema_upgrade(name: str, version: Any) -> bool:
    """Whether a store whose ``meta.schema`` reads ``version`` must be upgraded (its missing
    tables are created by then: only the version is left to write); raises :class:`ValueError`
    for a version this qbtrigger cannot open."""
    if version == SCHEMA_VERSION:
        return False
    if version in _UPGRADABLE:
        return True
    raise ValueError(f"{name}: store schema {version}, this qbtrigger reads {SCHEMA_VERSION}")


def tracking_upgrade(version: Any, tracked: Callable[[str], bool]) -> List[str]:
    """The statements that add change tracking to a store of layout ``version`` (none when it
    has it: a new store's tables are made with it); ``tracked(table)`` tells whether a table has
    its ``written`` column already. The same SQL on every backend."""
    if version is None or version >= 3:
        return []
    return [f"ALTER TABLE {t} ADD COLUMN written bigint NOT NULL DEFAULT 0" for t in TRACKED_TABLES if not tracked(t)]


def decode_job_row(row: Tuple[Any, ...]) -> JobRow:
    """A ``jobs`` row as every backend reads it (handles and data as JSON text) made a
    :data:`JobRow`. A column this Python cannot decode (a number past its digit limit, a damaged
    store) reads as no handles, or as data ``{UNREADABLE: why}``, so the store still opens."""
    return row[:7] + (_decode_column(row[7], []), _decode_column(row[8], None))  # type: ignore[return-value]


def _decode_column(text: str, unreadable: Any) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError) as error:
        return {UNREADABLE: f"{type(error).__name__}: {error}"} if unreadable is None else unreadable


@dataclass
class Batch:
    """Rows to write in one transaction. The supervisor fills it; :meth:`Store.write` empties it."""

    new_jobs: List[NewJobRow] = field(default_factory=list)  # (id, pgrp, label, status, hold, data)
    new_work: List[WorkRow] = field(default_factory=list)  # (jobid, idx, name, status, retries)
    new_subjobs: List[SubjobRow] = field(default_factory=list)  # (jobid, idx, status, held)
    handles: List[HandlesRow] = field(default_factory=list)  # (handles JSON, jobid)
    jobs: List[JobUpdateRow] = field(default_factory=list)  # (status, hold, removed, fired, data or None, id)
    work: List[WorkUpdateRow] = field(default_factory=list)  # (status, retries, jobid, idx)
    subjobs: List[SubjobUpdateRow] = field(default_factory=list)  # (status, held, jobid, idx)
    journal: List[str] = field(default_factory=list)  # journal lines (see the module docstring)
    journal_first: int = 1  # the number of journal[0]
    logs: List[LogRow] = field(default_factory=list)  # (jobid, text)
    meta: Dict[str, Any] = field(default_factory=dict)  # key -> JSON-able value
    #: (journal lines it covers, its bytes): the one checkpoint the store keeps, replaced in the
    #: same transaction as the rest of the batch (:mod:`.checkpoint`); None: keep the stored one
    checkpoint: Optional[Tuple[int, bytes]] = None

    def __bool__(self) -> bool:
        return self.checkpoint is not None or any(
            (self.new_jobs, self.new_work, self.new_subjobs, self.handles, self.jobs, self.work,
             self.subjobs, self.journal, self.logs, self.meta)
        )

    def written(self) -> None:
        """Empty the batch after a successful write (the journal numbering goes on)."""
        self.journal_first += len(self.journal)
        for rows in (self.new_jobs, self.new_work, self.new_subjobs, self.handles, self.jobs,
                     self.work, self.subjobs, self.journal, self.logs):
            rows.clear()
        self.meta.clear()
        self.checkpoint = None


class Store(ABC):
    """Where a supervisor keeps its jobs, states, journal and logs. ``name`` says which store
    this is in messages (a path, a database name)."""

    name: str = ""
    #: Whether it keeps the checkpoint a batch carries (:meth:`checkpoint`): a backend that does
    #: not (the default) is reopened by replaying its whole journal, and no checkpoint is taken
    #: for it; nor for one that does not outlive the process (a private in-memory database).
    keeps_checkpoints: bool = False

    @abstractmethod
    def write(self, batch: Batch) -> None:
        """Apply ``batch`` in one transaction, then empty it (:meth:`Batch.written`). On an error
        nothing is written and the batch is left as it was; should the error come after the
        transaction committed (an interrupt landing just then), the batch is emptied as on success."""

    @abstractmethod
    def get_meta(self, key: str, default: Any = None) -> Any:
        """A JSON value stored under ``key`` in the meta table, or ``default``."""

    @abstractmethod
    def jobs(self) -> List[JobRow]:
        """``(id, pgrp, label, status, hold, removed, fired, handles list, data dict)`` in id order.
        Data that cannot be decoded comes back as ``{UNREADABLE: why}`` (never an exception)."""

    @abstractmethod
    def work(self) -> List[WorkRow]:
        """``(jobid, idx, name, status, retries)`` ordered by job and index."""

    @abstractmethod
    def subjobs(self) -> List[SubjobRow]:
        """``(jobid, idx, status, held)`` ordered by job and index."""

    @abstractmethod
    def journal(self, after: int = 0) -> Iterator[Tuple[int, int, str]]:
        """The journal as ``(number, kind, text)``: kind :data:`EVENT` (text: the event),
        :data:`REGISTER` (the job ids, comma-separated), :data:`ADVANCE` (the Qube time) or
        :data:`REMOVE` (the job id) or :data:`CALLBACK` (a global callback's dict, as JSON);
        numbers count from 1. ``after``: only the lines numbered after it (a checkpoint's tail),
        found without reading the ones before."""

    def checkpoint(self) -> Optional[Tuple[int, bytes]]:
        """The stored checkpoint as ``(journal lines it covers, its bytes)``, or None (always, for
        a backend that does not keep checkpoints)."""
        return None

    @abstractmethod
    def journal_length(self) -> int:
        """How many journal lines are stored."""

    @abstractmethod
    def logs(self) -> List[Tuple[int, str]]:
        """``(jobid, text)`` of every callback log entry, oldest first."""

    @abstractmethod
    def close(self) -> None:
        """Release the store (the supervisor has committed everything before)."""
