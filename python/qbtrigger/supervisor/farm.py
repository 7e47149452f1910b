"""The farm's state machine: jobs, work items and subjobs, and what each verb does to them.

It knows nothing of the callback engine or the store. Each change appends the event it causes to
an ``out`` list the caller hands in (the supervisor feeds them to the engine, in order) and marks
what changed as dirty (the supervisor collects the rows with :meth:`Farm.take_changes` at a
commit). The rules themselves are written in docs/supervisor.md.
"""

from __future__ import annotations

import heapq
import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import UnknownItemError, UnknownJobError
from ..vocabulary import (
    BLOCKED,
    COMPLETE,
    FAILED,
    KILLED,
    PENDING,
    REMOVED,
    RUNNING,
    SUSPENDED,
    TERMINAL_STATES,
    UNBLOCK_SINGLE,
    WAITING,
)

if TYPE_CHECKING:  # the row shapes only: the farm does not use the store
    from .store import JobRow, JobUpdateRow, SubjobRow, SubjobUpdateRow, WorkRow, WorkUpdateRow

__all__ = ["Job", "Farm", "DEFAULT_PRIORITY"]

DEFAULT_PRIORITY = 9999
_RUNNABLE = frozenset((PENDING, RUNNING))
#: What a subjob verb that holds a subjob holds it in.
_SUBJOB_HOLDS = {"block": BLOCKED, "fail": FAILED, "kill": KILLED, "suspend": SUSPENDED}
#: Subjob verbs that end the subjob's process: a frame job's frame running on it ends too.
_SUBJOB_ENDS = ("fail", "kill")
_SUBJOB_ENDS_IN = frozenset(_SUBJOB_HOLDS[verb] for verb in _SUBJOB_ENDS)
#: Verbs that move a running item to another worker: no hosts here, so subjobs ignore them.
_HOST_VERBS = frozenset(("migrate", "preempt", "interrupt"))


class Job:
    """One job's hot state. Work items are addressed by index. An agenda-less job has one
    nameless item per instance (``names[i]`` None): item ``i`` is what subjob ``i`` runs, and its
    changes are that subjob's events."""

    __slots__ = (
        "id", "pgrp", "pid", "label", "user", "priority", "retrywork", "data", "names", "index",
        "state", "retries", "counts", "hold", "status", "subs", "held", "free", "removed", "fired",
        "text", "handles", "timed", "retry_delay", "queue", "offered",
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
        self.retry_delay = data.get("retrywork_delay", 0) or 0
        #: It has a time limit (``agenda_timeout`` on frames, ``timeout`` on instances).
        self.timed = bool(data.get("agenda_timeout") or data.get("timeout"))
        self.names = names
        self.index: Optional[Dict[str, int]] = None  # name -> index, built on first lookup
        self.state = states
        self.retries: Dict[int, int] = {}
        counts: Dict[str, int] = {}
        for s in states:
            counts[s] = counts.get(s, 0) + 1
        self.counts = counts
        self.hold: Optional[str] = None
        self.status = PENDING
        self.subs: List[str] = []
        self.held: List[bool] = []
        self.free = 0
        self.removed = False
        self.fired = 0
        self.handles: List[int] = []  # its callbacks' network handles, in registration order
        self.queue: List[int] = []  # heap of its pending item indices (stale entries skipped)
        self.offered = False  # it is in the farm's ready heap

    @property
    def name(self) -> Optional[str]:
        """The job's ``name`` field, when it has one (reports name a job by label, else by this)."""
        name = self.data.get("name")
        return name if isinstance(name, str) and name else None

    @property
    def anonymous(self) -> bool:
        """An agenda-less job: its items are its instances."""
        return self.names[0] is None

    def idx(self, name: Any) -> int:
        if self.index is None:
            self.index = {n: i for i, n in enumerate(self.names) if n is not None}
        try:
            return self.index[str(name)]
        except KeyError:
            raise UnknownItemError(f"job {self.id} has no work item '{name}'") from None

    def item(self, work: Optional[str], state: str = PENDING) -> int:
        """The index of work item ``work``; for an agenda-less job (``work`` None), its first
        instance in ``state`` (or its first instance)."""
        if work is not None or not self.anonymous:
            return self.idx(work)
        for i, s in enumerate(self.state):
            if s == state and not self.held[i]:
                return i
        return 0

    def check_item(self, type_: str, extra: Optional[str]) -> None:
        """Raise :class:`UnknownItemError` unless the job has the work item or subjob an event of
        this type and extra names."""
        if type_ == "work":
            self.idx(extra)
        elif type_ == "subjob" and not (extra is not None and extra.isdigit() and int(extra) < len(self.subs)):
            raise UnknownItemError(f"job {self.id} has no subjob {extra}")

    def runnable(self) -> bool:
        return not self.removed and self.status in _RUNNABLE and self.free > 0

    def has_slot(self) -> bool:
        """A worker may start one more of its items: an instance runs as its own subjob; a frame
        job runs at most one frame per free subjob (``cpus`` of them), as Qube's instances do."""
        return self.names[0] is None or self.counts.get(RUNNING, 0) < self.free

    def work_counts(self) -> Dict[str, int]:
        """Number of work items in each state (no zero entries)."""
        return {s: n for s, n in sorted(self.counts.items()) if n}

    def items_in(self, states: Iterable[str]) -> List[int]:
        wanted = set(states)
        if not any(self.counts.get(s) for s in wanted):
            return []
        return [i for i, s in enumerate(self.state) if s in wanted]

    def as_dict(self) -> Dict[str, Any]:
        """The job dict callbacks and users see (a fresh copy)."""
        d: Dict[str, Any] = json.loads(self.text)
        d.update(id=self.id, pgrp=self.pgrp, pid=self.pid, label=self.label, user=self.user, status=self.status)
        if self.anonymous:
            d["agenda"] = []
        else:
            retries = self.retries
            d["agenda"] = [
                {"name": n, "status": s, "retries": retries.get(i, 0)}
                for i, (n, s) in enumerate(zip(self.names, self.state))
            ]
        d["subjobs"] = [{"id": s, "status": st} for s, st in enumerate(self.subs)]
        d["callbacks_fired"] = self.fired
        d["removed"] = self.removed
        return d


class Farm:
    """Every job, its items and subjobs, and the queue of pending items workers take from."""

    def __init__(self) -> None:
        self.jobs: Dict[int, Job] = {}
        self.labels: Dict[Tuple[int, str], int] = {}
        #: Called with ``(jobid, work index)`` when a running item stops other than by a worker
        #: finishing it (killed, requeued, blocked...): its worker is free again.
        self.worker_released: Optional[Callable[[int, int], None]] = None
        #: Called with ``(job, "work" or "subjob", index, running)`` when a frame or a subjob of a
        #: job with a time limit starts or stops running (the supervisor times them).
        self.on_running: Optional[Callable[[Job, str, int, bool], None]] = None
        #: Called with ``(job, work index)`` when a failed item waits ``retrywork_delay`` seconds
        #: before its retry (the supervisor's clock releases it).
        self.on_waiting: Optional[Callable[[Job, int], None]] = None
        #: ``(priority, jobid)`` of jobs offering pending items (each job's own heap holds them)
        self._ready: List[Tuple[int, int]] = []
        self._dirty_jobs: Dict[int, Job] = {}
        self._dirty_data: Dict[int, Job] = {}
        self._dirty_work: Dict[Tuple[int, int], Job] = {}
        self._dirty_subs: Dict[Tuple[int, int], Job] = {}
        self.items = 0  # live work items, and how many of them are done (progress reports)
        self.done = 0
        self._finishing = False

    # ------------------------------------------------------------------ jobs
    def live(self, jobid: Any) -> Job:
        j = self.jobs.get(jobid) if isinstance(jobid, int) else None
        if j is None or j.removed:
            raise UnknownJobError(f"unknown job {jobid}")
        return j

    def add(self, job: Dict[str, Any], agenda: Sequence[Mapping[str, Any]], *, hold: bool, blocked_work: bool,
            blocked_subjobs: bool) -> Job:
        """A newly submitted job: ``job`` its stored dict, ``agenda`` its ``{name, status}`` items."""
        cpus = job.get("cpus", 1)
        names: List[Optional[str]] = [w["name"] for w in agenda] or [None] * cpus
        if blocked_work:
            states = [BLOCKED] * len(names)
        else:
            states = [w.get("status", PENDING) for w in agenda] or [PENDING] * cpus
        j = Job(job["id"], job["pgrp"], job.get("pid"), job.get("label"), job.get("user"), job, names, states)
        if hold:
            j.hold = BLOCKED
        j.status = self._derive(j)
        j.held = [blocked_subjobs] * cpus
        j.subs = [BLOCKED if blocked_subjobs else (states[s] if j.anonymous else j.status) for s in range(cpus)]
        j.free = 0 if blocked_subjobs else cpus
        self.jobs[j.id] = j
        if j.label is not None:
            self.labels[(j.pgrp, j.label)] = j.id
        self.items += len(names)
        self.done += sum(j.counts.get(s, 0) for s in TERMINAL_STATES)
        if j.runnable():
            self._push_pending(j)
        return j

    def discard(self, ids: Iterable[int]) -> None:
        """Forget jobs just added (a submission that failed half-way is all or nothing)."""
        for jobid in ids:
            j = self.jobs.pop(jobid, None)
            if j is None:
                continue
            if j.label is not None and self.labels.get((j.pgrp, j.label)) == jobid:
                del self.labels[(j.pgrp, j.label)]
            self.items -= len(j.names)
            self.done -= sum(j.counts.get(s, 0) for s in TERMINAL_STATES)
            for dirty in (self._dirty_jobs, self._dirty_data):
                dirty.pop(jobid, None)
            for key in [k for k in self._dirty_work if k[0] == jobid]:
                del self._dirty_work[key]
            for key in [k for k in self._dirty_subs if k[0] == jobid]:
                del self._dirty_subs[key]
        self.rebuild_ready()

    def restore(self, jobs: Iterable[JobRow], work: Iterable[WorkRow], subjobs: Iterable[SubjobRow]) -> None:
        """Load the farm from stored rows (see :class:`~qbtrigger.supervisor.store.Store`)."""
        loaded: Dict[int, Job] = {}
        rows: Dict[int, Tuple[str, Optional[str], int, int]] = {}
        for jobid, pgrp, label, status, hold, removed, fired, _handles, data in jobs:
            rows[jobid] = (status, hold, removed, fired)
            loaded[jobid] = Job(jobid, pgrp, data.get("pid"), label, data.get("user"), data, [], [])
        for jobid, idx, name, status, retries in work:
            j = loaded[jobid]
            j.names.append(name)
            j.state.append(status)
            j.counts[status] = j.counts.get(status, 0) + 1
            if retries:
                j.retries[idx] = retries
        for jobid, _idx, status, held in subjobs:
            j = loaded[jobid]
            j.subs.append(status)
            j.held.append(bool(held))
            j.free += 0 if held else 1
        for jobid, (status, hold, removed, fired) in rows.items():
            j = loaded[jobid]
            j.status, j.hold, j.removed, j.fired = status, hold, bool(removed), fired
            if not j.removed:
                if j.label is not None:
                    self.labels[(j.pgrp, j.label)] = jobid
                self.items += len(j.state)
                self.done += sum(j.counts.get(s, 0) for s in TERMINAL_STATES)
        self.jobs = loaded
        self.rebuild_ready()

    def modify(self, j: Job, fields: Mapping[str, Any]) -> None:
        """Set job fields (already checked: JSON values, none of the fixed ones)."""
        j.data.update(fields)
        j.text = json.dumps(j.data)
        if "priority" in fields or "retrywork" in fields:
            j.priority = j.data.get("priority", DEFAULT_PRIORITY)
            j.retrywork = j.data.get("retrywork", 0) or 0
            self.rebuild_ready()  # keys in the ready heap carry the old priority
        j.retry_delay = j.data.get("retrywork_delay", 0) or 0
        j.timed = bool(j.data.get("agenda_timeout") or j.data.get("timeout"))
        self._dirty_data[j.id] = j
        self._dirty_jobs[j.id] = j

    def count_firing(self, jobid: int) -> None:
        """One of the job's callbacks ran."""
        j = self.jobs.get(jobid)
        if j is not None:
            j.fired += 1
            self._dirty_jobs[j.id] = j

    def take_changes(self) -> Tuple[List[JobUpdateRow], List[WorkUpdateRow], List[SubjobUpdateRow]]:
        """The rows changed since the last call: jobs ``(status, hold, removed, fired, data JSON or
        None, id)``, work ``(status, retries, jobid, idx)``, subjobs ``(status, held, jobid, idx)``."""
        jobs: List[JobUpdateRow] = []
        work: List[WorkUpdateRow] = []
        subs: List[SubjobUpdateRow] = []
        if self._dirty_jobs:
            data = self._dirty_data
            jobs = [
                (j.status, j.hold, int(j.removed), j.fired, j.text if j.id in data else None, j.id)
                for j in self._dirty_jobs.values()
            ]
            self._dirty_jobs = {}
            self._dirty_data = {}
        if self._dirty_work:
            work = [(j.state[i], j.retries.get(i, 0), jobid, i) for (jobid, i), j in self._dirty_work.items()]
            self._dirty_work = {}
        if self._dirty_subs:
            subs = [(j.subs[s], int(j.held[s]), jobid, s) for (jobid, s), j in self._dirty_subs.items()]
            self._dirty_subs = {}
        return jobs, work, subs

    # ------------------------------------------------------------------ verbs
    def act(self, j: Job, verb: str, work: Optional[str], subjob: Optional[int], out: List[str]) -> None:
        """``Host.act``: a job, work or subjob verb; ``remove`` is :meth:`remove`."""
        if subjob is not None or verb == UNBLOCK_SINGLE:
            self._subjob_verb(j, verb, subjob, out)
        elif work is not None:
            self._work_verb(j, verb, j.idx(work), out)
        else:
            self._job_verb(j, verb, out)

    def remove(self, j: Job, out: List[str]) -> None:
        for i in j.items_in((RUNNING,)):
            if self.worker_released is not None:
                self.worker_released(j.id, i)
        j.removed = True
        self._dirty_jobs[j.id] = j
        if j.label is not None:
            self.labels.pop((j.pgrp, j.label), None)
        self.items -= len(j.state)
        self.done -= sum(j.counts.get(s, 0) for s in TERMINAL_STATES)
        out.append(f"{REMOVED}-job-{j.id}")

    def _job_verb(self, j: Job, verb: str, out: List[str]) -> None:
        status = j.status
        to = self._set
        if verb == "unblock":
            if j.hold == BLOCKED:
                j.hold = None
        elif verb == "block":
            if status in TERMINAL_STATES or j.hold == BLOCKED:
                return
            for i in j.items_in((RUNNING, SUSPENDED)):
                to(j, i, PENDING, out)
            j.hold = BLOCKED
        elif verb == "suspend":
            if status in TERMINAL_STATES or j.hold is not None:
                return
            for i in j.items_in((RUNNING,)):
                to(j, i, SUSPENDED, out)
            j.hold = SUSPENDED
        elif verb == "resume":
            if j.hold != SUSPENDED:
                return
            for i in j.items_in((SUSPENDED,)):
                to(j, i, PENDING, out)
            j.hold = None
        elif verb == "kill":
            if status in TERMINAL_STATES:
                return
            for i, s in enumerate(list(j.state)):
                if s not in TERMINAL_STATES:
                    to(j, i, KILLED, out)
            j.hold = KILLED
        elif verb == "fail":
            if status in TERMINAL_STATES:
                return
            for i, s in enumerate(list(j.state)):
                if s not in TERMINAL_STATES:
                    to(j, i, FAILED, out)
        elif verb in ("complete", "retire"):
            for i, s in enumerate(list(j.state)):
                if s != COMPLETE:
                    to(j, i, COMPLETE, out)
            j.hold = None
        elif verb == "retry":
            items: Sequence[int] = j.items_in((FAILED, KILLED))
            if not items and status == COMPLETE:
                items = range(len(j.state))
            for i in items:
                to(j, i, PENDING, out)
            if j.hold == KILLED:
                j.hold = None
            if not j.anonymous:
                self._release_ended_subjobs(j, out)
        elif verb == "requeue":
            for i in j.items_in((RUNNING, FAILED, KILLED)):
                to(j, i, PENDING, out)
            if j.hold == KILLED:
                j.hold = None
            if not j.anonymous:
                self._release_ended_subjobs(j, out)
        elif verb in _HOST_VERBS:
            for i in j.items_in((RUNNING,)):
                to(j, i, PENDING, out)
        else:
            raise ValueError(f"unknown job verb '{verb}'")
        self._refresh(j, out)

    def _work_verb(self, j: Job, verb: str, idx: int, out: List[str]) -> None:
        s = j.state[idx]
        new: Optional[str] = None
        if verb == "unblock":
            new = PENDING if s == BLOCKED else None
        elif verb == "block":
            new = BLOCKED if s in (PENDING, WAITING, SUSPENDED, RUNNING) else None
        elif verb == "kill":
            new = None if s in TERMINAL_STATES else KILLED
        elif verb in ("retry", "requeue"):
            new = None if s in (PENDING, BLOCKED) else PENDING
        elif verb in ("complete", "retire"):
            new = COMPLETE
        elif verb == "fail":
            new = None if s in (FAILED, KILLED) else FAILED
        else:
            raise ValueError(f"unknown work verb '{verb}'")
        if new is not None:
            if verb == "unblock" and j.hold == BLOCKED:
                # Qube's frame-by-frame way: a blocked job whose frames are released one by one
                # runs each released frame, so releasing a frame releases the job's block too
                # (docs/semantics.md); its other blocked frames stay blocked.
                j.hold = None
            self._set(j, idx, new, out)
            self._refresh(j, out)

    def _subjob_verb(self, j: Job, verb: str, subjob: Optional[int], out: List[str]) -> None:
        n = len(j.subs)
        if subjob is None:
            targets = list(range(n))
            if verb == UNBLOCK_SINGLE:
                targets = [s for s in targets if j.held[s] and j.subs[s] == BLOCKED][:1]
        else:
            if not 0 <= subjob < n:
                raise UnknownItemError(f"job {j.id} has no subjob {subjob}")
            targets = [subjob]
        was_runnable = j.runnable()
        for s in targets:
            state, held = j.subs[s], j.held[s]
            if verb in ("unblock", UNBLOCK_SINGLE):
                release = held and state == BLOCKED
            elif verb == "resume":
                release = held and state == SUSPENDED
            elif j.anonymous and verb in ("fail", "kill"):
                # an instance of an agenda-less job ends with its subjob (a timelimit's fail-subjob-self)
                if j.state[s] not in TERMINAL_STATES:
                    self._set(j, s, _SUBJOB_HOLDS[verb], out)
                    self._refresh(j, out)
                continue
            elif verb in _SUBJOB_HOLDS:
                if held or state in TERMINAL_STATES:
                    continue
                running = j.counts.get(RUNNING, 0)
                ends_a_frame = verb in _SUBJOB_ENDS and running and running >= j.free
                self._hold_subjob(j, s, True, _SUBJOB_HOLDS[verb], out)
                if ends_a_frame:
                    self._end_frame_of_subjob(j, _SUBJOB_HOLDS[verb], out)
                continue
            elif verb in _HOST_VERBS:
                continue  # no hosts in this supervisor: recorded no-ops
            else:
                raise ValueError(f"unknown subjob verb '{verb}'")
            if release:
                self._hold_subjob(j, s, False, j.state[s] if j.anonymous else j.status, out)
                if j.anonymous and j.state[s] == PENDING and was_runnable:
                    self._offer(j, s)  # skipped while held
                elif not j.anonymous:
                    self._enlist(j)  # one more free subjob: room for one more frame
        if not was_runnable and j.runnable():
            self._push_pending(j)

    def _end_frame_of_subjob(self, j: Job, state: str, out: List[str]) -> None:
        """A frame job's subjob was failed or killed while every free subjob ran a frame: its
        process ends, and the frame it ran ends with it, in the same state (a kill in Qube stops the
        frame in progress). Which subjob runs which frame is not recorded, so the frame is the last
        running one in agenda order: a choice made from the saved states alone, so that a resumed
        run makes the same one (docs/supervisor.md)."""
        self._set(j, j.items_in((RUNNING,))[-1], state, out)
        self._refresh(j, out)

    def _release_ended_subjobs(self, j: Job, out: List[str]) -> None:
        """``retry`` or ``requeue`` of a frame job: its failed and killed subjobs run again."""
        for s, held in enumerate(j.held):
            if held and j.subs[s] in _SUBJOB_ENDS_IN:
                self._hold_subjob(j, s, False, j.status, out)  # follows the job from here

    def _hold_subjob(self, j: Job, s: int, held: bool, state: str, out: List[str]) -> None:
        if j.held[s] != held:
            j.held[s] = held
            j.free += -1 if held else 1
        if j.subs[s] != state:
            self._sub_state(j, s, state, out)
        self._dirty_subs[(j.id, s)] = j

    def _sub_state(self, j: Job, s: int, state: str, out: List[str]) -> None:
        """Change one subjob's state, recording it and its event."""
        old = j.subs[s]
        j.subs[s] = state
        self._dirty_subs[(j.id, s)] = j
        out.append(f"{state}-subjob-{j.id}-{s}")
        if j.timed and (old == RUNNING or state == RUNNING) and self.on_running is not None:
            self.on_running(j, "subjob", s, state == RUNNING)

    # ------------------------------------------------------------------ workers
    def start_item(self, j: Job, idx: int, out: List[str]) -> None:
        if not j.runnable() or j.state[idx] != PENDING or (j.anonymous and j.held[idx]):
            raise ValueError(f"job {j.id} item {j.names[idx]} is not runnable ({j.status}/{j.state[idx]})")
        self._set(j, idx, RUNNING, out)
        self._refresh(j, out)

    def finish_item(self, j: Job, idx: int, failed: bool, out: List[str]) -> None:
        """A worker is done: complete, or failed (back to pending while ``retrywork`` allows)."""
        if j.state[idx] != RUNNING:
            raise ValueError(f"job {j.id} item {j.names[idx]} is not running ({j.state[idx]})")
        self._finishing = True  # the worker that ran it knows it is free
        try:
            if not failed:
                self._set(j, idx, COMPLETE, out)
            elif j.retries.get(idx, 0) < j.retrywork:
                j.retries[idx] = j.retries.get(idx, 0) + 1
                # with a retrywork_delay it waits first, and the clock releases it (release_waiting)
                self._set(j, idx, WAITING if j.retry_delay else PENDING, out)
                if j.retry_delay and self.on_waiting is not None:
                    self.on_waiting(j, idx)
            else:
                self._set(j, idx, FAILED, out)
        finally:
            self._finishing = False
        self._refresh(j, out)

    def release_waiting(self, j: Job, idx: int, out: List[str]) -> None:
        """A failed item's retry delay is over: it is pending again (if it still waits)."""
        if j.state[idx] == WAITING and not j.removed:
            self._set(j, idx, PENDING, out)
            self._refresh(j, out)

    def requeue_item(self, j: Job, idx: int, out: List[str]) -> None:
        """A running item goes back to pending: its worker vanished (nobody to release)."""
        if j.state[idx] != RUNNING:
            return
        self._finishing = True
        try:
            self._set(j, idx, PENDING, out)
        finally:
            self._finishing = False
        self._refresh(j, out)

    def pop_runnable(self) -> Optional[Tuple[int, int]]:
        """The next pending item a worker should take, ``(jobid, work index)``, or None; taken off
        the queue (it is offered again only when it becomes pending again). Jobs in priority and
        id order, each job's items in index order; a job with no free subjob waits its turn."""
        ready = self._ready
        jobs = self.jobs
        heappop = heapq.heappop
        while ready:
            j = jobs[ready[0][1]]
            if j.runnable() and j.has_slot():
                queue, state = j.queue, j.state
                while queue:
                    idx = heappop(queue)
                    if state[idx] == PENDING and not (j.anonymous and j.held[idx]):
                        return j.id, idx
            heappop(ready)
            j.offered = False  # offered again when it gains an item or a slot (_offer, _enlist)
        return None

    def running_items(self) -> List[Tuple[int, int]]:
        """Every ``(jobid, work index)`` now running, in order."""
        jobs = self.jobs
        return [
            (jobid, i)
            for jobid in sorted(jobs)
            if not jobs[jobid].removed and jobs[jobid].counts.get(RUNNING)
            for i, s in enumerate(jobs[jobid].state)
            if s == RUNNING
        ]

    def rebuild_ready(self) -> None:
        self._ready = []
        for j in self.jobs.values():
            j.offered = False
            j.queue = [i for i, s in enumerate(j.state) if s == PENDING] if j.runnable() else []
            self._enlist(j)

    # ------------------------------------------------------------------ internals
    def _set(self, j: Job, idx: int, state: str, out: List[str]) -> None:
        """Change one work item's state, recording it and its event."""
        states = j.state
        old = states[idx]
        if old == state:
            return
        states[idx] = state
        counts = j.counts
        counts[old] -= 1
        counts[state] = counts.get(state, 0) + 1
        if (old in TERMINAL_STATES) != (state in TERMINAL_STATES):
            self.done += 1 if state in TERMINAL_STATES else -1
        self._dirty_work[(j.id, idx)] = j
        if old == RUNNING:
            if not self._finishing and self.worker_released is not None:
                self.worker_released(j.id, idx)
            self._enlist(j)  # a frame job's subjob is free for its next frame
        name = j.names[idx]
        if name is not None:
            out.append(f"{state}-work-{j.id}-{name}")
            if j.timed and (old == RUNNING or state == RUNNING) and self.on_running is not None:
                self.on_running(j, "work", idx, state == RUNNING)
        elif not j.held[idx]:  # an instance of an agenda-less job: its subjob follows it
            self._sub_state(j, idx, state, out)
        if state == PENDING and j.status in _RUNNABLE and j.free and not j.removed:
            self._offer(j, idx)

    def _derive(self, j: Job) -> str:
        if j.hold is not None:
            return j.hold
        counts = j.counts
        if counts.get(RUNNING):
            return RUNNING
        if not j.free and j.subs and not j.anonymous and all(held and sub in _SUBJOB_ENDS_IN for sub, held in zip(j.subs, j.held)):
            # every subjob failed or was killed: nothing runs its frames any more, the job is over
            return FAILED if FAILED in j.subs or counts.get(FAILED) else KILLED
        if j.status == RUNNING and counts.get(PENDING) and not j.anonymous:
            return RUNNING  # between two frames: its subjobs go on to the next pending frame
        failed = counts.get(FAILED, 0)
        killed = counts.get(KILLED, 0)
        if counts.get(COMPLETE, 0) + failed + killed == len(j.state):
            return FAILED if failed else KILLED if killed else COMPLETE
        return PENDING

    def _refresh(self, j: Job, out: List[str]) -> None:
        """Re-derive the job's status; on a change its free subjobs follow, then its event."""
        new = self._derive(j)
        if new == j.status:
            return
        was_runnable = j.runnable()
        j.status = new
        self._dirty_jobs[j.id] = j
        subs = j.subs
        if not j.anonymous:  # a frame job's free subjobs follow it; instances follow their item
            for s, held in enumerate(j.held):
                if not held and subs[s] != new:
                    self._sub_state(j, s, new, out)
        out.append(f"{new}-job-{j.id}")
        if not was_runnable and j.runnable():
            self._push_pending(j)

    def _push_pending(self, j: Job) -> None:
        """The job became runnable: every pending item of it is offered (in index order)."""
        j.queue = [i for i, s in enumerate(j.state) if s == PENDING]
        self._enlist(j)

    def _offer(self, j: Job, idx: int) -> None:
        heapq.heappush(j.queue, idx)
        self._enlist(j)

    def _enlist(self, j: Job) -> None:
        """Put the job in the ready heap if it has items to offer and room to run one."""
        if not j.offered and j.queue and j.runnable() and j.has_slot():
            j.offered = True
            heapq.heappush(self._ready, (j.priority, j.id))
