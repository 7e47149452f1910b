"""Threads (issue 14): one network called from several threads, in both twins.

- The C core's batch work (feed_many, add_many) runs with the GIL released: another thread keeps
  running meanwhile. The check is not a timing: with the interpreter's switch interval raised far
  above the batch's duration, a thread that only yields the GIL (time.sleep(0)) can run during the
  call only if the call releases the GIL.
- Every call holds the network's own lock: several threads feeding and mutating one network end
  in the state the same operations give when run one thread after another. Each thread works on
  its own jobs, so every interleaving must give that one state; handles differ with the
  interleaving, so callbacks are compared by (thread, position) instead.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from conftest import PURE_ONLY, load_network_class

THREADS = 4
ROUNDS = 30


@pytest.mark.skipif(PURE_ONLY, reason="the C core's GIL release (QBTRIGGER_PURE_PYTHON=1 is set)")
@pytest.mark.parametrize("method", ["feed_many", "add_many"])
def test_another_thread_runs_during_a_large_batch(method):
    Network = load_network_class("c")
    net = Network()
    net.add_job(1)
    if method == "feed_many":
        for frame in range(1000):
            net.add(f"complete-work-1-{frame}", owner=1)
        batch = [f"complete-work-1-{i % 2000}" for i in range(400_000)]
        call = net.feed_many
    else:
        batch = [(f"complete-work-1-{i} && done-job-{i % 50}", 1) for i in range(60_000)]
        call = net.add_many

    ticks = [0]
    stop = threading.Event()

    def other_thread():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0)  # gives the GIL away, and wants it back at once

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)  # no forced switch: this thread holds the GIL unless it lets go
    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        progressed = []
        for _ in range(5):  # a loaded machine may not schedule the other thread during one call
            before = ticks[0]
            call(batch)
            progressed.append(ticks[0] - before)
            if progressed[-1]:
                break
    finally:
        stop.set()
        sys.setswitchinterval(old_interval)
        worker.join()
    assert any(progressed), f"the other thread never ran during {method}: {progressed}"


def _thread_work(net, k: int, log: list) -> None:
    """Thread k's operations, on jobs 100k+ (its own): jobs, callbacks, events, removals."""
    base = 100 * (k + 1)
    handles: list = []
    for r in range(ROUNDS):
        job = base + r % 10
        if r < 10:
            net.add_job(job, pgrp=base, label=f"j{r}")
        owned = net.add_many(
            [
                # never-job-7 is never fed: one alpha entry that every thread's callbacks share
                (f"(complete-work-{job}-{r} && done-job-{base}) || never-job-7", job),
                (f"complete-work-j{r % 10}-* || never-job-7", job, 2),
                (f"running-subjob-self-{r}", job),
            ]
        )
        handles.extend(owned)
        fired = net.feed_many(
            [f"complete-work-{job}-{i}" for i in range(r + 1)]
            + [f"running-subjob-{job}-{r}", f"complete-job-{base}"]
            + [f"failed-work-{base + 9}-{i}" for i in range(40)]
        )
        log.append(("feed_many", r, [(i, handles.index(h)) for i, h in fired]))
        log.append(("feed", r, [handles.index(h) for h in net.feed(f"complete-work-{job}-{r}")]))
        if r % 3 == 2:
            net.remove(handles[-3])
            log.append(("removed", r, len(handles) - 3))
        if r == ROUNDS - 3:
            net.remove_job(base + 3)
    log.append(
        (
            "end",
            [
                (i, h in net, net.count(h) if h in net else None, net.why_not(h) if h in net else None)
                for i, h in enumerate(handles)
            ],
        )
    )


def _run(Network, state_aware: bool, threaded: bool) -> tuple:
    net = Network(state_aware=state_aware)
    logs: list = [[] for _ in range(THREADS)]
    if threaded:
        errors: list = []

        def target(k: int) -> None:
            try:
                _thread_work(net, k, logs[k])
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        workers = [threading.Thread(target=target, args=(k,)) for k in range(THREADS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors
    else:
        for k in range(THREADS):
            _thread_work(net, k, logs[k])
    stats = net.stats()
    return logs, {key: stats[key] for key in ("callbacks", "atoms", "alpha_entries", "jobs")}, len(net)


@pytest.mark.parametrize("state_aware", [False, True])
def test_threads_on_one_network_end_as_the_serial_run(impl, state_aware):
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threaded = [_run(impl, state_aware, True) for _ in range(3)]
    finally:
        sys.setswitchinterval(old_interval)
    serial = _run(impl, state_aware, False)
    for result in threaded:
        assert result == serial
