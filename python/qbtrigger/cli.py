"""The ``qbtrigger`` command (also ``python -m qbtrigger``).

    qbtrigger check FILE              syntax-check trigger expressions, one per line
    qbtrigger match TRIGGERS EVENTS   register triggers, feed events, print every firing
    qbtrigger bench [--quick|--soak MINUTES]   compare with peers, or soak under churn

Trigger files hold one expression per line, optionally prefixed by its owning job id
(``1234: complete-work-A-5 && complete-work-B-5``; job 1 when absent). Blank lines and lines
starting with ``#`` are skipped; line numbers in messages are the file's own.

Each subcommand is one function decorated with :func:`command`, which declares its arguments;
adding a subcommand means adding one such function.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Callable, Iterator, NamedTuple, Optional, TextIO

import qbtrigger
from qbtrigger import TriggerSyntaxError

__all__ = ["main", "command", "build_parser"]

DEFAULT_OWNER = 1
_OWNER_PREFIX = re.compile(r"\s*([0-9]+)\s*:(.*)\Z", re.DOTALL)


class CLIError(Exception):
    """A problem worth one line on stderr and exit status 1 (never a traceback)."""


class Arg(NamedTuple):
    flags: tuple
    options: dict


def arg(*flags: str, **options) -> Arg:
    """One ``add_argument`` call, declared with :func:`command`."""
    return Arg(flags, options)


class Command(NamedTuple):
    name: str
    help: str
    args: tuple
    run: Callable


_COMMANDS: list = []


def command(name: str, help: str, *args: Arg) -> Callable:
    """Register ``run(args, out) -> exit status`` as the subcommand ``name``."""

    def register(run: Callable) -> Callable:
        _COMMANDS.append(Command(name, help, args, run))
        return run

    return register


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="say which matcher implementation is active (on stderr)"
    )
    parser = argparse.ArgumentParser(
        prog="qbtrigger", description="Qube!-style render-farm trigger expressions: check them, match events."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {qbtrigger.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in _COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, parents=[common])
        for a in cmd.args:
            p.add_argument(*a.flags, **a.options)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: Optional[list] = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = sys.stdout
    try:
        if args.verbose:
            print(f"qbtrigger {qbtrigger.__version__}: {qbtrigger.implementation} matcher", file=sys.stderr)
        return args.run(args, out)
    except CLIError as exc:
        out.flush()
        print(f"qbtrigger {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `qbtrigger match ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------- input files


class Line(NamedTuple):
    number: int  # 1-based line number in the file
    text: str  # the payload (expression or event), stripped
    offset: int  # 0-based column of the payload in the file's line


def _open(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read {path!r}: {exc.strerror or exc}") from None


def read_lines(path: str) -> Iterator[Line]:
    """Non-blank, non-comment lines of a file (``-``: stdin), stripped, with their position."""
    f = _open(path)
    try:
        for number, raw in enumerate(f, 1):
            raw = raw.rstrip("\r\n")
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            yield Line(number, text, len(raw) - len(raw.lstrip()))
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CLIError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    finally:
        if f is not sys.stdin:
            f.close()


class TriggerLine(NamedTuple):
    line: Line
    owner: int
    expression: str
    column: int  # 0-based column of the expression in the file's line


def read_triggers(path: str) -> list:
    """``[owner:] expression`` lines of a trigger file."""
    out = []
    for line in read_lines(path):
        owner, expression, column = DEFAULT_OWNER, line.text, line.offset
        m = _OWNER_PREFIX.match(line.text)
        if m:
            owner = int(m.group(1))
            rest = m.group(2)
            expression = rest.strip()
            column = line.offset + m.start(2) + (len(rest) - len(rest.lstrip()))
        out.append(TriggerLine(line, owner, expression, column))
    return out


def format_syntax_error(path: str, trig: TriggerLine, exc: TriggerSyntaxError) -> str:
    """``FILE:LINE:COL: message`` (COL 1-based, in the file's line) and the caret rendering."""
    rendering = str(exc).split("\n")[1:]
    return "\n".join([f"{path}:{trig.line.number}:{trig.column + exc.column + 1}: {exc.message}", *rendering])


# --------------------------------------------------------------------------- check


@command(
    "check",
    "syntax-check trigger expressions, one per line ([owner:] expression; # comments)",
    arg("file", metavar="FILE", help="trigger file, or - for stdin"),
)
def _check(args: argparse.Namespace, out: TextIO) -> int:
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
    return 1 if errors else 0


# --------------------------------------------------------------------------- match


@command(
    "match",
    "register the triggers of TRIGGERS, feed the events of EVENTS, print every firing",
    arg("triggers", metavar="TRIGGERS", help="trigger file: [owner:] expression per line (owner job 1 by default)"),
    arg("events", metavar="EVENTS", help="event file, one event per line (name-type-jobid[-extra]), or - for stdin"),
    arg("--state-aware", action="store_true", help="catch-up and retract (SPEC §5) instead of bare Qube edges"),
)
def _match(args: argparse.Namespace, out: TextIO) -> int:
    triggers = read_triggers(args.triggers)
    net = qbtrigger.Network(state_aware=args.state_aware)
    expressions: dict = {}  # handle -> expression text
    jobs: set = set()
    errors = 0
    for trig in triggers:
        try:
            if trig.owner not in jobs:
                net.add_job(trig.owner)
                jobs.add(trig.owner)
            handle = net.add(trig.expression, trig.owner)
        except TriggerSyntaxError as exc:
            errors += 1
            print(format_syntax_error(args.triggers, trig, exc), file=out)
            continue
        except (ValueError, TypeError, KeyError) as exc:
            raise CLIError(f"{args.triggers}:{trig.line.number}: {_message(exc)}") from None
        expressions[handle] = trig.expression
    if errors:
        raise CLIError(f"{args.triggers}: {errors} bad trigger expression{'s' if errors != 1 else ''}, nothing matched")

    def report(where: str, event: str, handles: list) -> None:
        for h in handles:
            print(f"{where}  {event}  ->  {h}  {expressions[h]}", file=out)

    firings = events = 0
    if args.state_aware:
        fired = net.drain_catch_up()
        report("-", "(registration)", fired)
        firings += len(fired)
    for line in read_lines(args.events):
        try:
            fired = net.feed(line.text)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"{args.events}:{line.number}: {_message(exc)}") from None
        events += 1
        firings += len(fired)
        report(str(line.number), line.text, fired)
    if args.verbose:
        print(f"{len(expressions)} callbacks, {events} events, {firings} firings", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- bench


def _bench_arguments() -> tuple:
    # The bench machinery is imported when the command runs, not when the CLI starts; its
    # argument table is a plain list, cheap to import.
    from qbtrigger.bench.run import ARGUMENTS

    return tuple(arg(*flags, **options) for flags, options in ARGUMENTS)


@command(
    "bench",
    "compare qbtrigger with its peers on one workload (table + plot), or --soak it under churn",
    *_bench_arguments(),
)
def _bench(args: argparse.Namespace, out: TextIO) -> int:
    from qbtrigger.bench.run import run_bench

    return run_bench(args, out)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
