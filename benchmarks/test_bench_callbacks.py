"""Callback dispatch benchmarks (issue 4): per-frame qube and python callbacks through the engine.

The figures of record come from ``python -m benchmarks.callbacks_bench`` (100k frames); here the
same measurement runs at 10k frames (100k with ``QBTRIGGER_BENCH_FULL=1``) under pytest-benchmark,
and CI smoke-runs it with ``--benchmark-disable``.
"""

from __future__ import annotations

import pytest

from benchmarks._impls import ROUNDS, env_flag
from benchmarks.callbacks_bench import LANGUAGES, CountingHost, submission
from qbtrigger.callbacks import CallbackEngine

FRAMES = 100_000 if env_flag("QBTRIGGER_BENCH_FULL") else 10_000


def _engine(language: str):
    host = CountingHost()
    engine = CallbackEngine(host, language_flags="qube,python")
    jobs = submission(FRAMES, language)
    for job in jobs:
        host.jobs[job["id"]] = job
    engine.submit(jobs)
    return host, engine


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_dispatch(benchmark, language):
    events = [f"complete-work-1-{f}" for f in range(1, FRAMES + 1)]

    def run(host, engine):
        engine.feed_many(events)
        return len(host.acted)

    acted = benchmark.pedantic(run, setup=lambda: (_engine(language), {}), rounds=ROUNDS, iterations=1)
    assert acted == FRAMES
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["callbacks_per_s"] = FRAMES / stats.stats.median


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_register_submission(benchmark, language):
    jobs = submission(FRAMES, language)

    def run():
        host = CountingHost()
        CallbackEngine(host, language_flags="qube,python").submit(jobs)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
