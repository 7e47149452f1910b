"""``qbtrigger simulate FILE [-- ARG...]``: run a submission on a virtual farm and report what is stuck.

Submits the jobs of a .py/.pl submit script (run with ARGs, as ``--user``) or a .json job list to
a :class:`Supervisor` (in memory, or a SQLite store that a rerun resumes from), runs them on a
:class:`Simulator` with virtual workers, and prints the report of :mod:`.simulate_report`. The
simulator exists before the script runs, so the script's ``qb.hostinfo`` sees its virtual hosts
and its ``qb.jobinfo``, ``qb.kill``... act on the supervisor. Exit status (:data:`EPILOG`): 0 when
every job completed, 2 when some job cannot go on, 3 when every job ended but some failed or were
killed, 1 for an error, 130 when interrupted.

Ctrl-C or SIGTERM stops the run at the end of the current step, with the store committed there
(a second one stops it at once, storing nothing of that step), and exits 130 (143 for SIGTERM);
rerunning with the same ``--db`` ends exactly as an uninterrupted run would. See
:mod:`.interrupt` and docs/supervisor.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Callable

from ..errors import StoreError
from . import html_page
from .common import (
    ALL_LANGUAGES,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_STUCK,
    CLIError,
    add_script_arguments,
    load_submissions,
    require_language_flags,
)
from .interrupt import GracefulStop
from .simulate_log import EventLog

if TYPE_CHECKING:
    from qbtrigger.supervisor import Supervisor
    from qbtrigger.supervisor.backends import StoreSpec

NAME = "simulate"
HELP = "run a submission (.py/.pl submit script or .json job list) on a virtual farm and report"


def _frame_time(text: str) -> tuple[float, float]:
    """``--frame-time MEAN[,SPREAD]``: (mean, spread) in seconds; the spread defaults to mean / 5."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MEAN or MEAN,SPREAD in seconds, not {text!r}") from None
    if len(parts) not in (1, 2) or parts[0] <= 0 or (len(parts) == 2 and parts[1] < 0):
        raise argparse.ArgumentTypeError(f"expected MEAN or MEAN,SPREAD (MEAN > 0, SPREAD >= 0), not {text!r}")
    return (parts[0], parts[1] if len(parts) == 2 else parts[0] / 5)


#: The exit statuses, as ``qbtrigger simulate --help`` lists them.
EPILOG = """exit status:
  0    every job completed
  1    an error (the submission, the store, a file): nothing was simulated
  2    some job cannot go on (stuck): the report says what each one waits for
  3    every job ended, but some failed or were killed: the report names them
  130  interrupted (Ctrl-C); rerun with the same --db to resume"""


def _smtp(text: str) -> tuple[str, int]:
    """``--smtp HOST[:PORT]``: (host, port); the port defaults to 25."""
    host, colon, port = text.rpartition(":") if ":" in text else (text, "", "25")
    if not colon:
        host, port = text, "25"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST or HOST:PORT (PORT 1-65535), not {text!r}")
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``qbtrigger simulate``."""
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("file", metavar="FILE", help="a .py or .pl submit script (its arguments after --) or a .json job list")
    add("--workers", type=int, default=4, help="virtual worker slots (default 4)")
    add("--seed", type=int, default=0, help="seed of frame durations and failures (default 0)")
    add("--failure-rate", type=float, default=0.0, metavar="P",
        help="chance that a frame fails (the job's retrywork retries it; default 0)")
    add("--frame-time", type=_frame_time, default=(10.0, 2.0), metavar="MEAN[,SPREAD]",
        help="frame duration in virtual seconds (default 10,2)")
    add("--languages", default=ALL_LANGUAGES, metavar="FLAGS",
        help=f"language_flags (default here: {ALL_LANGUAGES}; it is your own script on your own machine)")
    add("--universal", metavar="FOLDER", help="a universal-callback folder to attach to every job")
    add("--db", metavar="PATH|URI",
        help="keep the job store in this SQLite file, or in PostgreSQL (postgresql://USER@HOST/DB);"
             " rerunning with it resumes")
    add("--standby", action="store_true",
        help="with a PostgreSQL --db: wait while another supervisor is active on it, following its"
             " store, then take over and finish the run")
    add("--clock", type=int, metavar="QUBE_TIME",
        help="the Qube time a new store starts at (default: now), for runs that repeat to the byte")
    add("--commit-every", type=int, default=1000, metavar="STEPS",
        help="commit the store every STEPS steps (and every half second; default 1000)")
    add("--checkpoint-every", type=int, metavar="LINES",
        help="with --db: store a checkpoint once the journal has grown by LINES lines (and by the"
             " number of live callbacks), so that a resume replays only the lines after it"
             " (default: the supervisor's, 100,000; 0: never)")
    add("--log", metavar="PATH", help="write every event as a JSON line with its virtual time")
    add("--report-json", metavar="PATH", help="write each job's and work item's final state as JSON")
    add("--smtp", metavar="HOST[:PORT]", type=_smtp,
        help="send status mails (mail callbacks, mail-* keywords) through this SMTP server; "
             "without it they are captured into the report and --report-json, and nothing is sent")
    add("--mail-domain", metavar="DOMAIN",
        help="Qube's mail_domain: appended to a recipient that is a bare user name (a job without a"
             " mailaddress mails its owner)")
    add("--html", metavar="PATH",
        help="write the run as a self-contained HTML page: timeline, dependency graph, numbers (needs qbtrigger[report])")
    add("--progress", action=argparse.BooleanOptionalAction, default=None,
        help="show a progress bar (default: when stderr is a terminal)")
    # python callbacks run in worker processes within these limits (docs/callbacks.md, Isolation)
    add("--callback-timeout", type=float, default=30.0, metavar="SECONDS",
        help="time limit of one python or perl callback firing (default 30)")
    add("--callback-memory", type=int, default=2048, metavar="MIB",
        help="address space of each python callback worker, in MiB (default 2048; 0: no limit)")
    add("--in-process-python", action="store_true",
        help="run python callbacks inside the supervisor, with no limit: for trusted code only")
    add_script_arguments(parser)


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


def _checkpoint_options(every: int | None) -> dict:
    """``--checkpoint-every``, when given (else the supervisor's default)."""
    return {} if every is None else {"checkpoint_every": max(0, every)}


def _mail_options(smtp: tuple[str, int] | None, domain: str | None) -> dict:
    """Capture status mails, or send them through ``--smtp``; ``--mail-domain`` either way."""
    from qbtrigger.callbacks import MailSettings

    if smtp is None:
        return {"capture_mail": True, "mail_settings": MailSettings(domain=domain)}
    return {"mail_settings": MailSettings(host=smtp[0], port=smtp[1], domain=domain)}


def _titles(supervisor: Supervisor) -> list[str]:
    """How reports name each job the store holds (removed ones too), in id order."""
    from qbtrigger.supervisor.report import job_title

    out = []
    for jobid in supervisor.job_ids(removed=True):
        job = supervisor.job_state(jobid)
        out.append(job_title(jobid, job.label, job.name))
    return out


def _open_store(args: argparse.Namespace) -> tuple[str | None, StoreSpec]:
    """``--db`` as messages name it (a database's password hidden), and the ``db`` argument of the
    supervisor: the path, or for PostgreSQL the store itself (None for a ``--standby``, which
    :func:`_standby` opens)."""
    from qbtrigger.supervisor.postgres import PostgresStore, display_dsn, is_postgres_dsn

    if not is_postgres_dsn(args.db):
        if args.standby:
            raise CLIError("--standby needs a PostgreSQL store: --db postgresql://...")
        return args.db, args.db
    if args.standby:
        return display_dsn(args.db), None
    try:
        store = PostgresStore(args.db)
    except StoreError as exc:
        raise CLIError(str(exc)) from None
    return display_dsn(args.db), store


def _standby(args: argparse.Namespace, make: Callable[[StoreSpec], Supervisor]) -> Supervisor:
    """A warm standby (docs/store.md): it follows the store while it waits for the lock, then
    returns its supervisor, holding the lock."""
    from qbtrigger.supervisor.standby import WarmStandby

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    standby = WarmStandby(args.db, make, on_wait=say, on_note=say)
    supervisor = standby.run()
    how = "warm: it had followed the store" if standby.warm else "it resumed from the store"
    say(f"standby: took over the job store {supervisor.store.name} ({how})")
    return supervisor


def run(args: argparse.Namespace) -> int:
    """Simulate ``args.file`` (or resume ``args.db``); the exit status."""
    from qbtrigger.callbacks import UniversalConfigError
    from qbtrigger.callbacks.isolation import CallbackLimits
    from qbtrigger.supervisor import Simulator, Supervisor

    from .simulate_report import Unblocks, field_notes, print_field_notes, print_report, write_report_json
    from .fingerprint import check_resume, fingerprint, record

    out = sys.stdout
    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    if not 0.0 <= args.failure_rate <= 1.0:
        raise CLIError("--failure-rate must be between 0 and 1")
    require_language_flags(args.languages)
    try:
        limits = CallbackLimits(timeout=args.callback_timeout,
                                memory=args.callback_memory << 20 if args.callback_memory else None)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    db_name, store = _open_store(args)

    def make(db: StoreSpec) -> Supervisor:
        return Supervisor(db=db, language_flags=args.languages, universal=args.universal,
                          default_user=args.user, clock=args.clock, perl_timeout=args.callback_timeout,
                          callback_limits=limits, in_process_python=args.in_process_python,
                          **_checkpoint_options(args.checkpoint_every), **_mail_options(args.smtp, args.mail_domain))

    try:
        supervisor = _standby(args, make) if args.standby else make(store)  # last: a standby waits here
    except UniversalConfigError as exc:
        raise CLIError(str(exc)) from None
    except StoreError as exc:  # it names the store itself
        raise CLIError(str(exc)) from None
    except Exception as exc:  # a store that is not ours, a locked file...
        raise CLIError(f"cannot open the job store {db_name!r}: {exc}") from None
    log: EventLog | None = None
    try:
        for problem in supervisor.unreadable:
            print(f"qbtrigger simulate: warning: {problem}; it runs without what cannot be read", file=sys.stderr)
        timeline = Unblocks(supervisor, None)
        simulator = Simulator(
            supervisor, workers=args.workers, seed=args.seed, failure_rate=args.failure_rate,
            frame_time=args.frame_time, on_event=timeline, commit_every=max(1, args.commit_every),
        )
        submission = fingerprint(args.file, args.script_args, args.user or supervisor.default_user)
        recorder = html_page.record(simulator) if args.html else None
        resuming = bool(supervisor.job_ids(removed=True))
        if resuming:
            check_resume(supervisor, db_name or "", submission, _titles(supervisor))
        if args.log:  # after the check: a refused store leaves the log alone
            log = EventLog(args.log, supervisor, simulator)
        if resuming:
            print(f"resuming from {db_name}: {len(supervisor.job_ids())} live job(s)", file=out)
        else:
            record(supervisor, submission)  # before the script runs: a store with its jobs always has it
            _load(args, supervisor)
            record(supervisor, submission, jobs=_titles(supervisor))
        print_field_notes(field_notes(supervisor), supervisor, out)  # as check says them, before the run
        bar = _ProgressBar(sys.stderr.isatty() if args.progress is None else args.progress)
        with GracefulStop(simulator.stop) as guard:
            try:
                report = simulator.run(progress=bar)
            except KeyboardInterrupt:
                bar.close()
                _say_interrupted(db_name if args.db else None, guard, forced=True)
                return guard.exit_status
            except StoreError as exc:  # the store went away, or another supervisor took it over
                bar.close()
                raise CLIError(f"{exc}; what was committed is kept: rerun with --db to resume") from None
        bar.close()
        if guard.signum is not None:
            _say_interrupted(db_name if args.db else None, guard, forced=False)
            return guard.exit_status
        supervisor.settle_mail()  # with --smtp: the mail's outcomes belong in the report
        timeline.print(out)
        print_report(report, supervisor, out)
        if args.report_json:
            write_report_json(args.report_json, report, supervisor, timeline)
        if args.html:
            html_page.write_simulation(args.html, report, supervisor, recorder, args.file)
        if not report.finished:
            return EXIT_STUCK
        return EXIT_JOBS_FAILED if report.failed_jobs else EXIT_OK
    finally:
        if log is not None:
            log.close()
        supervisor.close()


def _load(args: argparse.Namespace, supervisor: Supervisor) -> None:
    """Run the submit script (or load the job list) as one transaction: interrupted or failing
    half-way, it leaves nothing stored, and a rerun submits again."""
    from qbtrigger.callbacks import SubmissionError
    from qbtrigger.submit import SupervisorTarget

    supervisor.autocommit = False
    try:
        load_submissions(args.file, SupervisorTarget(supervisor), argv=args.script_args,
                         user=args.user or supervisor.default_user)
    except BaseException as exc:
        supervisor.abandon("the submission did not finish")
        if isinstance(exc, SubmissionError):
            raise CLIError(f"{args.file}: {exc}") from None
        raise
    supervisor.autocommit = True
    supervisor.commit()


def _say_interrupted(db_name: str | None, guard: GracefulStop, *, forced: bool) -> None:
    """What an interrupted run tells its user on stderr (``db_name``: the store, None without --db)."""
    what = guard.name or "SIGINT"
    kept = "stopped at once: the step under way was not stored" if forced else "stopped after a whole step, stored"
    resume = f"; rerun with --db {db_name} to resume" if db_name else " (no --db: nothing is kept)"
    print(f"qbtrigger simulate: interrupted by {what}: {kept}{resume}", file=sys.stderr)
