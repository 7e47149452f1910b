"""``qbtrigger check FILE [-- ARG...]``: check a submission or a file of trigger expressions.

A trigger file gets every syntax error with its position and a caret; a submission (a .py or
.pl/.pm submit script, run with ARGs, or a .json/.qja job list) gets the static checks of
:mod:`qbtrigger.callbacks.checks`. A script runs against a :class:`~qbtrigger.submit.CheckTarget`:
provisional job ids, its own output dropped, its actions (``qb.kill``, ``qb.modify``...) noted but
not carried out, its global callbacks checked. Warnings (a likely misspelt field, a job waiting on
a job outside the submission), notes (what the checker cannot read: "may") and fields qbtrigger
keeps but does not act on are listed too; they do not fail the check, but the last line says "no
findings" only when there is no error and no warning. Exit status 1 when an error was found.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import qbtrigger
from qbtrigger import TriggerSyntaxError

from .common import (
    ALL_LANGUAGES,
    EXIT_FAILURE,
    EXIT_OK,
    CLIError,
    add_script_arguments,
    format_syntax_error,
    load_submissions,
    read_triggers,
    require_language_flags,
)

NAME = "check"
HELP = "check a submission (.py/.pl submit script or .json job list) or trigger expressions (one per line)"

#: A FILE ending so is a submission; anything else is a trigger file.
SUBMISSION_SUFFIXES = (".py", ".pl", ".pm", ".json", ".qja")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``qbtrigger check``."""
    parser.add_argument(
        "file", metavar="FILE",
        help="a .py or .pl submit script (its arguments after --), a .json job list, or a trigger file (- for stdin)",
    )
    parser.add_argument(
        "--languages", default=ALL_LANGUAGES, metavar="FLAGS",
        help=f"language_flags to check against (default: {ALL_LANGUAGES}; a farm with Qube's defaults "
        "has qube,mail,dependency)",
    )
    parser.add_argument("--universal", metavar="FOLDER", help="a universal-callback folder to attach to every job")
    add_script_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Check ``args.file``; the exit status."""
    out = sys.stdout
    if args.file.lower().endswith(SUBMISSION_SUFFIXES):
        return _check_submission(args, out)
    if args.script_args:
        raise CLIError(f"{args.file}: arguments after -- are for a submit script (.py, .pl); a trigger file takes none")
    return _check_triggers(args, out)


def _check_triggers(args: argparse.Namespace, out: TextIO) -> int:
    triggers = read_triggers(args.file)
    errors = 0
    for trig in triggers:
        try:
            qbtrigger.parse(trig.expression)
        except TriggerSyntaxError as exc:
            errors += 1
            print(format_syntax_error(args.file, trig, exc), file=out)
    n = len(triggers)
    noun = "expression" if n == 1 else "expressions"
    verdict = "no errors" if not errors else f"{errors} error{'s' if errors != 1 else ''}"
    print(f"{args.file}: {n} {noun} checked, {verdict}", file=out)
    return EXIT_FAILURE if errors else EXIT_OK


def _check_submission(args: argparse.Namespace, out: TextIO) -> int:
    from qbtrigger.callbacks import UniversalConfigError
    from qbtrigger.callbacks import checks
    from qbtrigger.submit import CheckTarget

    require_language_flags(args.languages)
    target = CheckTarget(language_flags=args.languages)
    batches = load_submissions(args.file, target, argv=args.script_args, user=args.user, quiet=True)
    errors = warnings = jobs = 0
    labels: dict[tuple[int, str], int] = {}  # of the script's earlier submissions: live on its farm
    for number, batch in enumerate(batches, 1):
        jobs += len(batch)
        first = batch[0].get("id") if batch and isinstance(batch[0], dict) else None
        try:
            found = checks.check_submission(
                batch, language_flags=args.languages, universal=args.universal,
                first_id=first if isinstance(first, int) else checks.PROVISIONAL_FIRST_ID, live_labels=dict(labels),
                acted=target.acted, global_callbacks=target.callbacks, farm=set(labels.values()) | _ids(batches, number),
            )
        except UniversalConfigError as exc:
            raise CLIError(str(exc)) from None
        prefix = f"{args.file}: " + (f"submission {number}: " if len(batches) > 1 else "")
        found += checks.review_fields(batch)  # warnings and ignored fields: they do not fail the check
        for finding in found:
            print(prefix + str(finding), file=out)
        errors += sum(f.level == "error" for f in found)
        warnings += sum(f.level == "warning" for f in found)
        for job in batch:
            if isinstance(job, dict) and isinstance(job.get("label"), str) and isinstance(job.get("id"), int):
                pgrp = job.get("pgrp")
                labels.setdefault((pgrp if isinstance(pgrp, int) else job["id"], job["label"]), job["id"])
    for finding in target.findings:
        print(f"{args.file}: {finding}", file=out)
    errors += len(target.findings)
    for note in target.notes:
        print(f"{args.file}: note: {note}", file=out)
    subs = f"{len(batches)} submission{'s' if len(batches) != 1 else ''}"
    what = f"{jobs} job{'s' if jobs != 1 else ''} in {subs}"
    if target.callbacks:
        count = len(target.callbacks)
        what += f" and {count} global callback{'s' if count != 1 else ''}"
    print(f"{args.file}: {what} checked, {_verdict(errors, warnings)}", file=out)
    return EXIT_FAILURE if errors else EXIT_OK


def _ids(batches: list[list[dict]], number: int) -> set[int]:
    """The ids of the jobs of every submission of the script but the ``number``-th (1-based)."""
    return {job["id"] for i, batch in enumerate(batches, 1) if i != number
            for job in batch if isinstance(job, dict) and isinstance(job.get("id"), int)}


def _verdict(errors: int, warnings: int) -> str:
    """"no findings" only when there is nothing to read: warnings do not fail the check, but a
    submission with one may still end stuck (a job waiting on a job id outside it, say)."""
    if not errors and not warnings:
        return "no findings"
    counted = f"{warnings} warning{'s' if warnings != 1 else ''}"
    if not errors:
        return f"no errors, {counted}"
    text = f"{errors} finding{'s' if errors != 1 else ''}"
    return text + (f", {counted}" if warnings else "")
