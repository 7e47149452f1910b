"""Callback languages: each turns a code string into a runner at registration (SPEC §7).

A language is enabled by its flag in ``language_flags`` (default ``qube,mail,dependency``);
:func:`parse_language_flags` reads that setting. ``compile(code)`` raises :class:`CodeError`
for anything wrong with the code, so every problem is found at submission; the runner it returns
is called with an :class:`Invocation` each time the callback fires and must not raise for
problems of the callback's own making (the engine catches and logs anything that escapes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, FrozenSet, Optional, Union

from ..._common import Event

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import CallbackEngine

__all__ = [
    "Invocation",
    "Language",
    "Runner",
    "Callback",
    "LANGUAGE_FLAGS",
    "DEFAULT_LANGUAGE_FLAGS",
    "parse_language_flags",
]

#: Every flag ``language_flags`` may hold; ``dependency`` enables the job's ``dependency`` field.
LANGUAGE_FLAGS = ("qube", "python", "perl", "mail", "dependency")
DEFAULT_LANGUAGE_FLAGS = "qube,mail,dependency"


def parse_language_flags(flags: Union[str, "set[str]", FrozenSet[str], tuple, list]) -> FrozenSet[str]:
    """``"qube,mail,dependency"`` (or an iterable of flags) as a frozenset; unknown flags are an error."""
    items = flags.split(",") if isinstance(flags, str) else list(flags)
    out = set()
    for item in items:
        flag = str(item).strip().lower()
        if not flag:
            continue
        if flag not in LANGUAGE_FLAGS:
            raise ValueError(f"unknown language flag '{item}' (known: {', '.join(LANGUAGE_FLAGS)})")
        out.add(flag)
    return frozenset(out)


@dataclass
class Callback:
    """One registered callback, as the engine keeps it."""

    jobid: int
    index: Optional[int]  # its index in the job's ``callbacks``; None for dependency/universal ones
    origin: str  # "job", "dependency" or "universal"
    triggers: Union[str, list]
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
        return "dependency callback"

    def triggers_text(self) -> str:
        if isinstance(self.triggers, str):
            return self.triggers
        return " || ".join(f"({t})" for t in self.triggers)


class Invocation:
    """What one running callback sees: its engine, itself, the event that fired it.

    ``event`` is None only when a catch-up fired it with no item to name. Made once per firing,
    hence a plain slotted class."""

    __slots__ = ("engine", "callback", "event")

    def __init__(self, engine: "CallbackEngine", callback: Callback, event: Optional[Event]) -> None:
        self.engine = engine
        self.callback = callback
        self.event = event

    @property
    def jobid(self) -> int:
        return self.callback.jobid

    @property
    def host(self):
        return self.engine.host

    def log(self, text: str) -> None:
        """Write to the owning job's callback log."""
        self.engine.host.log(self.callback.jobid, text)


Runner = Callable[[Invocation], None]


class Language:
    """A callback language. Subclasses set ``name`` and ``flag`` and implement :meth:`compile`."""

    name: str = ""
    flag: str = ""

    def compile(self, code: str) -> Runner:
        raise NotImplementedError
