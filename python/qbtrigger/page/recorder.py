"""Watches a simulation for the page's timeline: who ran what where and when, which callbacks fired
and what they did, and what released each work item.

A :class:`RunRecorder` listens to the supervisor's events as they happen, in the simulator's
virtual time. A work item (or an instance of an agenda-less job) runs from its ``running`` event,
right after a worker was assigned to it (``assigned-work-J-N``, ``assigned-host-J-HOST``), to its
next state event (complete, failed, killed, back to pending...). What caused a change is asked of
the supervisor while it is being told of it (:meth:`Supervisor.cause`): a callback (with the event
that fired it), its time trigger, the job's dependency, the farm itself or a direct call.

Small runs are kept in full: every run of every item, each firing with its effects, each item's
last events. Past :data:`DETAIL_LIMIT` runs (or items, or firings) only per-job spans and the
firing times are kept, and the page draws jobs rather than items: a bar per frame of a million
frames would be neither readable nor quick to open.
"""

from __future__ import annotations

from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Deque, Dict, List, Optional, Set, Tuple

from ..supervisor.report import job_title
from ..vocabulary import ASSIGNED, PENDING, RUNNING

if TYPE_CHECKING:
    from ..callbacks import Firing
    from ..supervisor import Simulator

__all__ = ["RunRecorder", "Run", "FiringRecord", "ItemLog", "JobSpan", "DETAIL_LIMIT", "EVENTS_KEPT"]

#: Runs, items or firings kept one by one; past this the recorder keeps per-job spans only.
DETAIL_LIMIT = 5_000
#: Per item, its last events shown in the hover.
EVENTS_KEPT = 12
#: Per firing, the events it caused that are kept.
EFFECTS_KEPT = 6

#: An item: (job id, "work" or "subjob", work name or subjob index).
ItemKey = Tuple[int, str, str]


@dataclass
class Run:
    """One run of an item on a worker: from ``start`` to ``end`` (virtual seconds), ending in
    ``outcome`` (the state it left running for; ``running`` if the simulation ended first)."""

    key: ItemKey
    host: str
    start: float
    end: float
    outcome: str


@dataclass
class FiringRecord:
    """A callback that changed something: when, whose, what fired it, and the events it caused."""

    time: float
    jobid: Optional[int]
    text: str  # the cause in words: "comp's dependency, on complete-work-1-7"
    effects: List[str] = field(default_factory=list)


@dataclass
class ItemLog:
    """One item's last events (time, event, cause in words) and what last released it."""

    events: Deque[Tuple[float, str, str]] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    released_by: Optional[str] = None
    released_at: Optional[float] = None


@dataclass
class JobSpan:
    """A job's runs: first start, last end, how many."""

    first: float
    last: float
    runs: int = 0


class RunRecorder:
    """Record ``simulator``'s run from now on (create it before the submission is loaded to see its
    ``submit`` events too). Read :attr:`detailed`, :attr:`runs`, :attr:`firings`, :attr:`items`,
    :attr:`spans`, :attr:`firing_times` and :attr:`acts` once the run is over."""

    def __init__(self, simulator: "Simulator", detail_limit: int = DETAIL_LIMIT) -> None:
        self.simulator = simulator
        self.supervisor = supervisor = simulator.supervisor
        self.detail_limit = detail_limit
        self.detailed = True
        self.runs: List[Run] = []
        self.firings: List[FiringRecord] = []
        self.items: Dict[ItemKey, ItemLog] = {}
        self.spans: Dict[int, JobSpan] = {}
        #: Every change-making firing's virtual time and owner (kept at any size: the histogram).
        self.firing_times = array("d")
        self.firing_jobs = array("q")
        #: (callback owner, job acted on, verb) -> firings that did so, for callbacks acting on another job.
        self.acts: Counter = Counter()
        self._open: Dict[ItemKey, Tuple[str, float]] = {}
        self._assigned: Optional[ItemKey] = None
        self._host: Dict[ItemKey, str] = {}
        self._anonymous: Dict[int, bool] = {}
        self._titles: Dict[int, str] = {}
        self._last_firing: Optional[Firing] = None  # the firing the last caused event came from
        self._words = ""  # ... and its cause in words
        self._acted: Set[Tuple[int, str]] = set()  # (job, verb) the current firing acted on
        self._engine = supervisor.engine
        supervisor.add_listener(self._event)

    def close(self) -> None:
        """Stop listening (the page is written from what was recorded)."""
        try:
            self.supervisor.remove_listener(self._event)
        except ValueError:
            pass

    # ------------------------------------------------------------------ listening
    def _event(self, text: str) -> None:
        parts = text.split("-", 3)
        if len(parts) < 3 or not parts[2].isdigit():
            return  # a global or clock event: no item
        name, type_, jobid = parts[0], parts[1], int(parts[2])
        now = self.simulator.time
        if name == ASSIGNED:
            if type_ == "host":
                if self._assigned is not None and len(parts) == 4:
                    self._host[self._assigned] = parts[3]
            elif len(parts) == 4:
                self._assigned = (jobid, type_, parts[3])
            return
        cause = self._cause_text(text, jobid) if name != RUNNING else ""
        if type_ not in ("work", "subjob") or len(parts) != 4:
            return
        key: ItemKey = (jobid, type_, parts[3])
        if type_ == "subjob" and not self._is_anonymous(jobid):
            return  # a frame job's subjobs follow the job: its work items are what runs
        if name == RUNNING:
            if key == self._assigned:
                self._open[key] = (self._host.pop(key, "?"), now)
                self._assigned = None
        else:
            started = self._open.pop(key, None)
            if started is not None:
                self._close(key, started, now, name)
        if self.detailed:
            log = self.items.get(key)
            if log is None:
                if len(self.items) >= self.detail_limit:
                    self._give_up_detail()
                    return
                log = self.items[key] = ItemLog()
            log.events.append((now, text, cause))
            if name == PENDING and cause:
                log.released_by, log.released_at = cause, now

    def _close(self, key: ItemKey, started: Tuple[str, float], end: float, outcome: str) -> None:
        host, start = started
        span = self.spans.get(key[0])
        if span is None:
            span = self.spans[key[0]] = JobSpan(start, end)
        span.first = min(span.first, start)
        span.last = max(span.last, end)
        span.runs += 1
        if self.detailed:
            if len(self.runs) >= self.detail_limit:
                self._give_up_detail()
            else:
                self.runs.append(Run(key, host, start, end, outcome))

    def _cause_text(self, text: str, jobid: int) -> str:
        """The callback behind this event in words ('' for the farm's own changes, and past the
        detail limit, where words are not kept); records the firing and, when it acted on another
        job, the link. One firing is one run of one callback (the engine's running firing)."""
        running = self._engine.running
        if running is None:
            return ""  # no callback is running: the farm's own change, or a direct call
        detailed = self.detailed
        if running is not self._last_firing:
            self._last_firing = running
            self._acted = set()
            self._words = ""
            now = self.simulator.time
            self.firing_times.append(now)
            self.firing_jobs.append(running.jobid)
            if detailed:
                if len(self.firings) >= self.detail_limit:
                    self._give_up_detail()
                    detailed = False
                else:
                    self._words = self.supervisor.cause().describe(self._title)
                    self.firings.append(FiringRecord(now, running.jobid, self._words))
        if detailed and len(self.firings[-1].effects) < EFFECTS_KEPT:
            self.firings[-1].effects.append(text)
        if running.jobid != jobid:
            verb = self.supervisor.cause().verb
            if verb and (jobid, verb) not in self._acted:
                self._acted.add((jobid, verb))  # once per firing, however many events it caused
                self.acts[(running.jobid, jobid, verb)] += 1
        return self._words

    def _give_up_detail(self) -> None:
        self.detailed = False
        self.runs, self.firings, self.items = [], [], {}

    def _is_anonymous(self, jobid: int) -> bool:
        found = self._anonymous.get(jobid)
        if found is None:
            found = self._anonymous[jobid] = bool(self.supervisor.job_state(jobid).anonymous)
        return found

    def _title(self, jobid: int) -> str:
        found = self._titles.get(jobid)
        if found is None:
            try:
                j = self.supervisor.job_state(jobid)
                found = job_title(jobid, j.label, j.name)
            except KeyError:
                found = f"job {jobid}"
            self._titles[jobid] = found
        return found

    def still_running(self) -> List[Run]:
        """Items running when the simulation stopped (an interrupted or step-limited run)."""
        end = self.simulator.time
        return [Run(key, host, start, end, RUNNING) for key, (host, start) in self._open.items()]
