"""The C core through its C API, no Python in the loop: ``python -m benchmarks.ccore [--sizes 1k,1M]``.

Writes the farm workload to a temporary folder, compiles ``drive.c`` with ``native/*.c`` and the C
floor (``cc -O2``), runs it ``--runs`` times per size and prints a markdown table: ns/event of one
``qbt_feed_many`` pass over a freshly registered network (what ``benchmarks.compare`` times from
Python), registration time and stats bytes per callback. Each run of the driver also times the C
floor on the same events, in the same process, right after the pass; the "× C floor" column is the
median of those per-run ratios, so both sides of each ratio share the machine's moment.

``--baseline DIR`` also builds the driver against another copy of ``native/`` (an older commit's,
say ``git archive OLD native | tar -x -C /tmp/old``, then ``--baseline /tmp/old/native``) and runs
it in turn with this one, run after run, so a before/after comparison shares the machine's moment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from qbtrigger.bench.floor import SOURCE as FLOOR_SOURCE
from qbtrigger.workload import farm_workload, parse_size

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parent.parent / "native"


def build(workdir: Path, native: Path = NATIVE, name: str = "drive", program: str = "drive") -> Path:
    """Compiles one of the C drivers here (``drive``, with the C floor; or ``threads``) with
    native/'s sources into workdir/name."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.exit("benchmarks.ccore: no C compiler (cc) found")
    exe = workdir / name
    extra = [str(FLOOR_SOURCE)] if program == "drive" else ["-pthread"]
    sources = [str(HERE / f"{program}.c"), *extra, *sorted(str(p) for p in native.glob("*.c"))]
    subprocess.run([compiler, "-std=c11", "-O2", f"-I{native}", *sources, "-o", str(exe)], check=True)
    return exe


def run_driver(exe: Path, folder: Path) -> dict:
    out = subprocess.run([str(exe), str(folder)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def write_workload(n: int, folder: Path):
    workload = farm_workload(n)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "jobs.txt", "w") as f:
        for jobid, pgrp, label, pid in workload.jobs:
            f.write(f"{jobid} {pgrp} {label or '-'} {-1 if pid is None else pid}\n")
    with open(folder / "callbacks.txt", "w") as f:
        for triggers, owner in workload.callbacks:
            f.write(f"{owner}\t{triggers}\n")
    with open(folder / "events.txt", "w") as f:
        f.write("\n".join(workload.events) + "\n")
    with open(folder / "keys.txt", "w") as f:
        f.write("\n".join(workload.keys()) + "\n")
    return workload


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ccore", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k,1M")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another native/ folder, built and run in turn with this one (before/after)")
    args = parser.parse_args(argv)
    if args.baseline is not None and not any(args.baseline.glob("*.c")):
        parser.error(f"--baseline {args.baseline}: no C sources there")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        base_exe = build(Path(tmp), args.baseline, "drive-baseline") if args.baseline is not None else None
        for size in args.sizes.split(","):
            n = parse_size(size)
            folder = Path(tmp) / size
            write_workload(n, folder)
            runs, base_runs = [], []
            for _ in range(args.runs):
                runs.append(run_driver(exe, folder))
                if base_exe is not None:
                    base_runs.append(run_driver(base_exe, folder))
            if base_runs and base_runs[0]["fired"] != runs[0]["fired"]:
                sys.exit(f"benchmarks.ccore: the baseline fired {base_runs[0]['fired']} times, this build {runs[0]['fired']}")
            ns = statistics.median(r["feed_many_ns_per_event"] for r in runs)
            floor_ns = statistics.median(r["floor_ns_per_event"] for r in runs)
            ratio = statistics.median(r["feed_many_ns_per_event"] / r["floor_ns_per_event"] for r in runs)
            base = None
            if base_runs:
                base = (statistics.median(r["feed_many_ns_per_event"] for r in base_runs),
                        statistics.median(r["feed_many_ns_per_event"] / r["floor_ns_per_event"] for r in base_runs))
            reg = statistics.median(r["register_ns_per_callback"] for r in runs)
            rows.append((n, ns, floor_ns, ratio, reg, base))
            print(f"[{size}] {ns:.0f} ns/event, floor {floor_ns:.0f}, per-run ratios "
                  + " ".join(f"{r['feed_many_ns_per_event'] / r['floor_ns_per_event']:.1f}" for r in runs)
                  + (f"; baseline {base[0]:.0f}" if base is not None else ""), file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"median of {args.runs}; load average {load:.1f} at the end; {os.cpu_count()} cores")
    print("× C floor: the median of each run's ratio (the floor timed in the driver, right after the pass)")
    print()
    head = "| callbacks | C core feed_many ns/event | C floor ns/event | × C floor | registration ns/callback |"
    rule = "|---:|---:|---:|---:|---:|"
    if args.baseline is not None:
        head += " baseline ns/event | baseline × C floor |"
        rule += "---:|---:|"
    print(head)
    print(rule)
    for n, ns, floor_ns, ratio, reg, base in rows:
        line = f"| {n:,} | {ns:.0f} | {floor_ns:.0f} | {ratio:.1f}× | {reg:.0f} |"
        if base is not None:
            line += f" {base[0]:.0f} | {base[1]:.1f}× |"
        print(line)
    return 0
