"""Callback dispatch speed (issue 4): how many fired callbacks the engine runs per second.

One downstream job with N per-frame callbacks (``complete-work-up-F`` -> its action), fed the N
upstream frame completions in one ``feed_many`` call. The host is a counter (``act`` records the
call and emits nothing), so the figure is the engine's: match, look up the callback, run its
language. Also times the registration of the N-frame submission (compile + register).

    python -m benchmarks.callbacks_bench [--frames 100000] [--runs 3]

Targets (issue 4, this 2-core machine): qube >= 200k callbacks/s, python >= 50k/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

from qbtrigger.callbacks import CallbackEngine, Host

PYTHON_CODE = "qb.unblockwork('%d:%s' % (qb.jobid(), qb.event()['extra']))"
LANGUAGES = {"qube": "unblock-work-self", "python": PYTHON_CODE}


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


def measure(frames: int, language: str) -> Dict[str, float]:
    host = CountingHost()
    engine = CallbackEngine(host, language_flags="qube,python")
    jobs = submission(frames, language)
    for job in jobs:
        host.jobs[job["id"]] = job
    t0 = time.perf_counter()
    engine.submit(jobs)
    registered = time.perf_counter() - t0
    events = [f"complete-work-1-{f}" for f in range(1, frames + 1)]
    t0 = time.perf_counter()
    firings = engine.feed_many(events)
    dispatched = time.perf_counter() - t0
    assert len(firings) == frames and len(host.acted) == frames, (len(firings), len(host.acted))
    return {"register_s": registered, "dispatch_s": dispatched, "per_s": frames / dispatched}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.frames:,} per-frame callbacks, median of {args.runs} run(s)")
    print("| language | callbacks dispatched/s | dispatch | registration of the submission |")
    print("|---|---:|---:|---:|")
    for language in LANGUAGES:
        runs = [measure(args.frames, language) for _ in range(args.runs)]
        per_s = statistics.median(r["per_s"] for r in runs)
        dispatch = statistics.median(r["dispatch_s"] for r in runs)
        register = statistics.median(r["register_s"] for r in runs)
        print(f"| {language} | {per_s / 1000:,.0f} k | {dispatch:.2f} s | {register:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
