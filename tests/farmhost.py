"""A small in-memory farm for the callback tests: jobs, work states, events back to the engine.

It implements :class:`qbtrigger.callbacks.Host` the simplest way that behaves like a farm: an
action changes a state and reports the state event (``pending-job-5`` when job 5 is unblocked);
:meth:`FarmHost.run` plays the farm itself, completing runnable work items one at a time.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Dict, List, Optional

from qbtrigger.callbacks import CallbackEngine, Host, MailSettings

# verb -> state it leads to (None: an edge with no state change)
_JOB_STATES = {
    "unblock": "pending", "block": "blocked", "kill": "killed", "fail": "failed", "complete": "complete",
    "retry": "pending", "requeue": "pending", "suspend": "suspended", "resume": "pending",
    "migrate": "pending", "preempt": "pending", "interrupt": "pending", "retire": "complete",
}
_WORK_STATES = {
    "unblock": "pending", "block": "blocked", "kill": "killed", "fail": "failed", "complete": "complete",
    "retry": "pending", "requeue": "pending", "retire": "complete",
}


class FarmHost(Host):
    def __init__(self, **engine_options: Any) -> None:
        self.jobs: Dict[int, Dict[str, Any]] = {}
        self.logs: Dict[int, List[str]] = defaultdict(list)
        self.actions: List[tuple] = []
        self.admins = {"admin"}
        self.next_id = 100
        self.mail_settings = MailSettings()
        self.engine = CallbackEngine(self, **engine_options)

    # ----------------------------------------------------------------- submitting
    def submit(self, jobs: List[Dict[str, Any]]) -> List[int]:
        """Qube-style: assign ids and pgrp, apply the dependency plan's initial states, register."""
        jobs = copy.deepcopy(jobs)
        pgrp = self.next_id
        for job in jobs:
            job["id"] = self.next_id
            job.setdefault("pgrp", pgrp)
            job.setdefault("user", "artist")
            job.setdefault("status", "pending")
            job["agenda"] = [w if isinstance(w, dict) else {"name": str(w)} for w in job.get("agenda", [])]
            for work in job["agenda"]:
                work.setdefault("status", "pending")
            self.next_id += 1
        submission = self.engine.compile(jobs)
        for plan in submission.jobs:
            job = next(j for j in jobs if j["id"] == plan.job.id)
            if plan.blocked:
                job["status"] = "blocked"
            if plan.blocked_work:
                for work in job["agenda"]:
                    work["status"] = "blocked"
            self.jobs[job["id"]] = job
        self.engine.register(submission)
        return [job["id"] for job in jobs]

    # ----------------------------------------------------------------- Host
    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return [
            copy.deepcopy(job)
            for jobid, job in sorted(self.jobs.items())
            if all(job.get(k) == v for k, v in criteria.items())
        ]

    def job(self, jobid: int) -> Optional[Dict[str, Any]]:
        job = self.jobs.get(jobid)
        return None if job is None else job  # the tests read, never write, these

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        self.actions.append((verb, jobid, work) if subjob is None else (verb, jobid, work, subjob))
        job = self.jobs.get(jobid)
        if job is None:
            raise KeyError(f"unknown job {jobid}")
        if subjob is not None or verb == "unblock-single":
            return
        if work is not None:
            item = next((w for w in job["agenda"] if w["name"] == work), None)
            if item is None:
                raise KeyError(f"job {jobid} has no work item '{work}'")
            self._set_work(job, item, _WORK_STATES[verb])
            return
        if verb == "remove":
            del self.jobs[jobid]
            self.engine.feed(f"removed-job-{jobid}")
            self.engine.remove_job(jobid)
            return
        self._set_job(job, _JOB_STATES[verb])

    def modify(self, jobid: int, fields: Dict[str, Any]) -> None:
        if jobid not in self.jobs:
            raise KeyError(f"unknown job {jobid}")
        self.jobs[jobid].update(fields)
        self.engine.feed(f"modified-job-{jobid}")

    def is_admin(self, user: Optional[str]) -> bool:
        return user in self.admins

    def log(self, jobid: int, text: str) -> None:
        self.logs[jobid].append(text)

    # ----------------------------------------------------------------- states and the farm
    def _set_job(self, job: Dict[str, Any], state: str) -> None:
        if job["status"] != state:
            job["status"] = state
            self.engine.feed(f"{state}-job-{job['id']}")

    def _set_work(self, job: Dict[str, Any], item: Dict[str, Any], state: str) -> None:
        if item["status"] != state:
            item["status"] = state
            self.engine.feed(f"{state}-work-{job['id']}-{item['name']}")
            if state in ("complete", "failed", "killed") and all(
                w["status"] in ("complete", "failed", "killed") for w in job["agenda"]
            ):
                failed = any(w["status"] != "complete" for w in job["agenda"])
                self._set_job(job, "failed" if failed else "complete")

    def runnable(self) -> List[tuple]:
        return [
            (job["id"], work["name"])
            for job in self.jobs.values()
            if job["status"] in ("pending", "running")
            for work in job["agenda"]
            if work["status"] == "pending"
        ]

    def run(self, limit: int = 100000) -> List[tuple]:
        """Complete runnable work items, highest job id first (downstream before upstream, so a
        frame that waits shows it), until none is left; return the order."""
        order = []
        for _ in range(limit):
            ready = self.runnable()
            if not ready:
                return order
            jobid, name = max(ready, key=lambda item: item[0])
            job = self.jobs[jobid]
            item = next(w for w in job["agenda"] if w["name"] == name)
            self._set_job(job, "running")
            self._set_work(job, item, "complete")
            order.append((jobid, name))
        raise AssertionError("the farm did not settle")
