"""The comparison behind ``qbtrigger bench``: every contender, one workload, one machine, one go.

For each size (callbacks of :func:`qbtrigger.workload.farm_workload`):

1. the reference matcher computes the expected firings (a worker pass, pickled to a temp file);
2. each contender gets a *check* pass per feeding mode: its firings must equal the expected ones
   (as a list, or per event as a set for engines that promise no order); one that differs gets no
   figure, only the reason;
3. then ``runs`` timed passes per mode, each on a freshly registered network, in a worker process
   of its own after one untimed warm-up pass there (qbtrigger.bench.worker says why); the table
   shows the medians. The C floor (one hash + one probe per event, in C) is measured beside them.

Every pass runs in a worker process of its own by default (``isolate="all"``): every contender
gets the same memory conditions, an RSS figure of its own (from the check pass, the first
registration in its process), and a timeout that turns a hang into a finding. Before a size, each
contender's cost is projected from the last size it ran (time and memory, linearly in callbacks);
if it cannot fit the time budget or the memory cap it is stopped there, with the reason.
Contenders with ``extrapolate_above`` (the naive evaluator) are extrapolated instead, and marked
so.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from qbtrigger.bench.contenders import DEFAULT_ORDER, load_contender
from qbtrigger.bench.system import available_memory
from qbtrigger.bench.worker import one_pass, write_expected
from qbtrigger.workload import parse_size

__all__ = ["Settings", "Row", "Comparison", "run_comparison", "FLOOR"]

FLOOR = "C floor"


@dataclass
class Settings:
    sizes: Sequence[int] = (1_000, 10_000, 100_000, 1_000_000)
    runs: int = 3
    contenders: Sequence[str] = DEFAULT_ORDER
    #: Seconds one contender may spend on one size (all its passes), before it is stopped.
    budget_s: float = 600.0
    #: "all": every pass in a worker process; "needed": only contenders that may hang; "none": all
    #: in this process (tests: injected contenders, no subprocess start-up).
    isolate: str = "all"
    #: Bytes a worker may map (RLIMIT_AS) and a projection may reach; default 60% of MemAvailable.
    memory_cap: Optional[int] = None
    floor: bool = True


@dataclass
class Row:
    key: str
    name: str
    callbacks: int
    mode: str  # "feed", "feed_many", "probe" (the floor) or "" (no figure)
    status: str  # ok, extrapolated, refused, stopped, unavailable, failed
    note: str = ""
    ns_per_event: Optional[float] = None
    register_s: Optional[float] = None
    rss_bytes_per_callback: Optional[float] = None
    stats_bytes_per_callback: Optional[float] = None
    runs: int = 0
    events: int = 0

    @property
    def has_figure(self) -> bool:
        return self.ns_per_event is not None and self.status in ("ok", "extrapolated")


@dataclass
class Comparison:
    settings: Settings
    rows: List[Row] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"settings": asdict(self.settings), "rows": [asdict(r) for r in self.rows]}, indent=1)

    def figure(self, key: str, mode: str, callbacks: int) -> Optional[Row]:
        for r in self.rows:
            if r.key == key and r.mode == mode and r.callbacks == callbacks and r.has_figure:
                return r
        return None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(args: dict, isolated: bool, timeout: float, memory_cap: Optional[int]) -> dict:
    """One worker pass (see qbtrigger.bench.worker), here or in a process with ``timeout``."""
    args = dict(args)
    if not isolated:
        kind = args.pop("kind")
        try:
            return write_expected(args["n"], args["path"]) if kind == "expected" else one_pass(**args)
        except Exception as exc:
            return {"status": "failed", "note": f"{type(exc).__name__}: {exc}"}
    payload = dict(args, memory_limit=memory_cap)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbtrigger.bench.worker", json.dumps(payload)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a kill takes any helper threads' children too
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    step, result = "start-up", None
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        step = msg.get("step", step)
        result = msg.get("result", result)
    if result is not None:
        return result
    if timed_out:
        return {"status": "stopped", "note": f"no answer within {timeout:.0f} s during {step} (killed)"}
    code = proc.returncode
    why = f"signal {-code}" if code < 0 else f"exit status {code}"
    tail = " ".join(err.strip().splitlines()[-2:])[-300:]
    return {"status": "failed", "note": f"worker died ({why}) during {step}" + (f": {tail}" if tail else "")}


@dataclass
class _Track:
    """What the last measured size of one contender says about the next."""

    callbacks: int = 0
    pass_s: float = 0.0  # one register + feed pass, slowest mode
    rss_per_cb: Optional[float] = None
    stop: Optional[str] = None  # once stopped, later sizes say so
    measured: Dict[str, Row] = field(default_factory=dict)  # mode -> last row with a figure


def _gb(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


def run_comparison(settings: Settings, log: Callable[[str], None] = _log) -> Comparison:
    """Run every contender over every size; never raises for a contender's failure."""
    cap = settings.memory_cap or int((available_memory() or 8 * 2**30) * 0.6)
    result = Comparison(settings)
    tracks: Dict[str, _Track] = {key: _Track() for key in settings.contenders}
    contenders = {key: load_contender(key) for key in settings.contenders}
    floor = None
    if settings.floor:
        from qbtrigger.bench.floor import FloorUnavailable, load

        try:
            floor = load()
        except FloorUnavailable as exc:
            log(f"bench: no C floor: {exc}")
    tmp = tempfile.mkdtemp(prefix="qbtrigger-bench-")
    try:
        for n in settings.sizes:
            expected_path = os.path.join(tmp, f"expected-{n}.pickle")
            log(f"[{n:,}] expected firings (reference matcher)")
            exp = _run({"kind": "expected", "n": n, "path": expected_path}, settings.isolate == "all",
                       max(settings.budget_s, 60.0), None)
            if "fired" not in exp:
                log(f"[{n:,}] the reference could not run: {exp.get('note')}; size skipped")
                continue
            events = exp["events"]
            if floor is not None:
                result.rows.append(_floor_row(floor, n, settings.runs))
            for key, c in contenders.items():
                rows = _contender_size(key, c, n, events, expected_path, settings, tracks[key], cap, log)
                result.rows.extend(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _floor_row(floor: object, n: int, runs: int) -> Row:
    from qbtrigger.workload import farm_workload

    workload = farm_workload(n)
    ns = statistics.median(floor.run(workload.events, workload.keys())[0] for _ in range(max(runs, 1)))  # type: ignore[attr-defined]
    return Row("floor", FLOOR, n, "probe", "ok", ns_per_event=ns, runs=runs, events=len(workload.events))


def _contender_size(key: str, c: object, n: int, events: int, expected_path: str, settings: Settings,
                    track: _Track, cap: int, log: Callable[[str], None]) -> List[Row]:
    from qbtrigger.bench.contenders import Contender

    assert isinstance(c, Contender)

    def only(status: str, note: str) -> List[Row]:
        log(f"[{n:,}] {c.name}: {status}: {note}")
        return [Row(key, c.name, n, "", status, note)]

    if track.stop:
        return only("stopped", track.stop)
    missing = c.unavailable()
    if missing:
        return only("unavailable", missing)
    known = c.limit(n)
    if known:
        track.stop = f"not run: stopped at {n:,} callbacks"
        return only("stopped", known)
    if c.extrapolate_above is not None and n > c.extrapolate_above and track.measured:
        return _extrapolate(key, c, n, events, track)
    scale = n / track.callbacks if track.callbacks else None
    if scale and track.rss_per_cb and track.rss_per_cb * n > cap:
        note = (f"needs ~{_gb(track.rss_per_cb * n)} at {n:,} callbacks ({track.rss_per_cb / 1024:.1f} KB per "
                f"callback measured at {track.callbacks:,}), over the {_gb(cap)} memory cap")
        track.stop = f"not run: stopped at {n:,} callbacks"
        return only("stopped", note)
    modes = c.modes
    runs = settings.runs
    est = track.pass_s * scale if scale else None
    if est is not None:
        fit = int(settings.budget_s // (2 * est * len(modes))) - 1  # a warm-up per run; minus the check pass
        if fit < 1:
            note = (f"one register+feed pass would take ~{est / 60:.0f} min at {n:,} callbacks "
                    f"(extrapolated from {track.callbacks:,}), over the {settings.budget_s / 60:.0f} min budget")
            track.stop = f"not run: stopped at {n:,} callbacks"
            return only("stopped", note)
        runs = min(runs, fit)
    isolated = settings.isolate == "all" or (settings.isolate == "needed" and c.needs_isolation)
    timeout = settings.budget_s if est is None else min(settings.budget_s, max(60.0, 4 * est))
    rows = []
    slowest = 0.0
    first_rss = None
    for mode in modes:
        log(f"[{n:,}] {c.name} {mode}: check")
        args = {"kind": "pass", "contender": key, "n": n, "mode": mode, "check": True, "expected_path": expected_path}
        checked = _run(args, isolated, timeout, cap)
        if checked.get("status") != "ok":
            status, note = checked.get("status", "failed"), checked.get("note", "")
            if status == "ok":
                status = "failed"
            track.stop = f"not run: {status} at {n:,} callbacks"
            rows.append(Row(key, c.name, n, mode, status, note))
            log(f"[{n:,}] {c.name} {mode}: {status}: {note}")
            continue
        if first_rss is None and isolated:  # in a shared process, RSS growth says nothing
            first_rss = checked.get("rss_bytes_per_callback")
        passes = []
        for r in range(runs):
            log(f"[{n:,}] {c.name} {mode}: warm-up and run {r + 1}/{runs}")
            out = _run(dict(args, check=False), isolated, min(settings.budget_s, 2 * timeout), cap)
            if out.get("status") != "ok":
                log(f"[{n:,}] {c.name} {mode}: run {r + 1}: {out.get('status')}: {out.get('note')}")
                break
            passes.append(out)
        if not passes:
            passes = [checked]
            note = "figure from the check pass (timed runs did not finish)"
        else:
            note = "" if len(passes) >= settings.runs else f"{len(passes)} of {settings.runs} runs (time budget)"
        row = Row(
            key, c.name, n, mode, "ok", note,
            ns_per_event=statistics.median(p["ns_per_event"] for p in passes),
            register_s=statistics.median(p["register_s"] for p in passes),
            rss_bytes_per_callback=first_rss,
            stats_bytes_per_callback=checked.get("stats_bytes_per_callback"),
            runs=len(passes), events=events,
        )
        rows.append(row)
        track.measured[mode] = row
        slowest = max(slowest, max(p["register_s"] + p["ns_per_event"] * events / 1e9 for p in passes))
    if any(r.status == "ok" for r in rows):
        track.callbacks, track.pass_s, track.rss_per_cb = n, slowest, first_rss
    return rows


def _extrapolate(key: str, c: object, n: int, events: int, track: _Track) -> List[Row]:
    rows = []
    for mode, base in track.measured.items():
        scale = n / base.callbacks
        rows.append(Row(
            key, base.name, n, mode, "extrapolated",
            f"extrapolated from {base.callbacks:,} callbacks (cost per event linear in callbacks); not run",
            ns_per_event=base.ns_per_event * scale,  # type: ignore[operator]
            register_s=None if base.register_s is None else base.register_s * scale,
            rss_bytes_per_callback=base.rss_bytes_per_callback,
            stats_bytes_per_callback=base.stats_bytes_per_callback,
            runs=0, events=events,
        ))
    return rows


def load(path: str) -> Comparison:
    """A comparison saved by ``Comparison.to_json`` (results.json), to render it again."""
    with open(path) as f:
        data = json.load(f)
    return Comparison(Settings(**data["settings"]), [Row(**r) for r in data["rows"]])


def parse_sizes(text: str) -> List[int]:
    """``"1k,10k,1M"`` -> [1000, 10000, 1000000]."""
    sizes = [parse_size(s) for s in text.split(",") if s.strip()]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"bad sizes {text!r}: expected counts such as 1k,10k,100k,1M")
    return sizes
