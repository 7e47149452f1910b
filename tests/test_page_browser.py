"""The pages of ``simulate --html`` and ``explain --html`` in a real browser: headless Chromium
(Debian's package; tests/chromium.py drives it over the DevTools protocol) opens each page, which
must render its timeline and graph with the jobs' labels, ring the stuck jobs, show a frame's
details on hover, log no error and ask for nothing outside the file.

Without chromium or the ``report`` extra these tests skip, except in CI (CI=true), where they fail:
.ci/run installs both. Set QBTRIGGER_PAGE_SHOTS=DIR to keep the screenshots.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from qbtrigger.cli import main

from chromium import Chromium, need_chromium, need_report_extra

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: A render job, a comp linked to it frame by frame, a publish waiting for comp, and two jobs
#: waiting for each other (stuck: their root cause must show).
SUBMISSION = [
    {"label": "render", "agenda": ["1", "2", "3", "4"]},
    {"label": "comp", "agenda": ["1", "2", "3", "4"], "dependency": "link-complete-work-render"},
    {"name": "publish", "agenda": ["all"], "dependency": "link-complete-job-comp"},
    {"label": "lighting", "agenda": ["1"], "dependency": "link-complete-job-fx"},
    {"label": "fx", "agenda": ["1"], "dependency": "link-complete-job-lighting"},
]

#: Waits until plotly has drawn every figure of the page.
PLOTS_DRAWN = """new Promise((resolve, reject) => {
  const started = Date.now();
  (function check() {
    const plots = [...document.querySelectorAll('.js-plotly-plot')];
    if (plots.length && plots.every(p => p._fullLayout && p.querySelector('.main-svg'))) return resolve(plots.length);
    if (Date.now() - started > 60000) return reject(new Error('plots not drawn'));
    setTimeout(check, 100);
  })();
})"""


@pytest.fixture
def browser():
    need_report_extra()
    binary = need_chromium()
    with Chromium(binary) as chromium:
        yield chromium


def keep(shot: Path) -> None:
    folder = os.environ.get("QBTRIGGER_PAGE_SHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        shutil.copy(shot, Path(folder) / shot.name)


def text_of(browser, selector):
    return browser.evaluate(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)")


def assert_clean(browser):
    assert browser.errors == []
    outside = [url for url in browser.requests if not url.startswith(("file://", "data:", "about:", "blob:"))]
    assert outside == []  # nothing fetched from the network


def test_the_simulation_page_renders_in_chromium(tmp_path, browser, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps(SUBMISSION))
    page = tmp_path / "simulation.html"
    assert main(["simulate", str(jobs), "--workers", "2", "--html", str(page)]) == 2  # stuck: exit 2
    browser.open(str(page))
    assert browser.evaluate(PLOTS_DRAWN) == 2
    # the timeline: a bar per run (9 work items ran), callback markers on their own row
    assert browser.evaluate("document.querySelectorAll('#timeline-plot .trace.bars .point').length") == 9
    assert browser.evaluate("document.querySelectorAll('#timeline-plot .scatterlayer .point').length") >= 4
    assert "callbacks" in text_of(browser, "#timeline-plot .ytick")
    # the graph: every job by its label or name, the frame-by-frame link as one counted edge
    labels = text_of(browser, "#graph-plot .textpoint")
    for name in ("render", "comp", "publish", "lighting", "fx"):
        assert name in labels
    assert "4 frames" in labels
    # the stuck jobs: ringed and named in the graph, listed with what they wait for
    stuck = [t for t in labels if t.startswith("⚠")]
    assert len(stuck) == 2 and any(t.startswith("⚠ lighting") for t in stuck) and any(t.startswith("⚠ fx") for t in stuck)
    listed = " ".join(text_of(browser, "#stuck .stuck-job"))
    assert "complete-job-fx" in listed and "complete-job-lighting" in listed
    # the numbers at the top
    assert "2 job(s) stuck" in " ".join(text_of(browser, "#numbers dd"))
    # a frame's hover: its events, and the callback that released it with the event that fired it
    hover = browser.evaluate("""(() => {
      const plot = document.getElementById('timeline-plot');
      const bars = plot.data.map((t, i) => [t, i]).filter(([t]) => t.type === 'bar');
      const [trace, curve] = bars[0];
      const point = trace.hovertext.findIndex(h => h.includes('released by'));
      Plotly.Fx.hover(plot, [{curveNumber: curve, pointNumber: point}]);
      return document.querySelector('#timeline-plot .hoverlayer').textContent;
    })()""")
    assert "released by comp's dependency, on complete-work-1-" in hover and "its events:" in hover
    shot = tmp_path / "simulation.png"
    browser.screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    keep(shot)
    assert_clean(browser)


def test_the_explain_page_renders_in_chromium(tmp_path, browser, capsys):
    page = tmp_path / "explain.html"
    assert main(["explain", str(EXAMPLES / "deadlock.py"), "--html", str(page)]) == 0
    browser.open(str(page))
    assert browser.evaluate(PLOTS_DRAWN) == 1
    assert browser.evaluate("document.getElementById('timeline-plot')") is None
    labels = text_of(browser, "#graph-plot .textpoint")
    assert "lighting" in labels and "fx" in labels
    assert any(t.startswith("⚠ lighting: dependency cycle") for t in labels)
    shot = tmp_path / "explain.png"
    browser.screenshot(str(shot))
    keep(shot)
    assert_clean(browser)
