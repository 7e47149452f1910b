"""The HTML page's data (qbtrigger.page), without a browser: the graph's links counted per pair of
jobs, the recorder's runs, causes and aggregation, the page's content, and the message when the
``report`` extra is missing. tests/test_page_browser.py opens the pages in Chromium."""

import json
import re
import sys
from pathlib import Path

import pytest

from qbtrigger import atoms_of, parse
from qbtrigger.cli import main
from qbtrigger.page import RunRecorder
from qbtrigger.page.model import CALLBACK, DEPENDENCY, _Resolver, build_graph
from qbtrigger.callbacks.jobs import read_job
from qbtrigger.supervisor import Simulator, Supervisor

from chromium import need_report_extra

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def chain(jobs, frames):
    """benchmarks/simulate_bench.py's submission: job k+1's frame f waits on job k's frame f."""
    names = [str(f) for f in range(frames)]
    out = []
    for k in range(jobs):
        job = {"label": f"j{k}", "agenda": names}
        if k:
            job["agenda"] = [{"name": n, "status": "blocked"} for n in names]
            job["callbacks"] = [{"triggers": f"complete-work-j{k - 1}-{n}", "language": "qube",
                                 "code": "unblock-work-self"} for n in names]
        out.append(job)
    return out


def with_ids(jobs, first=1):
    return [dict(job, id=first + i, pgrp=first) for i, job in enumerate(jobs)]


# ---------------------------------------------------------------------------- the graph's data
def test_per_frame_callbacks_are_one_link_counting_them():
    graph = build_graph(with_ids(chain(3, 50)))
    assert [n.title for n in graph.nodes.values()] == ["j0", "j1", "j2"]
    links = sorted(graph.links.values(), key=lambda link: link.source)
    assert [(link.source, link.target, link.kind, link.per_frame, link.count) for link in links] == [
        (1, 2, CALLBACK, True, 50), (2, 3, CALLBACK, True, 50)]
    assert "j1 waits for j0, frame by frame (50 links" in links[0].describe(graph.titles())


def test_dependency_entries_link_jobs_and_frames():
    jobs = with_ids([
        {"label": "render", "agenda": ["1", "2", "3"]},
        {"label": "comp", "agenda": ["1", "2", "3"], "dependency": "link-complete-work-render"},
        {"name": "publish", "dependency": "link-complete-job-comp, 1"},
    ])
    graph = build_graph(jobs)
    got = {(link.source, link.target, link.kind, link.per_frame): link.count for link in graph.links.values()}
    assert got == {(1, 2, DEPENDENCY, True): 3, (2, 3, DEPENDENCY, False): 1, (1, 3, DEPENDENCY, False): 1}
    assert graph.nodes[3].title == "publish" and graph.nodes[3].status == "blocked"
    assert graph.nodes[2].status == "pending"  # frames wait, the job itself is not held


def test_the_per_frame_shortcut_reads_atoms_as_the_parser_does():
    view, _ = read_job({"id": 5, "pgrp": 1, "label": "comp"}, 0)
    render, _ = read_job({"id": 4, "pgrp": 1, "label": "render"}, 1)
    resolver = _Resolver([view, render])
    for text in ["complete-work-render-7", "done-subjob-4-3", "COMPLETE-work-render-x.exr", "failed-work-self-9",
                 "complete-work-render-7 && complete-work-fx-7", "complete-job-render", "complete-work-render-*",
                 "complete-work-render-8"]:
        atoms = atoms_of(parse(text, owner=5, pid=None))
        assert resolver.atoms(text, view) == atoms, text
        named = [(4 if a.context in ("label", "id") else 5, a.type != "job" and a.extra != "*", a.canonical())
                 for a in atoms if a.label in ("render", None) and a.job in (4, None) and a.context != "global"]
        assert resolver.links(text, view) == named, text


# ---------------------------------------------------------------------------- the recorder
def run_recorded(jobs, workers=2, detail_limit=None, **kwargs):
    sup = Supervisor(clock=0, language_flags="qube,python,dependency", default_user="me")
    sim = Simulator(sup, workers=workers, seed=1, **kwargs)
    recorder = RunRecorder(sim) if detail_limit is None else RunRecorder(sim, detail_limit=detail_limit)
    sup.submit(jobs)
    report = sim.run()
    return sup, report, recorder


def test_the_recorder_keeps_each_run_on_its_worker_and_what_released_it():
    sup, report, recorder = run_recorded([
        {"label": "render", "agenda": ["1", "2", "3"]},
        {"label": "comp", "agenda": ["1", "2", "3"], "dependency": "link-complete-work-render"},
    ])
    assert report.finished and recorder.detailed
    assert sorted((r.key, r.outcome) for r in recorder.runs) == sorted(
        ((jobid, "work", n), "complete") for jobid in (1, 2) for n in "123")
    assert {r.host for r in recorder.runs} == {"host01", "host02"}
    for run in recorder.runs:
        assert run.end > run.start
    comp3 = recorder.items[(2, "work", "3")]
    assert comp3.released_by == "comp's dependency, on complete-work-1-3"
    render3 = next(r for r in recorder.runs if r.key == (1, "work", "3"))
    assert comp3.released_at == render3.end
    assert len(recorder.firings) == 3 and all(f.effects[0].startswith("pending-work-2-") for f in recorder.firings)
    assert {j: (s.runs, s.first <= s.last) for j, s in recorder.spans.items()} == {1: (3, True), 2: (3, True)}
    sup.close()


def test_a_callback_acting_on_another_job_is_a_link():
    sup, report, recorder = run_recorded([
        {"label": "a", "agenda": ["1"], "callbacks": [
            {"triggers": "complete-job-self", "language": "python",
             "code": "qb.unblock(qb.jobinfo(label='b')[0]['id'])"}]},
        {"label": "b", "agenda": ["1"], "status": "blocked"},
    ])
    assert report.finished
    assert recorder.acts == {(1, 2, "unblock"): 1}
    sup.close()


def test_past_the_detail_limit_only_job_spans_and_firing_times_are_kept():
    sup, report, recorder = run_recorded(chain(4, 30), workers=3, detail_limit=50)
    assert report.finished and not recorder.detailed
    assert recorder.runs == [] and recorder.items == {} and recorder.firings == []
    assert {j: s.runs for j, s in recorder.spans.items()} == {1: 30, 2: 30, 3: 30, 4: 30}
    assert len(recorder.firing_times) == 90  # every unblock of jobs 2-4
    sup.close()


# ---------------------------------------------------------------------------- the page
@pytest.fixture
def report_extra():
    """Skip without the ``report`` extra (a failure in CI, which installs it)."""
    need_report_extra()


def external_references(page):
    """src/href attributes of the page's own markup that point anywhere but into the page."""
    return [m for m in re.findall(r'<(?:script|link|img|iframe)[^>]*(?:src|href)="([^"#][^"]*)"', page)]


def test_simulate_html_writes_a_self_contained_page(tmp_path, capsys, report_extra):
    page = tmp_path / "run.html"
    assert main(["simulate", str(EXAMPLES / "frame_by_frame.py"), "--html", str(page)]) == 0
    assert "wrote " in capsys.readouterr().err
    text = page.read_text()
    assert external_references(text) == []
    assert text.count("<script") >= 3  # plotly.js, the timeline, the graph
    assert 'id="timeline-plot"' in text and 'id="graph-plot"' in text
    assert "20 frames" in text and "released by comp's dependency, on complete-work-1-" in text
    assert "every job finished" in text


def test_a_stuck_run_lists_its_jobs_and_their_causes(tmp_path, capsys, report_extra):
    page = tmp_path / "stuck.html"
    assert main(["simulate", str(EXAMPLES / "deadlock.py"), "--html", str(page)]) == 2
    text = page.read_text()
    assert text.count('class="stuck-job"') == 2
    assert "complete-job-fx" in text and "complete-job-lighting" in text
    assert "nothing ran" in text


def test_a_large_run_is_drawn_by_job(tmp_path, report_extra):
    sup, report, recorder = run_recorded(chain(30, 40), workers=4, detail_limit=100)
    from qbtrigger.page import write_simulation_page

    size = write_simulation_page(str(tmp_path / "big.html"), report, sup, recorder, "chain")
    text = (tmp_path / "big.html").read_text()
    assert size == len(text.encode())
    assert "More than 100 runs: one bar per job" in text and "callbacks fired" in text
    assert "1,160 links" not in text and "40 frames" in text  # one edge per pair of jobs
    sup.close()


def test_explain_html_draws_the_graph_without_running(tmp_path, capsys, report_extra):
    page = tmp_path / "graph.html"
    assert main(["explain", str(EXAMPLES / "deadlock.py"), "--html", str(page)]) == 0
    text = page.read_text()
    assert 'id="graph-plot"' in text and 'id="timeline-plot"' not in text
    assert "dependency cycle" in text and external_references(text) == []


def test_explain_needs_a_job_or_a_page(capsys):
    assert main(["explain", str(EXAMPLES / "deadlock.py")]) == 1
    assert "--job JOB" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["simulate", "explain"])
def test_a_missing_extra_is_named_before_anything_runs(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "plotly", None)  # what `import plotly` finds when it is not installed
    page = tmp_path / "page.html"
    assert main([command, str(EXAMPLES / "frame_by_frame.py"), "--html", str(page)]) == 1
    captured = capsys.readouterr()
    assert "needs the optional 'report' extra" in captured.err and "pip install 'qbtrigger[report]'" in captured.err
    assert "missing: plotly" in captured.err
    assert "submitted" not in captured.out and not page.exists()


def test_an_unwritable_page_is_a_clear_error(tmp_path, capsys, report_extra):
    assert main(["explain", str(EXAMPLES / "deadlock.py"), "--html", str(tmp_path / "no" / "such" / "dir.html")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_report_json_and_html_agree_on_the_numbers(tmp_path, report_extra):
    page, data = tmp_path / "p.html", tmp_path / "r.json"
    main(["simulate", str(EXAMPLES / "two_jobs.py"), "--html", str(page), "--report-json", str(data)])
    report = json.loads(data.read_text())
    text = page.read_text()
    assert f"<dd>{report['events']:,}</dd>" in text
    assert f"<dd>{sum(j['callbacks_fired'] for j in report['jobs']):,}</dd>" in text


def test_stuck_frames_are_marked_on_the_timeline_with_their_cause(tmp_path, report_extra, capsys):
    jobs, page = tmp_path / "jobs.json", tmp_path / "p.html"
    jobs.write_text(json.dumps([
        {"label": "render", "agenda": ["1", "2", "3"]},
        {"label": "comp", "agenda": ["1", "2", "3", "4"], "dependency": "link-complete-work-render"},
    ]))
    assert main(["simulate", str(jobs), "--html", str(page)]) == 2
    text = page.read_text()
    assert '"name":"stuck work item"' in text
    # the marker's hover: the frame, and why it cannot go on (render has no frame 4)
    marker = re.search(r"comp work '4'\\u003c\\u002fb\\u003e\\u003cbr\\u003e(is blocked[^\"]*)", text)
    assert marker is not None and "render" in marker.group(1)
