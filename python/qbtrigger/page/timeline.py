"""The run over virtual time, drawn with plotly.

Detailed (a recorder that kept every run): one bar per run of a work item or instance on the
virtual worker that ran it, coloured by how the run ended (its final state, for the last run), and
a row of markers for the callbacks that changed something, each saying what fired it and what it
did. The hover of a bar gives the item's last events and what released it.

Aggregated (past the recorder's detail limit): one bar per job from its first start to its last
end, coloured by its final state, and under it the callbacks fired per moment as a histogram.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .recorder import ItemKey, Run, RunRecorder
from .graph import escape as _escape
from .style import FIRING_COLOR, PROBLEM_COLOR, state_color

__all__ = ["timeline_figure", "item_title", "BAR_TEXT_LIMIT", "HISTOGRAM_BINS"]

#: Up to this many bars each names its item inside it.
BAR_TEXT_LIMIT = 300
#: Bins of the aggregated view's callback histogram.
HISTOGRAM_BINS = 200
#: The timeline's row of callback markers.
CALLBACK_ROW = "callbacks"
#: The row of stuck work items, and how many are marked.
STUCK_ROW = "stuck"
STUCK_SHOWN = 2000


def item_title(key: ItemKey, titles: Mapping[int, str]) -> str:
    """"comp frame 7" as the page names it: a work item by name, an instance by number."""
    jobid, type_, extra = key
    job = titles.get(jobid, f"job {jobid}")
    return f"{job} work '{extra}'" if type_ == "work" else f"{job} instance {extra}"


def _seconds(value: float) -> str:
    return f"{value:,.1f} s"


def timeline_figure(recorder: RunRecorder, titles: Mapping[int, str], statuses: Mapping[int, str],
                    final: Mapping[ItemKey, str], job_hover: Mapping[int, str],
                    stuck: Sequence[Tuple[ItemKey, str]] = ()) -> go.Figure:
    """The figure for what ``recorder`` saw: detailed when it kept every run, else by job.
    ``stuck``: stuck work items with their root cause, marked on a row of their own (detailed)."""
    if recorder.detailed:
        return _detailed(recorder, titles, final, stuck)
    return _by_job(recorder, titles, statuses, job_hover)


def _detailed(recorder: RunRecorder, titles: Mapping[int, str], final: Mapping[ItemKey, str],
              stuck: Sequence[Tuple[ItemKey, str]]) -> go.Figure:
    runs: List[Run] = recorder.runs + recorder.still_running()
    hosts = sorted({run.host for run in runs})
    fig = go.Figure()
    by_outcome: Dict[str, List[Run]] = {}
    for run in runs:
        by_outcome.setdefault(run.outcome, []).append(run)
    show_text = len(runs) <= BAR_TEXT_LIMIT
    for outcome, group in sorted(by_outcome.items()):
        fig.add_trace(go.Bar(
            orientation="h", name=f"ran, then {outcome}" if outcome != "complete" else "ran to complete",
            y=[run.host for run in group], base=[run.start for run in group],
            x=[max(run.end - run.start, 1e-3) for run in group],
            marker={"color": state_color(outcome), "line": {"width": 0.5, "color": "#333"}},
            text=[_bar_text(run.key, titles) for run in group] if show_text else None,
            textposition="inside", insidetextanchor="middle", textfont={"size": 10},
            hovertext=[_run_hover(run, recorder, titles, final) for run in group], hoverinfo="text",
        ))
    if recorder.firings:
        fig.add_trace(go.Scatter(
            x=[f.time for f in recorder.firings], y=[CALLBACK_ROW] * len(recorder.firings), mode="markers",
            name="callback fired", marker={"symbol": "diamond", "size": 10, "color": FIRING_COLOR},
            hovertext=[_firing_hover(f.time, f.text, f.effects) for f in recorder.firings], hoverinfo="text",
        ))
    shown = list(stuck[:STUCK_SHOWN])
    if shown:  # each at its last event: when it was last held
        fig.add_trace(go.Scatter(
            x=[_last_event(recorder, key) for key, _ in shown], y=[STUCK_ROW] * len(shown), mode="markers",
            name="stuck work item", marker={"symbol": "x", "size": 11, "color": PROBLEM_COLOR},
            hovertext=[f"<b>{_escape(item_title(key, titles))}</b><br>{_escape(why)}".replace("\n", "<br>")
                       for key, why in shown], hoverinfo="text",
        ))
    rows = ([CALLBACK_ROW] if recorder.firings else []) + hosts + ([STUCK_ROW] if shown else [])
    if not runs:
        fig.add_annotation(text="nothing ran: no work item was ever released to a worker (see what is stuck below)",
                           showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    fig.update_layout(
        barmode="overlay", hovermode="closest", plot_bgcolor="white",
        height=int(min(900, max(320, 34 * len(rows) + 170))),
        margin={"l": 90, "r": 30, "t": 40, "b": 50},
        xaxis={"title": {"text": "virtual seconds since the simulation started"}, "gridcolor": "#eee",
               "zeroline": False},
        yaxis={"categoryorder": "array", "categoryarray": list(reversed(rows)), "title": {"text": "virtual worker"}},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


def _last_event(recorder: RunRecorder, key: ItemKey) -> float:
    log = recorder.items.get(key)
    return log.events[-1][0] if log is not None and log.events else 0.0


def _bar_text(key: ItemKey, titles: Mapping[int, str]) -> str:
    jobid, type_, extra = key
    return f"{titles.get(jobid, jobid)} {extra}"


def _run_hover(run: Run, recorder: RunRecorder, titles: Mapping[int, str], final: Mapping[ItemKey, str]) -> str:
    lines = [f"<b>{_escape(item_title(run.key, titles))}</b> (job {run.key[0]})",
             f"{_escape(run.host)}: {_seconds(run.start)} → {_seconds(run.end)}, {run.outcome}"]
    state = final.get(run.key)
    if state:
        lines.append(f"final state: {state}")
    log = recorder.items.get(run.key)
    if log is not None:
        if log.released_by:
            lines.append(f"released by {_escape(log.released_by)} at {_seconds(log.released_at or 0.0)}")
        lines.append("its events:")
        lines += [f"&nbsp;&nbsp;{_seconds(t)}&nbsp;&nbsp;{_escape(text)}" + (f" <i>({_escape(why)})</i>" if why else "")
                  for t, text, why in log.events]
    return "<br>".join(lines)


def _firing_hover(time: float, text: str, effects: Sequence[str]) -> str:
    did = "<br>".join(f"&nbsp;&nbsp;→ {_escape(e)}" for e in effects)
    return f"<b>{_seconds(time)}</b>: {_escape(text)}<br>it caused:<br>{did}"


def _by_job(recorder: RunRecorder, titles: Mapping[int, str], statuses: Mapping[int, str],
            job_hover: Mapping[int, str]) -> go.Figure:
    spans = sorted(recorder.spans.items())
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.04)
    groups: Dict[str, List[Tuple[int, float, float]]] = {}
    for jobid, span in spans:
        groups.setdefault(statuses.get(jobid, "?"), []).append((jobid, span.first, span.last))
    for status, group in sorted(groups.items()):
        fig.add_trace(go.Bar(
            orientation="h", name=f"job {status}", y=[titles.get(j, str(j)) for j, _, _ in group],
            base=[first for _, first, _ in group], x=[max(last - first, 1e-3) for _, first, last in group],
            marker={"color": state_color(status)},
            hovertext=[job_hover.get(j, "") for j, _, _ in group], hoverinfo="text",
        ), row=1, col=1)
    centres, counts, width = _histogram(list(recorder.firing_times))
    if counts:
        fig.add_trace(go.Bar(x=centres, y=counts, width=width, name="callbacks fired",
                             marker={"color": FIRING_COLOR},
                             hovertemplate="%{y:,} callback(s) fired around %{x:,.0f} s<extra></extra>"), row=2, col=1)
    order = [titles.get(j, str(j)) for j, _ in reversed(spans)]
    fig.update_layout(
        barmode="overlay", hovermode="closest", plot_bgcolor="white", height=900,
        margin={"l": 90, "r": 30, "t": 40, "b": 50},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"},
        yaxis={"categoryorder": "array", "categoryarray": order, "showticklabels": len(order) <= 60,
               "title": {"text": f"{len(order):,} jobs (first start to last end)"}},
        yaxis2={"title": {"text": "fired"}},
        xaxis2={"title": {"text": "virtual seconds since the simulation started"}},
    )
    return fig


def _histogram(times: List[float]) -> Tuple[List[float], List[int], Optional[float]]:
    """Bin centres, counts and bin width of ``times`` in :data:`HISTOGRAM_BINS` bins."""
    if not times:
        return [], [], None
    low, high = min(times), max(times)
    width = (high - low) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for t in times:
        counts[min(int((t - low) / width), HISTOGRAM_BINS - 1)] += 1
    return [low + (i + 0.5) * width for i in range(HISTOGRAM_BINS)], counts, width
