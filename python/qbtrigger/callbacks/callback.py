"""One registered callback (:class:`Callback`) and one run of it (:class:`Invocation`).

Shared by the engine, the languages and the ``qb`` API; it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional, Union

from .. import Event

if TYPE_CHECKING:  # pragma: no cover
    from .host import Host
    from .qbapi import QbApi

__all__ = ["Callback", "Invocation", "Runner"]


@dataclass
class Callback:
    """One registered callback, as the engine keeps it."""

    jobid: int
    index: Optional[int]  # its index in the job's ``callbacks``; None for dependency/universal ones
    origin: str  # "job", "dependency", "universal" or "global"
    triggers: Union[str, List[str]]
    language: str
    code: str
    maximum: Optional[int]
    runner: "Runner"
    admin: bool = False  # universal callbacks run as administrator (SPEC §7.2)
    source: Optional[str] = None  # universal callbacks: the code file's name
    handle: int = 0
    count: int = 0

    def describe(self) -> str:
        """How logs name this callback: ``callback 2`` or ``universal callback 'notify.py'``."""
        if self.origin == "job":
            return f"callback {self.index}"
        if self.origin == "universal":
            return f"universal callback '{self.source}'"
        if self.origin == "global":
            return f"global callback {self.index}"
        return "dependency callback"

    def triggers_text(self) -> str:
        if isinstance(self.triggers, str):
            return self.triggers
        return " || ".join(f"({t})" for t in self.triggers)


class Invocation:
    """What one running callback sees: the farm (``host``), the ``qb`` API, itself, the event
    that fired it, and the firing's id.

    ``event`` is None only when a catch-up fired it with no item to name. ``firing`` numbers the
    engine's firings from 1 in the order they happen; a supervisor replays its journal at resume,
    firings included, so the same firing has the same id in every run of one store, however often
    it was interrupted: callback code deduplicates its external effects with it (``qb.firingid()``;
    docs/callbacks.md, "Delivery"). 0: not fired by an engine. Made once per firing, hence a plain
    slotted class."""

    __slots__ = ("host", "qb", "callback", "event", "firing", "text")

    def __init__(self, host: "Host", qb: "QbApi", callback: Callback, event: Optional[Event],
                 firing: int = 0, text: Optional[str] = None) -> None:
        self.host = host
        self.qb = qb
        self.callback = callback
        self.event = event
        self.firing = firing
        #: ``str(event)`` when the engine had it at hand (the event text it applied was already
        #: in that form), else None: whoever needs the text formats it then.
        self.text = text

    @property
    def jobid(self) -> int:
        return self.callback.jobid

    @property
    def firing_id(self) -> Optional[int]:
        """:attr:`firing`, or None for an invocation made outside an engine."""
        return self.firing or None

    def log(self, text: str) -> None:
        """Write to the owning job's callback log."""
        self.host.log(self.callback.jobid, text)


Runner = Callable[[Invocation], None]
