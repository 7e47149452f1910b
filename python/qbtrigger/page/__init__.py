"""An HTML page that shows a submission: its dependency graph and, after ``simulate``, the run's
timeline and report (``qbtrigger simulate FILE --html PATH``, ``qbtrigger explain FILE --html PATH``).

The drawing needs the optional ``report`` extra (plotly, networkx): :func:`require_report_extra`
says clearly when it is missing, before any work is done. :class:`RunRecorder` (no extra needed)
watches a simulation for the timeline. What the page shows is written in docs/report-page.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from ..errors import Error
from .recorder import RunRecorder

if TYPE_CHECKING:
    from ..supervisor import SimReport, Supervisor

__all__ = ["ReportExtraMissing", "REPORT_MODULES", "require_report_extra", "RunRecorder",
           "write_simulation_page", "write_submission_page"]

#: The modules of the ``report`` extra (pyproject.toml's [project.optional-dependencies]).
REPORT_MODULES = ("plotly", "networkx")


class ReportExtraMissing(Error, ImportError):
    """The ``report`` extra (plotly, networkx) is not installed."""


def require_report_extra(what: str = "the HTML page") -> None:
    """Raise :class:`ReportExtraMissing`, naming the extra and what is missing, unless every
    module of the ``report`` extra imports."""
    missing = []
    for name in REPORT_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ReportExtraMissing(
            f"{what} needs the optional 'report' extra, which is not installed (missing: {', '.join(missing)}); "
            f"install it with: pip install 'qbtrigger[report]'"
        )


def write_submission_page(path: str, batches: Sequence[Sequence[Mapping[str, Any]]], source: str) -> int:
    """``explain --html``: the graph of a submission that has not run; the bytes written."""
    require_report_extra()
    from .submission import submission_page

    return _write(path, submission_page(batches, source))


def write_simulation_page(path: str, report: "SimReport", supervisor: "Supervisor",
                          recorder: Optional[RunRecorder], source: str) -> int:
    """``simulate --html``: the numbers, the timeline and the graph of a run; the bytes written."""
    require_report_extra()
    from .simulation import simulation_page

    return _write(path, simulation_page(report, supervisor, recorder, source))


def _write(path: str, text: str) -> int:
    data = text.encode("utf-8")
    with open(path, "wb") as handle:
        handle.write(data)
    return len(data)


