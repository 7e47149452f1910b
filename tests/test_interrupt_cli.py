"""``qbtrigger simulate --db`` interrupted at random points (kill -9, Ctrl-C, SIGTERM, Ctrl-C
twice, killed again and again) and resumed ends exactly as the uninterrupted run: the store, the
journal, the --log file, the report, the external effects deduplicated by firing id.

The points are drawn from a seed printed at the start of the test (set QBTRIGGER_CRASHTEST_SEED to
repeat one); ``python -m qbtrigger.crashtest`` runs many more (docs/supervisor.md).
"""

from __future__ import annotations

import os
import random
import signal

import pytest

from qbtrigger import crashtest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

JOBS = crashtest.workload(jobs=3, frames=12)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return crashtest.reference(tmp_path_factory.mktemp("reference"), JOBS)


def _seed() -> int:
    given = os.environ.get("QBTRIGGER_CRASHTEST_SEED")
    seed = int(given) if given else random.SystemRandom().randrange(1 << 32)
    print(f"crashtest seed {seed} (repeat: QBTRIGGER_CRASHTEST_SEED={seed})")
    return seed


def test_the_reference_run_finishes_with_unique_firing_ids(uninterrupted):
    assert uninterrupted.status == 0, uninterrupted.stderr
    assert uninterrupted.report[-1] == "every job finished"
    ids = [effect[0] for effect in uninterrupted.effects]
    assert len(ids) == len(set(ids)) == 12 * 3 + 1  # one python firing per frame, one for the last job
    assert [line["n"] for line in uninterrupted.log] == sorted({line["n"] for line in uninterrupted.log})


def test_random_interrupts_resume_exactly(uninterrupted, tmp_path):
    seed = _seed()
    firings = [effect[0] for effect in uninterrupted.effects]
    points = crashtest.draw_points(random.Random(seed), 6, firings, duration=1.0)
    failures = []
    for i, point in enumerate(points):
        first, last = crashtest.run_point(tmp_path / f"point{i}", JOBS, point)
        problems = crashtest.check(uninterrupted, point, first, last)
        if point.firings:  # it was interrupted: the run stopped before the end
            assert first.status == point.status, (str(point), first.stderr)
            assert len(first.log) < len(uninterrupted.log) or point.graceful, str(point)
        if problems:
            failures.append(f"{point} (seed {seed}): " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def test_ctrl_c_says_what_was_kept_and_how_to_resume(uninterrupted, tmp_path):
    firing = uninterrupted.effects[len(uninterrupted.effects) // 2][0]
    first, last = crashtest.run_point(tmp_path / "int", JOBS, crashtest.Point(("SIGINT",), firings=(firing,)))
    assert first.status == 130
    assert first.stderr.strip().splitlines()[-1] == (
        "qbtrigger simulate: interrupted by SIGINT: stopped after a whole step, stored; rerun with --db farm.db to resume"
    )
    assert first.report == []  # no report for a run that did not end
    # the stop came right after the step of that firing: its effect is the last one, once
    assert [effect[0] for effect in first.effects][-1] == firing
    assert last.status == 0 and last.report == uninterrupted.report
    assert last.effects == uninterrupted.effects  # a graceful stop repeats no external effect


def test_ctrl_c_twice_stops_mid_step_and_stores_nothing_of_it(uninterrupted, tmp_path):
    firing = uninterrupted.effects[len(uninterrupted.effects) // 3][0]
    point = crashtest.Point(("SIGINT", "SIGINT"), firings=(firing,))
    first, last = crashtest.run_point(tmp_path / "twice", JOBS, point)
    assert first.status == 130
    assert "interrupted by SIGINT: stopped at once: the step under way was not stored" in first.stderr
    # the store holds no part of that step: its firing is not in the callback logs, nor its events in --log
    assert f"firing {firing}\n" not in [text for _, text in first.store["logs"]]
    assert len(first.log) == sum(1 for line in first.store["journal"].split("\n") if line and not line.startswith("#"))
    assert crashtest.check(uninterrupted, point, first, last) == []
    # the firing's external effect happened again when its step was done again: at least once
    assert [effect[0] for effect in last.effects].count(firing) == 2
