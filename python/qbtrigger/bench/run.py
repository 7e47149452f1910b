"""The ``qbtrigger bench`` subcommand's body: arguments in, comparison or soak out.

Kept apart from :mod:`qbtrigger.cli` so that the command line's start-up does not import the
bench machinery, and so that ``python -m benchmarks.compare`` can call the same function.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional, TextIO

__all__ = ["ARGUMENTS", "run_bench", "QUICK_SIZES"]

QUICK_SIZES = "200,1k"

#: (flags, add_argument options) of the subcommand; qbtrigger.cli.bench adds them to its subparser.
ARGUMENTS: List[tuple] = [
    (("--sizes",), dict(default="1k,10k,100k,1M", help="callback counts, comma separated (default 1k,10k,100k,1M)")),
    (("--runs",), dict(type=int, default=3, help="timed runs per figure; the table shows the median (default 3)")),
    (("--quick",), dict(action="store_true",
                        help=f"sizes {QUICK_SIZES}, 1 run, 20 s budget, workers only where needed: under a minute, still checked")),
    (("--out",), dict(default=None, metavar="DIR",
                      help="where results.md, results.json and compare.png go (default: a new folder "
                           "qbtrigger-bench-DATE-TIME here; refreshing the project's committed figures is "
                           "an explicit --out benchmarks/results)")),
    (("--budget",), dict(type=float, default=600.0, metavar="SECONDS",
                         help="time one contender may spend on one size before it is stopped (default 600)")),
    (("--contenders",), dict(default=None, metavar="LIST",
                             help="comma-separated keys (native,pure,reference,naive,durable_rules,rule-engine) "
                                  "or module:factory specs (default: all)")),
    (("--isolate",), dict(choices=("all", "needed", "none"), default=None,
                          help="worker process per pass: all (default), needed (only peers that may hang), none")),
    (("--soak",), dict(type=float, default=None, metavar="MINUTES",
                       help="instead of the comparison: churn a live set for MINUTES (fractions allowed)")),
    (("--live",), dict(type=int, default=1_000_000, help="soak: live callbacks held steady (default 1000000)")),
    (("--batch",), dict(type=int, default=1_000, help="soak: events per feed_many batch (default 1000)")),
]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_bench(args: argparse.Namespace, out: TextIO) -> int:
    """Run what the arguments ask for; the markdown goes to ``out``, progress to stderr."""
    from qbtrigger.bench.compare import Settings, parse_sizes, run_comparison
    from qbtrigger.bench.contenders import DEFAULT_ORDER

    out_dir = Path(args.out) if args.out is not None else _new_folder()
    if args.soak is not None:
        return _soak(args, out, out_dir)
    try:
        sizes = parse_sizes(QUICK_SIZES if args.quick else args.sizes)
    except ValueError as exc:
        raise SystemExit(f"qbtrigger bench: error: {exc}") from None
    if args.runs < 1:
        raise SystemExit("qbtrigger bench: error: --runs must be at least 1")
    contenders = tuple(s.strip() for s in args.contenders.split(",")) if args.contenders else DEFAULT_ORDER
    settings = Settings(
        sizes=sizes,
        runs=1 if args.quick else args.runs,
        contenders=contenders,
        budget_s=min(args.budget, 20.0) if args.quick else args.budget,
        isolate=args.isolate or ("needed" if args.quick else "all"),
    )
    from qbtrigger.bench.report import write

    comparison = run_comparison(settings, _log)
    md, png, text = write(comparison, out_dir)
    out.write(text)
    if png is None:
        _log(f"bench: table written to {md}; the plot was skipped (matplotlib is not installed: "
             f"pip install 'qbtrigger[bench]')")
    else:
        _log(f"bench: table written to {md}, plot to {png}")
    return 0


def _new_folder() -> Path:
    """A folder of this run's own, so a run never overwrites earlier results by default."""
    base = Path(time.strftime("qbtrigger-bench-%Y%m%d-%H%M%S"))
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = Path(f"{base}-{n}")
    return folder


def _soak(args: argparse.Namespace, out: TextIO, out_dir: Path) -> int:
    from qbtrigger.bench.soak import soak, summary

    if args.soak <= 0 or args.live < 1 or args.batch < 1:
        raise SystemExit("qbtrigger bench: error: --soak, --live and --batch must be positive")
    result = soak(args.soak, live=args.live, batch=args.batch, log=_log)
    text = summary(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "soak.md").write_text(text)
    (out_dir / "soak.json").write_text(json.dumps(result.to_dict(), indent=1))
    out.write(text)
    _log(f"bench: soak written to {out_dir / 'soak.md'}")
    return 0


def main(argv: Optional[list] = None) -> int:
    """``python -m qbtrigger.bench.run`` / ``python -m benchmarks.compare``: the same as ``qbtrigger bench``."""
    from qbtrigger.cli import main as cli_main

    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
