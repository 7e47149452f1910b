"""The ``qbtrigger`` command (also ``python -m qbtrigger``).

    qbtrigger simulate FILE           run a submission on a virtual farm; report what is stuck
    qbtrigger check FILE              check a submission (.py/.json) or trigger expressions
    qbtrigger explain FILE --job L    a job's callbacks and what they wait on
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


SUBMISSION_SUFFIXES = (".py", ".json")
ALL_LANGUAGES = "qube,python,perl,mail,dependency"


@command(
    "check",
    "check a submission (.py submit script or .json job list) or trigger expressions (one per line)",
    arg("file", metavar="FILE", help="a .py submit script, a .json job list, or a trigger file (- for stdin)"),
    arg("--languages", default=ALL_LANGUAGES, metavar="FLAGS",
        help=f"language_flags to check against (default: {ALL_LANGUAGES}; a farm with Qube's defaults "
        "has qube,mail,dependency)"),
    arg("--universal", metavar="FOLDER", help="a universal-callback folder to attach to every job"),
)
def _check(args: argparse.Namespace, out: TextIO) -> int:
    if args.file.endswith(SUBMISSION_SUFFIXES):
        return _check_submission(args, out)
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


def _provisional_submitter():
    """An ``on_submit`` for static tools: ids from PROVISIONAL_FIRST_ID on, pgrp = first id."""
    from qbtrigger.callbacks.checks import PROVISIONAL_FIRST_ID, with_provisional_ids

    next_id = [PROVISIONAL_FIRST_ID]

    def on_submit(jobs: list) -> list:
        first = next_id[0]
        next_id[0] += len(jobs)
        return with_provisional_ids(jobs, first)

    return on_submit


def _load(path: str, on_submit, *, quiet: bool = False) -> list:
    """The submissions of FILE. ``quiet``: drop what a submit script prints (check and explain run
    it with provisional ids, which would only confuse)."""
    import contextlib
    import io

    from qbtrigger.submitscript import SubmitScriptError, load_submissions

    try:
        if quiet:
            with contextlib.redirect_stdout(io.StringIO()):
                return load_submissions(path, on_submit)
        return load_submissions(path, on_submit)
    except SubmitScriptError as exc:
        raise CLIError(str(exc)) from None


def _check_submission(args: argparse.Namespace, out: TextIO) -> int:
    from qbtrigger.callbacks import UniversalConfigError
    from qbtrigger.callbacks.checks import check_submission
    from qbtrigger.callbacks.languages import parse_language_flags

    try:
        parse_language_flags(args.languages)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    batches = _load(args.file, _provisional_submitter(), quiet=True)
    findings = 0
    jobs = 0
    for number, batch in enumerate(batches, 1):
        jobs += len(batch)
        try:
            found = check_submission(batch, language_flags=args.languages, universal=args.universal)
        except UniversalConfigError as exc:
            raise CLIError(str(exc)) from None
        prefix = f"{args.file}: " + (f"submission {number}: " if len(batches) > 1 else "")
        for finding in found:
            print(prefix + str(finding), file=out)
        findings += len(found)
    subs = f"{len(batches)} submission{'s' if len(batches) != 1 else ''}"
    verdict = "no findings" if not findings else f"{findings} finding{'s' if findings != 1 else ''}"
    print(f"{args.file}: {jobs} job{'s' if jobs != 1 else ''} in {subs} checked, {verdict}", file=out)
    return 1 if findings else 0


# --------------------------------------------------------------------------- explain


@command(
    "explain",
    "show a job's callbacks, their atoms and which jobs and frames they wait on",
    arg("file", metavar="FILE", help="a .py submit script or a .json job list"),
    arg("--job", required=True, metavar="LABEL", help="the job's label (or its index in the submission)"),
)
def _explain(args: argparse.Namespace, out: TextIO) -> int:
    from qbtrigger.callbacks.checks import explain_job

    batches = _load(args.file, _provisional_submitter(), quiet=True)
    for batch in batches:
        try:
            print(explain_job(batch, args.job), file=out)
            return 0
        except KeyError:
            continue
    labels = ", ".join(repr(j["label"]) for b in batches for j in b if j.get("label")) or "none"
    raise CLIError(f"no job labelled {args.job!r} in {args.file} (labels: {labels})")


# --------------------------------------------------------------------------- simulate


def _frame_time(text: str) -> tuple:
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MEAN or MEAN,SPREAD in seconds, not {text!r}") from None
    if len(parts) not in (1, 2) or parts[0] <= 0 or (len(parts) == 2 and parts[1] < 0):
        raise argparse.ArgumentTypeError(f"expected MEAN or MEAN,SPREAD (MEAN > 0, SPREAD >= 0), not {text!r}")
    return (parts[0], parts[1] if len(parts) == 2 else parts[0] / 5)


class _ProgressBar:
    """A one-line progress bar on stderr (only on a terminal, unless forced)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} work items")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


@command(
    "simulate",
    "run a submission (.py submit script or .json job list) on a virtual farm and report",
    arg("file", metavar="FILE", help="a .py submit script or a .json job list"),
    arg("--workers", type=int, default=4, help="virtual worker slots (default 4)"),
    arg("--seed", type=int, default=0, help="seed of frame durations and failures (default 0)"),
    arg("--failure-rate", type=float, default=0.0, metavar="P",
        help="chance that a frame fails (the job's retrywork retries it; default 0)"),
    arg("--frame-time", type=_frame_time, default=(10.0, 2.0), metavar="MEAN[,SPREAD]",
        help="frame duration in virtual seconds (default 10,2)"),
    arg("--languages", default=ALL_LANGUAGES, metavar="FLAGS",
        help=f"language_flags (default here: {ALL_LANGUAGES}; it is your own script on your own machine)"),
    arg("--universal", metavar="FOLDER", help="a universal-callback folder to attach to every job"),
    arg("--db", metavar="PATH", help="keep the job store in this SQLite file; rerunning with it resumes"),
    arg("--log", metavar="PATH", help="write every event as a JSON line with its virtual time"),
    arg("--report-json", metavar="PATH", help="write each job's and work item's final state as JSON"),
    arg("--progress", action=argparse.BooleanOptionalAction, default=None,
        help="show a progress bar (default: when stderr is a terminal)"),
)
def _simulate(args: argparse.Namespace, out: TextIO) -> int:
    from qbtrigger.callbacks import SubmissionError, UniversalConfigError
    from qbtrigger.callbacks.languages import parse_language_flags
    from qbtrigger.supervisor import Simulator, Supervisor

    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    if not 0.0 <= args.failure_rate <= 1.0:
        raise CLIError("--failure-rate must be between 0 and 1")
    try:
        parse_language_flags(args.languages)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    try:
        supervisor = Supervisor(db=args.db, language_flags=args.languages, universal=args.universal)
    except UniversalConfigError as exc:
        raise CLIError(str(exc)) from None
    except Exception as exc:  # a store that is not ours, a locked file...
        raise CLIError(f"cannot open the job store {args.db!r}: {exc}") from None
    log = None
    try:
        if supervisor.job_ids(removed=True):
            print(f"resuming from {args.db}: {len(supervisor.job_ids())} live job(s)", file=out)
        else:
            try:
                _load(args.file, _with_agenda(supervisor.submit))
            except SubmissionError as exc:
                raise CLIError(f"{args.file}: {exc}") from None
        if args.log:
            try:
                log = open(args.log, "a", encoding="utf-8")
            except OSError as exc:
                raise CLIError(f"cannot write {args.log!r}: {exc.strerror or exc}") from None
        timeline = _Unblocks(supervisor, log)
        simulator = Simulator(
            supervisor, workers=args.workers, seed=args.seed, failure_rate=args.failure_rate,
            frame_time=args.frame_time, on_event=timeline,
        )
        bar = _ProgressBar(sys.stderr.isatty() if args.progress is None else args.progress)
        try:
            report = simulator.run(progress=bar)
        except KeyboardInterrupt:
            bar.close()
            where = f"; rerun with --db {args.db} to resume" if args.db else ""
            print(f"qbtrigger simulate: interrupted{where}", file=sys.stderr)
            return 130
        bar.close()
        timeline.print(out)
        _print_report(report, supervisor, out)
        if args.report_json:
            _write_report_json(args.report_json, report, supervisor)
        return 0 if report.finished else 2
    finally:
        if log is not None:
            log.close()
        supervisor.close()


def _with_agenda(submit):
    """``submit``, refusing jobs without work items: the simulator runs work items, so such a job
    could never run (a farm would run it once as a whole; say so rather than guess)."""
    from qbtrigger.callbacks.jobs import job_name
    from qbtrigger.submitscript import SubmitScriptError

    def checked(jobs: list) -> list:
        empty = [job_name(job, i) for i, job in enumerate(jobs) if isinstance(job, dict) and not job.get("agenda")]
        if empty:
            raise SubmitScriptError(
                f"{', '.join(empty)}: no agenda; the simulator runs work items "
                "(give each job one, e.g. qb.genframes('1-10') or [{\"name\": \"1\"}])"
            )
        return submit(jobs)

    return checked


class _Unblocks:
    """Watches the event stream: writes the ``--log`` lines, and keeps the first unblocks (an item
    going back to pending) with the event just before them, to show a newcomer frames unblocking."""

    SHOWN = 8

    def __init__(self, supervisor, log: Optional[TextIO]) -> None:
        self.supervisor = supervisor
        self.log = log
        self.first: list = []
        self.count = 0
        self.cause = ""

    def __call__(self, text: str, virtual_time: float) -> None:
        if self.log is not None:
            import json

            record = {"time": round(virtual_time, 6), "qube_time": self.supervisor.now, "event": text}
            self.log.write(json.dumps(record) + "\n")
        if not text.startswith("pending-"):
            self.cause = text
            return
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append((virtual_time, text, self.cause))

    def print(self, out: TextIO) -> None:
        if not self.first:
            return
        more = f" (first {len(self.first)} of {self.count})" if self.count > len(self.first) else ""
        print(f"unblocked{more}:", file=out)
        for virtual_time, text, cause in self.first:
            print(f"  {_duration(virtual_time):>9}  {self._item(text):<28} after {cause}", file=out)

    def _item(self, text: str) -> str:
        parts = text.split("-", 3)
        try:
            job = self.supervisor.job(int(parts[2]))
        except (IndexError, ValueError):
            return text
        name = (job or {}).get("label") or f"job {parts[2]}"
        return f"{name} {parts[1]} '{parts[3]}'" if len(parts) == 4 else f"{name}"


def _print_report(report, supervisor, out: TextIO) -> None:
    print(f"{len(report.jobs)} job(s); makespan {_duration(report.makespan)} of virtual time; "
          f"{report.events:,} events", file=out)
    width = max([len(j.label or "") for j in report.jobs] + [5])
    for job in report.jobs:
        work = ", ".join(f"{state} {count}" for state, count in sorted(job.work.items()) if count) or "no work"
        print(f"  job {job.id:<6} {job.label or '-':<{width}}  {job.status:<9}  work: {work};  "
              f"callbacks fired: {job.callbacks_fired}", file=out)
    _print_callback_logs(report, supervisor, out)
    if report.finished:
        print("every job finished", file=out)
        return
    print(f"stuck: {len(report.stuck)} job(s) cannot go on", file=out)
    for stuck in report.stuck:
        print(f"  job {stuck.id} {stuck.label or ''} is {stuck.status}: {stuck.reason}", file=out)
        for wait in stuck.callbacks:
            _print_wait(wait, out, "    ")
        for item in stuck.work[:10]:
            print(f"    work '{item.work}' is {item.status}: {item.reason}", file=out)
            for wait in item.callbacks:
                _print_wait(wait, out, "      ")
        if len(stuck.work) > 10:
            print(f"    ... and {len(stuck.work) - 10} more work item(s)", file=out)


LOG_LINES_SHOWN = 12


def _print_callback_logs(report, supervisor, out: TextIO) -> None:
    """What callbacks wrote (prints, tracebacks, mail sent), the first lines of it."""
    lines = [
        (job.id, job.label, line)
        for job in report.jobs
        for entry in supervisor.callback_log(job.id)
        for line in entry.rstrip("\n").split("\n")
    ]
    if not lines:
        return
    print(f"callback logs ({len(lines)} line{'s' if len(lines) != 1 else ''}):", file=out)
    for jobid, label, line in lines[:LOG_LINES_SHOWN]:
        print(f"  job {jobid} {label or ''}: {line}", file=out)
    if len(lines) > LOG_LINES_SHOWN:
        print(f"  ... {len(lines) - LOG_LINES_SHOWN} more (all of them: --report-json)", file=out)


def _print_wait(wait, out: TextIO, indent: str) -> None:
    awaited = ", ".join(wait.awaited) or "nothing (it can fire on its next event)"
    print(f"{indent}{wait.callback} ({wait.language}: {wait.code.strip()[:40]}) waits for: {awaited}", file=out)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _write_report_json(path: str, report, supervisor) -> None:
    import json

    data = report.to_dict()
    for job in data["jobs"]:
        info = supervisor.job(job["id"])
        job["work_items"] = [{"name": w["name"], "status": w["status"]} for w in (info or {}).get("agenda", [])]
        job["callback_log"] = supervisor.callback_log(job["id"])
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
    except OSError as exc:
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from None


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
