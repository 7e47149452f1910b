"""``qbtrigger explain FILE --html PATH``: the page of a submission that has not run.

Its jobs get provisional ids (each ``qb.submit`` call its own pgrp, as a farm would number them),
the graph is built from their ``dependency`` fields and callbacks, and the jobs that ``check``
finds an error in (a dependency cycle, a label naming no job...) are ringed with the finding.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List, Mapping, Sequence

from ..callbacks.checks import PROVISIONAL_FIRST_ID, check_submission, with_provisional_ids
from ..callbacks.fields import normalize_job
from ..callbacks.jobs import job_name
from ..vocabulary import LANGUAGE_FLAGS
from .document import numbers_html, render_page
from .graph import graph_figure
from .model import Graph, build_graph

__all__ = ["submission_page"]

#: Provisional ids of one ``qb.submit`` call and the next are this far apart.
_BATCH_STRIDE = 10_000_000


def _copy(job: Any) -> Any:
    if not isinstance(job, dict):
        return job
    try:
        job = json.loads(json.dumps(job))
    except (TypeError, ValueError):
        job = copy.deepcopy(job)
    normalize_job(job)
    return job


def submission_page(batches: Sequence[Sequence[Mapping[str, Any]]], source: str) -> str:
    jobs: List[Any] = []
    findings: Dict[int, List[str]] = {}
    for number, batch in enumerate(batches):
        first = PROVISIONAL_FIRST_ID + number * _BATCH_STRIDE
        numbered = with_provisional_ids([_copy(job) for job in batch], first)
        ids = {job_name(job, i): job.get("id") for i, job in enumerate(numbered) if isinstance(job, dict)}
        for finding in check_submission(list(batch), language_flags=",".join(LANGUAGE_FLAGS), first_id=first):
            jobid = ids.get(finding.job)
            if finding.level == "error" and isinstance(jobid, int):
                findings.setdefault(jobid, []).append(finding.message)
        jobs += numbered
    graph = build_graph(jobs)
    for jobid, messages in findings.items():
        node = graph.nodes.get(jobid)
        if node is not None:
            node.problem = "\n".join(messages)
    for node in graph.nodes.values():  # provisional ids mean nothing to the reader
        node.lines = [line for line in node.lines if not line.startswith("job ")]
    title = f"qbtrigger explain {source}"
    sections = [
        ("numbers", "", numbers_html(_numbers(graph, len(batches), sum(len(m) for m in findings.values()))), ""),
        ("graph", "Dependency graph", graph_figure(graph, "jobs and what they wait for", problem_name="findings"),
         "Each job is a node, right of the jobs it waits for; arrows run from the awaited job to the one "
         "that waits (solid: its dependency field, dashed: its callbacks' triggers). A frame-by-frame link is one "
         "large arrow counting its frames. Jobs ringed in red have a finding of qbtrigger check (hover for it). "
         "Nothing was run: orange jobs are submitted blocked, light blue ones pending."),
    ]
    return render_page(title, sections)


def _numbers(graph: Graph, batches: int, problems: int) -> List[tuple]:
    links = sum(link.count for link in graph.links.values())
    return [
        ("jobs", f"{len(graph.nodes):,}"),
        ("submissions", f"{batches:,}"),
        ("work items", f"{sum(n.work for n in graph.nodes.values()):,}"),
        ("links between jobs", f"{links:,}"),
        ("edges drawn", f"{len(graph.links):,}"),
        ("check findings", f"{problems:,}"),
    ]
