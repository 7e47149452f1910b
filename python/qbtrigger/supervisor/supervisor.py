"""The reference supervisor: a job store, the job/work/subjob state machine, the clock (SPEC §5-§8).

:class:`Supervisor` is the :class:`~qbtrigger.callbacks.Host` of a :class:`CallbackEngine`. It
assigns ids at submission, keeps every job's state, turns the ``act`` verbs of callbacks (and of
its own users) into state changes, reports each change to the engine as an event and stores it.

State rules
===========

States, for jobs, work items and subjobs: ``pending blocked running complete failed killed waiting
suspended``. ``complete``, ``failed`` and ``killed`` are terminal ("done"); ``waiting`` is
accepted in the vocabulary but no verb of this supervisor produces it. Every change of state
emits the event named after the new state (``running-work-12-5``, ``complete-job-12``,
``pending-subjob-12-0``); besides those the supervisor emits the edges ``submit-job-N`` (after the
job's callbacks are registered), ``removed-job-N`` and ``modified-job-N``. Initial states are
stored, not announced: a job's first event is its submission, an item's its first change.

Submission
    Ids are assigned in increasing order (an ``id`` in the dict is replaced); ``pgrp`` is the id of
    the submission's first job unless the dict gives one; labels are unique inside a pgrp (among
    live jobs too); agenda names are unique inside a job. The whole submission is checked first
    (``engine.compile`` plus these rules): one :class:`SubmissionError` lists every problem and
    nothing is stored. A job starts ``blocked`` when its dependency has job entries or its dict says
    ``status: blocked``; its work items start ``blocked`` when its dependency links work frame by
    frame or the agenda item says so; its subjobs (``cpus`` of them, default 1) start blocked when
    the dependency links subjobs.

A job's status follows its work, unless pinned
    A job has an optional *hold*, ``blocked``, ``suspended`` or ``killed``, set by the verbs of the
    same name; while held, its status is the hold and none of its work runs. Otherwise its status is
    derived from its work items: ``running`` while any item runs; when every item is done,
    ``failed`` if any failed, else ``killed`` if any was killed, else ``complete``; otherwise
    ``pending`` (waiting for a worker, or for blocked frames). A job with no agenda is treated as
    one anonymous work item (it runs, completes or fails as a whole, without work events).

Job verbs (``act(verb, jobid)``; a verb that does not apply changes nothing and emits nothing)
    - ``unblock``: a blocked job only: drops the hold; its pending work may run.
    - ``block``: a job that is not done: running items go back to ``pending`` (their workers stop),
      the job is held ``blocked``. A suspended job's suspended items go back to pending too.
    - ``suspend``: a job that is neither done nor held: running items become ``suspended``;
      ``resume``: a suspended job only: suspended items become pending, the hold is dropped.
    - ``kill``: a job that is not done: every item not done becomes ``killed``; held ``killed``.
    - ``fail``: a job that is not done: every item not done becomes ``failed``.
    - ``complete`` and ``retire``: every item not complete becomes ``complete``; any hold dropped.
    - ``retry``: failed and killed items become pending (all items, when the job is complete: a
      re-render); a ``killed`` hold is dropped.
    - ``requeue``: running, failed and killed items become pending; a ``killed`` hold is dropped.
    - ``interrupt``, ``preempt``, ``migrate``: running items go back to pending (another worker
      picks them up).
    - ``remove``: the job leaves the farm: ``removed-job-N`` is emitted, its callbacks are
      unregistered once the current cascade of events has been applied, its running items stop.

Work verbs (``act(verb, jobid, work=name)``)
    ``unblock`` blocked -> pending; ``block`` pending/waiting/suspended/running -> blocked;
    ``kill`` not done -> killed; ``retry``/``requeue`` anything but pending and blocked -> pending
    (a running item restarts, a complete one is rendered again); ``complete``/``retire`` ->
    complete; ``fail`` -> failed (unless failed or killed). A job hold still wins: a retried item of
    a killed job stays unrun until the job is retried.

Subjobs (``act(verb, jobid, subjob=n or None for all)``)
    Subjobs ``0..cpus-1`` follow their job's status (each change emits ``STATE-subjob-N-S``
    before the job's own event) unless *held*: ``block`` holds one ``blocked``, ``fail`` ``failed``,
    ``kill`` ``killed``, ``suspend`` ``suspended``; ``unblock``, ``unblock-single`` (the first blocked
    subjob when none is named) and ``resume`` release a hold and the subjob follows the job again.
    ``migrate``, ``preempt`` and ``interrupt`` are recorded no-ops (the simulator has no hosts). A
    job whose subjobs are all held runs no work.

Workers (:meth:`start`, :meth:`finish`; the simulator is one)
    A worker takes a pending item of a runnable job (status pending or running, a free subjob) and
    sets it running; it finishes it complete or failed. A failed frame is retried automatically
    while its ``retries`` are below the job's ``retrywork`` (Qube field, default 0): it goes back to
    ``pending`` without entering ``failed``, so ``done``/``failed`` triggers see only the final
    failure. Pending items are handed out by job ``priority`` (lower first, default 9999), then job
    id, then agenda order.

Clock
    :attr:`now` is Qube time. :meth:`advance` moves it; time atoms due by then fire (SPEC §6).

Persistence and resume
======================

Hot state lives in Python objects; changes are gathered and written by :class:`Store` in one
transaction per :meth:`commit` (after each public call by default; the simulator commits batches
of whole steps). Everything the callback network saw is journalled in order (events, submissions,
clock moves, removals). Opening an existing store loads the jobs and states and *replays the
journal* into a fresh engine with every callback's code switched off: the network ends exactly as
it was at the last commit (latches set by edges, ``*`` atoms, counts, spent callbacks, the clock),
which state-aware catch-up alone could not promise, and no callback runs twice. The universal
callback folder and language flags must be the same as when the journal was written.
"""

from __future__ import annotations

import getpass
import heapq
import json
import os
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .._common import atoms_of, parse
from ..callbacks import CallbackEngine, Firing, Host, MailSettings, Problem, SubmissionError, Submission
from ..callbacks.languages import DEFAULT_LANGUAGE_FLAGS
from .report import CallbackWait, StuckItem, StuckJob
from .store import ADVANCE, EVENT, JOURNAL_WORDS, REGISTER, REMOVE, Batch, Store

__all__ = ["Supervisor", "STATES", "TERMINAL", "QUBE_EPOCH", "qube_time"]

STATES = ("pending", "blocked", "running", "complete", "failed", "killed", "waiting", "suspended")
TERMINAL = frozenset(("complete", "failed", "killed"))
#: Unix time of Qube time 0 (2000-01-01 05:00:00 UTC).
QUBE_EPOCH = 946702800
DEFAULT_PRIORITY = 9999
_RUNNABLE = frozenset(("pending", "running"))
_SCRATCH_ID = 2**31 - 1  # compiles a stored job again for introspection; never assigned
#: Fields a submission fixes for good: the network and the replay rely on them.
_FIXED = frozenset(("id", "pgrp", "pid", "label", "user", "status", "agenda", "callbacks", "dependency", "cpus"))


def qube_time(unix: Optional[float] = None) -> int:
    """Qube time (seconds since 2000-01-01 05:00:00 UTC) of a Unix time, default now."""
    return int(time.time() if unix is None else unix) - QUBE_EPOCH


def _noop(_inv: Any) -> None:
    """The runner every callback has while the journal replays: its effects are already stored."""


class _Job:
    """One job's hot state. Work items are addressed by index; ``names[i]`` is None for the
    anonymous item of an agenda-less job."""

    __slots__ = (
        "id", "pgrp", "pid", "label", "user", "priority", "retrywork", "data", "names", "index",
        "state", "retries", "counts", "hold", "status", "subs", "held", "free", "removed", "fired",
        "text", "handles",
    )

    def __init__(self, jobid: int, pgrp: int, pid: Optional[int], label: Optional[str], user: Optional[str],
                 data: Dict[str, Any], names: List[Optional[str]], states: List[str]) -> None:
        self.id = jobid
        self.pgrp = pgrp
        self.pid = pid
        self.label = label
        self.user = user
        self.data = data
        self.text = json.dumps(data)  # data as stored; job dicts are decoded from it (fast copies)
        self.priority = data.get("priority", DEFAULT_PRIORITY)
        self.retrywork = data.get("retrywork", 0) or 0
        self.names = names
        self.index: Optional[Dict[str, int]] = None  # name -> index, built on first lookup
        self.state = states
        self.retries: Dict[int, int] = {}
        counts: Dict[str, int] = {}
        for s in states:
            counts[s] = counts.get(s, 0) + 1
        self.counts = counts
        self.hold: Optional[str] = None
        self.status = "pending"
        self.subs: List[str] = []
        self.held: List[bool] = []
        self.free = 0
        self.removed = False
        self.fired = 0
        self.handles: List[int] = []  # its callbacks' network handles, in registration order

    @property
    def anonymous(self) -> bool:
        return self.names[0] is None if len(self.names) == 1 else False

    def idx(self, name: Any) -> int:
        if self.index is None:
            self.index = {n: i for i, n in enumerate(self.names) if n is not None}
        try:
            return self.index[str(name)]
        except KeyError:
            raise KeyError(f"job {self.id} has no work item '{name}'") from None

    def runnable(self) -> bool:
        return not self.removed and self.status in _RUNNABLE and self.free > 0


class Supervisor(Host):
    """The reference Qube-style supervisor (see the module docstring for the rules).

    ``db``: a SQLite file (created, or resumed when it holds a store) or None for memory.
    ``language_flags``, ``universal``, ``state_aware`` (SPEC §5, on by default here) and
    ``perl_timeout`` go to the :class:`CallbackEngine`. ``admins``: users whose callbacks may act
    on anyone's jobs. ``clock``: the starting Qube time of a new store (default: the wall clock).
    ``default_user``: the owner of jobs that name none (default: the current login).
    """

    def __init__(
        self,
        db: Optional[Union[str, "os.PathLike[str]"]] = None,
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
    ) -> None:
        self.admins = frozenset(admins)
        if mail_settings is not None:
            self.mail_settings = mail_settings
        self.default_user = default_user or _login()
        self.engine = CallbackEngine(
            self, language_flags=language_flags, state_aware=state_aware,
            universal=None if universal is None else os.fspath(universal), perl_timeout=perl_timeout,
        )
        self.store = Store(db)
        #: Set False to commit only when :meth:`commit` is called (the simulator batches steps).
        self.autocommit = True
        #: Called with ``(jobid, work index)`` when a running item stops other than by
        #: :meth:`finish` (killed, requeued, blocked...): its worker is free again.
        self.worker_released: Optional[Callable[[int, int], None]] = None
        self._listeners: List[Callable[[str], None]] = []
        self._jobs: Dict[int, _Job] = {}
        self._labels: Dict[Tuple[int, str], int] = {}
        self._logs: Dict[int, List[str]] = {}
        self._ready: List[Tuple[int, int, int]] = []  # (priority, jobid, index) of pending items
        self._due: List[Tuple[int, int, int]] = []  # (moment, handle, interval) of time atoms
        self._removals: List[int] = []
        self._depth = 0
        self._batch = Batch()
        self._dirty_jobs: Dict[int, _Job] = {}
        self._dirty_data: Dict[int, _Job] = {}
        self._dirty_work: Dict[Tuple[int, int], _Job] = {}
        self._dirty_subs: Dict[Tuple[int, int], _Job] = {}
        self._items = 0  # live work items, and how many of them are done (progress reports)
        self._done = 0
        self._events = 0
        self._replaying = False
        self._finishing = False
        self._stored_clock: Optional[int] = None
        if self.store.get_meta("next_id") is None:
            self._next_id = first_id
            self._now = qube_time() if clock is None else int(clock)
            self._batch.meta.update(
                next_id=self._next_id, clock=self._now, language_flags=sorted(self.engine.language_flags),
                universal=None if universal is None else os.path.abspath(os.fspath(universal)),
                state_aware=bool(state_aware),
            )
            self.commit()
        else:
            self._resume()

    # ================================================================== Host interface
    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        """Job dicts (copies, with ``agenda`` and ``subjobs``) matching every ``field=value``
        (fields: id, pgrp, pid, label, status, user), in id order. Removed jobs are gone."""
        if "id" in criteria:
            j = self._jobs.get(criteria["id"])
            candidates = [] if j is None else [j]
        else:
            candidates = [self._jobs[i] for i in sorted(self._jobs)]
        out = []
        for j in candidates:
            if j.removed:
                continue
            if all(_field(j, key) == value for key, value in criteria.items()):
                out.append(self._job_dict(j))
        return out

    def job(self, jobid: int) -> Optional[Dict[str, Any]]:
        j = self._jobs.get(jobid)
        return None if j is None or j.removed else self._job_dict(j)

    def is_admin(self, user: Optional[str]) -> bool:
        return user in self.admins

    def log(self, jobid: int, text: str) -> None:
        if not text:
            return
        self._logs.setdefault(jobid, []).append(text)
        self._batch.logs.append((jobid, text))

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        j = self._live(jobid)
        fixed = sorted(set(fields) & _FIXED)
        if fixed:
            raise ValueError(f"job {jobid}: field(s) {', '.join(fixed)} may not be modified")
        try:
            fields = json.loads(json.dumps(dict(fields)))
        except (TypeError, ValueError) as error:
            raise ValueError(f"job {jobid}: fields must be JSON values ({error})") from None
        self._enter()
        try:
            j.data.update(fields)
            j.text = json.dumps(j.data)
            if "priority" in fields or "retrywork" in fields:
                j.priority = j.data.get("priority", DEFAULT_PRIORITY)
                j.retrywork = j.data.get("retrywork", 0) or 0
                self._rebuild_ready()  # keys in the ready heap carry the old priority
            self._dirty_data[j.id] = j
            self._dirty_jobs[j.id] = j
            self._feed([f"modified-job-{j.id}"])
        finally:
            self._leave()

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        j = self._live(jobid)
        self._enter()
        try:
            out: List[str] = []
            if subjob is not None or verb == "unblock-single":
                self._subjob_verb(j, verb, subjob, out)
            elif work is not None:
                self._work_verb(j, verb, j.idx(work), out)
            elif verb == "remove":
                self._remove(j, out)
            else:
                self._job_verb(j, verb, out)
            self._feed(out)
        finally:
            self._leave()

    # ================================================================== public API
    @property
    def now(self) -> int:
        """The supervisor's clock, in Qube time."""
        return self._now

    def advance(self, now: int) -> List[Firing]:
        """Move the clock to ``now`` (never back): time atoms due by then fire, in time order."""
        now = int(now)
        if now < self._now:
            raise ValueError(f"the clock only goes forward ({now} < {self._now})")
        self._enter()
        try:
            self._now = now
            if self._due and self._due[0][0] <= now:
                return self._sync_clock()
            return []
        finally:
            self._leave()

    def next_due(self, *, repeats: bool = True) -> Optional[int]:
        """The earliest moment after :attr:`now` at which a live callback's time atom is due
        (``repeats=False``: one-shot ``time``/``globaltime`` atoms only), or None."""
        due = self._due
        network = self.engine.network
        while due and due[0][1] not in network:
            heapq.heappop(due)
        if repeats:
            return due[0][0] if due else None
        best = None
        for moment, handle, interval in due:
            if not interval and handle in network and (best is None or moment < best):
                best = moment
        return best

    def submit(self, jobs: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        """Submit jobs as Qube does (see the module docstring); return their dicts with ids.
        Raises :class:`SubmissionError` (nothing stored) when anything is wrong."""
        self._enter()
        try:
            return self._submit(jobs)
        finally:
            self._leave()

    def start(self, jobid: int, work: Optional[str] = None) -> None:
        """A worker takes a pending item (``work`` None: an agenda-less job): it runs."""
        j = self._live(jobid)
        self._enter()
        try:
            self.start_item(j.id, 0 if work is None and j.anonymous else j.idx(work))
        finally:
            self._leave()

    def finish(self, jobid: int, work: Optional[str] = None, *, failed: bool = False) -> None:
        """A worker is done with a running item: complete, or failed (retried automatically while
        the job's ``retrywork`` allows)."""
        j = self._live(jobid)
        self._enter()
        try:
            self.finish_item(j.id, 0 if work is None and j.anonymous else j.idx(work), failed)
        finally:
            self._leave()

    def callback_log(self, jobid: int) -> List[str]:
        """The job's callback log (outputs and tracebacks of its callbacks), oldest first."""
        return list(self._logs.get(jobid, ()))

    def fired(self, jobid: int) -> int:
        """How many times the job's callbacks (its own, dependency, universal) have run."""
        return self._jobs[jobid].fired

    def callback_counts(self, jobid: int) -> List[Dict[str, Any]]:
        """Every callback ever registered for the job, in order: handle, origin ('job',
        'dependency', 'universal'), index, language, triggers, code, maximum, count, live."""
        if jobid not in self._jobs:
            raise KeyError(f"unknown job {jobid}")
        j = self._jobs[jobid]
        engine = self.engine
        # The job's callbacks as compiled at submission, in registration order (the same order as
        # its handles). A callback no longer in the engine reached its maximum (or its job left).
        out = []
        compiled = engine.compile([_compile_view(_stored_dict(j, fresh_id=True))]).jobs[0].callbacks
        for cb, handle in zip(compiled, j.handles):
            live = handle in engine.network
            count = engine.callback(handle).count if live else (cb.maximum or 0)
            out.append(dict(handle=handle, origin=cb.origin, index=cb.index, language=cb.language,
                            triggers=cb.triggers_text(), code=cb.code, maximum=cb.maximum, count=count, live=live))
        return out

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

    def remove_listener(self, listener: Callable[[str], None]) -> None:
        self._listeners.remove(listener)

    def progress(self) -> Tuple[int, int]:
        """``(done work items, live work items)`` (an agenda-less job counts as one item)."""
        return self._done, self._items

    def job_ids(self, *, removed: bool = False) -> List[int]:
        """Ids of the live jobs (``removed=True``: of every job ever submitted), in order."""
        return [i for i in sorted(self._jobs) if removed or not self._jobs[i].removed]

    def commit(self, meta: Optional[Mapping[str, Any]] = None) -> None:
        """Write every change since the last commit (and ``meta`` entries) in one transaction."""
        b = self._batch
        if self._dirty_jobs:
            data = self._dirty_data
            b.jobs.extend(
                (j.status, j.hold, int(j.removed), j.fired, j.text if j.id in data else None, j.id)
                for j in self._dirty_jobs.values()
            )
            self._dirty_jobs = {}
            self._dirty_data = {}
        if self._dirty_work:
            b.work.extend(
                (j.state[i], j.retries.get(i, 0), jobid, i) for (jobid, i), j in self._dirty_work.items()
            )
            self._dirty_work = {}
        if self._dirty_subs:
            b.subjobs.extend(
                (j.subs[s], int(j.held[s]), jobid, s) for (jobid, s), j in self._dirty_subs.items()
            )
            self._dirty_subs = {}
        if b or self._now != self._stored_clock:
            b.meta["next_id"] = self._next_id
            b.meta["clock"] = self._stored_clock = self._now
        if meta:
            b.meta.update(meta)
        self.store.write(b)

    def close(self) -> None:
        """Commit and close the store."""
        self.commit()
        self.store.close()

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stuck(self) -> List[StuckJob]:
        """Every live job that is not done, with why: its blocked or held state, the callbacks
        that would release it (or its blocked work items) and what each still awaits."""
        out = []
        for jobid in sorted(self._jobs):
            j = self._jobs[jobid]
            if j.removed or j.status in TERMINAL:
                continue
            out.append(self._stuck_job(j))
        return out

    # ================================================================== worker entry points
    def start_item(self, jobid: int, idx: int) -> None:
        """:meth:`start` by work index (the simulator's fast path)."""
        j = self._jobs[jobid]
        if not j.runnable() or j.state[idx] != "pending":
            raise ValueError(f"job {jobid} item {j.names[idx]} is not runnable ({j.status}/{j.state[idx]})")
        self._enter()
        try:
            out: List[str] = []
            self._set(j, idx, "running", out)
            self._refresh(j, out)
            self._feed(out)
        finally:
            self._leave()

    def finish_item(self, jobid: int, idx: int, failed: bool = False) -> None:
        """:meth:`finish` by work index."""
        j = self._jobs[jobid]
        if j.state[idx] != "running":
            raise ValueError(f"job {jobid} item {j.names[idx]} is not running ({j.state[idx]})")
        self._enter()
        self._finishing = True
        try:
            out: List[str] = []
            if not failed:
                self._set(j, idx, "complete", out)
            elif j.retries.get(idx, 0) < j.retrywork:
                j.retries[idx] = j.retries.get(idx, 0) + 1
                self._set(j, idx, "pending", out)
            else:
                self._set(j, idx, "failed", out)
            self._finishing = False
            self._refresh(j, out)
            self._feed(out)
        finally:
            self._finishing = False
            self._leave()

    def pop_runnable(self) -> Optional[Tuple[int, int]]:
        """The next pending item a worker should take, as ``(jobid, work index)``, or None.
        Taken off the queue: start it (:meth:`start_item`) or it is not offered again until
        it becomes pending again."""
        ready = self._ready
        jobs = self._jobs
        while ready:
            _, jobid, idx = heapq.heappop(ready)
            j = jobs[jobid]
            if j.state[idx] == "pending" and j.runnable():
                return jobid, idx
        return None

    def work_name(self, jobid: int, idx: int) -> Optional[str]:
        return self._jobs[jobid].names[idx]

    def item_state(self, jobid: int, idx: int) -> str:
        return self._jobs[jobid].state[idx]

    def running_items(self) -> List[Tuple[int, int]]:
        """Every ``(jobid, work index)`` now running, in order."""
        return [
            (jobid, i)
            for jobid in sorted(self._jobs)
            if not self._jobs[jobid].removed and self._jobs[jobid].counts.get("running")
            for i, s in enumerate(self._jobs[jobid].state)
            if s == "running"
        ]

    def requeue_item(self, jobid: int, idx: int) -> None:
        """Put a running item back to pending (a worker that vanished: see the simulator)."""
        j = self._jobs[jobid]
        self._enter()
        try:
            out: List[str] = []
            if j.state[idx] == "running":
                self._finishing = True  # no worker to release: it is gone already
                try:
                    self._set(j, idx, "pending", out)
                finally:
                    self._finishing = False
                self._refresh(j, out)
            self._feed(out)
        finally:
            self._leave()

    # ================================================================== internals: entry/exit
    def _enter(self) -> None:
        self._depth += 1

    def _leave(self) -> None:
        self._depth -= 1
        if self._depth:
            return
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
        if self.autocommit:
            self.commit()

    def _live(self, jobid: Any) -> _Job:
        j = self._jobs.get(jobid) if isinstance(jobid, int) else None
        if j is None or j.removed:
            raise KeyError(f"unknown job {jobid}")
        return j

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
        jobs = self._jobs
        dirty = self._dirty_jobs
        for firing in firings:
            j = jobs.get(firing.jobid)
            if j is not None:
                j.fired += 1
                dirty[j.id] = j

    def _sync_clock(self) -> List[Firing]:
        """Bring the network's clock to :attr:`now` (time atoms due fire), and journal it."""
        now = self._now
        self._journal(ADVANCE, str(now))
        firings = self.engine.advance(now)
        self._pop_due(now)
        if firings:
            self._count(firings)
        return firings

    def _pop_due(self, now: int) -> None:
        due = self._due
        network = self.engine.network
        while due and due[0][0] <= now:
            moment, handle, interval = heapq.heappop(due)
            if interval and handle in network:
                later = moment + interval * ((now - moment) // interval + 1)
                heapq.heappush(due, (later, handle, interval))

    # ================================================================== internals: states
    def _set(self, j: _Job, idx: int, state: str, out: List[str]) -> None:
        """Change one work item's state, recording it and its event."""
        states = j.state
        old = states[idx]
        if old == state:
            return
        states[idx] = state
        counts = j.counts
        counts[old] -= 1
        counts[state] = counts.get(state, 0) + 1
        if (old in TERMINAL) != (state in TERMINAL):
            self._done += 1 if state in TERMINAL else -1
        self._dirty_work[(j.id, idx)] = j
        if old == "running" and not self._finishing and self.worker_released is not None:
            self.worker_released(j.id, idx)
        name = j.names[idx]
        if name is not None:
            out.append(f"{state}-work-{j.id}-{name}")
        if state == "pending" and j.status in _RUNNABLE and j.free and not j.removed:
            heapq.heappush(self._ready, (j.priority, j.id, idx))

    def _derive(self, j: _Job) -> str:
        if j.hold is not None:
            return j.hold
        counts = j.counts
        if counts.get("running"):
            return "running"
        failed = counts.get("failed", 0)
        killed = counts.get("killed", 0)
        if counts.get("complete", 0) + failed + killed == len(j.state):
            return "failed" if failed else "killed" if killed else "complete"
        return "pending"

    def _refresh(self, j: _Job, out: List[str]) -> None:
        """Re-derive the job's status; on a change its free subjobs follow, then its event."""
        new = self._derive(j)
        if new == j.status:
            return
        was_runnable = j.runnable()
        j.status = new
        self._dirty_jobs[j.id] = j
        self._follow(j, out)
        out.append(f"{new}-job-{j.id}")
        if not was_runnable and j.runnable():
            self._push_pending(j)

    def _follow(self, j: _Job, out: List[str]) -> None:
        status = j.status
        subs = j.subs
        for s, held in enumerate(j.held):
            if not held and subs[s] != status:
                subs[s] = status
                self._dirty_subs[(j.id, s)] = j
                out.append(f"{status}-subjob-{j.id}-{s}")

    def _push_pending(self, j: _Job) -> None:
        ready = self._ready
        prio, jobid = j.priority, j.id
        for i, s in enumerate(j.state):
            if s == "pending":
                heapq.heappush(ready, (prio, jobid, i))

    def _rebuild_ready(self) -> None:
        self._ready = [
            (j.priority, j.id, i)
            for j in self._jobs.values()
            if j.runnable()
            for i, s in enumerate(j.state)
            if s == "pending"
        ]
        heapq.heapify(self._ready)

    def _items_in(self, j: _Job, states: Iterable[str]) -> List[int]:
        wanted = set(states)
        if not any(j.counts.get(s) for s in wanted):
            return []
        return [i for i, s in enumerate(j.state) if s in wanted]

    def _job_verb(self, j: _Job, verb: str, out: List[str]) -> None:
        status = j.status
        to = self._set
        if verb == "unblock":
            if j.hold == "blocked":
                j.hold = None
        elif verb == "block":
            if status in TERMINAL or j.hold == "blocked":
                return
            for i in self._items_in(j, ("running", "suspended")):
                to(j, i, "pending", out)
            j.hold = "blocked"
        elif verb == "suspend":
            if status in TERMINAL or j.hold is not None:
                return
            for i in self._items_in(j, ("running",)):
                to(j, i, "suspended", out)
            j.hold = "suspended"
        elif verb == "resume":
            if j.hold != "suspended":
                return
            for i in self._items_in(j, ("suspended",)):
                to(j, i, "pending", out)
            j.hold = None
        elif verb == "kill":
            if status in TERMINAL:
                return
            for i, s in enumerate(list(j.state)):
                if s not in TERMINAL:
                    to(j, i, "killed", out)
            j.hold = "killed"
        elif verb == "fail":
            if status in TERMINAL:
                return
            for i, s in enumerate(list(j.state)):
                if s not in TERMINAL:
                    to(j, i, "failed", out)
        elif verb in ("complete", "retire"):
            for i, s in enumerate(list(j.state)):
                if s != "complete":
                    to(j, i, "complete", out)
            j.hold = None
        elif verb == "retry":
            items = self._items_in(j, ("failed", "killed"))
            if not items and status == "complete":
                items = range(len(j.state))
            for i in items:
                to(j, i, "pending", out)
            if j.hold == "killed":
                j.hold = None
        elif verb == "requeue":
            for i in self._items_in(j, ("running", "failed", "killed")):
                to(j, i, "pending", out)
            if j.hold == "killed":
                j.hold = None
        elif verb in ("interrupt", "preempt", "migrate"):
            for i in self._items_in(j, ("running",)):
                to(j, i, "pending", out)
        else:
            raise ValueError(f"unknown job verb '{verb}'")
        self._refresh(j, out)

    def _work_verb(self, j: _Job, verb: str, idx: int, out: List[str]) -> None:
        s = j.state[idx]
        new: Optional[str] = None
        if verb == "unblock":
            new = "pending" if s == "blocked" else None
        elif verb == "block":
            new = "blocked" if s in ("pending", "waiting", "suspended", "running") else None
        elif verb == "kill":
            new = None if s in TERMINAL else "killed"
        elif verb in ("retry", "requeue"):
            new = None if s in ("pending", "blocked") else "pending"
        elif verb in ("complete", "retire"):
            new = "complete"
        elif verb == "fail":
            new = None if s in ("failed", "killed") else "failed"
        else:
            raise ValueError(f"unknown work verb '{verb}'")
        if new is not None:
            self._set(j, idx, new, out)
            self._refresh(j, out)

    def _subjob_verb(self, j: _Job, verb: str, subjob: Optional[int], out: List[str]) -> None:
        n = len(j.subs)
        if subjob is None:
            targets = list(range(n))
            if verb == "unblock-single":
                targets = [s for s in targets if j.held[s] and j.subs[s] == "blocked"][:1]
        else:
            if not 0 <= subjob < n:
                raise KeyError(f"job {j.id} has no subjob {subjob}")
            targets = [subjob]
        was_runnable = j.runnable()
        for s in targets:
            state, held = j.subs[s], j.held[s]
            if verb in ("unblock", "unblock-single"):
                release = held and state == "blocked"
            elif verb == "resume":
                release = held and state == "suspended"
            elif verb in ("block", "fail", "kill", "suspend"):
                if held or state in TERMINAL:
                    continue
                new = {"block": "blocked", "fail": "failed", "kill": "killed", "suspend": "suspended"}[verb]
                self._hold_subjob(j, s, True, new, out)
                continue
            elif verb in ("migrate", "preempt", "interrupt"):
                continue  # no hosts in this supervisor: recorded no-ops
            else:
                raise ValueError(f"unknown subjob verb '{verb}'")
            if release:
                self._hold_subjob(j, s, False, j.status, out)
        if not was_runnable and j.runnable():
            self._push_pending(j)

    def _hold_subjob(self, j: _Job, s: int, held: bool, state: str, out: List[str]) -> None:
        if j.held[s] != held:
            j.held[s] = held
            j.free += -1 if held else 1
        if j.subs[s] != state:
            j.subs[s] = state
            out.append(f"{state}-subjob-{j.id}-{s}")
        self._dirty_subs[(j.id, s)] = j

    def _remove(self, j: _Job, out: List[str]) -> None:
        for i in self._items_in(j, ("running",)):
            if self.worker_released is not None:
                self.worker_released(j.id, i)
        j.removed = True
        self._dirty_jobs[j.id] = j
        if j.label is not None:
            self._labels.pop((j.pgrp, j.label), None)
        self._items -= len(j.state)
        self._done -= sum(j.counts.get(s, 0) for s in TERMINAL)
        out.append(f"removed-job-{j.id}")
        self._removals.append(j.id)

    # ================================================================== internals: submission
    def _submit(self, jobs: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
        if isinstance(jobs, Mapping) or not isinstance(jobs, (list, tuple)):
            raise SubmissionError([Problem("submission", None, "a submission is a list of job dicts")])
        problems: List[Problem] = []
        prepared: List[Dict[str, Any]] = []
        first = self._next_id
        for index, raw in enumerate(jobs):
            name = f"job '{raw.get('label')}'" if isinstance(raw, Mapping) and raw.get("label") else f"job #{index}"
            if not isinstance(raw, Mapping):
                problems.append(Problem(name, None, f"a job must be a dict, not {type(raw).__name__}"))
                continue
            try:
                # a JSON round trip: the job must be JSON data (it is stored as such), and it is
                # a deep copy at C speed (copy.deepcopy was the slowest part of a big submission)
                job = json.loads(json.dumps(raw))
            except (TypeError, ValueError) as error:
                problems.append(Problem(name, None, f"a job dict must hold JSON values only ({error})"))
                continue
            job["id"] = first + index
            job.setdefault("pgrp", first)
            job.setdefault("user", self.default_user)
            agenda, more = _agenda(job.get("agenda"))
            problems += [Problem(name, None, p) for p in more]
            job["agenda"] = agenda
            status = job.get("status", "pending")
            if status not in ("pending", "blocked"):
                problems.append(Problem(name, None, f"'status' at submission is 'pending' or 'blocked', not {status!r}"))
            for key, low in (("retrywork", 0), ("priority", None)):
                value = job.get(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                          or (low is not None and value < low)):
                    problems.append(Problem(name, None, f"'{key}' must be an int{' >= 0' if low == 0 else ''}, not {value!r}"))
            label = job.get("label")
            if isinstance(label, str) and isinstance(job.get("pgrp"), int):
                holder = self._labels.get((job["pgrp"], label))
                if holder is not None:
                    problems.append(Problem(name, None, f"label '{label}' is already used in pgrp {job['pgrp']} by job {holder}"))
            prepared.append(job)
        try:
            submission = self.engine.compile([_compile_view(job) for job in prepared])
        except SubmissionError as error:
            problems += error.problems
            submission = None
        if problems or submission is None:
            raise SubmissionError(problems)
        self._next_id = first + len(prepared)
        new = self._store_jobs(prepared, submission)
        self._register(submission, [j.id for j in new])
        self._feed([f"submit-job-{j.id}" for j in new])
        return [self._job_dict(j) for j in new]

    def _store_jobs(self, prepared: List[Dict[str, Any]], submission: Submission) -> List[_Job]:
        batch = self._batch
        new = []
        for job, plan in zip(prepared, submission.jobs):
            agenda = job.pop("agenda")
            status = job.pop("status", "pending")
            names: List[Optional[str]] = [w["name"] for w in agenda] or [None]
            if plan.blocked_work:
                states = ["blocked"] * len(names)
            else:
                states = [w.get("status", "pending") for w in agenda] or ["pending"]
            j = _Job(job["id"], job["pgrp"], job.get("pid"), job.get("label"), job.get("user"), job, names, states)
            if plan.blocked or status == "blocked":
                j.hold = "blocked"
            j.status = self._derive(j)
            cpus = job.get("cpus", 1)
            j.held = [plan.blocked_subjobs] * cpus
            j.subs = ["blocked" if plan.blocked_subjobs else j.status] * cpus
            j.free = 0 if plan.blocked_subjobs else cpus
            new.append(j)
            self._jobs[j.id] = j
            if j.label is not None:
                self._labels[(j.pgrp, j.label)] = j.id
            self._items += len(names)
            self._done += sum(j.counts.get(s, 0) for s in TERMINAL)
            batch.new_jobs.append((j.id, j.pgrp, j.label, j.status, j.hold, j.text))
            batch.new_work.extend((j.id, i, n, s, 0) for i, (n, s) in enumerate(zip(names, states)))
            batch.new_subjobs.extend((j.id, s, j.subs[s], int(j.held[s])) for s in range(cpus))
            if j.runnable():
                self._push_pending(j)
        return new

    def _register(self, submission: Submission, ids: List[int], replay: Optional[list] = None) -> None:
        """Register a compiled submission (journalled), noting its time atoms and callbacks."""
        if replay is None and self.engine.network.clock < self._now:
            self._sync_clock()  # catch-up of time atoms must see the clock as it is
        self._journal(REGISTER, ",".join(map(str, ids)))
        if replay is not None:
            for plan in submission.jobs:
                for callback in plan.callbacks:
                    replay.append((callback, callback.runner))
                    callback.runner = _noop
        firings = self.engine.register(submission)
        due = self._due
        clock = self.engine.network.clock
        for plan in submission.jobs:
            job = plan.job
            self._jobs[job.id].handles = handles = [cb.handle for cb in plan.callbacks]
            if replay is None:
                self._batch.handles.append((json.dumps(handles), job.id))
            for cb in plan.callbacks:
                triggers = cb.triggers
                lowered = (triggers if isinstance(triggers, str) else " ".join(triggers)).lower()
                if "time" in lowered or "repeat" in lowered:
                    for moment, interval in _time_atoms(cb.triggers, job.id, job.pid):
                        if interval:
                            moment = moment if moment > clock else moment + interval * ((clock - moment) // interval + 1)
                        if moment > clock:
                            heapq.heappush(due, (moment, cb.handle, interval))
        if firings and replay is None:
            self._count(firings)

    # ================================================================== internals: resume
    def _resume(self) -> None:
        store = self.store
        self._next_id = store.get_meta("next_id")
        clock = store.get_meta("clock")
        jobs: Dict[int, _Job] = {}
        rows: Dict[int, tuple] = {}
        for jobid, pgrp, label, status, hold, removed, fired, _handles, data in store.jobs():
            rows[jobid] = (status, hold, removed, fired)
            jobs[jobid] = _Job(jobid, pgrp, data.get("pid"), label, data.get("user"), data, [], [])
        for jobid, idx, name, status, retries in store.work():
            j = jobs[jobid]
            j.names.append(name)
            j.state.append(status)
            j.counts[status] = j.counts.get(status, 0) + 1
            if retries:
                j.retries[idx] = retries
        for jobid, _idx, status, held in store.subjobs():
            j = jobs[jobid]
            j.subs.append(status)
            j.held.append(bool(held))
            j.free += 0 if held else 1
        for jobid, (status, hold, removed, fired) in rows.items():
            j = jobs[jobid]
            j.status, j.hold, j.removed, j.fired = status, hold, bool(removed), fired
            if not j.removed:
                if j.label is not None:
                    self._labels[(j.pgrp, j.label)] = jobid
                self._items += len(j.state)
                self._done += sum(j.counts.get(s, 0) for s in TERMINAL)
        for jobid, text in store.logs():
            self._logs.setdefault(jobid, []).append(text)
        self._jobs = jobs
        self._now = self._stored_clock = clock
        self._replay()
        self._rebuild_ready()

    def _replay(self) -> None:
        """Rebuild the network from the journal with every callback's code switched off."""
        engine = self.engine
        jobs = self._jobs
        runners: List[tuple] = []
        self._replaying = True
        try:
            number = 0
            for number, kind, text in self.store.journal():  # noqa: B007 - number is used after the loop
                if kind == EVENT:
                    engine.feed(text)
                elif kind == REGISTER:
                    ids = [int(i) for i in text.split(",")]
                    submission = engine.compile([_compile_view(_stored_dict(jobs[i])) for i in ids])
                    self._register(submission, ids, replay=runners)
                elif kind == ADVANCE:
                    engine.advance(int(text))
                    self._pop_due(int(text))
                elif kind == REMOVE:
                    engine.remove_job(int(text))
        finally:
            self._replaying = False
            for callback, runner in runners:
                callback.runner = runner
            self._batch.journal.clear()  # replayed, not new
            self._batch.journal_first = number + 1

    # ================================================================== internals: views
    def _job_dict(self, j: _Job) -> Dict[str, Any]:
        d = json.loads(j.text)
        d.update(id=j.id, pgrp=j.pgrp, pid=j.pid, label=j.label, user=j.user, status=j.status)
        if j.anonymous:
            d["agenda"] = []
        else:
            retries = j.retries
            d["agenda"] = [
                {"name": n, "status": s, "retries": retries.get(i, 0)} for i, (n, s) in enumerate(zip(j.names, j.state))
            ]
        d["subjobs"] = [{"id": s, "status": st} for s, st in enumerate(j.subs)]
        d["callbacks_fired"] = j.fired
        d["removed"] = j.removed
        return d

    def work_counts(self, jobid: int) -> Dict[str, int]:
        """Number of the job's work items in each state (no zero entries)."""
        return {s: n for s, n in sorted(self._jobs[jobid].counts.items()) if n}

    def _stuck_job(self, j: _Job) -> StuckJob:
        if j.hold == "blocked":
            reason = "the job is blocked"
            waits = self._waits(j, None, "unblock")
        elif j.hold == "suspended":
            reason = "the job is suspended"
            waits = self._waits(j, None, "resume")
        elif j.status == "running":
            reason = "work is still running"
            waits = []
        elif j.free == 0:
            reason = "every subjob is held (blocked, suspended, failed or killed)"
            waits = self._waits(j, None, "unblock")
        elif j.counts.get("blocked"):
            reason = "work items are blocked"
            waits = []
        else:
            reason = "work is pending"
            waits = []
        if j.hold is not None and not waits:
            reason += ", and no live callback of the job would release it"
        items = []
        blocked = self._items_in(j, ("blocked",))
        if blocked:
            per_frame = self._frame_waits(j)
            for i in blocked:
                name = j.names[i]
                found = per_frame.get(name, []) + per_frame.get("*", [])
                why = "the work item is blocked"
                if not found:
                    why += ", and no live callback of the job would unblock it"
                items.append(StuckItem(work=name, status="blocked", reason=why, callbacks=found))
        return StuckJob(
            id=j.id, label=j.label, status=j.status, reason=reason, callbacks=waits, work=items,
            work_counts={s: n for s, n in sorted(j.counts.items()) if n},
        )

    def _wait(self, cb: Any) -> CallbackWait:
        why = self.engine.why_not(cb.handle)
        return CallbackWait(
            handle=cb.handle, jobid=cb.jobid, callback=cb.describe(), triggers=cb.triggers_text(),
            language=cb.language, code=cb.code, latched=tuple(why.latched), awaited=tuple(why.awaited),
        )

    def _waits(self, j: _Job, _work: Optional[str], verb: str) -> List[CallbackWait]:
        """The job's live callbacks whose code would ``verb`` the job itself."""
        out = []
        for cb in self.engine.callbacks(j.id):
            code = cb.code.strip().lower()
            if cb.language == "qube":
                hit = code in (f"{verb}-self", f"{verb}-subjob-self", f"{verb}-subjob-self-single")
            else:
                hit = verb in code and f"{verb}work" not in code
            if hit:
                out.append(self._wait(cb))
        return out

    def _frame_waits(self, j: _Job) -> Dict[str, List[CallbackWait]]:
        """Work name (or '*') -> the job's live callbacks that would unblock that frame."""
        out: Dict[str, List[CallbackWait]] = {}
        for cb in self.engine.callbacks(j.id):
            code = cb.code.strip().lower()
            if cb.language == "qube":
                if code != "unblock-work-self":
                    continue
                extras = set()
                for text in [cb.triggers] if isinstance(cb.triggers, str) else cb.triggers:
                    for atom in atoms_of(parse(text, owner=j.id, pid=j.pid)):
                        if atom.type == "work" and atom.extra is not None:
                            extras.add(atom.extra)
            elif "unblockwork" in code or "workunblock" in code:
                extras = {"*"}
            else:
                continue
            wait = self._wait(cb)
            for extra in sorted(extras):
                out.setdefault(extra, []).append(wait)
        return out


# ---------------------------------------------------------------------- helpers
def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "user"


def _field(j: _Job, key: str) -> Any:
    if key == "user":
        return j.user
    if key == "status":
        return j.status
    if key in ("id", "pgrp", "pid", "label"):
        return getattr(j, key)
    raise ValueError(f"jobinfo: unknown field '{key}'")


def _event_job(text: str) -> Optional[int]:
    parts = text.split("-", 3)
    return int(parts[2]) if len(parts) >= 3 and parts[2].isdigit() else None


def _agenda(agenda: Any) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Normalise an agenda to ``[{'name', 'status'}]``; problems instead of exceptions."""
    if agenda is None:
        return [], []
    if not isinstance(agenda, (list, tuple)):
        return [], [f"'agenda' must be a list of work items, not {type(agenda).__name__}"]
    out, problems, seen = [], [], set()
    for i, item in enumerate(agenda):
        work = item if isinstance(item, dict) else {"name": item}  # JSON data: dicts, not Mappings
        name = work.get("name")
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str) or not name:
            problems.append(f"agenda item {i} needs a non-empty 'name'")
            continue
        if any(ch.isspace() or ch in "()&|" for ch in name):
            # no event could name it (SPEC §2), and the journal is one line per event
            problems.append(f"agenda item {i}: work name {name!r} has whitespace, a parenthesis, & or |")
            continue
        if name in seen:
            problems.append(f"agenda item {i}: work name '{name}' is used twice")
        seen.add(name)
        status = work.get("status", "pending")
        if status not in ("pending", "blocked"):
            problems.append(f"agenda item {i} ('{name}'): status at submission is 'pending' or 'blocked', not {status!r}")
        out.append({"name": name, "status": status})
    return out, problems


def _compile_view(job: Mapping[str, Any]) -> Dict[str, Any]:
    """What the engine compiles: the job dict with its agenda as names."""
    view = dict(job)
    view["agenda"] = [w["name"] if isinstance(w, dict) else w for w in job.get("agenda") or []]
    return view


def _stored_dict(j: _Job, fresh_id: bool = False) -> Dict[str, Any]:
    """The job dict the engine compiled at submission (``fresh_id``: under an id the engine does
    not know, to compile it again for a look at its callbacks)."""
    view = dict(j.data)
    if fresh_id:
        view["id"] = _SCRATCH_ID
    view["agenda"] = [] if j.anonymous else list(j.names)
    return view


def _time_atoms(triggers: Union[str, List[str]], owner: int, pid: Optional[int]) -> List[Tuple[int, int]]:
    """``(moment, interval)`` of each time/repeat atom (interval 0 for one-shot atoms)."""
    out = []
    for text in [triggers] if isinstance(triggers, str) else triggers:
        for atom in atoms_of(parse(text, owner=owner, pid=pid)):
            if atom.type in ("time", "globaltime"):
                out.append((int(atom.extra), 0))
            elif atom.type in ("repeat", "globalrepeat"):
                start, _, interval = atom.extra.partition("-")
                out.append((int(start), int(interval)))
    return out
