"""A standby's takeover time on the PostgreSQL store: from the active supervisor's death to the
standby's first committed step.

    python -m benchmarks.standby_bench --db postgresql://... --jobs 1000 --frames 1000 [--kill-at 0.05]

The database's qbtrigger tables are dropped first. An *active* child process submits the chain of
:mod:`benchmarks.simulate_bench` (jobs x frames callbacks) and runs it; a *standby* child waits
for the lock. Once the active one has committed ``--kill-at`` of the run's events (and at least its
submission), it is killed with SIGKILL; the standby takes the lock, resumes (loads the jobs,
replays the journal), runs one step and commits it. Prints one JSON line: the takeover time and
its parts (lock, resume, first step), the journal lines replayed and the callbacks live.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

from qbtrigger.supervisor import PostgresStore, Simulator, Supervisor

from .simulate_bench import chain


def _active(args: argparse.Namespace) -> None:
    sup = Supervisor(args.db, clock=0)
    sup.submit(chain(args.jobs, args.frames))
    print("submitted", flush=True)
    Simulator(sup, workers=4, seed=0, frame_time=(10.0, 2.0), commit_every=20000).run()
    sup.close()


def _standby(args: argparse.Namespace) -> None:
    store = PostgresStore(args.db, standby=True, on_wait=lambda text: print("waiting", flush=True))
    locked = time.time()
    sup = Supervisor(db=store)
    resumed = time.time()
    sim = Simulator(sup, workers=4, seed=0, frame_time=(10.0, 2.0), commit_every=20000)
    writes: List[float] = []
    write = store.write
    store.write = lambda batch: (write(batch), writes.append(time.time()))  # type: ignore[method-assign]
    sim.run(max_steps=1)  # one step, committed at its end (then a report, not timed)
    committed = writes[0]
    live = len(sup.engine.network)
    print(json.dumps({"locked": locked, "resumed": resumed, "committed": committed, "live_callbacks": live,
                      "journal_lines": store.journal_length()}), flush=True)
    sup.close()


def _journal_length(db: str) -> int:
    import psycopg

    try:
        with psycopg.connect(db, autocommit=True) as conn:
            return int(conn.execute("SELECT coalesce(sum(n), 0) FROM journal").fetchone()[0])
    except psycopg.Error:
        return 0


def measure(db: str, jobs: int, frames: int, kill_at: float) -> Dict[str, Any]:
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS meta, jobs, work, subjobs, journal, logs")
    base: List[str] = [sys.executable, "-m", "benchmarks.standby_bench", "--db", db, "--jobs", str(jobs),
                       "--frames", str(frames)]
    active = subprocess.Popen([*base, "--role", "active"], stdout=subprocess.PIPE, text=True)
    standby: Optional[subprocess.Popen] = None
    try:
        assert active.stdout is not None and active.stdout.readline().strip() == "submitted"
        standby = subprocess.Popen([*base, "--role", "standby"], stdout=subprocess.PIPE, text=True)
        assert standby.stdout is not None and standby.stdout.readline().strip() == "waiting"
        target = int(kill_at * 3 * jobs * frames)  # about 3 events per frame, plus the submission
        while _journal_length(db) < max(target, 1):
            if active.poll() is not None:
                raise RuntimeError("the active supervisor finished before it could be killed")
            time.sleep(0.05)
        killed = time.time()
        active.send_signal(signal.SIGKILL)
        active.wait()
        result = json.loads(standby.stdout.readline())
        standby.wait()
    finally:
        for proc in (active, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    return {
        "jobs": jobs, "frames": frames, "kill_at": kill_at,
        "takeover_s": round(result["committed"] - killed, 3),
        "lock_s": round(result["locked"] - killed, 3),
        "resume_s": round(result["resumed"] - result["locked"], 3),
        "first_step_s": round(result["committed"] - result["resumed"], 3),
        "journal_lines": result["journal_lines"], "live_callbacks": result["live_callbacks"],
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.standby_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a postgresql:// URI (its qbtrigger tables are dropped)")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.05, help="fraction of the run's events (default 0.05)")
    parser.add_argument("--role", choices=("active", "standby"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "active":
        _active(args)
    elif args.role == "standby":
        _standby(args)
    else:
        print(json.dumps(measure(args.db, args.jobs, args.frames, args.kill_at)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
