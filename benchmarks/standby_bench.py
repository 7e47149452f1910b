"""A standby's takeover time on the PostgreSQL store: from the active supervisor's death to the
standby's first committed step.

    python -m benchmarks.standby_bench --db postgresql://... --jobs 1000 --frames 1000 [--kill-at 0.05] [--cold]

The database's qbtrigger tables are dropped first. An *active* child process submits the chain of
:mod:`benchmarks.simulate_bench` (jobs x frames callbacks) and runs it; a *standby* child waits
for the lock: a warm one (:class:`~qbtrigger.supervisor.standby.WarmStandby`, following the store
meanwhile), or with ``--cold`` one that resumes only once it holds the lock. Once the active one
has committed ``--kill-at`` of the run's events (and a warm standby has loaded the store and read
what was committed meanwhile: a catch-up took under a second), it is
killed with SIGKILL; the standby takes the lock, catches up (warm) or resumes (cold), runs one step
and commits it. Prints one JSON line: the takeover time and its parts (lock, catch-up or resume,
first step), the journal lines, the callbacks live and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from qbtrigger.supervisor import PostgresStore, Simulator, Supervisor
from qbtrigger.supervisor.standby import Follower, WarmStandby
from qbtrigger.supervisor.store import Batch

from .simulate_bench import chain


def _active(args: argparse.Namespace) -> None:
    sup = Supervisor(args.db, clock=0)
    sup.submit(chain(args.jobs, args.frames))
    print("submitted", flush=True)
    Simulator(sup, workers=4, seed=0, frame_time=(10.0, 2.0), commit_every=20000).run()
    sup.close()


def _standby(args: argparse.Namespace) -> None:
    warm = None
    if args.cold:
        # it follows nothing: the parent need not wait for it to
        store = PostgresStore(args.db, standby=True,
                              on_wait=lambda text: print("waiting\nfollowing\ncaught up", flush=True))
        locked = time.time()
        sup = Supervisor(db=store)
        resumed = time.time()
    else:
        load, catch_up = Follower.load, Follower.catch_up
        told: List[str] = []

        def loaded(self: Follower) -> bool:  # tell the parent once the store is loaded
            done = load(self)
            if done:
                print("following", flush=True)
            return done

        def caught_up(self: Follower, final: bool = False) -> bool:  # ... and once it keeps up
            start = time.monotonic()
            done = catch_up(self, final)
            if not told and time.monotonic() - start < 1.0:  # its backlog is read: the steady state
                told.append("caught up")
                print("caught up", flush=True)
            return done

        Follower.load, Follower.catch_up = loaded, caught_up  # type: ignore[method-assign]
        warm = WarmStandby(args.db, lambda store: Supervisor(db=store), on_wait=lambda text: print("waiting", flush=True))
        sup = warm.run()
        assert isinstance(sup.store, PostgresStore)
        store = sup.store
        locked, resumed = warm.locked_at, warm.ready_at
    sim = Simulator(sup, workers=4, seed=0, frame_time=(10.0, 2.0), commit_every=20000)
    write = store.write

    def first_write(batch: Batch) -> None:  # the first committed step: the figures, and the end
        write(batch)
        committed = time.time()
        print(json.dumps({"locked": locked, "resumed": resumed, "committed": committed,
                          "live_callbacks": len(sup.engine.network), "journal_lines": store.journal_length(),
                          "warm": bool(warm and warm.warm), "fallback": warm.fallback if warm else None}), flush=True)
        os._exit(0)  # the report of a run this size (its stuck jobs) takes minutes, and is not measured

    store.write = first_write  # type: ignore[method-assign]
    sim.run(max_steps=1)


def _journal_length(db: str) -> int:
    import psycopg

    try:
        with psycopg.connect(db, autocommit=True) as conn:
            return int(conn.execute("SELECT coalesce(sum(n), 0) FROM journal").fetchone()[0])
    except psycopg.Error:
        return 0


def measure(db: str, jobs: int, frames: int, kill_at: float, cold: bool = False) -> Dict[str, Any]:
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS meta, jobs, work, subjobs, journal, logs")
    base: List[str] = [sys.executable, "-m", "benchmarks.standby_bench", "--db", db, "--jobs", str(jobs),
                       "--frames", str(frames), *(["--cold"] if cold else [])]
    active = subprocess.Popen([*base, "--role", "active"], stdout=subprocess.PIPE, text=True)
    standby: Optional[subprocess.Popen] = None
    try:
        assert active.stdout is not None and active.stdout.readline().strip() == "submitted"
        standby = subprocess.Popen([*base, "--role", "standby"], stdout=subprocess.PIPE, text=True)
        assert standby.stdout is not None
        # "waiting", "following" (a warm standby has loaded the store) and "caught up" (it has read
        # what the active one did meanwhile, and keeps up), the first two in any order
        said: List[str] = []
        out = standby.stdout

        def hear() -> None:
            while len(said) < 3:
                said.append(out.readline().strip())

        reader = threading.Thread(target=hear, daemon=True)
        reader.start()
        target = int(kill_at * 3 * jobs * frames)  # about 3 events per frame, plus the submission
        while reader.is_alive() or _journal_length(db) < max(target, 1):
            if standby.poll() is not None:
                raise RuntimeError("the standby stopped before the active one was killed")
            if active.poll() is not None:
                raise RuntimeError("the active supervisor finished before it could be killed")
            time.sleep(0.05)
        killed = time.time()
        active.send_signal(signal.SIGKILL)
        if active.wait() != -signal.SIGKILL:
            raise RuntimeError("the active supervisor finished before it could be killed (a larger run?)")
        assert sorted(said) == ["caught up", "following", "waiting"], said
        result = json.loads(standby.stdout.readline())
        standby.wait()
    finally:
        for proc in (active, standby):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    return {
        "jobs": jobs, "frames": frames, "kill_at": kill_at, "standby": "cold" if cold else "warm",
        "took_over_warm": result["warm"], "fallback": result["fallback"],
        "takeover_s": round(result["committed"] - killed, 3),
        "lock_s": round(result["locked"] - killed, 3),
        ("resume_s" if cold else "catch_up_s"): round(result["resumed"] - result["locked"], 3),
        "first_step_s": round(result["committed"] - result["resumed"], 3),
        "journal_lines": result["journal_lines"], "live_callbacks": result["live_callbacks"],
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.standby_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="a postgresql:// URI (its qbtrigger tables are dropped)")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.05, help="fraction of the run's events (default 0.05)")
    parser.add_argument("--cold", action="store_true", help="a standby that resumes only once it holds the lock")
    parser.add_argument("--role", choices=("active", "standby"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "active":
        _active(args)
    elif args.role == "standby":
        _standby(args)
    else:
        print(json.dumps(measure(args.db, args.jobs, args.frames, args.kill_at, args.cold)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
