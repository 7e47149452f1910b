"""The reference supervisor: the facade over the farm, the callback engine and the store (SPEC §5-§8).

:class:`Supervisor` is the :class:`~qbtrigger.callbacks.Host` of a :class:`CallbackEngine`. It
assigns ids at submission, keeps every job's state (in a :class:`~.farm.Farm`, the state
machine), turns the ``act`` verbs of callbacks (and of its own users) into state changes, reports
each change to the engine as an event and stores it (through a :class:`~.store.Store`). Stuck
reports come from :mod:`.diagnosis`.

The state rules the farm implements (states, submission, job/work/subjob verbs, workers, the
clock, time limits) are written in ``docs/supervisor.md``.

Persistence and resume
======================

Hot state lives in Python objects; changes are gathered and written by the :class:`Store` in one
transaction per :meth:`commit` (after each public call by default; the simulator commits batches
of whole steps). Everything the callback network saw is journalled in order (events, submissions,
clock moves, removals). Opening an existing store loads the jobs and states and *replays the
journal* into a fresh engine with every callback's code switched off: the network ends exactly as
it was at the last commit (latches set by edges, ``*`` atoms, counts, spent callbacks, the clock),
which state-aware catch-up alone could not promise, and no callback runs twice. The universal
callback folder and language flags must be the same as when the journal was written. A store
holding something this qbtrigger cannot read still opens (:mod:`.resume`, :attr:`Supervisor.unreadable`).
So that reopening does not cost the whole history, a commit now and then also stores a
*checkpoint* (the network and the engine's bookkeeping, :mod:`.checkpoint`): a reopen restores it
and replays only the journal lines after it.

Interrupted steps
=================

A step (one public call, with its cascade) is never committed half done: see :mod:`.steps`.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ..callbacks import (
    CallbackEngine,
    Firing,
    Host,
    MailSettings,
    Problem,
    QbPermissionError,
    Submission,
    SubmissionError,
)
from ..callbacks.isolation import CallbackLimits, DeathLedger
from ..callbacks.languages import Callback, Runner
from ..callbacks.validation import global_callback_problem, validate_submission
from .. import parse_event
from ..errors import ClockError, EventError, UnknownJobError
from ..vocabulary import (
    BLOCKED,
    DEFAULT_LANGUAGE_FLAGS,
    JOBINFO_FIELDS,
    ASSIGNED,
    DONE,
    MODIFIED,
    PENDING,
    RUNNING,
    STATES,
    SUBMIT,
    TERMINAL_STATES,
)
from .backends import StoreSpec, open_store
from .checkpoint import DEFAULT_EVERY as DEFAULT_CHECKPOINT_EVERY, due as checkpoint_due, take as take_checkpoint
from .causes import Cause, cause_of
from .diagnosis import callback_counts, stuck_jobs
from .farm import Farm, Job
from .report import StuckJob
from .steps import Step
from .resume import TIMERS_KEY as _TIMERS_KEY, Unreadable, replayed_runner, resume
from .store import ADVANCE, CALLBACK, EVENT, JOURNAL_WORDS, REGISTER, REMOVE, AbandonedError, Batch
from .hosts import Hosts
from .mailbox import CAPTURED_KEY, MailRoom
from .timers import FarmTimers

__all__ = ["Supervisor", "STATES", "TERMINAL", "QUBE_EPOCH", "qube_time"]

#: The terminal states (the vocabulary's, under the name this module has always exported).
TERMINAL = TERMINAL_STATES
#: The meta entry of the python workers' deaths, per firing (quarantine: docs/callbacks.md).
_DEATHS_KEY = "callback_deaths"
#: Unix time of Qube time 0 (2000-01-01 05:00:00 UTC).
QUBE_EPOCH = 946702800
#: Fields a submission fixes for good: the network and the replay rely on them.
_FIXED = frozenset(("id", "pgrp", "pid", "label", "user", "status", "agenda", "callbacks", "dependency", "cpus"))


def qube_time(unix: Optional[float] = None) -> int:
    """Qube time (seconds since 2000-01-01 05:00:00 UTC) of a Unix time, default now."""
    return int(time.time() if unix is None else unix) - QUBE_EPOCH


class Supervisor(Host):
    """The reference Qube-style supervisor (see the module docstring for the rules).

    ``db``: a SQLite file (created, or resumed when it holds a store), None for memory, or any
    :class:`~qbtrigger.supervisor.store.Store`. ``language_flags``, ``universal``, ``state_aware``
    (SPEC §5, on by default here) and ``perl_timeout`` go to the :class:`CallbackEngine`.
    ``admins``: users whose callbacks may act on anyone's jobs. ``clock``: the starting Qube time
    of a new store (default: the wall clock). ``default_user``: the owner of jobs that name none
    (default: the current login). Status mails (``mail`` callbacks, ``mail-*`` keywords) are sent
    through ``mail_settings`` on a thread of their own (:mod:`.mailbox`); ``capture_mail`` keeps
    them in the store instead (:meth:`captured_mail`), sending nothing.
    ``callback_limits`` bounds python callbacks, which run in worker processes;
    ``in_process_python`` runs them in this process instead (trusted code only). The workers'
    deaths are stored at once, outside the step, so that quarantine counts across resumes.
    ``checkpoint_every``: a commit stores a checkpoint once the journal has grown by that many
    lines since the last one (and by as many as the network has live callbacks), so that
    reopening replays only the lines after it (:mod:`.checkpoint`); 0 or None: never.
    """

    def __init__(
        self,
        db: StoreSpec = None,
        *,
        language_flags: Union[str, Iterable[str]] = DEFAULT_LANGUAGE_FLAGS,
        universal: Optional[Union[str, "os.PathLike[str]"]] = None,
        state_aware: bool = True,
        admins: Iterable[str] = ("admin",),
        mail_settings: Optional[MailSettings] = None,
        perl_timeout: float = 30.0,
        clock: Optional[int] = None,
        first_id: int = 1,
        default_user: Optional[str] = None,
        capture_mail: bool = False,
        callback_limits: Optional[CallbackLimits] = None,
        in_process_python: bool = False,
        checkpoint_every: Optional[int] = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        if first_id < 1:
            raise ValueError(f"first_id must be at least 1 (job 0 owns global callbacks), not {first_id}")
        self.admins = frozenset(admins)
        if mail_settings is not None:
            self.mail_settings = mail_settings
        self.default_user = default_user or _login()
        self.store = open_store(db)
        try:
            deaths = DeathLedger(self.store.get_meta(_DEATHS_KEY, {}), save=self._save_deaths)
            self.engine = CallbackEngine(
                self, language_flags=language_flags, state_aware=state_aware,
                universal=None if universal is None else os.fspath(universal), perl_timeout=perl_timeout,
                limits=callback_limits, in_process_python=in_process_python, death_ledger=deaths,
            )
        except BaseException:
            self.store.close()
            raise
        self.farm = Farm()
        self._mail = MailRoom(self.mail_settings, capture_mail, self.store.get_meta(CAPTURED_KEY), self.log)
        #: Set False to commit only when :meth:`commit` is called (the simulator batches steps).
        self.autocommit = True
        self._listeners: List[Callable[[str], None]] = []
        self._logs: Dict[int, List[str]] = {}
        self._removals: List[int] = []
        self._depth = 0
        self._in_step = Step(self)  # `with self._in_step:` around each public call (one object, reused)
        self._batch = Batch()
        self._step_mark = 0  # the journal length when the outermost step began
        self._abandoned: Optional[str] = None
        self._commit_hooks: List[Callable[[], None]] = []
        #: What the store holds that this qbtrigger could not read (see :mod:`.resume`).
        self.unreadable: List[Unreadable] = []
        self._events = 0
        self._replaying = False
        self._stored_clock: Optional[int] = None
        self._verb: Optional[str] = None  # the action being applied now (for cause())
        self._globals: List[Callback] = []  # global callbacks in order (spent ones keep their count)
        self._timers = FarmTimers(self.farm, lambda: self._now)
        self._hosts = Hosts()
        #: Journal lines between checkpoints, at least (:func:`.checkpoint.due`); 0/None: none.
        self.checkpoint_every = checkpoint_every
        self._checkpoint_seq = 0  # the journal line the stored checkpoint covers
        self._read_bare: Set[int] = set()  # jobs whose stored callbacks could not be read (resume)
        if self.store.get_meta("next_id") is None:
            self._next_id = first_id
            self._now = qube_time() if clock is None else int(clock)
            self._timers.origin = self._now
            self._batch.meta.update(
                next_id=self._next_id, clock=self._now, timer_origin=self._now, language_flags=sorted(self.engine.language_flags),
                universal=None if universal is None else os.path.abspath(os.fspath(universal)),
                state_aware=bool(state_aware),
            )
            self.commit()
        else:
            resume(self)

    # ================================================================== Host interface
    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        """Job dicts (copies, with ``agenda`` and ``subjobs``) matching every ``field=value``
        (fields: id, pgrp, pid, label, status, user), in id order. Removed jobs are gone."""
        jobs = self.farm.jobs
        if "id" in criteria:
            j = jobs.get(criteria["id"])
            candidates = [] if j is None else [j]
        else:
            candidates = [jobs[i] for i in sorted(jobs)]
        return [
            j.as_dict() for j in candidates
            if not j.removed and all(_field(j, key) == value for key, value in criteria.items())
        ]

    def job(self, jobid: int) -> Optional[Dict[str, Any]]:
        j = self.farm.jobs.get(jobid)
        return None if j is None or j.removed else j.as_dict()

    def is_admin(self, user: Optional[str]) -> bool:
        return user in self.admins

    def send_mail(self, jobid: int, message: Any, to: List[str], kind: str) -> bool:
        """A status mail a callback composed: captured, or queued for the mail thread (its outcome
        reaches the job's callback log at the end of a later step, or at :meth:`close`)."""
        return self._mail.send(jobid, message, to, kind, self._now)

    def settle_mail(self) -> None:
        """Wait for the status mails being sent (each SMTP step bounded by ``mail_settings.timeout``;
        in all at most that and a second) and log their outcomes; :meth:`close` does it too."""
        with self._in_step:
            self._mail.settle()

    def captured_mail(self) -> List[Dict[str, Any]]:
        """The status mails captured so far (``capture_mail``), oldest first: job, kind, to,
        subject, body, qube_time."""
        return self._mail.captured()

    def log(self, jobid: int, text: str) -> None:
        if not text:
            return
        self._logs.setdefault(jobid, []).append(text)
        self._batch.logs.append((jobid, text))

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        j = self.farm.live(jobid)
        fixed = sorted(set(fields) & _FIXED)
        if fixed:
            raise ValueError(f"job {jobid}: field(s) {', '.join(fixed)} may not be modified")
        try:
            fields = json.loads(json.dumps(dict(fields)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"job {jobid}: fields must be JSON values ({error})") from None
        outer, self._verb = self._verb, "modify"
        try:
            with self._in_step:
                self.farm.modify(j, fields)
                self._feed([f"{MODIFIED}-job-{j.id}"])
        finally:
            self._verb = outer

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        j = self.farm.live(jobid)
        outer, self._verb = self._verb, verb
        try:
            with self._in_step:
                out: List[str] = []
                if verb == "remove" and work is None and subjob is None:
                    self.farm.remove(j, out)
                    self._removals.append(j.id)
                else:
                    self.farm.act(j, verb, work, subjob, out)
                self._feed(out)
        finally:
            self._verb = outer

    # ================================================================== public API
    @property
    def now(self) -> int:
        """The supervisor's clock, in Qube time."""
        return self._now

    def advance(self, now: int) -> List[Firing]:
        """Move the clock to ``now`` (never back): time atoms due by then fire, in time order."""
        now = int(now)
        if now < self._now:
            raise ClockError(f"the clock only goes forward ({now} < {self._now})")
        with self._in_step:
            firings: List[Firing] = []
            network = self.engine.network
            # the supervisor's own timers (time limits, retry delays) in time order, each after
            # the time atoms due by its moment
            while self._timers:
                timer = self._timers.next_moment()
                if timer is None or timer > now:
                    break
                self._now = max(self._now, timer)
                due = network.next_due()
                if due is not None and due <= timer:
                    firings += self._sync_clock()
                self._feed(self._timers.fire(timer))
            self._now = now
            due = network.next_due()
            if due is not None and due <= now:
                firings += self._sync_clock()
            return firings

    def next_due(self, *, repeats: bool = True) -> Optional[int]:
        """The earliest moment after :attr:`now` at which something is due: a live callback's time
        atom (``repeats=False``: one-shot ``time``/``globaltime`` atoms only), a time limit check or
        the end of a retry delay; None when nothing is."""
        due: Optional[int] = self.engine.network.next_due(repeats=repeats)
        if not self._timers:
            return due
        timer = self._timers.next_moment()
        return timer if due is None or (timer is not None and timer < due) else due

    def submit_callback(self, spec: Mapping[str, Any], *, user: Optional[str] = None) -> Dict[str, Any]:
        """A global callback, attached to no job (Qube's ``qb.submitcallback``): as in Qube, only an
        administrator may submit one (``user``, default :attr:`default_user`). It runs as
        administrator; its log is job 0's (``qbtrigger.callbacks.GLOBAL_JOB``). Returns ``handle``, ``triggers``,
        ``language``, ``code``, ``user``. Raises ``QbPermissionError`` or ``SubmissionError``."""
        who = user or self.default_user
        if not self.is_admin(who):
            raise QbPermissionError(
                f"only a farm administrator may submit a global callback, and user {who!r} is not one"
            )
        problem = global_callback_problem(spec)  # the same rules as a job's callbacks, sizes included
        if problem is not None:
            raise SubmissionError([Problem("global callback", None, problem)])
        text = json.dumps(dict(spec))
        with self._in_step:
            if self.engine.network.clock < self._now:
                self._sync_clock()  # catch-up of time atoms must see the clock as it is
            callback = self.engine.compile_global(json.loads(text))
            self._journal(CALLBACK, text)  # before it registers: what catch-up fires comes after
            self._globals.append(callback)
            self._count(self.engine.register_global(callback))
        return {"handle": callback.handle, "triggers": callback.triggers, "language": callback.language,
                "code": callback.code, "user": who}

    def emit(self, event: str) -> None:
        """Raise an event, as Qube's C++ API lets a program do: a user-defined name
        (``published-job-12``, ``approved-work-12-5``) or one of Qube's edges. State names are
        refused: a state changes through :meth:`act`, which raises its event itself. The job (and
        work item or subjob) it names must exist."""
        parsed = parse_event(event)
        if parsed.name in STATES or parsed.name == DONE:
            raise EventError(f"bad event '{event}': '{parsed.name}' is a state; change it with act()")
        if parsed.jobid is not None:
            self.farm.live(parsed.jobid).check_item(parsed.type, parsed.extra)
        with self._in_step:
            self._feed([str(parsed)])

    def submit(self, jobs: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        """Submit jobs as Qube does (see the module docstring); return their dicts with ids.
        Raises :class:`SubmissionError` (nothing stored) when anything is wrong."""
        with self._in_step:
            return self._submit(jobs)

    def start(self, jobid: int, work: Optional[str] = None, *, subjob: Optional[int] = None) -> None:
        """A worker takes a pending item: it runs. An agenda-less job's items are its instances:
        ``subjob`` names one (default: its first pending instance)."""
        j = self.farm.live(jobid)
        self.start_item(j.id, subjob if subjob is not None and j.anonymous else j.item(work, PENDING))

    def finish(self, jobid: int, work: Optional[str] = None, *, subjob: Optional[int] = None,
               failed: bool = False) -> None:
        """A worker is done with a running item: complete, or failed (retried automatically while
        the job's ``retrywork`` allows). For an agenda-less job, ``subjob`` names the instance
        (default: its first running one)."""
        j = self.farm.live(jobid)
        self.finish_item(j.id, subjob if subjob is not None and j.anonymous else j.item(work, RUNNING), failed)

    def callback_log(self, jobid: int) -> List[str]:
        """The job's callback log (outputs and tracebacks of its callbacks), oldest first."""
        return list(self._logs.get(jobid, ()))

    def fired(self, jobid: int) -> int:
        """How many times the job's callbacks (its own, dependency, universal) have run."""
        return self.farm.jobs[jobid].fired

    def callback_counts(self, jobid: int) -> List[Dict[str, Any]]:
        """Every callback ever registered for the job, in order: handle, origin ('job',
        'dependency', 'universal'), index, language, triggers, code, maximum, count, live."""
        return callback_counts(self.job_state(jobid), self.engine)

    def global_callbacks(self) -> List[Dict[str, Any]]:
        """Every global callback submitted (:meth:`submit_callback`), in order: index, triggers,
        language, code, maximum, count (times fired), live."""
        return [dict(index=cb.index, triggers=cb.triggers_text(), language=cb.language, code=cb.code,
                     maximum=cb.maximum, count=cb.count, live=cb.handle in self.engine.network)
                for cb in self._globals]

    def events(self, jobid: Optional[int] = None) -> List[str]:
        """The events emitted so far, in order (``jobid``: only that job's), from the journal."""
        self.commit()
        texts = [text for _, kind, text in self.store.journal() if kind == EVENT]
        if jobid is None:
            return texts
        return [t for t in texts if _event_job(t) == jobid]

    @property
    def event_count(self) -> int:
        """Events emitted by this process (not counting those replayed at resume)."""
        return self._events

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(event text)`` for every event the supervisor emits, in order."""
        self._listeners.append(listener)

    def cause(self) -> Cause:
        """What made the event a listener is being told of happen: the callback that acted and the
        event that fired it (or its time trigger, or catch-up at submission), a direct call, or
        the farm's own rules (:mod:`.causes`). Meaningful only inside a listener."""
        engine = self.engine
        return cause_of(engine.running, engine.catching_up, self._verb)

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.remove(listener)

    def progress(self) -> Tuple[int, int]:
        """``(done work items, live work items)`` (an agenda-less job counts as one item)."""
        return self.farm.done, self.farm.items

    def job_ids(self, *, removed: bool = False) -> List[int]:
        """Ids of the live jobs (``removed=True``: of every job ever submitted), in order."""
        jobs = self.farm.jobs
        return [i for i in sorted(jobs) if removed or not jobs[i].removed]

    def job_state(self, jobid: int) -> Job:
        """The farm's record of a job (live or removed): status, label, fired, work counts."""
        try:
            return self.farm.jobs[jobid]
        except KeyError:
            raise UnknownJobError(f"unknown job {jobid}") from None

    def work_counts(self, jobid: int) -> Dict[str, int]:
        """Number of the job's work items in each state (no zero entries)."""
        return self.farm.jobs[jobid].work_counts()

    def stuck(self) -> List[StuckJob]:
        """Every live job that is not done, with why: its blocked or held state, the callbacks
        that would release it (or its blocked work items) and what each still awaits."""
        return stuck_jobs(self.farm, self.engine, self.callback_log)

    def commit(self, meta: Optional[Mapping[str, Any]] = None, *, closing: bool = False) -> None:
        """Write every change since the last commit (and ``meta`` entries) in one transaction.
        Commit hooks (:meth:`add_commit_hook`) run first. Raises :class:`AbandonedError` after
        :meth:`abandon`. ``closing``: the last commit (:meth:`close`), which stores a checkpoint
        more readily (:func:`.checkpoint.due`)."""
        if self._abandoned is not None:
            raise AbandonedError(f"{self.store.name}: nothing more is stored: {self._abandoned}; "
                                 "reopen the store to go on from its last commit")
        try:
            for hook in self._commit_hooks:
                hook()
            b = self._batch
            jobs, work, subjobs = self.farm.take_changes()
            b.jobs.extend(jobs)
            b.work.extend(work)
            b.subjobs.extend(subjobs)
            if self._timers.changed:
                b.meta[_TIMERS_KEY] = self._timers.state()
            if b or self._now != self._stored_clock:
                b.meta["next_id"] = self._next_id
                b.meta["clock"] = self._stored_clock = self._now
            if meta:
                b.meta.update(meta)
            b.meta.update(self._mail.changed_meta())
            taken = take_checkpoint(self) if checkpoint_due(self, closing) else None
            if taken is not None:
                b.checkpoint = taken
            self.store.write(b)
            if taken is not None:
                self._checkpoint_seq = taken[0]
        except Exception:
            raise  # the batch holds every change still: a later commit may succeed
        except BaseException as interrupt:
            self.abandon(f"a commit was interrupted ({type(interrupt).__name__})")
            raise

    def abandon(self, why: str = "its uncommitted changes were abandoned") -> None:
        """Give up every change since the last commit (the memory may be half-way through a step):
        nothing more is written, later commits raise :class:`AbandonedError`, :meth:`close` only
        closes the store. Reopen the store to go on from its last commit."""
        if self._abandoned is None:
            self._abandoned = why

    @property
    def abandoned(self) -> Optional[str]:
        """Why the uncommitted changes were abandoned (:meth:`abandon`), or None."""
        return self._abandoned

    def add_commit_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` at the start of every commit, before anything is written: a file that
        must hold at least what the store holds (the simulator's ``--log``) flushes there."""
        self._commit_hooks.append(hook)

    @property
    def journal_length(self) -> int:
        """How many journal lines exist, committed or not: inside an event listener, the number
        of the event being reported (the journal numbers its lines from 1)."""
        return self._batch.journal_first + len(self._batch.journal) - 1

    def close(self) -> None:
        """Wait (a bounded time) for mail still being sent, stop the python callback workers,
        commit and close the store (after :meth:`abandon`: send the mail, write nothing)."""
        try:
            if self._abandoned is None:
                self.settle_mail()
                self.engine.close()
                self.commit(closing=True)
            else:
                self._mail.settle()  # mail of committed steps still goes out; its outcome is not stored
                self.engine.close()
        finally:
            self.store.close()

    def _save_deaths(self, deaths: Dict[str, List[str]]) -> None:
        # Its own transaction, not the step's: a supervisor killed before its next commit still
        # remembers that this firing's worker died.
        self.store.write(Batch(meta={_DEATHS_KEY: deaths}))

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ================================================================== worker entry points
    @property
    def worker_released(self) -> Optional[Callable[[int, int], None]]:
        """Called with ``(jobid, work index)`` when a running item stops other than by
        :meth:`finish` (killed, requeued, blocked...): its worker is free again."""
        return self.farm.worker_released

    @worker_released.setter
    def worker_released(self, callback: Optional[Callable[[int, int], None]]) -> None:
        self.farm.worker_released = callback

    def start_item(self, jobid: int, idx: int, host: Optional[str] = None) -> None:
        """:meth:`start` by work index (the simulator's fast path). The item is first assigned
        (``assigned-work-J-N``, or ``assigned-subjob-J-S`` for an instance; ``assigned-host-J-H``
        when the worker's ``host`` is named), then runs."""
        j = self.farm.jobs[jobid]
        name = j.names[idx]
        out = [f"{ASSIGNED}-work-{jobid}-{name}" if name is not None else f"{ASSIGNED}-subjob-{jobid}-{idx}"]
        if host is not None:
            out.append(f"{ASSIGNED}-host-{jobid}-{host}")
            self._hosts.place(jobid, idx, host)
        with self._in_step:
            self.farm.start_item(j, idx, out)
            self._feed(out)

    def register_hosts(self, names: Iterable[str]) -> None:
        """The hosts of the farm (the simulator registers its virtual workers), for :meth:`hostinfo`."""
        self._hosts.register(names)

    def hostinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        """The farm's hosts, as ``qb.hostinfo`` gives them: ``name``, ``state`` and ``subjobs``
        (the items running there: ``{"id": job id, "work": name or None, "subjob": index}``),
        those matching every ``field=value`` of ``criteria`` (name, state)."""
        return self._hosts.info(self.farm, criteria)

    def finish_item(self, jobid: int, idx: int, failed: bool = False) -> None:
        """:meth:`finish` by work index."""
        j = self.farm.jobs[jobid]
        out: List[str] = []
        with self._in_step:
            self.farm.finish_item(j, idx, failed, out)
            self._feed(out)

    def requeue_item(self, jobid: int, idx: int) -> None:
        """Put a running item back to pending (a worker that vanished: see the simulator)."""
        out: List[str] = []
        with self._in_step:
            self.farm.requeue_item(self.farm.jobs[jobid], idx, out)
            self._feed(out)

    def pop_runnable(self) -> Optional[Tuple[int, int]]:
        """The next pending item a worker should take, as ``(jobid, work index)``, or None.
        Taken off the queue: start it (:meth:`start_item`) or it is not offered again until
        it becomes pending again."""
        return self.farm.pop_runnable()

    def work_name(self, jobid: int, idx: int) -> Optional[str]:
        return self.farm.jobs[jobid].names[idx]

    def item_state(self, jobid: int, idx: int) -> str:
        return self.farm.jobs[jobid].state[idx]

    def running_items(self) -> List[Tuple[int, int]]:
        """Every ``(jobid, work index)`` now running, in order."""
        return self.farm.running_items()

    # ================================================================== internals: one step
    def _leave(self) -> None:
        """The end of the outermost step: removals, then the commit."""
        # A removed job leaves the network only now, after the cascade that removed it has been
        # applied: events queued about it still match other jobs' atoms, as they would have.
        self._depth += 1
        try:
            while self._removals:
                jobid = self._removals.pop(0)
                self._journal(REMOVE, str(jobid))
                self.engine.remove_job(jobid)
        finally:
            self._depth -= 1
        self._mail.collect()
        if self.autocommit:
            self.commit()

    # ================================================================== internals: events
    def _journal(self, kind: int, text: str) -> None:
        if self._replaying:
            return  # already in the journal
        self._batch.journal.append(f"{JOURNAL_WORDS[kind]} {text}")

    def _feed(self, texts: List[str]) -> None:
        """Report events to the engine, in order. Inside a cascade the engine queues them (and
        applies them after the current event's callbacks: SPEC §4.3); at the top the whole cascade
        runs here and the firings are counted."""
        if not texts:
            return
        engine = self.engine
        journal = self._batch.journal
        listeners = self._listeners
        for text in texts:
            journal.append(text)
            self._events += 1
            for listener in listeners:
                listener(text)
            firings = engine.feed(text)
            if firings:
                self._count(firings)

    def _count(self, firings: List[Firing]) -> None:
        count = self.farm.count_firing
        for firing in firings:
            count(firing.jobid)

    def _sync_clock(self) -> List[Firing]:
        """Bring the network's clock to :attr:`now` (time atoms due fire), and journal it."""
        now = self._now
        self._journal(ADVANCE, str(now))
        firings = self.engine.advance(now)
        if firings:
            self._count(firings)
        return firings

    # ================================================================== internals: submission
    def _submit(self, jobs: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        first = self._next_id
        # the one validation, shared with `qbtrigger check` (callbacks/validation.py)
        checked = validate_submission(jobs, self.engine, first_id=first, default_user=self.default_user,
                                      live_labels=self.farm.labels)
        if checked.problems or checked.submission is None:
            raise SubmissionError(checked.problems)
        prepared, submission = checked.jobs, checked.submission
        if self.engine.network.clock < self._now:
            self._sync_clock()  # catch-up of time atoms must see the clock as it is
            if self._depth == 1:  # that much is whole: a failure below undoes the rest only
                self._step_mark = self.journal_length + 1
        ids = list(range(first, first + len(prepared)))
        b = self._batch
        tables: List[List[Any]] = [b.new_jobs, b.new_work, b.new_subjobs, b.handles, b.journal]
        marks = [len(rows) for rows in tables]
        try:
            new = self._store_jobs(prepared, submission)
            self._register(submission, ids)
        except Exception:
            # all or nothing: what was stored or added of the submission goes (the engine has
            # already dropped what it registered of it)
            for rows, mark in zip(tables, marks):
                del rows[mark:]
            self.farm.discard(ids)
            raise
        self._next_id = first + len(prepared)
        self._feed([f"{SUBMIT}-job-{j.id}" for j in new])
        return [j.as_dict() for j in new]

    def _store_jobs(self, prepared: List[Dict[str, Any]], submission: Submission) -> List[Job]:
        batch = self._batch
        new = []
        for job, plan in zip(prepared, submission.jobs):
            agenda = job.pop("agenda")
            status = job.pop("status", PENDING)
            j = self.farm.add(job, agenda, hold=plan.blocked or status == BLOCKED,
                              blocked_work=plan.blocked_work, blocked_subjobs=plan.blocked_subjobs)
            new.append(j)
            batch.new_jobs.append((j.id, j.pgrp, j.label, j.status, j.hold, j.text))
            batch.new_work.extend((j.id, i, n, s, 0) for i, (n, s) in enumerate(zip(j.names, j.state)))
            batch.new_subjobs.extend((j.id, s, j.subs[s], int(j.held[s])) for s in range(len(j.subs)))
        return new

    def _register(
        self, submission: Submission, ids: List[int], replay: Optional[List[Tuple[Callback, Runner]]] = None
    ) -> None:
        """Register a compiled submission (journalled), noting its callbacks' handles."""
        if replay is None and self.engine.network.clock < self._now:
            self._sync_clock()  # catch-up of time atoms must see the clock as it is
        self._journal(REGISTER, ",".join(map(str, ids)))
        if replay is not None:
            for plan in submission.jobs:
                for callback in plan.callbacks:
                    replay.append((callback, callback.runner))
                    callback.runner = replayed_runner
        firings = self.engine.register(submission)
        for plan in submission.jobs:
            jobid = plan.job.id
            self.farm.jobs[jobid].handles = handles = [cb.handle for cb in plan.callbacks]
            if replay is None:
                self._batch.handles.append((json.dumps(handles), jobid))
        if firings and replay is None:
            self._count(firings)


# ---------------------------------------------------------------------- helpers
def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "user"


def _field(j: Job, key: str) -> Any:
    if key not in JOBINFO_FIELDS:
        raise ValueError(f"jobinfo: unknown field '{key}'")
    return getattr(j, key)


def _event_job(text: str) -> Optional[int]:
    parts = text.split("-", 3)
    return int(parts[2]) if len(parts) >= 3 and parts[2].isascii() and parts[2].isdigit() else None
