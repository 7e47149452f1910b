"""One step of a :class:`~.supervisor.Supervisor`: a public call with its whole cascade.

Nested calls (a callback acting while an event is applied) share the outermost step, which ends
with the removals and, in autocommit mode, the commit.

A step is never committed half done. A ``KeyboardInterrupt`` (or any other exception that is not an
``Exception``) escaping a step or a commit, or any exception escaping a step that had already
reported events, makes the supervisor :meth:`~.supervisor.Supervisor.abandon` its uncommitted
changes: later commits raise :class:`~.store.AbandonedError` and ``close`` writes nothing, so the
store stays at its last commit and a reopen resumes from there, exactly as after ``kill -9``. An
exception raised before the step changed anything (a refused verb, a rejected submission) leaves
the supervisor usable. A submission that fails while it is being stored (a ``MemoryError``
half-way) leaves nothing behind: no job stored or registered, its ids unused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .supervisor import Supervisor

__all__ = ["Step"]


class Step:
    """One public call: nested calls (a callback acting while an event is applied) share it, and
    the outermost one ends with removals and the commit. Reentrant: it only counts depth."""

    __slots__ = ("sup",)

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    def __enter__(self) -> None:
        sup = self.sup
        if not sup._depth:
            sup._step_mark = sup._batch.journal_first + len(sup._batch.journal)
        sup._depth += 1

    def __exit__(self, kind: Any, error: Any, _tb: Any) -> None:
        sup = self.sup
        sup._depth -= 1
        if sup._depth:
            return
        if kind is not None and (
            not issubclass(kind, Exception) or sup._batch.journal_first + len(sup._batch.journal) != sup._step_mark
        ):
            # half a step is in memory: never commit it (see the module docstring)
            sup._removals.clear()
            sup.abandon(f"a step was interrupted ({kind.__name__})")
            return
        sup._leave()
