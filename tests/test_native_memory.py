"""The C core's memory discipline, checked with the debug build's allocation counters.

These run only against a debug build of the C core (``QBTRIGGER_DEBUG_BUILD=1``), which .ci/run
builds for them; a release build has no counters and the tests say so by skipping.
"""

from __future__ import annotations

import pytest

from qbtrigger.workload import farm_workload

native = pytest.importorskip("qbtrigger._native")
pytestmark = pytest.mark.skipif(not native.debug_build, reason="needs QBTRIGGER_DEBUG_BUILD=1")

TRIGGERS = [
    "complete-work-A-1 && complete-work-B-1",
    ["done-job-parent", "failed-subjob-self-*"],
    "(complete-work-self-2 || running-job-7) && dummy-time-self-500",
    "user_event-host-render.x-node01",
]


def build(state_aware: bool = False) -> "native.Network":
    net = native.Network(state_aware=state_aware)
    net.add_job(10, label="A")
    net.add_job(11, pgrp=10, label="B", pid=10)
    return net


def outcome(net, stream: list) -> list:
    """What the network does with a stream: the observable state to compare."""
    return [net.feed_many(stream), net.advance(600), len(net), net.stats()["atoms"]]


STREAM = [
    "complete-work-10-1",
    "complete-work-11-1",
    "done-job-10",
    "failed-subjob-11-0",
    "complete-work-11-2",
    "running-job-7",
]


def test_a_freed_network_leaves_no_allocation_behind():
    before = native.debug_live_allocations()
    net = build(state_aware=True)
    for triggers in TRIGGERS:
        net.add(triggers, owner=11)
    outcome(net, STREAM)
    net.remove_job(11)
    del net
    assert native.debug_live_allocations() == before


def test_churn_returns_to_the_same_allocation_count():
    workload = farm_workload(2000, seed=3)
    net = native.Network(state_aware=True)
    counts = []
    for _ in range(3):
        workload.register(net)
        net.feed_many(workload.events)
        for jobid, *_ in workload.jobs:
            net.remove_job(jobid)
        assert len(net) == 0 and net.stats()["alpha_entries"] == 0
        counts.append(native.debug_live_allocations())
    assert counts[1] == counts[2], counts


@pytest.mark.parametrize("state_aware", [False, True])
def test_every_failed_allocation_in_registration_leaves_the_network_unchanged(state_aware):
    for triggers in TRIGGERS:
        reference = build(state_aware)
        expected = outcome(reference, STREAM)
        nth = 1
        net = None
        while True:
            net = None  # free the previous attempt before taking the baseline
            baseline = native.debug_live_allocations()
            net = build(state_aware)
            native.debug_fail_allocation(nth)
            try:
                net.add(triggers, owner=11)
            except MemoryError:
                native.debug_fail_allocation(0)
                assert outcome(net, STREAM) == expected, (triggers, nth)
                del net  # scratch buffers grown before the failure are kept for reuse, not leaked
                assert native.debug_live_allocations() == baseline, (triggers, nth)
                nth += 1
                continue
            native.debug_fail_allocation(0)
            break
        assert nth > 1, "registration made no allocation to fail"


def test_a_failed_allocation_in_add_job_leaves_the_network_unchanged():
    nth = 1
    while True:
        net = build()
        native.debug_fail_allocation(nth)
        try:
            net.add_job(12, pgrp=10, label="C")
        except MemoryError:
            native.debug_fail_allocation(0)
            assert net.stats()["jobs"] == 2
            with pytest.raises(KeyError):
                net.remove_job(12)
            nth += 1
            continue
        native.debug_fail_allocation(0)
        break
    net.add("complete-job-C", owner=10)
    assert net.feed("complete-job-12") == [1]


def test_a_failed_allocation_in_drain_catch_up_events_loses_no_event():
    def queued() -> "native.Network":
        net = native.Network(state_aware=True)
        net.add_job(10, label="A")
        net.feed_many(["complete-job-10", "failed-work-10-render_v2"])
        net.add("done-job-A", owner=10)
        net.add("failed-work-A-render_v2 || complete-work-A-x", owner=10)
        return net

    expected = queued().drain_catch_up_events()
    assert [h for h, _ in expected] == [1, 2]
    nth = 1
    while True:
        net = queued()
        native.debug_fail_allocation(nth)
        try:
            got = net.drain_catch_up_events()
        except MemoryError:
            native.debug_fail_allocation(0)
            assert net.drain_catch_up_events() == expected, nth  # the queue is still whole
            nth += 1
            continue
        native.debug_fail_allocation(0)
        assert got == expected
        break
    assert nth > 1, "draining made no allocation to fail"


@pytest.mark.parametrize("state_aware", [False, True])
def test_every_failed_allocation_in_add_many_leaves_a_prefix_registered(state_aware):
    """Out of memory part-way through add_many: the items before the failing one are registered,
    each whole (the network then behaves as one that registered just them), and nothing leaks."""
    items = [(triggers, 11) for triggers in TRIGGERS]
    nth = 1
    while True:
        net = None
        baseline = native.debug_live_allocations()
        net = build(state_aware)
        native.debug_fail_allocation(nth)
        try:
            net.add_many(items)
        except MemoryError:
            native.debug_fail_allocation(0)
            registered = len(net)
            reference = build(state_aware)
            reference.add_many(items[:registered])
            assert outcome(net, STREAM) == outcome(reference, STREAM), (nth, registered)
            del net, reference
            assert native.debug_live_allocations() == baseline, nth
            nth += 1
            continue
        native.debug_fail_allocation(0)
        break
    assert nth > 1, "add_many made no allocation to fail"
