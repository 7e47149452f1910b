"""The dependency graph drawn: jobs as nodes in layers (a job right of what it waits for), links as
arrows, stuck jobs ringed in red with their root cause.

The layout is networkx's: the graph's strongly connected components (a dependency cycle is one)
are condensed, layered by :func:`networkx.topological_generations` (each job one layer right of
the furthest job it waits for) and ordered within a layer by the mean height of what they wait for,
so most links run left to right without crossing. Drawn with plotly (imported here: the ``report``
extra).
"""

from __future__ import annotations

import math
import re
from typing import Dict, List, Tuple

import networkx as nx
import plotly.graph_objects as go

from .model import ACTS, CALLBACK, DEPENDENCY, Graph
from .style import PROBLEM_COLOR, state_color

__all__ = ["layout", "graph_figure", "escape", "LABELS_SHOWN"]

#: Up to this many jobs each node shows its name and each per-frame link its count; beyond, they
#: are in the hover only.
LABELS_SHOWN = 150

_LINK_STYLE = {
    DEPENDENCY: ("#1f77b4", "solid"),
    CALLBACK: ("#6a3d9a", "dash"),
    ACTS: ("#e6550d", "dot"),
}


def layout(graph: Graph) -> Dict[int, Tuple[float, float]]:
    """Job id -> (x, y): x the layer, y the place within it (0 at the top, going down)."""
    g = nx.DiGraph()
    g.add_nodes_from(sorted(graph.nodes))
    g.add_edges_from((link.source, link.target) for link in graph.links.values() if link.kind != ACTS)
    condensed = nx.condensation(g)
    members: Dict[int, List[int]] = {}
    for jobid, component in condensed.graph["mapping"].items():
        members.setdefault(component, []).append(jobid)
    where: Dict[int, Tuple[float, float]] = {}
    for depth, generation in enumerate(nx.topological_generations(condensed)):
        def height(component: int) -> Tuple[float, int]:
            waited = [where[p][1] for m in members[component] for p in g.predecessors(m) if p in where]
            return (sum(waited) / len(waited) if waited else -1.0, min(members[component]))

        row = 0
        for component in sorted(generation, key=height):
            for jobid in sorted(members[component]):
                where[jobid] = (float(depth), float(row))
                row += 1
    return where


def graph_figure(graph: Graph, title: str, *, problem_name: str = "stuck") -> go.Figure:
    """The figure: one trace of lines and one of arrow heads (with the hover) per link kind, the
    jobs coloured by state, and the stuck ones (with a ``problem``) ringed and named in red."""
    where = layout(graph)
    titles = graph.titles()
    pairs = {(link.source, link.target) for link in graph.links.values()}
    show_labels = len(graph.nodes) <= LABELS_SHOWN  # past it, names and counts are in the hover only
    fig = go.Figure()
    for kind, (colour, dash) in _LINK_STYLE.items():
        links = [link for link in graph.links.values() if link.kind == kind]
        if not links:
            continue
        xs: List[object] = []
        ys: List[object] = []
        heads_x, heads_y, angles, texts, widths, labels = [], [], [], [], [], []
        for link in links:
            (x0, y0), (x1, y1) = where[link.source], where[link.target]
            # a link with one back (a cycle) or sharing a layer bends, so the two do not overlap
            bend = 0.18 if (link.target, link.source) in pairs or x0 == x1 else 0.0
            points = _curve((x0, y0), (x1, y1), bend)
            for x, y in points:
                xs.append(x)
                ys.append(y)
            xs.append(None)
            ys.append(None)
            (ax, ay), (bx, by) = points[len(points) // 2 - 1], points[len(points) // 2 + 1]
            heads_x.append(points[len(points) // 2][0])
            heads_y.append(points[len(points) // 2][1])
            # plotly's "arrow" symbol points up at angle 0 (clockwise), and rows go down the page
            angles.append(90 - math.degrees(math.atan2(-(by - ay), bx - ax)) if (ax, ay) != (bx, by) else 0)
            texts.append(link.describe(titles))
            widths.append((17 if link.per_frame else 11) if show_labels else 7)
            labels.append(f"{link.count:,} frames" if link.per_frame and show_labels else "")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "dash": dash, "width": 1.5},
                                 hoverinfo="skip", name=f"{kind} links", legendgroup=kind))
        fig.add_trace(go.Scatter(
            x=heads_x, y=heads_y, mode="markers+text", name=f"{kind} (per frame: large arrow)", legendgroup=kind,
            text=labels, textposition="top center", textfont={"size": 10, "color": colour},
            marker={"symbol": "arrow", "angle": angles, "size": widths, "color": colour},
            hovertext=texts, hoverinfo="text", showlegend=False,
        ))
    ordered = sorted(graph.nodes.values(), key=lambda n: n.id)
    fig.add_trace(go.Scatter(
        x=[where[n.id][0] for n in ordered], y=[where[n.id][1] for n in ordered],
        mode="markers+text" if show_labels else "markers", name="jobs",
        text=[n.title for n in ordered], textposition="top center",
        marker={"size": 18, "color": [state_color(n.status) for n in ordered], "line": {"width": 1, "color": "#333"}},
        hovertext=[_node_hover(n.title, n.status, n.lines, n.problem) for n in ordered], hoverinfo="text",
    ))
    stuck = [n for n in ordered if n.problem]
    if stuck:
        fig.add_trace(go.Scatter(
            x=[where[n.id][0] for n in stuck], y=[where[n.id][1] for n in stuck],
            mode="markers+text", name=problem_name, textposition="middle right",
            text=[f"⚠ {n.title}: {_short(_CAUSE_LEAD.sub('', n.problem or ''))}" if show_labels else f"⚠ {n.title}"
                  for n in stuck],
            textfont={"color": PROBLEM_COLOR},
            marker={"size": 30, "color": "rgba(0,0,0,0)", "line": {"width": 3, "color": PROBLEM_COLOR}},
            hovertext=[_node_hover(n.title, n.status, n.lines, n.problem) for n in stuck], hoverinfo="text",
        ))
    layers = max((x for x, _ in where.values()), default=0) + 1
    rows = max((y for _, y in where.values()), default=0) + 1
    fig.update_layout(
        title={"text": title}, showlegend=True, hovermode="closest", plot_bgcolor="white",
        height=int(min(900, max(300, 80 * rows + 150))), margin={"l": 30, "r": 30, "t": 60, "b": 30},
        xaxis={"visible": False, "range": [-0.6, layers - 0.4 + (1.2 if stuck and show_labels else 0)]},
        yaxis={"visible": False, "autorange": "reversed"},
        legend={"orientation": "h", "y": -0.02},
    )
    return fig


def _curve(start: Tuple[float, float], end: Tuple[float, float], bend: float, steps: int = 12) -> List[Tuple[float, float]]:
    """Points along a quadratic curve from ``start`` to ``end`` bowed by ``bend`` times its length
    to the right of its direction (0: a straight line; two opposite links bow apart)."""
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 - dy * bend, (y0 + y1) / 2 + dx * bend
    out = []
    for i in range(steps + 1):
        t = i / steps
        out.append(((1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t * t * x1,
                    (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t * t * y1))
    return out


#: "is blocked: " or "has blocked frames: " before a stuck job's cause: the ring already says so.
_CAUSE_LEAD = re.compile(r"\A(?:is|has) [^:]{1,40}: ")


def _short(text: str, limit: int = 70) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _node_hover(title: str, status: str, lines: List[str], problem: object) -> str:
    out = [f"<b>{escape(title)}</b>: {status}"] + [escape(line) for line in lines]
    if problem:
        out.append(f"<b>stuck</b>: {escape(str(problem))}".replace("\n", "<br>"))
    return "<br>".join(out)


def escape(text: str) -> str:
    """Text for plotly's hover labels (which read a little HTML): &, < and > only."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
