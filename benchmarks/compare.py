"""Side-by-side figures for benchmarks/README.md, measured in one process:

    python -m benchmarks.compare [--sizes 1k,10k,100k] [--runs 3] [--no-memory]
                                 [--only native,feed,pure,reference,floor]

For each size it builds the farm workload (qbtrigger.workload.farm_workload) and

1. verifies that the C core (``feed_many`` and a ``feed`` loop), the pure twin and the reference
   matcher (benchmarks/reference.py) fire the same handles for the same events, in the same order;
   if they do not, it stops without printing a single figure;
2. times, on a freshly registered network each run: native ``feed()`` one event at a time, native
   ``feed_many()``, pure ``feed_many()``, reference ``feed_many()``, and the C floor
   (benchmarks/cfloor: one hash and one probe per event); and each implementation's registration;
3. prints a markdown table of medians over ``--runs`` runs: events/s, ns/event, speed-up over the
   reference, multiple of the C floor, registration time, and ``stats()['bytes']`` per callback.

``--only`` keeps a subset of the contenders (``feed`` is native ``feed()``; verifying and the
memory table then cover only the implementations kept): ``--only native,reference,floor`` is the
quick way to the issue-2 ratios at 1M, where the pure twin's registration dominates the run.

Then (unless ``--no-memory``) a second table: bytes per callback of the two-atom workload, from
``stats()`` and from RSS growth measured in a fresh subprocess per implementation.
Progress goes to stderr, the tables to stdout.
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
import time
from pathlib import Path

import qbtrigger
from benchmarks._impls import network_class
from benchmarks.cfloor import FloorUnavailable
from benchmarks.cfloor import load as load_floor
from qbtrigger.workload import describe, farm_workload, parse_size

REPO = Path(__file__).resolve().parent.parent
IMPL_LABELS = {"c": "native", "py": "pure", "ref": "reference"}
#: What --only selects from: native feed_many(), native feed(), pure, reference, the C floor.
CONTENDERS = ("native", "feed", "pure", "reference", "floor")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn, *args) -> tuple:
    gc.collect()
    t = time.perf_counter_ns()
    result = fn(*args)
    return time.perf_counter_ns() - t, result


def feed_loop(net, events: list) -> list:
    feed = net.feed
    return [(i, h) for i, e in enumerate(events) for h in feed(e)]


def feed_loop_timed_body(net, events: list) -> int:
    feed = net.feed
    fired = 0
    for e in events:
        fired += len(feed(e))
    return fired


class Mismatch(Exception):
    pass


def verify(workload, classes: dict, loop: bool = True) -> int:
    """Every implementation fires the same (event index, handle) pairs; returns their number."""
    expected = None
    for name, cls in classes.items():
        net = workload.network(cls)
        runs = {f"{name} feed_many": net.feed_many(workload.events)}
        if name == "native" and loop:
            runs["native feed loop"] = feed_loop(workload.network(cls), workload.events)
        for label, fired in runs.items():
            fired = [tuple(pair) for pair in fired]
            if expected is None:
                expected, expected_label = fired, label
            elif fired != expected:
                first = next(
                    (i for i, (a, b) in enumerate(zip(fired, expected)) if a != b), min(len(fired), len(expected))
                )
                raise Mismatch(
                    f"{label} and {expected_label} disagree: {len(fired)} vs {len(expected)} firings, "
                    f"first difference at firing {first}: "
                    f"{fired[first] if first < len(fired) else None} vs "
                    f"{expected[first] if first < len(expected) else None}"
                )
        del net
    return len(expected or [])


def median(values: list) -> float:
    return statistics.median(values) if values else float("nan")


def measure_size(size: str, runs: int, classes: dict, floor, loop: bool = True) -> dict:
    n = parse_size(size)
    workload = farm_workload(n)
    events = workload.events
    log(f"[{size}] {describe(workload)}")
    fired = verify(workload, classes, loop)
    log(f"[{size}] verified: {', '.join(classes)} fire the same {fired} handles")
    ns: dict = {key: [] for key in ("native feed()", "native feed_many()", "pure feed_many()", "reference feed_many()", "C floor")}
    register: dict = {name: [] for name in classes}
    stats_bytes: dict = {}
    for run in range(runs):
        log(f"[{size}] run {run + 1}/{runs}")
        for name, cls in classes.items():
            elapsed, net = timed(workload.network, cls)
            register[name].append(elapsed)
            if hasattr(net, "stats") and name not in stats_bytes:
                stats_bytes[name] = net.stats()["bytes"] / max(n, 1)
            elapsed, _ = timed(net.feed_many, events)
            ns[f"{name} feed_many()"].append(elapsed / len(events))
            del net
            if name == "native" and loop:
                net = workload.network(cls)
                elapsed, _ = timed(feed_loop_timed_body, net, events)
                ns["native feed()"].append(elapsed / len(events))
                del net
        if floor is not None:
            floor_ns, _ = floor.run(events, workload.keys())
            ns["C floor"].append(floor_ns)
    return {
        "size": size,
        "callbacks": n,
        "events": len(events),
        "fired": fired,
        "ns": {k: median(v) for k, v in ns.items() if v},
        "register_ms": {k: median(v) / 1e6 for k, v in register.items()},
        "stats_bytes": stats_bytes,
    }


def memory_row(size: str, impl_id: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", impl_id, size],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.memory {impl_id} {size} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def fmt_rate(ns_per_event: float) -> str:
    per_s = 1e9 / ns_per_event
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M"
    return f"{per_s / 1e3:.0f} k"


def fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"


def table(results: list) -> str:
    head = "| callbacks | what | events/s | ns/event | × reference | × C floor | registration | bytes/callback |"
    lines = [head, "|---:|---|---:|---:|---:|---:|---:|---:|"]
    impl_of = {"native": "native", "pure": "pure", "reference": "reference"}
    for r in results:
        ref = r["ns"].get("reference feed_many()")
        floor = r["ns"].get("C floor")
        for what, value in r["ns"].items():
            impl = what.split()[0]
            speed = f"{ref / value:.1f}× faster" if ref and what != "C floor" else "—"
            if what == "reference feed_many()":
                speed = "1.0×"
            over_floor = f"{value / floor:.1f}×" if floor else "—"
            reg = r["register_ms"].get(impl_of.get(impl, ""), None)
            register = fmt_ms(reg) if reg is not None and "feed_many" in what else "—"
            sb = r["stats_bytes"].get(impl)
            bytes_cb = f"{sb:.0f}" if sb is not None and "feed_many" in what else "—"
            lines.append(
                f"| {r['callbacks']:,} | {what} | {fmt_rate(value)} | {value:,.0f} | {speed} | {over_floor} "
                f"| {register} | {bytes_cb} |"
            )
    return "\n".join(lines)


def memory_table(rows: list) -> str:
    lines = [
        "| callbacks | implementation | stats() bytes/callback | RSS growth bytes/callback | peak RSS growth bytes/callback |",
        "|---:|---|---:|---:|---:|",
    ]
    for size, r in rows:
        def f(x):
            return "—" if x is None else f"{x:,.0f}"

        lines.append(
            f"| {parse_size(size):,} | {IMPL_LABELS[r['impl']]} | {f(r['stats_bytes_per_callback'])} "
            f"| {f(r['rss_bytes_per_callback'])} | {f(r['peak_rss_bytes_per_callback'])} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1k,10k,100k", help="callback counts, comma separated (default 1k,10k,100k)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is printed (default 3)")
    parser.add_argument("--no-memory", action="store_true", help="skip the two-atom memory table")
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help=f"contenders to run, comma separated, among {','.join(CONTENDERS)} (default: all; "
        "feed is native feed(), which needs native)",
    )
    args = parser.parse_args(argv)
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in only if c not in CONTENDERS]
    if unknown or not only:
        parser.error(f"--only: expected some of {','.join(CONTENDERS)}, got {args.only!r}")
    if "feed" in only and "native" not in only:
        parser.error("--only: feed (native feed()) needs native")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    try:
        for s in sizes:
            parse_size(s)
    except ValueError as exc:
        parser.error(str(exc))
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        classes = {
            name: network_class(impl_id)
            for name, impl_id in (("native", "c"), ("pure", "py"), ("reference", "ref"))
            if name in only
        }
    except ImportError as exc:
        print(f"compare: the C core is not built ({exc}); pip install . first", file=sys.stderr)
        return 1
    floor = None
    if "floor" in only:
        try:
            floor = load_floor()
        except FloorUnavailable as exc:
            log(f"compare: no C floor: {exc}")

    results = []
    for size in sizes:
        try:
            results.append(measure_size(size, args.runs, classes, floor, "feed" in only))
        except Mismatch as exc:
            print(f"compare: refusing to print figures: at {size} callbacks {exc}", file=sys.stderr)
            return 1
    memory = []
    if not args.no_memory:
        for size in sizes:
            for impl_id in [i for i, name in IMPL_LABELS.items() if name in classes]:
                log(f"[{size}] memory of {impl_id} (two-atom workload, own process)")
                memory.append((size, memory_row(size, impl_id)))

    print(f"qbtrigger {qbtrigger.__version__}; {machine()}; median of {args.runs} run(s); "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("Farm workload (qbtrigger.workload.farm_workload): composite jobs x ~495 frames, per frame")
    print("`A-f && B-f` and `(A-f && B-f) || C-f`, ~1% job-level/`done`/`*`; events: every upstream")
    print("frame completion, shuffled. × reference: speed-up over benchmarks/reference.py; × C floor:")
    print("time over one hash + one probe per event in C (benchmarks/cfloor/floor.c).")
    print()
    print(table(results))
    if memory:
        print()
        print("Two-atom workload (every callback a distinct two-atom AND), each implementation in its own process:")
        print()
        print(memory_table(memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
