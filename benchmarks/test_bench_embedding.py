"""Benchmarks of the embedding entry points (docs/embedding.md), farm workload, c and py twins:

- feed_batch and feed_text: the farm's events in one call, firings as arrays (compare with
  test_bench_matcher.py's feed_many, same sizes and rounds);
- snapshot and restore (from_snapshot) of a registered network halfway through its events, with the
  snapshot's size per callback in ``extra_info``.

``python -m benchmarks.embedding`` puts feed_batch beside the C core alone (benchmarks.ccore) and
durable_rules in one run, with ratios. Timings are only reported: nothing here asserts a speed.
"""

from __future__ import annotations

import pytest

from benchmarks import _impls
from benchmarks._impls import ROUNDS


def _twins_only(impl) -> None:
    if impl.id not in ("c", "py"):
        pytest.skip("the reference has no batch entry points or snapshots")


def _per_item(benchmark, count: int, key: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and count:
        benchmark.extra_info[key] = stats.stats.median * 1e9 / count


@pytest.mark.parametrize("entry", ["feed_batch", "feed_text"])
def test_feed_batch(benchmark, impl, size, entry):
    _twins_only(impl)
    workload = _impls.farm(size)
    events = workload.events
    argument = ("\n".join(events) + "\n").encode() if entry == "feed_text" else events

    def setup():
        return (workload.network(impl.cls),), {}

    fired = benchmark.pedantic(lambda net: getattr(net, entry)(argument), setup=setup, rounds=ROUNDS, iterations=1)
    assert len(fired) >= len(events) // 3  # every frame's AND fires once
    benchmark.extra_info.update(callbacks=len(workload.callbacks), events=len(events), fired=len(fired))
    _per_item(benchmark, len(events), "ns_per_event")


def _halfway(impl, size):
    workload = _impls.farm(size)
    net = workload.network(impl.cls)
    net.feed_many(workload.events[: len(workload.events) // 2])
    return workload, net


def test_snapshot(benchmark, impl, size):
    _twins_only(impl)
    workload, net = _halfway(impl, size)
    data = benchmark.pedantic(net.snapshot, rounds=ROUNDS, iterations=1)
    n = len(workload.callbacks)
    benchmark.extra_info.update(callbacks=n, bytes=len(data), bytes_per_callback=len(data) / n)
    _per_item(benchmark, n, "ns_per_callback")


def test_restore(benchmark, impl, size):
    _twins_only(impl)
    workload, net = _halfway(impl, size)
    data = net.snapshot()
    restored = benchmark.pedantic(impl.cls.from_snapshot, args=(data,), rounds=ROUNDS, iterations=1)
    assert len(restored) == len(net)
    n = len(workload.callbacks)
    benchmark.extra_info.update(callbacks=n, bytes=len(data))
    _per_item(benchmark, n, "ns_per_callback")
