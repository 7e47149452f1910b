"""The embedding entry points beside the C core alone, in one run: ``python -m benchmarks.embedding``.

Per size of the farm workload (``qbtrigger.workload.farm_workload``), median of ``--runs``:

- **C core alone**: ``benchmarks.ccore``'s driver (one ``qbt_feed_many`` pass over a freshly
  registered network, no Python), ns/event;
- **feed_batch**, **feed_text**, **feed_many** of the C core from Python, each on a fresh network,
  ns/event, and their ratios to the C core alone (issue 14 asks feed_batch to stay within 1.3x);
- **durable_rules** at 10k (if installed: ``pip install 'qbtrigger[peers]'``), fed one event per
  call through ``qbtrigger bench``'s adapter, and feed_batch's speed-up over it;
- **snapshot** and **restore** of the network after the pass (native), seconds, and the snapshot's
  size per callback; also on ``two_atom_workload`` (two-atom callbacks, the size the issue bounds).

The machine (CPU model, cores, load) is printed with the table: figures from a shared or loaded
machine are noisy, which is why every figure is a median and every ratio is taken within one run.
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
from typing import Callable, List

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


def timed(make: Callable[[], object], run: Callable[[object], object], runs: int) -> float:
    """Median seconds of ``run(make())``, a fresh ``make()`` each time (not timed)."""
    times = []
    for _ in range(runs):
        subject = make()
        gc.collect()
        start = time.perf_counter()
        run(subject)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def durable_ns(workload: Workload, runs: int) -> float:
    from qbtrigger.bench.contenders import load_contender

    contender = load_contender("durable_rules")
    if contender.unavailable():
        return float("nan")
    seconds = timed(lambda: contender.register(workload), lambda e: contender.feed(e, workload.events, "feed", False), runs)
    return seconds * 1e9 / len(workload.events)


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedding", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k,1M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    from qbtrigger._native import Network

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        for size in args.sizes.split(","):
            n = parse_size(size)
            folder = Path(tmp) / size
            workload = write_workload(n, folder)
            events = workload.events
            text = ("\n".join(events) + "\n").encode()
            per_event = 1e9 / len(events)
            core = statistics.median(
                json.loads(subprocess.run([str(exe), str(folder)], check=True, capture_output=True, text=True).stdout)[
                    "feed_many_ns_per_event"
                ]
                for _ in range(args.runs)
            )
            fresh = lambda: workload.network(Network)  # noqa: E731
            row = {
                "callbacks": n,
                "c_core": core,
                "feed_batch": timed(fresh, lambda net: net.feed_batch(events), args.runs) * per_event,
                "feed_text": timed(fresh, lambda net: net.feed_text(text), args.runs) * per_event,
                "feed_many": timed(fresh, lambda net: net.feed_many(events), args.runs) * per_event,
            }
            net = workload.network(Network)
            net.feed_many(events[: len(events) // 2])
            data = net.snapshot()
            row["snapshot_s"] = timed(lambda net=net: net, lambda subject: subject.snapshot(), args.runs)
            row["restore_s"] = timed(lambda data=data: data, Network.from_snapshot, args.runs)
            row["bytes_per_callback"] = len(data) / n
            two = two_atom_workload(n).network(Network).snapshot()
            row["two_atom_bytes_per_callback"] = len(two) / n
            if n == 10_000:
                row["durable_rules"] = durable_ns(workload, args.runs)
            rows.append(row)
            print(f"[{size}] done", file=sys.stderr)
    print(f"machine: {machine()}; median of {args.runs} runs; farm workload\n")
    print("| callbacks | C core alone ns/event | feed_batch | × C core | feed_text | × C core | feed_many | × C core |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        c = r["c_core"]
        print(
            f"| {r['callbacks']:,} | {c:.0f} | {r['feed_batch']:.0f} | {r['feed_batch'] / c:.2f}× "
            f"| {r['feed_text']:.0f} | {r['feed_text'] / c:.2f}× | {r['feed_many']:.0f} | {r['feed_many'] / c:.2f}× |"
        )
    print("\n| callbacks | snapshot s | restore s | bytes/callback (farm) | bytes/callback (two-atom) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['callbacks']:,} | {r['snapshot_s']:.3f} | {r['restore_s']:.3f} | {r['bytes_per_callback']:.1f} "
            f"| {r['two_atom_bytes_per_callback']:.1f} |"
        )
    for r in rows:
        if "durable_rules" in r:
            d = r["durable_rules"]
            print(f"\ndurable_rules at {r['callbacks']:,}: {d:.0f} ns/event; feed_batch is {d / r['feed_batch']:.0f}× faster")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "runs": args.runs, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
