"""Reopening a store after a long history: from its checkpoint, and by replaying the whole journal.

    python -m benchmarks.reopen_bench [--jobs 1000] [--frames 1000] [--history 100k,3M] [--runs 3]
                                      [--dir DIR] [--db postgresql://...]

For each history length H a *build* process submits the chain of :mod:`benchmarks.simulate_bench`
(jobs x frames per-frame qube callbacks, all live to the end; about 3 events per frame) into a
fresh store with the supervisor's default checkpoint policy and runs the simulation until H
journal lines are committed. From that one store three are made, which differ only in their
checkpoint:

``killed``   the store as a ``kill -9`` right after that commit leaves it: its checkpoint is the
             last one the policy took (``checkpoint_every`` lines, and at least as many lines as
             there are live callbacks), so the tail can be long; or none yet;
``closed``   the store after ``Supervisor.close()``: a checkpoint at its last line (the tail is empty);
``none``     the same store without its checkpoint: the whole journal is replayed (what every
             reopen cost before checkpoints).

Each is then reopened ``--runs`` times, each in a process of its own: the time of
``Supervisor(db=...)`` until it returns, split into loading the farm's tables, restoring the
checkpoint and replaying the journal; the lines replayed; the peak RSS. Prints a table (medians)
and one JSON line per figure. SQLite files go to ``--dir`` (default: a temporary folder, removed
after; ``--reuse`` reopens those an earlier run left there instead of building them again).
With ``--db postgresql://...`` the same runs go against that database (its qbtrigger tables
dropped first): ``killed`` is left out there (a store cannot be copied mid-run as a file can),
``closed`` and ``none`` are measured by deleting the checkpoint row between them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

VARIANTS = ("killed", "closed", "none")
_TABLES = "meta, jobs, work, subjobs, journal, logs, checkpoint"


def _size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


# ---------------------------------------------------------------------- the build process
def _build(args: argparse.Namespace) -> None:
    from qbtrigger.supervisor import Simulator, Supervisor

    from .simulate_bench import chain

    history = args.history_lines
    options = {} if args.checkpoint_every is None else {"checkpoint_every": args.checkpoint_every}
    sup = Supervisor(args.db, clock=0, **options)
    sup.submit(chain(args.jobs, args.frames))
    # commits often enough that the run stops close to the history asked for
    sim = Simulator(sup, workers=4, seed=0, frame_time=(10.0, 2.0), commit_every=min(2000, max(10, history // 300)))
    write = sup.store.write

    def stop_once_written(batch: Any) -> None:
        write(batch)
        if sup.journal_length >= history:
            sim.stop()  # the run ends at this step boundary, committed

    sup.store.write = stop_once_written  # type: ignore[method-assign]
    # a paused run's report names every blocked frame and why (minutes for a million): not needed here
    sup.stuck = lambda: []  # type: ignore[method-assign]
    t0 = time.perf_counter()
    sim.run()
    built = time.perf_counter() - t0
    facts = {"lines": sup.journal_length, "checkpoint_seq": sup._checkpoint_seq,
             "live_callbacks": len(sup.engine.network), "run_s": round(built, 1)}
    if args.killed:  # a consistent copy of the store as it is now, as kill -9 would leave it
        target = sqlite3.connect(args.killed)
        sup.store.db.backup(target)  # type: ignore[attr-defined]
        target.close()
    t0 = time.perf_counter()
    sup.close()  # takes the closing checkpoint
    facts["close_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(facts), flush=True)


# ---------------------------------------------------------------------- the reopen process
def _reopen(args: argparse.Namespace) -> None:
    from qbtrigger.supervisor import Supervisor, checkpoint, resume

    parts: Dict[str, float] = {}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*a, **k)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    resume.load_store = timed("load", resume.load_store)  # type: ignore[assignment]
    resume.replay_journal = timed("replay", resume.replay_journal)  # type: ignore[assignment]
    checkpoint.restore_checkpoint = timed("restore", checkpoint.restore_checkpoint)  # type: ignore[assignment]
    t0 = time.perf_counter()
    sup = Supervisor(db=args.db)
    opened = time.perf_counter() - t0
    result = {"reopen_s": opened, **{f"{k}_s": v for k, v in parts.items()},
              "checkpoint_seq": sup._checkpoint_seq, "lines": sup.journal_length,
              "replayed": sup.journal_length - sup._checkpoint_seq, "live_callbacks": len(sup.engine.network),
              "unreadable": [str(u) for u in sup.unreadable],
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    sup.abandon()  # write nothing: the next run reopens the same store
    sup.close()
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------------- the driver
def _child(*argv: str) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.reopen_bench", *argv], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _drop_pg(db: str) -> None:
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {_TABLES}")


def _delete_checkpoint(db: str) -> None:
    if db.startswith("postgres"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("DELETE FROM checkpoint")
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM checkpoint")


def measure(jobs: int, frames: int, history: int, runs: int, folder: str, pg: str = "",
            every: Any = None, reuse: bool = False) -> List[Dict[str, Any]]:
    common = ["--jobs", str(jobs), "--frames", str(frames)] + ([] if every is None else ["--checkpoint-every", str(every)])
    stores: Dict[str, str] = {}
    if pg:
        _drop_pg(pg)
        built = _child("--role", "build", "--db", pg, "--history-lines", str(history), *common)
        stores = {"closed": pg}
    else:
        base = os.path.join(folder, f"h{history}")
        stores = {variant: f"{base}-{variant}.db" for variant in VARIANTS}
        facts = f"{base}-built.json"
        if reuse and all(os.path.exists(p) for p in [*stores.values(), facts]):
            with open(facts) as f:
                built = json.load(f)
        else:
            for path in stores.values():
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
            built = _child("--role", "build", "--db", stores["closed"], "--history-lines", str(history),
                           "--killed", stores["killed"], *common)
            shutil.copyfile(stores["closed"], stores["none"])  # closed: its WAL is folded into the file
            _delete_checkpoint(stores["none"])
            with open(facts, "w") as f:
                json.dump(built, f)
    out = []
    order = ["closed", "none"] if pg else list(VARIANTS)
    for variant in order:
        if pg and variant == "none":
            _delete_checkpoint(pg)
        db = pg or stores[variant]
        samples = [_child("--role", "reopen", "--db", db) for _ in range(runs)]
        row: Dict[str, Any] = {"history": history, "variant": variant, "store": "postgresql" if pg else "sqlite",
                               "built": built, "runs": runs}
        for key in ("reopen_s", "load_s", "restore_s", "replay_s", "peak_rss_mb"):
            row[key] = round(statistics.median(s.get(key, 0.0) for s in samples), 2)
        row["reopen_all"] = [round(s["reopen_s"], 2) for s in samples]
        row.update({k: samples[-1][k] for k in ("checkpoint_seq", "lines", "replayed", "live_callbacks", "unreadable")})
        out.append(row)
    return out


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reopen_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--history", default="100k,3M", help="journal lines of history, comma-separated (k, M)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="the build's checkpoint_every (default: the supervisor's)")
    parser.add_argument("--dir", default=None, help="where the SQLite stores go (kept); default: a temporary folder")
    parser.add_argument("--reuse", action="store_true", help="reopen the stores --dir holds from an earlier run")
    parser.add_argument("--db", default=None, help="a postgresql:// URI to measure PostgreSQL instead of SQLite")
    parser.add_argument("--role", choices=("build", "reopen"), help=argparse.SUPPRESS)
    parser.add_argument("--history-lines", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--killed", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "build":
        _build(args)
        return 0
    if args.role == "reopen":
        _reopen(args)
        return 0
    pg = args.db if args.db and args.db.startswith("postgres") else ""
    folder = args.dir or tempfile.mkdtemp(prefix="qbtrigger-reopen-")
    os.makedirs(folder, exist_ok=True)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()};"
          f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; chain {args.jobs} x {args.frames}")
    rows = []
    try:
        for history in (_size(h) for h in args.history.split(",")):
            for row in measure(args.jobs, args.frames, history, args.runs, folder, pg, args.checkpoint_every, args.reuse):
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"# load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| history (lines) | store | checkpoint | lines replayed | reopen s (median) | load | restore | replay | peak RSS MB |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['lines']:,} | {r['store']} | {r['variant']} | {r['replayed']:,} | {r['reopen_s']:.2f} |"
              f" {r['load_s']:.2f} | {r['restore_s']:.2f} | {r['replay_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
