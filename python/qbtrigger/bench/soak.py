"""``qbtrigger bench --soak MINUTES``: a farm under churn, for minutes, with a steady live set.

The live set is ``live // 1000`` compositing submissions shaped like the farm workload (a
composite job and its upstream renders A, B, C; two callbacks per frame plus ~1%). Events are the
upstream frame completions; each batch of ``batch`` events takes ``chunk`` events from each of the
next submissions in turn, so jobs progress side by side as on a farm. When a submission's frames
have all completed, its four jobs are removed (``remove_job``) and a new submission takes its
place (``add_job`` and ``add`` of its callbacks): the live set stays at ``live`` while every
callback in it is eventually replaced. Submissions start staggered (each one's stream begins at a
different point), so completions, and with them the churn, are spread over time from the start.

Measured: the latency of every ``feed_many`` batch (p50/p99/max), the time spent on churn,
throughput and memory (``stats()['bytes']`` and RSS) sampled about once a second. Memory counts
as flat when, over the steady part (after the first quarter of the run), neither figure grew by
more than its tolerance between the first and the last third.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, List, Optional

from qbtrigger.bench.system import current_rss
from qbtrigger.workload import PER_SUBMISSION

__all__ = ["SoakResult", "soak", "summary"]

STATS_TOLERANCE = 0.02  # the matcher's own count: it should not move at all in a steady state
RSS_TOLERANCE = 0.05  # RSS also holds allocator slack, Python's free lists, the event strings


class _Submission:
    __slots__ = ("jobs", "events", "cursor")

    def __init__(self, jobs: List[int], events: List[str], cursor: int) -> None:
        self.jobs, self.events, self.cursor = jobs, events, cursor


@dataclass
class SoakResult:
    minutes: float
    live_target: int
    batch: int
    implementation: str
    batches: int = 0
    events: int = 0
    firings: int = 0
    submissions_replaced: int = 0
    callbacks_added: int = 0
    batch_ms: dict = field(default_factory=dict)  # p50, p99, max, mean
    churn_s: float = 0.0
    feed_s: float = 0.0
    wall_s: float = 0.0
    samples: List[dict] = field(default_factory=list)  # t, events_per_s, live, stats_bytes, rss
    flat: Optional[bool] = None
    flat_reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class _Farm:
    """Submissions going through the network, numbered from ``first_job``."""

    def __init__(self, net: Any, frames: int, rng: random.Random) -> None:
        self.net = net
        self.frames = frames
        self.extras = PER_SUBMISSION - 2 * frames
        self.rng = rng
        self.next_job = 1000
        self.added = 0

    def submit(self, stagger: float = 0.0) -> _Submission:
        net, f = self.net, self.frames
        comp = self.next_job
        self.next_job += 4
        a, b, c = comp + 1, comp + 2, comp + 3
        net.add_job(comp, comp, "comp", None)
        net.add_job(a, comp, "A", comp)
        net.add_job(b, comp, "B", comp)
        net.add_job(c, comp, "C", comp)
        add = net.add
        for i in range(1, f + 1):
            both = f"complete-work-A-{i} && complete-work-B-{i}"
            add(both, comp)
            add(f"({both}) || complete-work-C-{i}", comp)
        for k in range(self.extras):
            add("complete-work-C-*" if k == 0 else f"done-work-A-{k % f + 1}", comp)
        self.added += 2 * f + self.extras
        events = [f"complete-work-{up}-{i}" for up in (a, b, c) for i in range(1, f + 1)]
        self.rng.shuffle(events)
        return _Submission([comp, a, b, c], events, int(stagger * len(events)))

    def retire(self, sub: _Submission) -> None:
        for job in sub.jobs:
            self.net.remove_job(job)


def _pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def soak(
    minutes: float,
    live: int = 1_000_000,
    batch: int = 1_000,
    chunk: int = 10,
    network: Any = None,
    drain: bool = False,
    seed: int = 0,
    log: Callable[[str], None] = lambda s: None,
) -> SoakResult:
    """Run the soak for ``minutes`` (fractions allowed); see the module doc."""
    import qbtrigger

    net = qbtrigger.Network() if network is None else network
    impl = type(net).__module__
    frames = max(1, (PER_SUBMISSION - PER_SUBMISSION // 100) // 2)
    n_subs = max(1, live // PER_SUBMISSION)
    rng = random.Random(seed)
    farm = _Farm(net, frames, rng)
    result = SoakResult(minutes, n_subs * PER_SUBMISSION, batch, impl)
    log(f"soak: registering {n_subs * PER_SUBMISSION:,} callbacks ({n_subs:,} submissions)")
    subs = [farm.submit(stagger=k / n_subs) for k in range(n_subs)]
    farm.added = 0
    gc.collect()
    log(f"soak: {len(net):,} live callbacks; running {minutes:g} min")

    latencies: List[float] = []
    per_turn = max(1, batch // chunk)
    turn = 0
    start = time.perf_counter()
    deadline = start + minutes * 60
    next_sample = start
    window_events, window_start = 0, start
    feed_many = net.feed_many
    while True:
        now = time.perf_counter()
        if now >= next_sample:
            elapsed = now - window_start
            result.samples.append({
                "t": round(now - start, 3),
                "events_per_s": window_events / elapsed if elapsed > 0 and window_events else None,
                "live": len(net),
                "stats_bytes": net.stats()["bytes"] if hasattr(net, "stats") else None,
                "rss": current_rss(),
            })
            window_events, window_start = 0, now
            next_sample = now + max(1.0, minutes * 60 / 200)
        if now >= deadline:
            break
        # One batch: `chunk` events from each of the next `per_turn` submissions.
        events: List[str] = []
        for k in range(per_turn):
            sub = subs[(turn + k) % n_subs]
            events += sub.events[sub.cursor:sub.cursor + chunk]
            sub.cursor += chunk
        turn = (turn + per_turn) % n_subs
        t0 = time.perf_counter()
        fired = feed_many(events)
        t1 = time.perf_counter()
        latencies.append((t1 - t0) * 1e3)
        result.feed_s += t1 - t0
        result.events += len(events)
        result.firings += len(fired)
        window_events += len(events)
        # Churn: finished submissions leave, new ones arrive.
        for i, sub in enumerate(subs):
            if sub.cursor >= len(sub.events):
                farm.retire(sub)
                subs[i] = farm.submit()
                result.submissions_replaced += 1
        result.churn_s += time.perf_counter() - t1
    result.wall_s = time.perf_counter() - start
    result.batches = len(latencies)
    result.callbacks_added = farm.added
    if latencies:
        result.batch_ms = {
            "p50": _pct(latencies, 0.50),
            "p99": _pct(latencies, 0.99),
            "max": max(latencies),
            "mean": statistics.fmean(latencies),
        }
    result.flat, result.flat_reason = _flatness(result.samples)
    if drain:
        for sub in subs:
            farm.retire(sub)
    return result


def _flatness(samples: List[dict]) -> tuple:
    steady = samples[len(samples) // 4:]
    if len(steady) < 6:
        return None, f"too few memory samples ({len(samples)}) to judge; run longer"
    third = len(steady) // 3
    verdicts = []
    flat = True
    for key, tol in (("stats_bytes", STATS_TOLERANCE), ("rss", RSS_TOLERANCE)):
        values = [s[key] for s in steady if s[key] is not None]
        if len(values) < 6:
            continue
        first = statistics.fmean(values[:third])
        last = statistics.fmean(values[-third:])
        growth = (last - first) / first if first else 0.0
        ok = growth <= tol
        flat = flat and ok
        verdicts.append(f"{key} {growth:+.2%} (tolerance {tol:.0%})")
    return flat, "steady part, last third vs first third: " + ", ".join(verdicts)


def summary(r: SoakResult) -> str:
    """Markdown: the figures and a memory-over-time table."""
    mb = 2**20
    lines = [
        f"Soak: {r.minutes:g} min, {r.live_target:,} live callbacks ({r.implementation}), batches of {r.batch:,} events.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| batches / events / firings | {r.batches:,} / {r.events:,} / {r.firings:,} |",
        f"| feed_many batch latency p50 / p99 / max | {r.batch_ms.get('p50', 0):.3f} / {r.batch_ms.get('p99', 0):.3f} / {r.batch_ms.get('max', 0):.3f} ms |",
        f"| throughput (feeding only) | {r.events / r.feed_s / 1e6 if r.feed_s else 0:.2f} M events/s |",
        f"| throughput (wall, with churn) | {r.events / r.wall_s / 1e6 if r.wall_s else 0:.2f} M events/s |",
        f"| churn | {r.submissions_replaced:,} submissions replaced ({r.callbacks_added:,} callbacks added and as many removed), {r.churn_s:.1f} s of {r.wall_s:.1f} s |",
        f"| memory flat once steady | {'yes' if r.flat else 'no' if r.flat is not None else 'not judged'} ({r.flat_reason}) |",
        "",
        "| t (s) | events/s | live callbacks | stats() MB | RSS MB |",
        "|---:|---:|---:|---:|---:|",
    ]
    step = max(1, len(r.samples) // 12)
    shown = r.samples[::step]
    if r.samples and shown[-1] is not r.samples[-1]:
        shown.append(r.samples[-1])
    for s in shown:
        eps = "—" if s["events_per_s"] is None else f"{s['events_per_s'] / 1e6:.2f} M"
        sb = "—" if s["stats_bytes"] is None else f"{s['stats_bytes'] / mb:,.1f}"
        rss = "—" if s["rss"] is None else f"{s['rss'] / mb:,.1f}"
        lines.append(f"| {s['t']:.1f} | {eps} | {s['live']:,} | {sb} | {rss} |")
    return "\n".join(lines) + "\n"
