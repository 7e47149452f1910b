"""The page's look, in one place: a colour per state, and the plotly settings every figure shares."""

from __future__ import annotations

from typing import Any, Dict

from ..vocabulary import BLOCKED, COMPLETE, FAILED, KILLED, PENDING, RUNNING, SUSPENDED, WAITING

__all__ = ["STATE_COLORS", "PROBLEM_COLOR", "FIRING_COLOR", "PLOTLY_CONFIG", "state_color"]

#: Final (or submitted) state -> colour: done states green/red/grey, held ones amber/violet.
STATE_COLORS: Dict[str, str] = {
    COMPLETE: "#2ca02c",
    FAILED: "#d62728",
    KILLED: "#7f7f7f",
    RUNNING: "#1f77b4",
    PENDING: "#9ecae1",
    WAITING: "#17becf",
    BLOCKED: "#ff7f0e",
    SUSPENDED: "#9467bd",
}
#: The ring around a stuck job, and its root-cause text.
PROBLEM_COLOR = "#c00000"
#: Callback firing markers.
FIRING_COLOR = "#6a3d9a"

#: Plotly's own toolbar, without its logo; zoom with the wheel; every figure resizes with the page.
PLOTLY_CONFIG: Dict[str, Any] = {"displaylogo": False, "scrollZoom": True, "responsive": True}


def state_color(state: str) -> str:
    return STATE_COLORS.get(state, "#bcbd22")
