"""What a simulation run reports: per-job outcomes, and for whatever did not finish, why not.

Every class here is a plain dataclass with :meth:`to_dict` giving JSON-able data (the CLI prints
it); nothing here refers back to the supervisor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..callbacks.jobs import job_title  # the one way a job is named
from ..vocabulary import FAILED, KILLED

__all__ = ["format_duration", "CallbackWait", "StuckItem", "StuckJob", "JobReport", "SimReport", "job_title"]


def format_duration(seconds: float) -> str:
    """Virtual time as reports show it: seconds under 2 min, minutes under 2 h, hours beyond."""
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class CallbackWait:
    """A live callback that would release a stuck job or work item, and what it still awaits
    (``latched``/``awaited``: its atoms in the expression's own words, SPEC §5 why-not)."""

    handle: int
    jobid: int
    callback: str  # how logs name it: "callback 0", "dependency callback", ...
    triggers: str
    language: str
    code: str
    latched: Tuple[str, ...]
    awaited: Tuple[str, ...]

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["latched"], d["awaited"] = list(self.latched), list(self.awaited)
        return d


@dataclass
class StuckItem:
    """A blocked work item of a job that did not finish."""

    work: Optional[str]
    status: str
    reason: str
    callbacks: List[CallbackWait] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {"work": self.work, "status": self.status, "reason": self.reason,
                "callbacks": [c.to_dict() for c in self.callbacks]}


@dataclass
class StuckJob:
    """A live job that is not done when the run ends: its state, why (``reason``: followed to the
    root cause, "is blocked: its dependency waits for fx to complete, which failed"), the callbacks
    that would release it (empty when none would), its blocked work items with theirs, and its
    held subjobs grouped by state."""

    id: int
    label: Optional[str]
    status: str
    reason: str
    callbacks: List[CallbackWait] = field(default_factory=list)
    work: List[StuckItem] = field(default_factory=list)
    work_counts: Dict[str, int] = field(default_factory=dict)
    name: Optional[str] = None  # the job's ``name`` field
    subjobs: Dict[str, List[int]] = field(default_factory=dict)  # state -> its held subjobs

    @property
    def title(self) -> str:
        return job_title(self.id, self.label, self.name)

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "label": self.label, "name": self.name, "status": self.status, "reason": self.reason,
                "callbacks": [c.to_dict() for c in self.callbacks], "work": [w.to_dict() for w in self.work],
                "work_counts": dict(self.work_counts), "held_subjobs": {k: list(v) for k, v in self.subjobs.items()}}


@dataclass
class JobReport:
    """One job at the end of a run: final status, work items per state, callback firings."""

    id: int
    label: Optional[str]
    status: str
    work: Dict[str, int]
    callbacks_fired: int
    name: Optional[str] = None  # the job's ``name`` field

    @property
    def title(self) -> str:
        return job_title(self.id, self.label, self.name)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class SimReport:
    """The outcome of :meth:`Simulator.run`.

    ``makespan``: virtual seconds from the simulation's start to its last state change.
    ``finished``: every live job is done (complete, failed or killed). ``stuck``: the jobs that are
    not, with why. ``events``: events emitted during this run (this process). ``start_time`` and
    ``end_time`` are Qube times. ``global_callbacks``: the administrator's callbacks attached to no
    job (:meth:`Supervisor.global_callbacks`), with how often each fired.
    """

    makespan: float
    finished: bool
    jobs: List[JobReport]
    stuck: List[StuckJob]
    events: int
    steps: int
    start_time: int
    end_time: int
    global_callbacks: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def failed_jobs(self) -> List[JobReport]:
        """The jobs that ended without completing: failed or killed."""
        return [j for j in self.jobs if j.status in (FAILED, KILLED)]

    def to_dict(self) -> Dict[str, Any]:
        return {"makespan": self.makespan, "finished": self.finished, "events": self.events,
                "steps": self.steps, "start_time": self.start_time, "end_time": self.end_time,
                "jobs": [j.to_dict() for j in self.jobs], "stuck": [s.to_dict() for s in self.stuck],
                "global_callbacks": [dict(g) for g in self.global_callbacks]}

    def statuses(self) -> Dict[int, str]:
        """job id -> final status."""
        return {j.id: j.status for j in self.jobs}
