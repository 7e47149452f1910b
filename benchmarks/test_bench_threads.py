"""Threads (issue 14): events per second of two threads feeding two networks, against one thread
feeding both, side by side in one run (the C core only: the pure twin holds the GIL).

Both tests feed the same work: the 10k farm workload's event stream, in batches of
``BATCH`` events, into each of two freshly registered networks. ``one_thread`` feeds the two
networks one after the other; ``two_threads`` gives each network a thread of its own (the C core
runs a batch with the GIL released, so they can use two cores). The ratio of the medians is the
speed-up; ``extra_info`` holds events per second. The machine's core count is in ``extra_info``
too: on one core there is nothing to gain. Each pair runs twice: with ``feed_many``, whose result
(a tuple per firing) is built holding the GIL, and with ``feed_batch``, whose two arrays are not.
"""

from __future__ import annotations

import os
import threading

import pytest

from benchmarks import _impls
from benchmarks._impls import ROUNDS

SIZE = "10k"
BATCH = 20_000


def _networks(cls, workload):
    return [workload.network(cls) for _ in range(2)]


ENTRY_POINTS = ("feed_many", "feed_batch")


def _feed(net, batches, entry_point: str) -> int:
    fired = 0
    feed = getattr(net, entry_point)
    for batch in batches:
        fired += len(feed(batch))
    return fired


def _batches(events: list) -> list:
    events = events * max(1, 200_000 // len(events))  # about 0.2 s of work per network
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]


@pytest.fixture(scope="module")
def native_cls():
    try:
        return _impls.network_class("c")
    except ImportError as exc:
        if _impls.env_flag("QBTRIGGER_ALLOW_NO_NATIVE") or _impls.env_flag("QBTRIGGER_PURE_PYTHON"):
            pytest.skip(f"the C core is not available: {exc}")
        raise


def _record(benchmark, entry_point: str, events: int, fired: int) -> None:
    benchmark.group = f"threads: {entry_point}, two networks"
    benchmark.extra_info.update(events=events, fired=fired, cores=os.cpu_count())
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["events_per_second"] = events / stats.stats.median


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_one_thread(benchmark, native_cls, entry_point):
    workload = _impls.farm(SIZE)
    batches = _batches(workload.events)

    def setup():
        return (_networks(native_cls, workload),), {}

    def run(nets):
        return sum(_feed(net, batches, entry_point) for net in nets)

    fired = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    _record(benchmark, entry_point, 2 * sum(map(len, batches)), fired)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_two_threads(benchmark, native_cls, entry_point):
    workload = _impls.farm(SIZE)
    batches = _batches(workload.events)

    def setup():
        return (_networks(native_cls, workload),), {}

    def run(nets):
        results = [0, 0]

        def work(k: int) -> None:
            results[k] = _feed(nets[k], batches, entry_point)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(results)

    fired = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    _record(benchmark, entry_point, 2 * sum(map(len, batches)), fired)


def test_interleaved_runner(native_cls):
    """``python -m benchmarks.threads`` (one round here): its one-thread and two-thread sides fire
    the same callbacks (measure() raises if not) and report a speed-up."""
    from benchmarks.threads import batches_of, measure

    workload = _impls.farm("1k")
    result = measure(lambda: workload.network(native_cls), batches_of(workload.events)[:2], "feed_batch", rounds=1)
    assert result["one_ms"] > 0 and result["two_ms"] > 0 and result["speedup"] > 0
