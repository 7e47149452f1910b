"""Interrupt ``qbtrigger simulate --db`` at random points and check every resumed run.

    python -m qbtrigger.crashtest [--points 200] [--seed N] [--jobs 4] [--frames 40]

A workload (jobs linked frame by frame, failures and retries, python callbacks that record an
external effect and log a line per firing) is run once uninterrupted: the reference. Then, for
each point, the same workload is run in a fresh folder and interrupted, and run again with the
same ``--db`` to resume. The points are drawn from the seed (printed, so a failing run can be
repeated):

``KILL@F``       SIGKILL sent from inside firing F (``kill -9`` in the middle of a step)
``KILL@F+G+H``   the same at firing F, then in the resumed run at G, then at H (resumed thrice)
``KILL@Ts``      SIGKILL T seconds after the start (anywhere: a commit, a flush, the start)
``INT@F``        SIGINT at firing F (Ctrl-C: the run stops after that step, exit 130)
``TERM@F``       SIGTERM at firing F (likewise, exit 143)
``INT,INT@F``    two SIGINTs at firing F (the second stops it at once, mid-step: exit 130)

Each resumed run must end exactly as the reference: the store's jobs, work items, subjobs,
journal, callback logs and meta equal; the journal's numbering unbroken; the ``--log`` file equal
(each event once, in order); the report's job lines equal; the external effects equal once
deduplicated by firing id (and equal outright after a graceful stop); the interrupted run's exit
status and message as documented. The test suite runs a handful of points
(``tests/test_interrupt_cli.py``); this module runs as many as asked.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .supervisor.store import WRITES_KEY

__all__ = ["Point", "Outcome", "workload", "reference", "draw_points", "run_point", "main"]

#: The command line of every run (the jobs file, store, log and clock are the same in each folder).
SIM_ARGS = ["--seed", "7", "--failure-rate", "0.15", "--workers", "3", "--frame-time", "20,6",
            "--clock", "100000", "--commit-every", "5", "--db", "farm.db", "--log", "events.log",
            "--languages", "qube,python,dependency", "--no-progress",
            # a checkpoint every few commits: kills land before, while and after one is written,
            # and most resumes restore one and replay only the journal's tail
            "--checkpoint-every", "40"]

# Every python callback: one effect line (its firing id) and one callback log line. At its
# firing the interrupt plan of the folder, if any, is carried out once (a marker file says so).
_EFFECT = '''\
import json, os, signal, time
fid = qb.firingid()
with open("effects.jsonl", "a") as out:
    out.write(json.dumps([fid, qb.jobid(), (qb.event() or {}).get("text")]) + "\\n")
print("firing", fid)
if os.path.exists("plan.json") and not os.path.exists(f"interrupted-{fid}"):
    plan = json.load(open("plan.json"))
    if fid in plan["firings"]:
        open(f"interrupted-{fid}", "w").close()
        for _ in range(200):  # the test writes the pid just after starting us
            plan = json.load(open("plan.json"))
            if plan["pid"]:
                break
            time.sleep(0.01)
        for name in plan["signals"]:
            os.kill(plan["pid"], getattr(signal, name))
            time.sleep(0.05)
'''


def workload(jobs: int = 4, frames: int = 40) -> List[Dict[str, Any]]:
    """Jobs linked frame by frame, each frame's completion firing a python callback, and a last
    job released (by a qube callback) when they are all done."""
    names = [str(f) for f in range(1, frames + 1)]
    out: List[Dict[str, Any]] = []
    for k in range(jobs):
        job: Dict[str, Any] = {
            "label": f"j{k}", "agenda": names, "retrywork": 2, "cpus": 3,
            "callbacks": [{"triggers": "complete-work-self-*", "language": "python", "code": _EFFECT}],
        }
        if k:
            job["dependency"] = f"link-complete-work-j{k - 1}"
        out.append(job)
    out.append({"label": "last", "status": "blocked", "callbacks": [
        {"triggers": f"done-job-j{jobs - 1}", "code": "unblock-self"},
        {"triggers": "complete-job-self", "language": "python", "code": _EFFECT}]})
    return out


@dataclass(frozen=True)
class Point:
    """Where to interrupt: ``signals`` sent at each of the ``firings`` (one run each, in
    turn), or SIGKILL after ``delay`` s."""

    signals: Tuple[str, ...]
    firings: Tuple[int, ...] = ()
    delay: Optional[float] = None

    def __str__(self) -> str:
        names = ",".join(s[3:] for s in self.signals)
        return f"{names}@{'+'.join(map(str, self.firings))}" if self.firings else f"{names}@{self.delay:.2f}s"

    @property
    def graceful(self) -> bool:
        """One SIGINT or SIGTERM: the run ends at a step boundary (no effect repeated)."""
        return len(self.signals) == 1 and self.signals[0] in ("SIGINT", "SIGTERM")

    @property
    def status(self) -> int:
        """The exit status the interrupted run must have."""
        if "SIGKILL" in self.signals:
            return -signal.SIGKILL
        return 128 + int(getattr(signal, self.signals[0]))


@dataclass
class Outcome:
    """What a run left: the store's rows, the log, the effects, the report and the exit."""

    store: Dict[str, Any]
    chunks: List[Tuple[int, int]]  # the journal's rows: (first line number, lines)
    log: List[Dict[str, Any]]
    effects: List[Tuple[int, int, Optional[str]]]
    report: List[str]
    status: int
    stderr: str


def _run(folder: Path, timeout: float, *, plan: Optional[Point] = None) -> subprocess.CompletedProcess:
    """One ``qbtrigger simulate`` in ``folder`` (interrupted as ``plan`` says)."""
    command = [sys.executable, "-m", "qbtrigger", "simulate", "jobs.json", *SIM_ARGS]
    if plan is not None and plan.firings:
        (folder / "plan.json").write_text(json.dumps({"firings": plan.firings, "signals": plan.signals, "pid": None}))
    child = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if plan is not None and plan.firings:
            staged = folder / "plan.json.new"
            staged.write_text(json.dumps({"firings": plan.firings, "signals": plan.signals, "pid": child.pid}))
            os.replace(staged, folder / "plan.json")
        elif plan is not None and plan.delay is not None:
            try:
                child.wait(plan.delay)
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return subprocess.CompletedProcess(command, child.returncode, out, err)


# Rows, not how they were committed: the write numbers (``written``, ``meta.writes``) count commits,
# which an interrupted run makes more of, like the journal's chunks.
_STORE_QUERIES = {
    "jobs": "SELECT id, pgrp, label, status, hold, removed, fired, handles, data FROM jobs ORDER BY id",
    "work": "SELECT jobid, idx, name, status, retries FROM work ORDER BY jobid, idx",
    "subjobs": "SELECT jobid, idx, status, held FROM subjobs ORDER BY jobid, idx",
    "journal": "SELECT entries FROM journal ORDER BY chunk",
    "logs": "SELECT jobid, text FROM logs ORDER BY seq",
    "meta": "SELECT key, value FROM meta",
}


def _outcome(folder: Path, done: subprocess.CompletedProcess) -> Outcome:
    store: Dict[str, Any] = {key: [] for key in _STORE_QUERIES}
    chunks: List[Tuple[int, int]] = []
    if (folder / "farm.db").exists():
        db = sqlite3.connect(f"file:{folder / 'farm.db'}?mode=ro", uri=True)
        try:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "journal" in tables:  # a run killed before it made its store left none
                store = {key: db.execute(query).fetchall() for key, query in _STORE_QUERIES.items()}
                chunks = db.execute("SELECT first, n FROM journal ORDER BY chunk").fetchall()
        finally:
            db.close()
    store["journal"] = "\n".join(entries for (entries,) in store["journal"])  # chunks are no matter
    store["meta"] = meta = dict(store["meta"])
    meta.pop(WRITES_KEY, None)
    if "simulate_submission" in meta:  # the CLI's record of what it submitted: where, and when
        record = json.loads(meta["simulate_submission"])
        meta["simulate_submission"] = {k: v for k, v in record.items() if k not in ("file", "when")}
    log_path = folder / "events.log"
    log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    effects_path = folder / "effects.jsonl"
    effects = ([tuple(json.loads(line)) for line in effects_path.read_text().splitlines()]
               if effects_path.exists() else [])
    report = [line for line in done.stdout.splitlines() if line.startswith("  job ") or line.startswith("stuck")
              or line.startswith("every job")]
    return Outcome(store, chunks, log, effects, report, done.returncode, done.stderr)  # type: ignore[arg-type]


def _prepare(folder: Path, jobs: Sequence[Dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jobs.json").write_text(json.dumps(list(jobs)))


def reference(folder: Path, jobs: Sequence[Dict[str, Any]], timeout: float = 120) -> Outcome:
    """The uninterrupted run, in ``folder``."""
    _prepare(folder, jobs)
    done = _run(folder, timeout)
    if done.returncode not in (0, 2, 3):  # finished, stuck, or some job failed
        raise RuntimeError(f"the reference run failed ({done.returncode}): {done.stderr}")
    return _outcome(folder, done)


def draw_points(rng: random.Random, count: int, firings: Sequence[int], duration: float) -> List[Point]:
    """``count`` points: the kinds in turn, at one of ``firings`` (the python callbacks' firing
    ids) or after a delay up to ``duration`` s, drawn from ``rng``."""
    kinds: List[Tuple[str, ...]] = [("SIGKILL",), ("SIGINT",), ("SIGINT", "SIGINT"), ("SIGKILL",), ("SIGTERM",),
                                     ("SIGKILL",)]
    points = []
    for i in range(count):
        kind = i % len(kinds)
        if kind == 3:  # a moment anywhere in the run, commits included
            points.append(Point(kinds[kind], delay=rng.uniform(0.05, max(0.1, duration))))
        elif kind == 5:  # killed again and again
            points.append(Point(kinds[kind], firings=tuple(sorted(rng.sample(list(firings), 3)))))
        else:
            points.append(Point(kinds[kind], firings=(rng.choice(list(firings)),)))
    return points


def run_point(folder: Path, jobs: Sequence[Dict[str, Any]], point: Point, timeout: float = 120) -> Tuple[Outcome, Outcome]:
    """Interrupt a run in ``folder`` at ``point``, then resume it (as often as the point
    interrupts): the first run's outcome and the last one's."""
    _prepare(folder, jobs)
    first = last = _outcome(folder, _run(folder, timeout, plan=point))
    for _ in range(max(1, len(point.firings))):
        if last.status != first.status:
            break
        last = _outcome(folder, _run(folder, timeout, plan=point if point.firings else None))
    return first, last


def check(ref: Outcome, point: Point, first: Outcome, second: Outcome) -> List[str]:
    """Every way the interrupted-then-resumed run differs from the reference (empty: none)."""
    problems: List[str] = []
    stopped = first.status != ref.status  # a timed kill may come after the end
    if point.firings and first.status != point.status:
        problems.append(f"the interrupted run exited {first.status}, not {point.status}: {first.stderr[-400:]}")
    if stopped and point.graceful and "stopped after a whole step, stored; rerun with --db" not in first.stderr:
        problems.append(f"the interrupted run said: {first.stderr.strip()[-300:]!r}")
    if point.signals == ("SIGINT", "SIGINT") and "stopped at once: the step under way was not stored" not in first.stderr:
        problems.append(f"the run stopped at once said: {first.stderr.strip()[-300:]!r}")
    if second.status != ref.status:
        problems.append(f"the resumed run exited {second.status}, not {ref.status}: {second.stderr[-400:]}")
    for key in ref.store:
        if second.store[key] != ref.store[key]:
            problems.append(f"the store's {key} differ from the uninterrupted run's")
    expected_first = 1
    for first_number, n in second.chunks:
        if first_number != expected_first:
            problems.append(f"the journal's numbering breaks at line {first_number} (expected {expected_first})")
            break
        expected_first += n
    if second.log != ref.log:
        numbers = [line.get("n") for line in second.log]
        repeated = len(numbers) - len(set(numbers))
        problems.append(f"the --log file differs ({len(second.log)} lines, {repeated} repeated; "
                        f"uninterrupted: {len(ref.log)})")
    if second.report != ref.report:
        problems.append("the resumed run's report differs: " + " | ".join(set(second.report) ^ set(ref.report)))
    if sorted(set(second.effects)) != sorted(set(ref.effects)):
        problems.append("the external effects differ, even deduplicated by firing id")
    if len({e[0] for e in ref.effects}) != len(ref.effects):
        problems.append("the uninterrupted run's firing ids are not unique")
    if point.graceful and second.effects != ref.effects:
        problems.append("a graceful stop repeated or lost an external effect")
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbtrigger.crashtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100, help="interruptions to try (default 100)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the points (default: random, printed)")
    parser.add_argument("--jobs", type=int, default=4, help="linked jobs in the workload (default 4)")
    parser.add_argument("--frames", type=int, default=40, help="frames per job (default 40)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    import tempfile

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"crashtest seed {seed} (repeat with --seed {seed}); {args.points} points", flush=True)
    jobs = workload(args.jobs, args.frames)
    with tempfile.TemporaryDirectory(prefix="qbtrigger-crashtest-") as scratch:
        root = Path(args.dir) if args.dir else Path(scratch)
        start = time.monotonic()
        ref = reference(root / "reference", jobs)
        duration = time.monotonic() - start
        print(f"reference: {len(ref.log)} events, {len(ref.effects)} firings, {duration:.2f} s", flush=True)
        failed = 0
        firings = [effect[0] for effect in ref.effects]
        for i, point in enumerate(draw_points(random.Random(seed), args.points, firings, duration)):
            first, second = run_point(root / f"point{i:04d}", jobs, point)
            problems = check(ref, point, first, second)
            repeats = len(second.effects) - len(set(second.effects))
            verdict = "ok" if not problems else "FAILED"
            print(f"  {i + 1:4d} {str(point):<16} exit {first.status:>4}; effects repeated {repeats:3d}: {verdict}",
                  flush=True)
            for problem in problems:
                print(f"         {problem}", flush=True)
            failed += bool(problems)
        print(f"{args.points - failed} of {args.points} points resumed exactly (seed {seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
