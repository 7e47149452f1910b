"""Matcher benchmarks on the seeded workloads of qbtrigger.workload, for each implementation.

- feed: the farm workload's events one ``feed(str)`` call at a time;
- feed_many: the same stream in one ``feed_many`` call;
- add: registering the whole farm workload (jobs and callbacks) on a new network;
- remove_job: removing every job of a registered farm workload (and with them every callback);
- advance: walking the clock through an hour of ``dummy-time-self-T`` timers, one call per second;
- state_aware: feed_many with ``Network(state_aware=True)`` (states tracked, retract/catch-up on);
- memory: the two-atom workload (every callback a distinct two-atom AND): ``stats()['bytes']`` and
  RSS growth per callback, the latter measured in a subprocess of its own (benchmarks/memory.py).

remove_job, advance and state_aware are qbtrigger API the reference lacks: they run on c and py.
Each round starts from a freshly registered network (registration is not timed in feed and
feed_many). Per-event and per-callback figures go to ``extra_info`` in the saved JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import _impls
from benchmarks._impls import ROUNDS, TIME_START

REPO = Path(__file__).resolve().parent.parent


def _per_item(benchmark, count: int, key: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None and count:
        benchmark.extra_info[key] = stats.stats.median * 1e9 / count


def test_feed(benchmark, impl, size):
    workload = _impls.farm(size)
    events = workload.events

    def setup():
        return (workload.network(impl.cls),), {}

    def run(net):
        feed = net.feed
        fired = 0
        for event in events:
            fired += len(feed(event))
        return fired

    fired = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    assert fired >= len(events) // 3  # every frame's AND fires once
    benchmark.extra_info.update(callbacks=len(workload.callbacks), events=len(events), fired=fired)
    _per_item(benchmark, len(events), "ns_per_event")


def test_feed_many(benchmark, impl, size):
    workload = _impls.farm(size)
    events = workload.events

    def setup():
        return (workload.network(impl.cls),), {}

    fired = benchmark.pedantic(lambda net: net.feed_many(events), setup=setup, rounds=ROUNDS, iterations=1)
    assert len(fired) >= len(events) // 3
    benchmark.extra_info.update(callbacks=len(workload.callbacks), events=len(events), fired=len(fired))
    _per_item(benchmark, len(events), "ns_per_event")


def test_add(benchmark, impl, size):
    workload = _impls.farm(size)
    net = benchmark.pedantic(lambda: workload.network(impl.cls), rounds=ROUNDS, iterations=1)
    assert len(net) == len(workload.callbacks)
    benchmark.extra_info.update(callbacks=len(workload.callbacks))
    _per_item(benchmark, len(workload.callbacks), "ns_per_callback")


def _twins_only(impl) -> None:
    if impl.id == "ref":
        pytest.skip("the reference matcher has no remove_job, advance or state_aware")


def test_remove_job(benchmark, impl, size):
    _twins_only(impl)
    workload = _impls.farm(size)
    jobs = [jobid for jobid, *_ in workload.jobs]

    def setup():
        return (workload.network(impl.cls),), {}

    def run(net):
        remove_job = net.remove_job
        for jobid in jobs:
            remove_job(jobid)
        return net

    net = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    assert len(net) == 0
    benchmark.extra_info.update(callbacks=len(workload.callbacks), jobs=len(jobs))
    _per_item(benchmark, len(workload.callbacks), "ns_per_callback")


def test_advance(benchmark, impl, size):
    _twins_only(impl)
    workload = _impls.timers(size)

    def setup():
        return (workload.network(impl.cls),), {}

    def run(net):
        fired = 0
        advance = net.advance
        for now in range(TIME_START, TIME_START + 3600):
            fired += len(advance(now))
        return fired

    fired = benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    assert fired == len(workload.callbacks)  # every timer fires once
    benchmark.extra_info.update(callbacks=len(workload.callbacks), fired=fired)
    _per_item(benchmark, fired, "ns_per_firing")


def test_state_aware(benchmark, impl, size):
    _twins_only(impl)
    workload = _impls.farm(size)
    events = workload.events

    def setup():
        return (workload.network(impl.cls, state_aware=True),), {}

    fired = benchmark.pedantic(lambda net: net.feed_many(events), setup=setup, rounds=ROUNDS, iterations=1)
    assert len(fired) >= len(events) // 3
    benchmark.extra_info.update(callbacks=len(workload.callbacks), events=len(events), fired=len(fired))
    _per_item(benchmark, len(events), "ns_per_event")


def test_memory(benchmark, impl, size):
    workload = _impls.two_atom(size)
    net = benchmark.pedantic(lambda: workload.network(impl.cls), rounds=1, iterations=1)
    n = len(workload.callbacks)
    assert len(net) == n
    if hasattr(net, "stats"):
        stats = net.stats()
        assert stats["callbacks"] == n
        assert stats["bytes"] > 0
        benchmark.extra_info["stats_bytes_per_callback"] = stats["bytes"] / n
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", impl.id, size],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    measured = json.loads(proc.stdout)
    assert measured["callbacks"] == n
    benchmark.extra_info.update(measured)
    # A generous ceiling: it catches a per-callback blow-up, not a few bytes.
    assert measured["peak_rss_bytes_per_callback"] < 64 * 1024
