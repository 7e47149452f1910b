"""A virtual render farm: worker slots run the supervisor's pending work in virtual time.

:class:`Simulator` keeps a queue of running items ordered by finish time. Each *step* is one
worker taking a pending item (:meth:`Supervisor.start_item`), one worker finishing one
(:meth:`Supervisor.finish_item`) or the clock reaching a due time atom, together with the whole
cascade of callbacks and state changes it causes. Steps are deterministic for a seed: frame
durations come from ``random.Random(seed).gauss(mean, spread)`` (at least 1 ms), failures from the
same generator at ``failure_rate``; pending items are handed out by priority, job id and agenda
order.

The clock: virtual time ``t`` seconds after the start is Qube time ``start_time + floor(t)``;
the supervisor's clock is advanced as virtual time passes, so ``dummy-time-self-T`` atoms fire on
time, before a frame finishing later. When no worker is busy and nothing is runnable but a one-shot
time atom (``time``/``globaltime``) is due later, the clock jumps to it; ``repeat`` atoms fire
while work goes on but never keep an idle farm alive. The run ends when nothing more can happen.

Persistence: the simulator commits the supervisor's store at step boundaries only (every
``commit_every`` steps or ``commit_seconds`` of wall time, and at the end), with its own state
(virtual time, the RNG state, the running queue) in the same transaction. So a run killed at any
moment (Ctrl-C, ``kill -9``) leaves the store at the end of a whole step; opening the store again
and running a new :class:`Simulator` on it resumes from there and replays nothing twice: the
final states and the events emitted are those of an uninterrupted run with the same seed.
:meth:`Simulator.stop` (what ``qbtrigger simulate`` calls on Ctrl-C or SIGTERM) ends :meth:`run`
at the next step boundary, committed, like ``max_steps``; a run that ends any other way (an
exception, a ``KeyboardInterrupt`` landing mid-step) makes the supervisor abandon what it did
since its last commit (:meth:`Supervisor.abandon`), so nothing of a half-done step is ever stored.
An item found ``running`` that no restored worker holds (the store was written by a supervisor
outside a simulation, or by a run that had no simulator state) is requeued: set back to
``pending``, emitting its event, before the run goes on. After an interrupted :meth:`run` the
in-memory supervisor may be half-way through a step (it refuses to commit): reopen the store.
"""

from __future__ import annotations

import heapq
import random
import time
from typing import Callable, Dict, List, Optional, Tuple

from .report import JobReport, SimReport
from ..vocabulary import RUNNING, TERMINAL_STATES
from .supervisor import Supervisor

__all__ = ["Simulator"]

_META_KEY = "simulator"


class Simulator:
    """Run a :class:`Supervisor`'s farm in virtual time (see the module docstring).

    ``workers``: concurrent worker slots. ``seed``: the RNG seed. ``failure_rate``: chance that a
    frame fails (the job's ``retrywork`` retries it). ``frame_time``: ``(mean, spread)`` of frame
    durations in virtual seconds (normal distribution, at least 1 ms). ``start_time``: the Qube
    time of virtual time 0 (default: the supervisor's clock). ``on_event(text, virtual_time)`` is
    called for every event. A store holding a saved simulation resumes it: the saved virtual time,
    RNG state, running items and start time win over ``seed`` and ``start_time``.
    """

    def __init__(
        self,
        supervisor: Supervisor,
        workers: int = 4,
        seed: int = 0,
        failure_rate: float = 0.0,
        frame_time: Tuple[float, float] = (10.0, 2.0),
        start_time: Optional[int] = None,
        *,
        on_event: Optional[Callable[[str, float], None]] = None,
        commit_every: int = 1000,
        commit_seconds: float = 0.5,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be within [0, 1]")
        self.supervisor = supervisor
        self.workers = workers
        self.failure_rate = float(failure_rate)
        self.mean, self.spread = float(frame_time[0]), float(frame_time[1])
        self.on_event = on_event
        self.commit_every = commit_every
        self.commit_seconds = commit_seconds
        self.rng = random.Random(seed)
        self.time = 0.0  # virtual seconds since start_time
        self.steps = 0
        self._stop_requested = False
        self._seq = 0
        # (finish time, seq, jobid, work index, fails); an entry is live while _running maps its
        # item to its seq (an action may stop a running item: its entry then goes stale)
        self._queue: List[Tuple[float, int, int, int, bool]] = []
        self._running: Dict[Tuple[int, int], int] = {}
        # the virtual hosts, one per worker slot: the free ones (lowest name first) and who runs what
        self.hosts = [f"host{n:0{max(2, len(str(workers)))}d}" for n in range(1, workers + 1)]
        self._free_hosts = list(self.hosts)
        self._host_of: Dict[Tuple[int, int], str] = {}
        supervisor.register_hosts(self.hosts)
        saved = supervisor.store.get_meta(_META_KEY)
        if saved is not None:
            self._restore(saved)
        else:
            self.start_time = supervisor.now if start_time is None else int(start_time)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        version, internal, gauss_next = self.rng.getstate()
        live = [entry for entry in self._queue if self._running.get((entry[2], entry[3])) == entry[1]]
        return {
            "time": self.time, "seq": self._seq, "steps": self.steps, "start_time": self.start_time,
            "rng": [version, list(internal), gauss_next], "queue": [list(e) for e in sorted(live)],
            "hosts": sorted([jobid, idx, host] for (jobid, idx), host in self._host_of.items()),
        }

    def _restore(self, saved: dict) -> None:
        self.time = saved["time"]
        self._seq = saved["seq"]
        self.steps = saved["steps"]
        self.start_time = saved["start_time"]
        version, internal, gauss_next = saved["rng"]
        self.rng.setstate((version, tuple(internal), gauss_next))
        self._queue = [(t, seq, jobid, idx, bool(fails)) for t, seq, jobid, idx, fails in saved["queue"]]
        heapq.heapify(self._queue)
        self._running = {(jobid, idx): seq for _, seq, jobid, idx, _ in self._queue}
        self._host_of = {(jobid, idx): host for jobid, idx, host in saved.get("hosts", [])}
        busy = set(self._host_of.values())
        self._free_hosts = [host for host in self.hosts if host not in busy]
        heapq.heapify(self._free_hosts)

    def _released(self, jobid: int, idx: int) -> None:
        """A running item was stopped by an action: its worker is free (its queue entry is stale)."""
        self._running.pop((jobid, idx), None)
        self._free_host(jobid, idx)

    def _free_host(self, jobid: int, idx: int) -> None:
        host = self._host_of.pop((jobid, idx), None)
        if host is not None:
            heapq.heappush(self._free_hosts, host)

    # ------------------------------------------------------------------ the run
    def run(
        self, progress: Optional[Callable[[int, int], None]] = None, *, max_steps: Optional[int] = None
    ) -> SimReport:
        """Run until nothing more can happen (or ``max_steps`` more steps: a pause, committed, that a
        later :meth:`run` or a resumed store goes on from); return the report. ``progress(done,
        total)`` (work items) is called now and then and at the end."""
        sup = self.supervisor
        rng = self.rng
        queue = self._queue
        running = self._running
        heappush, heappop = heapq.heappush, heapq.heappop
        workers = self.workers
        mean, spread, failure_rate = self.mean, self.spread, self.failure_rate
        start_time = self.start_time
        pop_runnable, start_item, finish_item = sup.pop_runnable, sup.start_item, sup.finish_item
        events_before = sup.event_count
        steps_before = self.steps

        def listener(text: str) -> None:
            self.on_event(text, self.time)  # type: ignore[misc]

        saved_autocommit = sup.autocommit
        sup.autocommit = False
        sup.worker_released = self._released
        if self.on_event is not None:
            sup.add_listener(listener)
        last_commit_steps, last_commit_wall = self.steps, time.monotonic()
        next_progress = 0
        completed = False
        try:
            # items running with no worker to finish them: requeue (see the module docstring)
            for jobid, idx in sup.running_items():
                if (jobid, idx) not in running:
                    sup.requeue_item(jobid, idx)
                    self.steps += 1
            stop_at = None if max_steps is None else self.steps + max_steps
            while (stop_at is None or self.steps < stop_at) and not self._stop_requested:
                # a step: one worker takes an item, or the next moment comes
                if len(running) < workers:
                    item = pop_runnable()
                    if item is not None:
                        duration = max(0.001, rng.gauss(mean, spread)) if spread else max(0.001, mean)
                        fails = failure_rate > 0.0 and rng.random() < failure_rate
                        self._seq += 1
                        running[item] = self._seq
                        heappush(queue, (self.time + duration, self._seq, item[0], item[1], fails))
                        host = self._host_of[item] = heappop(self._free_hosts)
                        start_item(item[0], item[1], host)
                        self.steps += 1
                        if self.steps - last_commit_steps >= self.commit_every:
                            last_commit_steps, last_commit_wall = self._commit()
                        continue
                while queue and running.get((queue[0][2], queue[0][3])) != queue[0][1]:
                    heappop(queue)  # stale: the item was stopped by an action
                due = sup.next_due()
                if queue:
                    finish_at = queue[0][0]
                    if due is not None and due - start_time <= finish_at:
                        self._jump(due)
                    else:
                        at, _, jobid, idx, fails = heappop(queue)
                        del running[(jobid, idx)]
                        self._free_host(jobid, idx)
                        self.time = at
                        moment = start_time + int(at)
                        if moment > sup.now:
                            sup.advance(moment)
                        if sup.item_state(jobid, idx) == RUNNING:  # the clock's callbacks may have stopped it
                            finish_item(jobid, idx, fails)
                else:
                    once = sup.next_due(repeats=False)
                    if once is None:
                        break
                    self._jump(once)
                self.steps += 1
                if progress is not None and self.steps >= next_progress:
                    progress(*sup.progress())
                    next_progress = self.steps + 10000
                if (self.steps - last_commit_steps >= self.commit_every
                        or time.monotonic() - last_commit_wall >= self.commit_seconds):
                    last_commit_steps, last_commit_wall = self._commit()
            completed = True
        finally:
            sup.worker_released = None
            if self.on_event is not None:
                sup.remove_listener(listener)
            if completed:
                self._commit()
                sup.autocommit = saved_autocommit
            else:  # memory may be half-way through a step, the simulator's own state too
                sup.abandon("a simulation step was interrupted")
        self._stop_requested = False
        if progress is not None:
            progress(*sup.progress())
        return self.report(events=sup.event_count - events_before, steps=self.steps - steps_before)

    def stop(self) -> None:
        """Ask :meth:`run` to end at the next step boundary (committed, as a pause): safe to call
        from a signal handler or from an event listener. A later :meth:`run` goes on."""
        self._stop_requested = True

    def _jump(self, moment: int) -> None:
        """Move virtual time to Qube time ``moment`` (a due time atom) and let it fire."""
        self.time = max(self.time, float(moment - self.start_time))
        self.supervisor.advance(max(moment, self.supervisor.now))

    def _commit(self) -> Tuple[int, float]:
        """Commit the store with the simulator's state, at a step boundary; ``(steps, wall time)``."""
        self.supervisor.commit({_META_KEY: self._state()})
        return self.steps, time.monotonic()

    # ------------------------------------------------------------------ report
    def report(self, events: int = 0, steps: int = 0) -> SimReport:
        """The report of the farm as it is now (:meth:`run` returns one)."""
        sup = self.supervisor
        jobs = []
        finished = True
        for jobid in sup.job_ids():
            info = sup.job_state(jobid)
            jobs.append(JobReport(id=jobid, label=info.label, name=info.name, status=info.status,
                                  work=sup.work_counts(jobid), callbacks_fired=info.fired))
            if info.status not in TERMINAL_STATES:
                finished = False
        return SimReport(
            makespan=self.time, finished=finished, jobs=jobs, stuck=[] if finished else sup.stuck(),
            events=events, steps=steps, start_time=self.start_time,
            end_time=self.start_time + int(self.time), global_callbacks=sup.global_callbacks(),
        )
