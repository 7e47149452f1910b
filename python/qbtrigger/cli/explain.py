"""``qbtrigger explain FILE --job LABEL [--full] [-- ARG...]``: a job's callbacks, their atoms and
what they wait on (callbacks alike but for their frame summarised as ranges unless ``--full``).
``--html PATH``: the whole submission's dependency graph as a page (:mod:`qbtrigger.page`).

Runs the submission (a .py/.pl submit script with its ARGs, or a JSON job list) against the
checker's target, with provisional job ids and its own output dropped, and prints
:func:`qbtrigger.callbacks.checks.explain_job` for the first submission holding the job.
"""

from __future__ import annotations

import argparse
import sys

from . import html_page
from .common import EXIT_OK, CLIError, add_script_arguments, load_submissions

NAME = "explain"
HELP = "show a job's callbacks, their atoms and which jobs and frames they wait on"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``qbtrigger explain``."""
    parser.add_argument(
        "file", metavar="FILE", help="a .py or .pl submit script (its arguments after --) or a .json job list"
    )
    parser.add_argument(
        "--job", metavar="JOB", help="the job's label, name, id, or index in the submission"
    )
    parser.add_argument(
        "--html", metavar="PATH",
        help="write the submission's dependency graph as a self-contained HTML page (needs qbtrigger[report])",
    )
    parser.add_argument(
        "--full", action="store_true",
        help="print every callback; by default callbacks alike but for their frame are summarised as ranges",
    )
    add_script_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Explain the job ``args.job`` of ``args.file``; the exit status."""
    from qbtrigger.callbacks.explain import explain_job
    from qbtrigger.submit import CheckTarget

    out = sys.stdout
    if args.job is None and args.html is None:
        raise CLIError("say what to explain: --job JOB (a job's callbacks) or --html PATH (the whole graph as a page)")
    if args.html is not None:
        html_page.require_extra("explain --html")
    batches = load_submissions(args.file, CheckTarget(), argv=args.script_args, user=args.user, quiet=True)
    if args.html is not None:
        html_page.write_submission(args.html, batches, args.file)
        if args.job is None:
            return EXIT_OK
    for batch in batches:
        first = batch[0].get("id") if batch and isinstance(batch[0], dict) else None
        try:
            text = explain_job(batch, args.job, full=args.full, **({"first_id": first} if isinstance(first, int) else {}))
            print(text, file=out)
            return EXIT_OK
        except KeyError:
            continue
    labels = ", ".join(repr(j["label"]) for b in batches for j in b if j.get("label")) or "none"
    raise CLIError(f"no job labelled {args.job!r} in {args.file} (labels: {labels})")
