"""The reference supervisor: a SQLite job store, the job/work state machine, a clock, and a
virtual-farm simulator on top (SPEC §5-§8; the state rules are in :mod:`.supervisor`).

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
from .store import Store
from .supervisor import QUBE_EPOCH, STATES, TERMINAL, Supervisor, qube_time

__all__ = [
    "CallbackWait",
    "JobReport",
    "QUBE_EPOCH",
    "STATES",
    "SimReport",
    "Simulator",
    "Store",
    "StuckItem",
    "StuckJob",
    "Supervisor",
    "TERMINAL",
    "qube_time",
]
