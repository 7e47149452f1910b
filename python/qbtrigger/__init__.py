"""qbtrigger: Qube!-style trigger expressions compiled into one shared matching network.

>>> import qbtrigger
>>> net = qbtrigger.Network()
>>> net.add_job(1234)
>>> h = net.add("complete-work-self-5 && complete-work-self-6", owner=1234)
>>> net.feed("complete-work-1234-5")
[]
>>> net.feed("complete-work-1234-6") == [h]
True
"""

from ._common import (
    MAX_ATOMS,
    MAX_DEPTH,
    MAX_JOB_ID,
    MAX_TIME,
    Atom,
    And,
    Event,
    Node,
    Or,
    WhyNot,
    atoms_of,
    parse,
    parse_event,
)
from ._firings import Firings
from .errors import (
    ClockError,
    DuplicateError,
    Error,
    EventError,
    LimitError,
    SnapshotError,
    TriggerSyntaxError,
    UnknownCallbackError,
    UnknownItemError,
    UnknownJobError,
)
from .matcher import Network, implementation

__all__ = [
    "MAX_ATOMS",
    "MAX_DEPTH",
    "MAX_JOB_ID",
    "MAX_TIME",
    "And",
    "Atom",
    "ClockError",
    "DuplicateError",
    "Error",
    "Event",
    "EventError",
    "Firings",
    "LimitError",
    "Network",
    "Node",
    "Or",
    "SnapshotError",
    "TriggerSyntaxError",
    "UnknownCallbackError",
    "UnknownItemError",
    "UnknownJobError",
    "WhyNot",
    "atoms_of",
    "implementation",
    "parse",
    "parse_event",
]
__version__ = "0.1.0"
