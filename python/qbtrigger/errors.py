"""Every exception qbtrigger raises on purpose, under one base: :class:`Error`.

``except qbtrigger.Error`` catches anything the project refuses. Each class also keeps the builtin
base it had before the hierarchy existed (``ValueError``, ``KeyError``), so code written as
``except ValueError`` goes on working. Both matcher twins raise these same classes with the same
texts. Callback-layer errors (``SubmissionError``, ``CodeError``, ...) live in
:mod:`qbtrigger.callbacks.errors` and derive from :class:`Error` too.
"""

from __future__ import annotations

from typing import Any, Tuple

__all__ = [
    "Error",
    "TriggerSyntaxError",
    "EventError",
    "DuplicateError",
    "UnknownJobError",
    "UnknownCallbackError",
    "UnknownItemError",
    "LimitError",
    "ClockError",
    "StoreError",
    "StoreLockedError",
    "SnapshotError",
]

_FLATTEN_WHITESPACE = str.maketrans("\t\n\r\f\v", "     ")


class Error(Exception):
    """The base of every exception qbtrigger raises for bad input or a refused request."""


class TriggerSyntaxError(Error, ValueError):
    """A trigger expression that cannot be registered.

    ``expression`` is the text, ``column`` the 0-based index of the offending character (it may
    equal ``len(expression)`` when the expression ends too early) and ``message`` what is wrong.
    ``str()`` adds the expression and a caret under the column.
    """

    def __init__(self, expression: str, column: int, message: str) -> None:
        super().__init__(expression, column, message)
        self.expression = expression
        self.column = column
        self.message = message

    def __str__(self) -> str:
        shown = self.expression.translate(_FLATTEN_WHITESPACE)
        return f"{self.message} (column {self.column})\n    {shown}\n    {' ' * self.column}^"

    def __reduce__(self) -> Tuple[Any, ...]:  # pickling with the three-argument constructor
        return (type(self), (self.expression, self.column, self.message))


class EventError(Error, ValueError):
    """An event text that is not ``name-type-jobid[-extra]`` (or a global time event)."""


class DuplicateError(Error, ValueError):
    """A job id that is already added, or a label already used in its pgrp."""


class UnknownJobError(Error, KeyError):
    """A job id the network (or the engine, or the supervisor) does not know."""


class UnknownCallbackError(Error, KeyError):
    """A callback handle that is not (or no longer) registered."""


class UnknownItemError(Error, KeyError):
    """A work item or subjob its job does not have."""


class LimitError(Error, ValueError):
    """A value past one of the matcher's limits (atoms per callback, job id or time range)."""


class ClockError(Error, ValueError):
    """A clock asked to go backwards."""


class StoreError(Error, RuntimeError):
    """A job store that cannot be opened, reached or written; the message names the store (a
    database's password never shows)."""


class StoreLockedError(StoreError):
    """A job store another supervisor is active on: a second active supervisor is refused."""


class SnapshotError(Error, ValueError):
    """Bytes that ``Network.restore`` cannot take: not a snapshot, truncated, corrupted (its checksum
    or its structure) or written in a newer format. The network restored into is left as it was."""
