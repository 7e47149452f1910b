"""Two threads feeding two networks against one thread feeding both, interleaved round by round:
``python -m benchmarks.threads [--rounds 15] [--entry feed_batch,feed_text,feed_many]``.

The same work as ``benchmarks/test_bench_threads.py`` (the 10k farm workload's event stream, about
190k events per network in batches of 20,000, two freshly registered networks per measurement),
measured so that a noisy machine moves the ratio as little as possible:

- each round measures *one* and *two* back to back (their order alternating between rounds), and
  the speed-up is the median of the rounds' ratios: on a shared virtual machine a single thread's
  time for the same work moves by a quarter between consecutive rounds, far more than between the
  two halves of one round;
- the feeding threads are started before the clock and released together by a barrier, as a
  supervisor's long-lived threads would be: *one* is one such thread feeding both networks in turn,
  *two* is two of them, a network each. Creating and starting threads (and the GIL's part in a new
  thread's start) is not feeding; the pytest-benchmark pair times it, this does not.

Also printed: each side's CPU time (``time.thread_time`` of the feeding threads, summed), so that
the cost of running two at once (shared caches and memory, the host) shows apart from waiting; and
the same measurement of the C core through its C API (``benchmarks/ccore/threads.c``: pthreads, no
Python, no GIL), which tells the machine's and the C core's part from the binding's.
Timings are only reported; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

from benchmarks.ccore import build, write_workload
from benchmarks.embedding import machine
from qbtrigger.workload import farm_workload

BATCH = 20_000
EVENTS_PER_NETWORK = 200_000


def batches_of(events: list) -> List[list]:
    events = events * max(1, EVENTS_PER_NETWORK // len(events))
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]


def feed_all(net, batches: Sequence, entry: str) -> int:
    feed = getattr(net, entry)
    return sum(len(feed(batch)) for batch in batches)


def timed_threads(jobs: Sequence[Callable[[], int]]) -> Tuple[float, float, int]:
    """Runs each job in a thread of its own, all started beforehand and released together by a
    barrier. Returns (seconds from the release to the last job's end, CPU seconds of the jobs'
    threads summed, firings)."""
    start = threading.Barrier(len(jobs) + 1)
    ends = [0.0] * len(jobs)
    cpu = [0.0] * len(jobs)
    fired = [0] * len(jobs)
    errors: List[BaseException] = []

    def work(k: int) -> None:
        start.wait()
        c = time.thread_time()
        try:
            fired[k] = jobs[k]()
        except BaseException as exc:  # re-raised in the measuring thread, not lost in this one
            errors.append(exc)
        cpu[k] = time.thread_time() - c
        ends[k] = time.perf_counter()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for t in threads:
        t.start()
    time.sleep(0.01)  # every thread waiting at the barrier
    t0 = time.perf_counter()  # before the wait that opens the barrier: after it, it may be read late
    start.wait()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return max(ends) - t0, sum(cpu), sum(fired)


def measure(network_factory: Callable[[], object], batches: Sequence[list], entry: str, rounds: int) -> dict:
    one_s, two_s, one_cpu, two_cpu, ratios = [], [], [], [], []
    for r in range(rounds):
        results = {}
        for side in ("one", "two") if r % 2 == 0 else ("two", "one"):
            nets = [network_factory(), network_factory()]
            if side == "one":
                jobs = [lambda nets=nets: sum(feed_all(net, batches, entry) for net in nets)]
            else:
                jobs = [lambda net=net: feed_all(net, batches, entry) for net in nets]
            results[side] = timed_threads(jobs)
            del nets, jobs
        if results["one"][2] != results["two"][2]:
            raise RuntimeError(f"one thread fired {results['one'][2]} times, two threads {results['two'][2]}")
        one_s.append(results["one"][0])
        two_s.append(results["two"][0])
        one_cpu.append(results["one"][1])
        two_cpu.append(results["two"][1])
        ratios.append(results["one"][0] / results["two"][0])
        print(f"[{entry}] round {r + 1}: one {one_s[-1] * 1e3:.1f} ms, two {two_s[-1] * 1e3:.1f} ms, "
              f"x{ratios[-1]:.2f}", file=sys.stderr)
    return {
        "one_ms": statistics.median(one_s) * 1e3,
        "two_ms": statistics.median(two_s) * 1e3,
        "speedup": statistics.median(ratios),
        "speedup_quartiles": statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3,
        "cpu_two_over_one": statistics.median(t / o for t, o in zip(two_cpu, one_cpu)),
    }


def measure_c_core(size: int, rounds: int) -> dict:
    """The C driver's speed-up of two pthreads over one on the farm workload of `size` callbacks
    (benchmarks/ccore/threads.c: the same batches, rounds and barrier as measure())."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp), name="threads", program="threads")
        write_workload(size, Path(tmp) / "workload")
        out = subprocess.run([str(exe), str(Path(tmp) / "workload"), str(rounds)], check=True,
                             capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    summary = lines[-1]
    return {
        "one_ms": statistics.median(r["one_ms"] for r in lines[:-1]),
        "two_ms": statistics.median(r["two_ms"] for r in lines[:-1]),
        "speedup": summary["speedup"],
        "speedup_quartiles": [summary["speedup_q1"], summary["speedup"], summary["speedup_q3"]],
        "cpu_two_over_one": summary["cpu_two_over_one"],
    }


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--entry", default="feed_batch,feed_text,feed_many", help="entry points, comma-separated")
    args = parser.parse_args(argv)
    from qbtrigger._native import Network

    workload = farm_workload(10_000)
    batches = batches_of(workload.events)
    events = 2 * sum(map(len, batches))
    at_start = machine()
    texts = [("\n".join(batch) + "\n").encode() for batch in batches]
    rows = [(entry, measure(lambda: workload.network(Network), texts if entry == "feed_text" else batches, entry,
                            args.rounds))
            for entry in args.entry.split(",")]
    rows.append(("C core alone (C API, pthreads)", measure_c_core(len(workload.callbacks), args.rounds)))
    print(f"machine at the start: {at_start}\nmachine at the end: {machine()}")
    print(f"10k farm workload, {events:,} events over two networks, batches of {BATCH:,}; {args.rounds} rounds\n")
    print("| entry point | one thread ms | two threads ms | speed-up (median of rounds) | quartiles | CPU two / one |")
    print("|---|---:|---:|---:|---:|---:|")
    for entry, m in rows:
        q1, _, q3 = m["speedup_quartiles"]
        print(f"| {entry} | {m['one_ms']:.1f} | {m['two_ms']:.1f} | {m['speedup']:.2f}× | {q1:.2f}-{q3:.2f} "
              f"| {m['cpu_two_over_one']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
