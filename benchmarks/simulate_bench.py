"""Supervisor + simulator at scale: a chain of jobs linked frame by frame.

    python -m benchmarks.simulate_bench --jobs 1000 --frames 1000 [--db PATH|URI] [--workers 4]

Job k+1's frame f waits on job k's frame f through a per-frame qube callback
(``complete-work-jK-f`` -> ``unblock-work-self``): jobs x frames callbacks, about
3 x jobs x frames events (each frame: unblocked, running, complete). Prints the submission and run
wall times, events, callbacks fired and the peak RSS (``ru_maxrss``) as one JSON line.
``--db`` keeps the store in a SQLite file or a PostgreSQL database (``postgresql://...``; its
qbtrigger tables are dropped first). ``--profile N`` writes the ``N`` hottest functions (cProfile, cumulative) to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any, Dict, List

from qbtrigger.supervisor import Simulator, Supervisor
from qbtrigger.supervisor.postgres import display_dsn, is_postgres_dsn


def chain(jobs: int, frames: int) -> List[Dict[str, Any]]:
    """The submission: ``jobs`` jobs labelled j0.., each of ``frames`` frames."""
    names = [str(f) for f in range(frames)]
    out = []
    for k in range(jobs):
        job: Dict[str, Any] = {"label": f"j{k}", "agenda": names}
        if k:
            job["agenda"] = [{"name": n, "status": "blocked"} for n in names]
            job["callbacks"] = [
                {"triggers": f"complete-work-j{k - 1}-{n}", "language": "qube", "code": "unblock-work-self"}
                for n in names
            ]
        out.append(job)
    return out


def run(jobs: int, frames: int, db: str = None, workers: int = 4, seed: int = 0) -> Dict[str, Any]:
    t0 = time.perf_counter()
    sup = Supervisor(db, clock=0)
    submission = chain(jobs, frames)
    t1 = time.perf_counter()
    sup.submit(submission)
    del submission
    t2 = time.perf_counter()
    report = Simulator(sup, workers=workers, seed=seed, frame_time=(10.0, 2.0), commit_every=20000).run()
    t3 = time.perf_counter()
    fired = sum(j.callbacks_fired for j in report.jobs)
    sup.close()
    return {
        "jobs": jobs, "frames": frames, "workers": workers,
        "store": (display_dsn(db) if is_postgres_dsn(db) else db) or ":memory:",
        "submit_s": round(t2 - t1, 2), "run_s": round(t3 - t2, 2), "wall_s": round(t3 - t0, 2),
        "events": report.events, "callbacks_fired": fired, "finished": report.finished,
        "makespan_virtual_s": round(report.makespan, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulate_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=None,
                        help="a SQLite file (removed first) or a postgresql:// URI (tables dropped first); default: in memory")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args(argv)
    if is_postgres_dsn(args.db):
        import psycopg

        with psycopg.connect(args.db, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS meta, jobs, work, subjobs, journal, logs")
    elif args.db:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(args.db + suffix):
                os.remove(args.db + suffix)
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(run, args.jobs, args.frames, args.db, args.workers, args.seed)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)
    else:
        result = run(args.jobs, args.frames, args.db, args.workers, args.seed)
    print(json.dumps(result))
    return 0 if result["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
