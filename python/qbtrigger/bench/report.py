"""What ``qbtrigger bench`` writes: the markdown table, the targets, the findings, the plot."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import qbtrigger
from qbtrigger.bench.compare import FLOOR, Comparison, Row
from qbtrigger.bench.system import machine, today

__all__ = ["markdown", "plot", "targets", "write"]

WORKLOAD = (
    "Farm workload (`qbtrigger.workload.farm_workload`): compositing submissions of ~495 frames, per "
    "frame `complete-work-A-f && complete-work-B-f` and `(complete-work-A-f && complete-work-B-f) || "
    "complete-work-C-f`, ~1% job-level/`done`/`*` triggers; events: every upstream frame completion "
    "(1.5 per callback), shuffled."
)
#: (what, contender key, contender mode, native mode, size, at least this many times faster)
TARGETS = [
    ("native feed() vs durable_rules", "durable_rules", "feed", "feed", 10_000, 500),
    ("native feed_many() vs durable_rules", "durable_rules", "feed", "feed_many", 10_000, 1000),
    ("native feed_many() vs naive re-evaluation", "naive", "feed_many", "feed_many", 10_000, 10_000),
]


def _rate(ns: float) -> str:
    per_s = 1e9 / ns
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M"
    if per_s >= 1e3:
        return f"{per_s / 1e3:.1f} k"
    return f"{per_s:.1f}"


def _secs(s: Optional[float]) -> str:
    if s is None:
        return "—"
    return f"{s:.2f} s" if s >= 1 else f"{s * 1000:.1f} ms"


def _bytes(r: Row) -> str:
    parts = []
    if r.rss_bytes_per_callback is not None:
        parts.append(f"{r.rss_bytes_per_callback:,.0f}")
    if r.stats_bytes_per_callback is not None:
        parts.append(f"stats {r.stats_bytes_per_callback:,.0f}")
    return " / ".join(parts) or "—"


def _native_ns(c: Comparison, r: Row) -> Optional[float]:
    mode = r.mode if r.mode in ("feed", "feed_many") else "feed_many"
    nat = c.figure("native", mode, r.callbacks) or c.figure("native", "feed_many", r.callbacks)
    return None if nat is None else nat.ns_per_event


def table(c: Comparison) -> str:
    lines = [
        "| callbacks | contender | mode | events/s | ns/event | × native | registration | bytes/callback (RSS / stats) | notes |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in c.rows:
        if r.has_figure:
            nat = _native_ns(c, r)
            ratio = "—" if nat is None or r.key == "floor" else f"{r.ns_per_event / nat:,.1f}×"  # type: ignore[operator]
            if r.key == "floor" and nat is not None:
                ratio = f"{r.ns_per_event / nat:.2f}×"  # type: ignore[operator]
            ns = f"{r.ns_per_event:,.0f}"
            if r.status == "extrapolated":
                ns += " (extrapolated)"
            note = r.note if r.status == "extrapolated" else (r.note or f"median of {r.runs}")
            lines.append(
                f"| {r.callbacks:,} | {r.name} | {r.mode} | {_rate(r.ns_per_event)} | {ns} | {ratio} "  # type: ignore[arg-type]
                f"| {_secs(r.register_s)} | {_bytes(r)} | {note} |"
            )
        else:
            note = r.note.replace("|", "/").replace("\n", " ")
            lines.append(f"| {r.callbacks:,} | {r.name} | {r.mode or '—'} | — | — | — | — | — | **{r.status}**: {note} |")
    return "\n".join(lines)


def targets(c: Comparison) -> List[Tuple[str, str, str]]:
    """(target, measured, verdict) for the targets the issue sets that this run can judge."""
    out = []
    for what, key, mode, native_mode, n, factor in TARGETS:
        target = f"{what} at {n:,} callbacks: ≥ {factor:,}×"
        peer, nat = c.figure(key, mode, n), c.figure("native", native_mode, n)
        if peer is None or nat is None:
            out.append((target, "not measured in this run", "—"))
            continue
        ratio = peer.ns_per_event / nat.ns_per_event  # type: ignore[operator]
        how = " (extrapolated)" if peer.status == "extrapolated" else ""
        out.append((target, f"{ratio:,.0f}×{how}", "met" if ratio >= factor else "not met"))
    return out


def findings(c: Comparison) -> List[str]:
    seen = set()
    out = []
    for r in c.rows:
        if r.status in ("ok",) or r.key == "floor":
            continue
        if r.status == "stopped" and r.note.startswith("not run: "):
            continue  # the size where it stopped already says why
        text = f"{r.name} at {r.callbacks:,} callbacks: {r.status}: {r.note}"
        if r.status == "extrapolated":
            text = f"{r.name} at {r.callbacks:,} callbacks: extrapolated (not run)"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def markdown(c: Comparison, plot_note: str = "") -> str:
    s = c.settings
    parts = [
        f"qbtrigger {qbtrigger.__version__}; {machine()}; {today()}; median of {s.runs} run(s) per figure "
        f"(each on a freshly registered network, after one untimed warm-up pass; {'each pass in a process of its own' if s.isolate == 'all' else 'passes in the bench process, peers that may hang in workers'}); "
        f"time budget {s.budget_s:.0f} s per contender and size.",
        "",
        WORKLOAD + " Before any figure, every contender's firings on the stream are checked against the "
        "reference matcher's (per event: the same callbacks, in the same order where it promises one); "
        "× native: ns/event over qbtrigger native's in the same mode (feed_many for the others). "
        "bytes/callback: RSS growth over registration in a fresh process (and qbtrigger's own `stats()`).",
        "",
        table(c),
        "",
        "| target | measured | |",
        "|---|---|---|",
        *[f"| {t} | {m} | {v} |" for t, m, v in targets(c)],
    ]
    f = findings(c)
    if f:
        parts += ["", "Findings:", "", *[f"- {x}" for x in f]]
    if plot_note:
        parts += ["", plot_note]
    return "\n".join(parts) + "\n"


def plot(c: Comparison, path: Path) -> Optional[str]:
    """A log-log PNG of ns/event against callbacks; returns why it was skipped, or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'qbtrigger[bench]')"
    series: dict = {}
    for r in c.rows:
        if r.has_figure:
            label = r.name if r.key == "floor" else f"{r.name} {r.mode}()"
            series.setdefault(label, []).append(r)
    fig, ax = plt.subplots(figsize=(10.5, 5.5))
    for label, rows in series.items():
        rows.sort(key=lambda r: r.callbacks)
        measured = [r for r in rows if r.status == "ok"]
        line = None
        if measured:
            (line,) = ax.plot([r.callbacks for r in measured], [r.ns_per_event for r in measured], marker="o",
                              label=label, linestyle=":" if label == FLOOR else "-")
        guessed = [r for r in rows if r.status == "extrapolated"]
        if guessed:
            joined = ([measured[-1]] if measured else []) + guessed
            ax.plot([r.callbacks for r in joined], [r.ns_per_event for r in joined], marker="o", mfc="none",
                    linestyle="--", color=None if line is None else line.get_color(),
                    label=f"{label} (extrapolated)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("registered callbacks")
    ax.set_ylabel("ns per event (lower is better)")
    ax.set_title(f"qbtrigger {qbtrigger.__version__} vs peers, farm workload ({today()})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: lines stay visible
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write(c: Comparison, out: Path) -> Tuple[Path, Optional[Path], str]:
    """results.md, results.json and compare.png into ``out``; returns paths and the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    png = out / "compare.png"
    skipped = plot(c, png)
    text = markdown(c, plot_note=skipped or f"Plot: {png.name}")
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(c.to_json())
    return out / "results.md", None if skipped else png, text
