"""``qbtrigger match TRIGGERS EVENTS``: register triggers, feed events, print every firing.

The command-line face of :class:`qbtrigger.Network`: one line per firing,
``EVENT_LINE  EVENT  ->  HANDLE  EXPRESSION``. Any bad trigger expression is reported with its
position and nothing is matched; a bad event stops the run with a one-line error.
"""

from __future__ import annotations

import argparse
import sys

import qbtrigger
from qbtrigger import TriggerSyntaxError

from .common import EXIT_OK, CLIError, format_syntax_error, message_of, read_lines, read_triggers

NAME = "match"
HELP = "register the triggers of TRIGGERS, feed the events of EVENTS, print every firing"

#: What the columns of match's output are: the events file's line ("-": catch-up at registration),
#: the event, the callback it fired (its handle, in registration order) and that callback's expression.
MATCH_HEADER = "# line  event  ->  callback  expression"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``qbtrigger match``."""
    parser.add_argument(
        "triggers", metavar="TRIGGERS", help="trigger file: [owner:] expression per line (owner job 1 by default)"
    )
    parser.add_argument(
        "events", metavar="EVENTS", help="event file, one event per line (name-type-jobid[-extra]), or - for stdin"
    )
    parser.add_argument(
        "--state-aware", action="store_true", help="catch-up and retract (SPEC §5) instead of bare Qube edges"
    )


def run(args: argparse.Namespace) -> int:
    """Match the events of ``args.events`` against the triggers of ``args.triggers``; the exit status."""
    out = sys.stdout
    triggers = read_triggers(args.triggers)
    net = qbtrigger.Network(state_aware=args.state_aware)
    expressions: dict[int, str] = {}  # handle -> expression text
    jobs: set[int] = set()
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
            raise CLIError(f"{args.triggers}:{trig.line.number}: {message_of(exc)}") from None
        expressions[handle] = trig.expression
    if errors:
        raise CLIError(f"{args.triggers}: {errors} bad trigger expression{'s' if errors != 1 else ''}, nothing matched")

    header = [MATCH_HEADER]  # printed once, before the first firing

    def report(where: str, event: str, handles: list[int]) -> None:
        for h in handles:
            if header:
                print(header.pop(), file=out)
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
            raise CLIError(f"{args.events}:{line.number}: {message_of(exc)}") from None
        events += 1
        firings += len(fired)
        report(str(line.number), line.text, fired)
    if args.verbose:
        print(f"{len(expressions)} callbacks, {events} events, {firings} firings", file=sys.stderr)
    return EXIT_OK
