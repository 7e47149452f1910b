"""The embedding entry points beside the C core alone, in one run: ``python -m benchmarks.embedding``.

Per size of the farm workload (``qbtrigger.workload.farm_workload``), ``--runs`` rounds; each round
measures, back to back, every mode below on a freshly registered network (registration not timed):

- **C core alone**: ``benchmarks.ccore``'s driver (one ``qbt_feed_many`` pass, no Python), ns/event;
- **feed_batch**, **feed_text**, **feed_many** of the C core from Python, ns/event, and their ratios
  to the C core alone (issue 14 asks feed_batch to stay within 1.3x);
- **feed_batch, shuffled strings**: feed_batch of the workload's own list, whose strings were made
  before the list was shuffled, so they lie all over the heap in list order (see below).

The two sides get their events laid out alike: the C driver reads the events file line by line
into strings allocated one after the other, and the Python modes get ``str`` objects made in the
same order (the lines of that file's text, as a supervisor reading a batch off a socket or a file
has them). The shuffled-strings column shows what a batch of strings made at other times costs.
Every ratio is the median of the per-round ratios (each round's two figures taken minutes apart at
most), which keeps a shared machine's load changes out of them as far as possible.

Also: **durable_rules** at 10k (if installed: ``pip install 'qbtrigger[peers]'``; else the table
says "durable_rules not installed"), fed one event per call through ``qbtrigger bench``'s adapter,
and feed_batch's speed-up over it; **snapshot** and **restore** of the network after half the
stream (native), seconds, and the snapshot's size per callback, also on ``two_atom_workload``.

Every time is given twice: by the clock, and in CPU time of the thread doing the work (the C
driver's ``CLOCK_THREAD_CPUTIME_ID``, Python's ``time.thread_time``), which other processes move far
less on a shared machine (under a load of 7 on 2 cores the clock read 2-4x the CPU time). The
machine (CPU model, cores, load at the start and at the end) is printed with the tables.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from benchmarks.ccore import build, write_workload
from qbtrigger.workload import Workload, parse_size, two_atom_workload


def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load {load:.1f}, Python {platform.python_version()}"


def timed(make: Callable[[], object], run: Callable[[object], object], runs: int) -> Tuple[float, float]:
    """Median seconds of ``run(make())``, a fresh ``make()`` each time (not timed): by the clock,
    and in CPU time of this thread (the C core's work with the GIL released runs in it too), right
    after ``make()``, as the C driver feeds right after registering. What
    ``run`` returns is freed after the clock stops, as the C driver leaves its output alone (and a
    restored network of 1M callbacks takes a good part of a restore's time to free)."""
    times, cpu = [], []
    for _ in range(runs):
        gc.collect()  # before make(): a collection walks the heap and would evict what make() set up
        subject = make()
        start, start_cpu = time.perf_counter(), time.thread_time()
        result = run(subject)
        cpu.append(time.thread_time() - start_cpu)
        times.append(time.perf_counter() - start)
        del result, subject
    return statistics.median(times), statistics.median(cpu)


def durable_ns(workload: Workload, runs: int) -> Optional[float]:
    """durable_rules' ns/event on the workload, None if it is not installed."""
    from qbtrigger.bench.contenders import load_contender

    contender = load_contender("durable_rules")
    if contender.unavailable():
        return None
    seconds, _ = timed(
        lambda: contender.register(workload), lambda e: contender.feed(e, workload.events, "feed", False), runs
    )
    return seconds * 1e9 / len(workload.events)


MODES = ("feed_batch", "feed_text", "feed_many", "feed_batch_shuffled")


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedding", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k,1M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    from qbtrigger._native import Network

    rows = []
    load_start = machine()
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        for size in args.sizes.split(","):
            n = parse_size(size)
            folder = Path(tmp) / size
            workload = write_workload(n, folder)
            text = ("\n".join(workload.events) + "\n").encode()
            events = text.decode().split("\n")[:-1]  # made in list order, like the driver's lines
            per_event = 1e9 / len(events)
            fresh = lambda: workload.network(Network)  # noqa: E731
            calls = {
                "feed_batch": lambda net: net.feed_batch(events),
                "feed_text": lambda net: net.feed_text(text),
                "feed_many": lambda net: net.feed_many(events),
                "feed_batch_shuffled": lambda net: net.feed_batch(workload.events),
            }
            runs: dict = {key: [] for mode in ("c_core", *MODES) for key in (mode, mode + "_cpu")}
            for _ in range(args.runs):
                out = subprocess.run([str(exe), str(folder)], check=True, capture_output=True, text=True).stdout
                runs["c_core"].append(json.loads(out)["feed_many_ns_per_event"])
                runs["c_core_cpu"].append(json.loads(out)["feed_many_cpu_ns_per_event"])
                for mode in MODES:
                    wall, cpu = timed(fresh, calls[mode], 1)
                    runs[mode].append(wall * per_event)
                    runs[mode + "_cpu"].append(cpu * per_event)
            row = {"callbacks": n, **{key: statistics.median(values) for key, values in runs.items()}}
            for mode in MODES:
                for cpu in ("", "_cpu"):
                    ratios = [m / c for m, c in zip(runs[mode + cpu], runs["c_core" + cpu])]
                    row[f"{mode}{cpu}_x_c"] = statistics.median(ratios)
            row["runs"] = runs
            net = workload.network(Network)
            net.feed_many(events[: len(events) // 2])
            data = net.snapshot()
            row["snapshot_s"], row["snapshot_cpu_s"] = timed(lambda net=net: net, lambda net: net.snapshot(), args.runs)
            row["restore_s"], row["restore_cpu_s"] = timed(lambda data=data: data, Network.from_snapshot, args.runs)
            row["bytes_per_callback"] = len(data) / n
            del net
            two = two_atom_workload(n).network(Network).snapshot()
            row["two_atom_bytes_per_callback"] = len(two) / n
            if n == 10_000:
                row["durable_rules"] = durable_ns(workload, args.runs)
            rows.append(row)
            print(f"[{size}] done", file=sys.stderr)
    print(f"machine at the start: {load_start}\nmachine at the end: {machine()}")
    print(f"{args.runs} rounds; ns/event: median; × C core: median of the rounds' ratios; farm workload")
    for cpu, what in (("", "by the clock"), ("_cpu", "CPU time of the feeding thread")):
        print(f"\nns/event, {what}:\n")
        print(
            "| callbacks | C core alone | feed_batch | × C core | feed_text | × C core | feed_many | × C core "
            "| feed_batch, shuffled strings | × C core |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            cells = " | ".join(f"{r[mode + cpu]:.0f} | {r[mode + cpu + '_x_c']:.2f}×" for mode in MODES)
            print(f"| {r['callbacks']:,} | {r['c_core' + cpu]:.0f} | {cells} |")
    print(
        "\n| callbacks | snapshot s | (CPU s) | restore s | (CPU s) | bytes/callback (farm) | bytes/callback (two-atom) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['callbacks']:,} | {r['snapshot_s']:.3f} | {r['snapshot_cpu_s']:.3f} | {r['restore_s']:.3f} "
            f"| {r['restore_cpu_s']:.3f} | {r['bytes_per_callback']:.1f} | {r['two_atom_bytes_per_callback']:.1f} |"
        )
    for r in rows:
        if "durable_rules" in r:
            d = r["durable_rules"]
            if d is None:
                print(f"\ndurable_rules at {r['callbacks']:,}: durable_rules not installed (pip install 'qbtrigger[peers]')")
            else:
                print(
                    f"\ndurable_rules at {r['callbacks']:,}: {d:,.0f} ns/event; "
                    f"feed_batch is {d / r['feed_batch']:,.0f}× faster"
                )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "runs": args.runs, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
