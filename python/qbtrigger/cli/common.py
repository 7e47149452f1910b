"""What the ``qbtrigger`` subcommands share: exit codes, the one-line error, input files, submissions.

Kept in one small module so that each command module holds only its own arguments and its
``run``. Nothing heavy is imported here at module level: the callbacks and submit-script
machinery are imported inside the functions that need them, when a command runs.

Trigger files hold one expression per line, optionally prefixed by its owning job id
(``1234: complete-work-A-5 && complete-work-B-5``; job 1 when absent). Blank lines and lines
starting with ``#`` are skipped; line numbers in messages are the file's own.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple, TextIO

from qbtrigger import TriggerSyntaxError

if TYPE_CHECKING:
    import argparse

    from qbtrigger.submit import OnSubmit, Target

__all__ = [
    "ALL_LANGUAGES",
    "CLIError",
    "DEFAULT_OWNER",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_JOBS_FAILED",
    "EXIT_OK",
    "EXIT_STUCK",
    "Line",
    "TriggerLine",
    "format_syntax_error",
    "load_submissions",
    "add_script_arguments",
    "message_of",
    "print_error",
    "read_lines",
    "read_triggers",
    "require_language_flags",
]

# --------------------------------------------------------------------------- exit codes

#: Success (``check``: no errors or findings; ``simulate``: every job finished).
EXIT_OK = 0
#: A :class:`CLIError`, or ``check`` found errors or findings. (Usage errors exit 2, argparse's own.)
EXIT_FAILURE = 1
#: ``simulate``: some job cannot go on.
EXIT_STUCK = 2
#: ``simulate``: every job ended, but some failed or were killed (none is stuck).
EXIT_JOBS_FAILED = 3
#: Interrupted by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

#: Every language flag: the default of ``check --languages`` and ``simulate --languages``.
ALL_LANGUAGES = "qube,python,perl,mail,dependency"

DEFAULT_OWNER = 1
_OWNER_PREFIX = re.compile(r"\s*([0-9]+)\s*:(.*)\Z", re.DOTALL)


# --------------------------------------------------------------------------- errors


class CLIError(Exception):
    """A problem worth one line on stderr and exit status 1 (never a traceback)."""


def print_error(command: str, error: BaseException | str) -> None:
    """``qbtrigger COMMAND: error: ...`` on stderr, after what stdout already holds."""
    sys.stdout.flush()
    print(f"qbtrigger {command}: error: {error}", file=sys.stderr)


def message_of(exc: BaseException) -> str:
    """An exception's text for a one-line error (a KeyError's without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def require_language_flags(flags: str) -> None:
    """Raise :class:`CLIError` unless ``flags`` is a valid ``--languages`` value."""
    from qbtrigger.callbacks.languages import parse_language_flags

    try:
        parse_language_flags(flags)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


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


def read_triggers(path: str) -> list[TriggerLine]:
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


# --------------------------------------------------------------------------- submissions


def add_script_arguments(parser: argparse.ArgumentParser) -> None:
    """``--user`` and the script's own arguments (``-- ARG ...``, split off by :func:`qbtrigger.cli.main`)
    for the commands that run submit scripts."""
    parser.add_argument(
        "--user", metavar="NAME",
        help="who the submit script runs as (default: your login name); the farm's administrator is "
        "'admin', whom Qube lets submit global callbacks and act on anyone's jobs",
    )
    parser.set_defaults(script_args=[])


def load_submissions(
    path: str,
    target: Target | OnSubmit,
    *,
    argv: list[str] | None = None,
    user: str | None = None,
    quiet: bool = False,
) -> list[list[dict[str, Any]]]:
    """The submissions of FILE (a .py or .pl submit script, or a .json job list), each handed to
    ``target``. ``argv``: the script's arguments; ``user``: who it runs as. ``quiet``: drop what a
    submit script prints (check and explain run it with provisional ids, which would only confuse)."""
    import contextlib
    import io

    from qbtrigger.submit import SubmitScriptError
    from qbtrigger.submit import load_submissions as load

    try:
        if quiet:
            with contextlib.redirect_stdout(io.StringIO()):
                return load(path, target, argv or [], user=user)
        return load(path, target, argv or [], user=user)
    except SubmitScriptError as exc:
        raise CLIError(str(exc)) from None
