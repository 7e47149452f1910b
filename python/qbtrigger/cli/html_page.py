"""The ``--html PATH`` option of ``simulate`` and ``explain``: the page of :mod:`qbtrigger.page`,
with its errors (the ``report`` extra missing, a file that cannot be written) as CLI errors."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from .common import CLIError

if TYPE_CHECKING:
    from qbtrigger.page import RunRecorder
    from qbtrigger.supervisor import SimReport, Simulator, Supervisor

__all__ = ["require_extra", "record", "write_submission", "write_simulation"]


def require_extra(command: str) -> None:
    """Refuse at once, before anything runs, when the ``report`` extra is not installed."""
    from qbtrigger.page import ReportExtraMissing, require_report_extra

    try:
        require_report_extra(command)
    except ReportExtraMissing as exc:
        raise CLIError(str(exc)) from None


def record(simulator: "Simulator", command: str = "simulate --html") -> "RunRecorder":
    """Check the extra, and start recording the simulation for its timeline."""
    from qbtrigger.page import RunRecorder

    require_extra(command)
    return RunRecorder(simulator)


def write_submission(path: str, batches: Sequence[Sequence[Mapping[str, Any]]], source: str) -> None:
    from qbtrigger.page import write_submission_page

    _write(path, lambda: write_submission_page(path, batches, source))


def write_simulation(path: str, report: "SimReport", supervisor: "Supervisor",
                     recorder: Optional["RunRecorder"], source: str) -> None:
    from qbtrigger.page import write_simulation_page

    _write(path, lambda: write_simulation_page(path, report, supervisor, recorder, source))


def _write(path: str, write: Any) -> None:
    started = time.perf_counter()
    try:
        size = write()
    except OSError as exc:
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from None
    print(f"wrote {path}: {size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s", file=sys.stderr)
