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
    Atom,
    And,
    Event,
    Or,
    TriggerSyntaxError,
    WhyNot,
    parse,
    parse_event,
)
from .matcher import Network, implementation

__all__ = [
    "And",
    "Atom",
    "Event",
    "Network",
    "Or",
    "TriggerSyntaxError",
    "WhyNot",
    "implementation",
    "parse",
    "parse_event",
]
__version__ = "0.1.0"
