"""The ``qbtrigger`` command (also ``python -m qbtrigger``).

    qbtrigger simulate FILE [-- ARG...]   run a submission on a virtual farm; report what is stuck
    qbtrigger check FILE [-- ARG...]      check a submission (.py/.pl/.json) or trigger expressions
    qbtrigger explain FILE --job L        a job's callbacks and what they wait on
    qbtrigger match TRIGGERS EVENTS   register triggers, feed events, print every firing
    qbtrigger bench [--quick|--soak MINUTES]   compare with peers, or soak under churn

This module assembles the argument parser and holds :func:`main`, the console script's entry
point. Each built-in subcommand is a module of this package (:mod:`.check`, :mod:`.explain`,
:mod:`.simulate`, :mod:`.match`, :mod:`.bench`) with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> exit status``; what they share (one-line errors,
exit codes, input files, loading a submission) is in :mod:`.common`. Command modules import
heavy machinery inside ``run``, so starting the command line stays cheap.

A one-off subcommand can also be one function decorated with :func:`command`, which declares
its arguments with :func:`arg`.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import Any, Callable, NamedTuple, Sequence, TextIO

import qbtrigger

from . import bench, check, explain, match, simulate
from .common import EXIT_FAILURE, EXIT_INTERRUPTED, CLIError, print_error

__all__ = ["main", "command", "arg", "build_parser", "CLIError"]


class Arg(NamedTuple):
    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    """One ``add_argument`` call, declared with :func:`command`."""
    return Arg(flags, options)


class Command(NamedTuple):
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: The subcommands, in the order ``qbtrigger --help`` lists them.
_COMMANDS: list[Command] = []


def _register_module(module: ModuleType) -> None:
    _COMMANDS.append(Command(module.NAME, module.HELP, module.add_arguments, module.run))


for _module in (check, explain, simulate, match, bench):
    _register_module(_module)
del _module


#: What :func:`command` decorates: ``run(args, out) -> exit status``, ``out`` being stdout.
CommandFunction = Callable[[argparse.Namespace, TextIO], int]


def command(name: str, help: str, *args: Arg) -> Callable[[CommandFunction], CommandFunction]:
    """Register ``run(args, out) -> exit status`` as the subcommand ``name``."""

    def register(run: CommandFunction) -> CommandFunction:
        def add_arguments(parser: argparse.ArgumentParser) -> None:
            for a in args:
                parser.add_argument(*a.flags, **a.options)

        def run_on_stdout(namespace: argparse.Namespace) -> int:
            return run(namespace, sys.stdout)

        _COMMANDS.append(Command(name, help, add_arguments, run_on_stdout))
        return run

    return register


def build_parser() -> argparse.ArgumentParser:
    """The ``qbtrigger`` parser: global options and one subparser per registered command."""
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
        cmd.add_arguments(p)
        p.set_defaults(run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status.

    Everything after the first ``--`` goes to the submit script that ``check``, ``simulate`` or
    ``explain`` runs (its ``sys.argv[1:]``, or perl's ``@ARGV``)."""
    words = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] | None = None
    if "--" in words:
        cut = words.index("--")
        words, script_args = words[:cut], words[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(words)
    if script_args is not None:
        if not hasattr(args, "script_args"):
            parser.error(f"{args.command}: arguments after -- are for a submit script, and {args.command} runs none")
        args.script_args = script_args
    try:
        if args.verbose:
            print(f"qbtrigger {qbtrigger.__version__}: {qbtrigger.implementation} matcher", file=sys.stderr)
        status: int = args.run(args)
        return status
    except CLIError as exc:
        print_error(args.command, exc)
        return EXIT_FAILURE
    except BrokenPipeError:  # `qbtrigger match ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
