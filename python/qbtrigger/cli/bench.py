"""``qbtrigger bench``: compare qbtrigger with its peers on one workload, or soak it under churn.

Only the wiring lives here. The argument table comes from :mod:`qbtrigger.bench.run` (a plain
list, cheap to import); the bench machinery itself is imported when the command runs, not when
the command line starts.
"""

from __future__ import annotations

import argparse
import sys

NAME = "bench"
HELP = "compare qbtrigger with its peers on one workload (table + plot), or --soak it under churn"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``qbtrigger bench``, as :data:`qbtrigger.bench.run.ARGUMENTS` declares them."""
    from qbtrigger.bench.run import ARGUMENTS

    for flags, options in ARGUMENTS:
        parser.add_argument(*flags, **options)


def run(args: argparse.Namespace) -> int:
    """Run the comparison or the soak; the exit status."""
    from qbtrigger.bench.run import run_bench

    return run_bench(args, sys.stdout)
