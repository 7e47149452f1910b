"""The C core through its C API, no Python in the loop: ``python -m benchmarks.ccore [--sizes 1k,1M]``.

Writes the farm workload to a temporary folder, compiles ``drive.c`` with ``native/*.c`` (``cc
-O2``), runs it once per size and prints a markdown table: ns/event of one ``qbt_feed_many`` pass
over a freshly registered network (what ``benchmarks.compare`` times from Python), registration
time and stats bytes per callback. The C floor is measured alongside, so the ratio is in one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.cfloor import load as load_floor
from qbtrigger.workload import farm_workload, parse_size

HERE = Path(__file__).resolve().parent
NATIVE = HERE.parent.parent / "native"


def build(workdir: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.exit("benchmarks.ccore: no C compiler (cc) found")
    exe = workdir / "drive"
    sources = [str(HERE / "drive.c"), *sorted(str(p) for p in NATIVE.glob("*.c"))]
    subprocess.run([compiler, "-std=c11", "-O2", f"-I{NATIVE}", *sources, "-o", str(exe)], check=True)
    return exe


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
    return workload


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ccore", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1k,10k,100k,1M")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    floor = load_floor()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        for size in args.sizes.split(","):
            n = parse_size(size)
            folder = Path(tmp) / size
            workload = write_workload(n, folder)
            runs = [json.loads(subprocess.run([str(exe), str(folder)], check=True, capture_output=True,
                                              text=True).stdout) for _ in range(args.runs)]
            floor_ns = statistics.median(floor.run(workload.events, workload.keys())[0] for _ in range(args.runs))
            ns = statistics.median(r["feed_many_ns_per_event"] for r in runs)
            reg = statistics.median(r["register_ns_per_callback"] for r in runs)
            rows.append((n, ns, floor_ns, reg, runs[0]["bytes_per_callback"]))
            print(f"[{size}] {ns:.0f} ns/event, floor {floor_ns:.0f}", file=sys.stderr)
    print("| callbacks | C core feed_many ns/event | C floor ns/event | × C floor | registration ns/callback |")
    print("|---:|---:|---:|---:|---:|")
    for n, ns, floor_ns, reg, _ in rows:
        print(f"| {n:,} | {ns:.0f} | {floor_ns:.0f} | {ns / floor_ns:.1f}× | {reg:.0f} |")
    return 0
