"""``qbtrigger simulate FILE --html PATH``: the page of a run: the report's numbers, the timeline,
the dependency graph with the stuck jobs ringed and their root causes, and the stuck list.

Everything comes from the run's report (:class:`SimReport`: states, callbacks fired, stuck jobs
and why), the supervisor's jobs (their fields, for the graph) and the :class:`RunRecorder` that
watched the run (bars, firings, causes, callbacks acting on other jobs).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

from ..supervisor.report import StuckItem, StuckJob, format_duration, job_title
from .document import Section, numbers_html, render_page, table_html
from .graph import escape as _escape
from .graph import graph_figure
from .model import ACTS, build_graph
from .recorder import ItemKey, RunRecorder
from .timeline import timeline_figure

if TYPE_CHECKING:
    from ..supervisor import SimReport, Supervisor

__all__ = ["simulation_page", "root_cause"]

#: Stuck work items named per stuck job (in the hover and the list).
STUCK_ITEMS_SHOWN = 8


def root_cause(stuck: StuckJob, titles: Mapping[int, str]) -> str:
    """What the report says a stuck job waits for, in a few lines: its reason, the callbacks that
    would release it and what they await, then its first stuck work items and theirs."""
    lines = [stuck.reason]
    for wait in stuck.callbacks:
        lines.append(f"{wait.callback} waits for: {', '.join(wait.awaited) or 'its next event'}")
    for item in stuck.work[:STUCK_ITEMS_SHOWN]:
        awaited = sorted({a for wait in item.callbacks for a in wait.awaited})
        why = f"; waits for {', '.join(awaited[:4])}" if awaited else ""
        lines.append(f"work '{item.work}' {_item_reason(item)}{why}")
    if len(stuck.work) > STUCK_ITEMS_SHOWN:
        lines.append(f"... and {len(stuck.work) - STUCK_ITEMS_SHOWN:,} more stuck work item(s)")
    return "\n".join(lines)


def _item_reason(item: StuckItem) -> str:
    """"is blocked: its dependency waits for ...", whether or not the report's reason starts so."""
    return _phrase(item.reason, item.status)


def _phrase(reason: str, status: str) -> str:
    return reason if reason.startswith(("is ", "has ")) else f"is {status}: {reason}"


def simulation_page(report: "SimReport", supervisor: "Supervisor", recorder: Optional[RunRecorder],
                    source: str) -> str:
    jobs = supervisor.jobinfo()
    titles = {j["id"]: job_title(j["id"], j.get("label"), j.get("name")) for j in jobs}
    titles.update({j.id: j.title for j in report.jobs})
    statuses = report.statuses()
    graph = build_graph(jobs)
    stuck_by_id = {s.id: s for s in report.stuck}
    by_id = {j.id: j for j in report.jobs}
    job_hover: Dict[int, str] = {}
    for jobid, node in graph.nodes.items():
        job = by_id.get(jobid)
        if job is None:
            continue
        node.status = job.status
        node.lines.append(f"work: {_work_text(job.work)}")
        node.lines.append(f"callbacks fired: {job.callbacks_fired:,}")
        if jobid in stuck_by_id:
            node.problem = root_cause(stuck_by_id[jobid], titles)
        job_hover[jobid] = "<br>".join([f"<b>{_escape(node.title)}</b>: {job.status}"]
                                       + [_escape(line) for line in node.lines])
    if recorder is not None:
        for (owner, target, verb), count in recorder.acts.items():
            graph.link(owner, target, ACTS, False, verb, count)
    final = _final_states(jobs) if recorder is not None and recorder.detailed else {}
    sections: List[Section] = [("numbers", "", numbers_html(_numbers(report, recorder)) + _jobs_table(report, recorder), "")]
    if recorder is not None:
        stuck_items = [((s.id, "work", str(item.work)), _item_reason(item)) for s in report.stuck for item in s.work
                       if item.work is not None]
        sections.append(("timeline", "Timeline", timeline_figure(recorder, titles, statuses, final, job_hover, stuck_items),
                         _timeline_note(recorder)))
    sections.append(("graph", "Dependency graph", graph_figure(graph, "jobs and what they wait for"),
                     "Each job is a node coloured by its final state, right of the jobs it waits for. Arrows run from "
                     "the awaited job to the one that waits (solid: dependency field, dashed: callback triggers, "
                     "dotted: a callback that acted on another job in this run); a frame-by-frame link is one large "
                     "arrow counting its frames. Stuck jobs are ringed in red with their root cause (hover for all of it)."))
    if report.stuck:
        sections.append(("stuck", f"Stuck: {len(report.stuck):,} job(s) cannot go on", _stuck_list(report, titles), ""))
    return render_page(f"qbtrigger simulate {source}", sections)


def _work_text(work: Mapping[str, int]) -> str:
    return ", ".join(f"{state} {count:,}" for state, count in sorted(work.items()) if count) or "no work"


def _numbers(report: "SimReport", recorder: Optional[RunRecorder]) -> List[Tuple[str, str]]:
    fired = sum(j.callbacks_fired for j in report.jobs)
    out = [
        ("outcome", "every job finished" if report.finished else f"{len(report.stuck):,} job(s) stuck"),
        ("jobs", f"{len(report.jobs):,}"),
        ("work items", f"{sum(sum(j.work.values()) for j in report.jobs):,}"),
        ("makespan", format_duration(report.makespan)),
        ("events", f"{report.events:,}"),
        ("callbacks fired", f"{fired:,}"),
        ("steps", f"{report.steps:,}"),
    ]
    if recorder is not None:
        out.append(("virtual workers", f"{recorder.simulator.workers:,}"))
    return out


def _jobs_table(report: "SimReport", recorder: Optional[RunRecorder]) -> str:
    spans = recorder.spans if recorder is not None else {}
    rows = []
    for job in report.jobs:
        span = spans.get(job.id)
        rows.append([job.title, job.id, job.status, _work_text(job.work), job.callbacks_fired,
                     format_duration(span.first) if span else "-", format_duration(span.last) if span else "-"])
    stuck = {s.id for s in report.stuck}
    return table_html(["job", "id", "final state", "work items", "callbacks fired", "first start", "last end"], rows,
                      numeric=(1, 4), row_class=["stuck" if job.id in stuck else "" for job in report.jobs])


def _timeline_note(recorder: RunRecorder) -> str:
    if recorder.detailed:
        return ("One bar per run of a work item (or instance) on the virtual worker that ran it, coloured by how the "
                "run ended; diamonds mark callbacks that changed something. Hover a bar for the item's events and "
                "what released it, a diamond for what fired the callback and what it did; a red cross on the "
                "stuck row is a work item that cannot go on (hover for why). Drag or scroll to zoom, "
                "double-click to reset.")
    return (f"More than {recorder.detail_limit:,} runs: one bar per job, from its first item starting to its last ending, "
            "coloured by its final state; below, the callbacks fired over time. Hover a bar for the job's numbers; "
            "drag or scroll to zoom.")


def _stuck_list(report: "SimReport", titles: Mapping[int, str]) -> str:
    items = []
    for stuck in report.stuck:
        lines = root_cause(stuck, titles).split("\n")
        sub = "".join(f"<li>{html.escape(line)}</li>" for line in lines[1:])
        items.append(f'<li class="stuck-job" data-job="{stuck.id}"><b>{html.escape(stuck.title)}</b> '
                     f"(job {stuck.id}) {html.escape(_phrase(lines[0], stuck.status))}"
                     + (f"<ul>{sub}</ul>" if sub else "") + "</li>")
    return f'<ul class="stuck">{"".join(items)}</ul>'


def _final_states(jobs: List[Dict[str, Any]]) -> Dict[ItemKey, str]:
    final: Dict[ItemKey, str] = {}
    for job in jobs:
        jobid = job["id"]
        agenda = job.get("agenda") or []
        if agenda:
            for work in agenda:
                final[(jobid, "work", str(work["name"]))] = work["status"]
        else:
            for sub in job.get("subjobs") or []:
                final[(jobid, "subjob", str(sub["id"]))] = sub["status"]
    return final


