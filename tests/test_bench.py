"""The machinery of ``qbtrigger bench`` (qbtrigger.bench): comparison, correctness gate, soak, CLI.

Fast on purpose: tiny sizes, one run, in-process passes except where the worker process itself is
under test. None of these needs a peer; the peer tests at the end skip when the peer is missing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from qbtrigger import cli
from qbtrigger.bench.check import first_difference
from qbtrigger.bench.compare import Settings, run_comparison
from qbtrigger.bench.contenders import PEERS_HINT, NetworkContender
from qbtrigger.bench.report import markdown, plot, write
from qbtrigger.bench.soak import soak
from qbtrigger.workload import Workload, farm_workload

HERE = Path(__file__).resolve().parent
OURS = ("native", "pure", "reference", "naive")


class _Broken(NetworkContender):
    """The reference, except that it drops every tenth firing."""

    def feed(self, net, events, mode, collect):
        out = super().feed(net, events, mode, collect)
        return [pair for k, pair in enumerate(out) if k % 10 != 9] if collect else out


def broken_contender() -> _Broken:
    from qbtrigger.bench.reference import ReferenceNetwork

    return _Broken("broken reference", lambda: ReferenceNetwork)


def small_naive():
    """The naive evaluator, extrapolated above 100 callbacks instead of 2,000 (a fast test)."""
    from qbtrigger.bench.contenders import BUILTIN

    c = BUILTIN["naive"]()
    c.extrapolate_above = 100
    return c


def _quiet(message: str) -> None:
    pass


def test_quick_comparison_checks_every_contender_and_writes_the_table(tmp_path):
    settings = Settings(sizes=(100, 300), runs=1, contenders=OURS, isolate="none", budget_s=30)
    result = run_comparison(settings, _quiet)
    figures = [r for r in result.rows if r.has_figure]
    assert {(r.key, r.mode) for r in figures} >= {
        ("native", "feed"), ("native", "feed_many"), ("pure", "feed_many"), ("reference", "feed_many"),
        ("naive", "feed_many"), ("floor", "probe"),
    }
    assert all(r.status == "ok" for r in result.rows)  # 300 < naive's extrapolation threshold
    md, png, text = write(result, tmp_path)
    assert md.read_text() == text
    assert "| callbacks | contender | mode | events/s | ns/event | × native |" in text
    assert "qbtrigger native" in text and "naive re-evaluation" in text
    assert (tmp_path / "results.json").exists()
    assert png is not None or "plot skipped" in text


def test_a_contender_that_fires_wrong_gets_no_figure():
    settings = Settings(sizes=(200,), runs=1, contenders=("native", "test_bench:broken_contender"),
                        isolate="none", floor=False)
    result = run_comparison(settings, _quiet)
    broken = [r for r in result.rows if r.key == "test_bench:broken_contender"]
    assert [r.status for r in broken] == ["refused"]
    assert broken[0].ns_per_event is None and "fires wrong: event" in broken[0].note
    text = markdown(result)
    assert "**refused**: fires wrong" in text


def test_worker_processes_check_too(monkeypatch):
    # The same gate through the worker process (python -m qbtrigger.bench.worker).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
    settings = Settings(sizes=(100,), runs=1, contenders=("native", "test_bench:broken_contender"),
                        isolate="all", floor=False, budget_s=60)
    rows = {r.key: r for r in run_comparison(settings, _quiet).rows if r.mode != "feed"}
    assert rows["native"].status == "ok" and rows["native"].rss_bytes_per_callback is not None
    assert rows["test_bench:broken_contender"].status == "refused"


def test_naive_is_extrapolated_above_its_threshold():
    settings = Settings(sizes=(100, 400), runs=1, contenders=("test_bench:small_naive",), isolate="none", floor=False)
    result = run_comparison(settings, _quiet)
    big = [r for r in result.rows if r.callbacks == 400]
    assert [r.status for r in big] == ["extrapolated"]
    small = [r for r in result.rows if r.callbacks == 100][0]
    assert big[0].ns_per_event == pytest.approx(small.ns_per_event * 4)
    assert "extrapolated" in markdown(result)


def test_the_gate_compares_sets_for_engines_without_an_order():
    expected = [(0, 1), (0, 2), (3, 0)]
    assert first_difference([(0, 2), (0, 1), (3, 0)], expected, False, ["a", "b", "c", "d"]) is None
    assert "event 0" in first_difference([(0, 2), (0, 1), (3, 0)], expected, True, ["a", "b", "c", "d"])
    assert "event 3" in first_difference([(0, 1), (0, 2)], expected, False, ["a", "b", "c", "d"])
    assert first_difference([(0, 1), (0, 1), (0, 2), (3, 0)], expected, False, list("abcd")) is not None


def test_the_plot_is_skipped_with_a_reason_without_matplotlib(monkeypatch, tmp_path):
    result = run_comparison(Settings(sizes=(100,), runs=1, contenders=("native",), isolate="none"), _quiet)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert "matplotlib is not installed" in plot(result, tmp_path / "x.png")
    _, png, text = write(result, tmp_path)
    assert png is None and "plot skipped" in text and (tmp_path / "results.md").exists()


def test_missing_peers_say_how_to_install_them(monkeypatch):
    monkeypatch.setitem(sys.modules, "durable", None)
    monkeypatch.setitem(sys.modules, "durable.engine", None)
    monkeypatch.setitem(sys.modules, "rule_engine", None)
    settings = Settings(sizes=(100,), runs=1, contenders=("durable_rules", "rule-engine"), isolate="none", floor=False)
    result = run_comparison(settings, _quiet)
    assert [(r.status, r.note) for r in result.rows] == [("unavailable", PEERS_HINT)] * 2
    assert "not installed (pip install 'qbtrigger[peers]')" in markdown(result)


def test_a_short_soak_churns_and_reports():
    r = soak(0.05, live=2_000, batch=500)
    assert r.batches > 0 and r.events == r.batches * 500 or r.events > 0
    assert r.submissions_replaced > 0 and r.callbacks_added > 0
    assert 0 < r.batch_ms["p50"] <= r.batch_ms["p99"] <= r.batch_ms["max"]
    assert all(s["live"] == 2_000 for s in r.samples)  # the live set is held steady


def test_churn_leaves_no_allocation_behind_in_a_debug_build():
    native = pytest.importorskip("qbtrigger._native")
    if not native.debug_build:
        pytest.skip("needs QBTRIGGER_DEBUG_BUILD=1 (live allocation counters)")
    net = native.Network()
    counts = []
    for seed in range(3):
        soak(0.01, live=2_000, batch=500, network=net, drain=True, seed=seed)
        assert len(net) == 0
        counts.append(native.debug_live_allocations())
    assert counts[1] == counts[2], counts


def test_cli_bench_help(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--soak MINUTES" in out and "--quick" in out and "--live" in out


def test_cli_bench_soak_writes_its_report(tmp_path, capsys):
    assert cli.main(["bench", "--soak", "0.02", "--live", "1000", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "feed_many batch latency p50 / p99 / max" in out
    assert (tmp_path / "soak.md").exists() and (tmp_path / "soak.json").exists()


def test_cli_bench_quick_on_our_contenders(tmp_path, capsys):
    argv = ["bench", "--quick", "--contenders", "native,reference", "--isolate", "none", "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert "| 1,000 | qbtrigger native | feed_many |" in capsys.readouterr().out
    assert (tmp_path / "results.md").exists()


# --------------------------------------------------------------------------- peers (optional)


def _edge_workload() -> Workload:
    """The case that separates §4's latch reset from Rete's facts: A, C, B on ``(A && B) || C``
    fires once (on C: the reset clears A), where facts alone fire again on B."""
    jobs = [(10, 10, None, None), (11, 10, "A", 10), (12, 10, "B", 10), (13, 10, "C", 10)]
    callbacks = [
        ("complete-work-A-1 && complete-work-B-1", 10),
        ("(complete-work-A-1 && complete-work-B-1) || complete-work-C-1", 10),
        ("done-work-C-*", 10),
        ("complete-job-A", 10),
    ]
    events = ["complete-work-11-1", "complete-work-13-1", "complete-work-12-1", "complete-work-11-1",
              "complete-work-12-1", "failed-work-13-1", "complete-job-11", "complete-job-11"]
    return Workload(jobs, callbacks, events)


@pytest.mark.parametrize("key", ["durable_rules", "rule-engine"])
def test_peers_fire_what_the_reference_fires(key):
    from qbtrigger.bench.contenders import load_contender
    from qbtrigger.bench.reference import ReferenceNetwork

    c = load_contender(key)
    if c.unavailable():
        pytest.skip(f"{key}: {c.unavailable()}")
    for workload in (_edge_workload(), farm_workload(300)):
        expected = [(i, h - 1) for i, h in workload.network(ReferenceNetwork).feed_many(workload.events)]
        got = c.feed(c.register(workload), workload.events, c.modes[0], True)
        assert first_difference(got, expected, c.ordered, workload.events) is None


def test_cli_bench_writes_a_new_folder_by_default(tmp_path, monkeypatch, capsys):
    # it never overwrites the project's committed figures unless told to (issue 12)
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "--quick", "--contenders", "reference", "--isolate", "none"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 2 and all(name.startswith("qbtrigger-bench-") for name in folders)
    assert all((tmp_path / name / "results.md").exists() for name in folders)
    assert not (tmp_path / "benchmarks").exists()
