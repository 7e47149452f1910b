"""Callback dispatch benchmarks (issues 4 and 13): per-frame qube, isolated python and in-process
python callbacks through the engine, side by side.

The figures of record come from ``python -m benchmarks.callbacks_bench`` (100k frames); here the
same measurement runs at 10k frames (100k with ``QBTRIGGER_BENCH_FULL=1``) under pytest-benchmark,
and CI smoke-runs it with ``--benchmark-disable``. Each round gets a fresh engine whose python
worker is already started (in setup, off the clock).
"""

from __future__ import annotations

import pytest

from benchmarks._impls import ROUNDS, env_flag
from benchmarks.callbacks_bench import VARIANTS, CountingHost, ready_engine, submission
from qbtrigger.callbacks import CallbackEngine

FRAMES = 100_000 if env_flag("QBTRIGGER_BENCH_FULL") else 10_000


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dispatch(benchmark, variant):
    events = [f"complete-work-1-{f}" for f in range(1, FRAMES + 1)]
    engines = []

    def setup():
        host, engine, _ = ready_engine(FRAMES, variant)
        engines.append(engine)
        return (host, engine), {}

    def run(host, engine):
        engine.feed_many(events)
        return len(host.acted)

    try:
        acted = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    finally:
        for engine in engines:
            engine.close()
    assert acted == FRAMES
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["callbacks_per_s"] = FRAMES / stats.stats.median


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_register_submission(benchmark, variant):
    language, in_process = VARIANTS[variant]
    jobs = submission(FRAMES, language)

    def run():
        host = CountingHost()
        engine = CallbackEngine(host, language_flags="qube,python", in_process_python=in_process)
        engine.submit(jobs)
        engine.close()

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
