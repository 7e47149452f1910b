"""The reference supervisor and a virtual-farm simulator on top (SPEC §5-§8).

Rooms: ``supervisor`` (the facade: Host interface and public API), ``farm`` (the state machine;
its rules are docs/supervisor.md), ``timers`` (time limits and retry delays), ``hosts``,
``submission`` (checks before anything is stored), ``store`` (the persistence interface),
``sqlite`` (its embedded backend), ``postgres`` (the shared backend, with a standby), ``backends``
(which store a ``db`` argument names), ``diagnosis`` (stuck reports), ``simulator``, ``report``.

>>> from qbtrigger.supervisor import Supervisor, Simulator
>>> sup = Supervisor(clock=0)                      # in memory; Supervisor(db="farm.db") persists
>>> render, comp = sup.submit([
...     {"label": "render", "agenda": ["1", "2"]},
...     {"label": "comp", "agenda": ["1", "2"], "dependency": "link-complete-work-render"},
... ])
>>> Simulator(sup, workers=2, seed=1).run().finished
True
"""

from .report import CallbackWait, JobReport, SimReport, StuckItem, StuckJob
from .simulator import Simulator
from .farm import Farm
from .sqlite import SqliteStore
from .postgres import PostgresStore
from .backends import open_store
from .store import Batch, Store
from .supervisor import QUBE_EPOCH, STATES, TERMINAL, Supervisor, qube_time

__all__ = [
    "Batch",
    "CallbackWait",
    "Farm",
    "JobReport",
    "QUBE_EPOCH",
    "PostgresStore",
    "STATES",
    "SimReport",
    "Simulator",
    "SqliteStore",
    "Store",
    "StuckItem",
    "StuckJob",
    "Supervisor",
    "TERMINAL",
    "open_store",
    "qube_time",
]
