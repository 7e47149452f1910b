"""Ctrl-C and SIGTERM for long commands: stop at a safe point first, at once only when asked twice.

While a :class:`GracefulStop` is active, the first SIGINT or SIGTERM calls its ``stop`` function
(the simulator then ends at the next step boundary, its store committed there) and nothing is
interrupted; a second one raises ``KeyboardInterrupt`` where the program is (the supervisor then
abandons the half-done step: nothing of it is stored). Either way the store holds whole steps
only, and the exit status is the shell's convention: 128 + the signal number (130 for Ctrl-C).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Callable, Dict, Optional

__all__ = ["GracefulStop"]

_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


class GracefulStop:
    """``with GracefulStop(stop) as guard:`` around a long run; afterwards ``guard.signum`` is the
    first signal received (None: none), ``guard.forced`` whether a second one interrupted it."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self.signum: Optional[int] = None
        self.forced = False
        self._saved: Dict[int, Any] = {}

    @property
    def name(self) -> str:
        """The first signal's name (``SIGINT``)."""
        return "" if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """128 + the first signal's number."""
        return 128 + (self.signum or signal.SIGINT)

    def _handle(self, signum: int, _frame: Optional[FrameType]) -> None:
        if self.signum is None:
            self.signum = signum
            self._stop()
            return
        self.forced = True
        raise KeyboardInterrupt

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():  # handlers only install there
            for signum in _SIGNALS:
                self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()
