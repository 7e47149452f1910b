"""Callback dispatch speed (issues 4 and 13): how many fired callbacks the engine runs per second.

One downstream job with N per-frame callbacks (``complete-work-up-F`` -> its action), fed the N
upstream frame completions in one ``feed_many`` call. The host is a counter (``act`` records the
call and emits nothing), so the figure is the engine's: match, look up the callback, run its
language. Also times the registration of the N-frame submission (compile + register).

Three variants, side by side: ``qube`` (a keyword, in the engine), ``python`` (isolated: each
firing goes to the owner's worker process and its ``qb`` action comes back over the channel; the
worker is started before the clock runs) and ``python-in-process`` (the trusted, in-process mode).

    python -m benchmarks.callbacks_bench [--frames 100000] [--runs 3]

Targets (this 2-core machine): qube >= 200k callbacks/s, in-process python >= 50k/s (issue 4),
isolated python >= 20k/s (issue 13).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

from qbtrigger.callbacks import CallbackEngine, Host

PYTHON_CODE = "qb.unblockwork('%d:%s' % (qb.jobid(), qb.event()['extra']))"
LANGUAGES = {"qube": "unblock-work-self", "python": PYTHON_CODE}
#: variant -> (language, in-process python)
VARIANTS = {"qube": ("qube", False), "python": ("python", False), "python-in-process": ("python", True)}


class CountingHost(Host):
    """A farm that only counts: every action is one list append."""

    def __init__(self) -> None:
        self.jobs: Dict[int, Dict[str, Any]] = {}
        self.acted: List[Tuple] = []

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        job = self.jobs.get(criteria.get("id"))
        return [job] if job is not None else []

    def job(self, jobid: int) -> Optional[Dict[str, Any]]:
        return self.jobs.get(jobid)

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        self.acted.append((verb, jobid, work))

    def modify(self, jobid: int, fields: Any) -> None:
        self.jobs[jobid].update(fields)


def submission(frames: int, language: str) -> List[Dict[str, Any]]:
    names = [str(f) for f in range(1, frames + 1)]
    up = {"id": 1, "label": "up", "user": "artist", "agenda": [{"name": n} for n in names]}
    down = {
        "id": 2, "pgrp": 1, "label": "down", "user": "artist",
        "agenda": [{"name": n, "status": "blocked"} for n in names],
        "callbacks": [
            {"triggers": f"complete-work-up-{n}", "language": language, "code": LANGUAGES[language]} for n in names
        ],
    }
    return [up, down]


def ready_engine(frames: int, variant: str) -> Tuple[CountingHost, CallbackEngine, float]:
    """A submitted engine for ``variant``, its worker (if any) started: ``(host, engine,
    registration seconds)``. Close the engine when done."""
    language, in_process = VARIANTS[variant]
    host = CountingHost()
    engine = CallbackEngine(host, language_flags="qube,python", in_process_python=in_process)
    jobs = submission(frames, language)
    for job in jobs:
        host.jobs[job["id"]] = job
    t0 = time.perf_counter()
    engine.submit(jobs)
    registered = time.perf_counter() - t0
    if language == "python" and engine.workers is not None:
        engine.workers.start("artist")
    return host, engine, registered


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def measure(frames: int, variant: str) -> Dict[str, float]:
    """One run: wall-clock dispatch rate, and the CPU time each firing cost the engine's process
    and (isolated) the worker's. On a loaded machine the wall clock is mostly waiting for a CPU;
    the CPU times say what the work itself costs."""
    host, engine, registered = ready_engine(frames, variant)
    workers = list(engine.workers.worker_pids.values()) if engine.workers is not None else []
    try:
        events = [f"complete-work-1-{f}" for f in range(1, frames + 1)]
        worker_cpu = sum(_cpu_seconds(pid) for pid in workers)
        cpu = time.process_time()
        t0 = time.perf_counter()
        firings = engine.feed_many(events)
        dispatched = time.perf_counter() - t0
        cpu = time.process_time() - cpu
        worker_cpu = sum(_cpu_seconds(pid) for pid in workers) - worker_cpu
    finally:
        engine.close()
    assert len(firings) == frames and len(host.acted) == frames, (len(firings), len(host.acted))
    return {"register_s": registered, "dispatch_s": dispatched, "per_s": frames / dispatched,
            "engine_cpu_us": cpu / frames * 1e6, "worker_cpu_us": worker_cpu / frames * 1e6}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.frames:,} per-frame callbacks, median of {args.runs} run(s), {os.cpu_count()} CPUs, load {load:.1f}")
    print("| variant | callbacks dispatched/s | dispatch | CPU per firing: engine + worker | registration |")
    print("|---|---:|---:|---:|---:|")
    medians = {}
    for variant in VARIANTS:
        runs = [measure(args.frames, variant) for _ in range(args.runs)]
        per_s = medians[variant] = statistics.median(r["per_s"] for r in runs)
        dispatch = statistics.median(r["dispatch_s"] for r in runs)
        register = statistics.median(r["register_s"] for r in runs)
        engine_cpu = statistics.median(r["engine_cpu_us"] for r in runs)
        worker_cpu = statistics.median(r["worker_cpu_us"] for r in runs)
        print(f"| {variant} | {per_s / 1000:,.1f} k | {dispatch:.2f} s | {engine_cpu:.0f} + {worker_cpu:.0f} us"
              f" | {register:.2f} s |")
    print(f"isolated / in-process python: {medians['python'] / medians['python-in-process']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
