"""What ``qbtrigger simulate`` prints and writes once the farm has run: the first unblocks, the
per-job summary, callback logs, what is stuck and why, and the ``--report-json`` file.

Apart from :mod:`.simulate` so that running a simulation and presenting its outcome can be read
(and changed) separately. Imported only when ``simulate`` runs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from qbtrigger.callbacks import GLOBAL_JOB
from qbtrigger.supervisor.report import format_duration, job_title
from qbtrigger.vocabulary import COMPLETE, FAILED, KILLED

from .common import CLIError

if TYPE_CHECKING:
    from qbtrigger.supervisor import CallbackWait, JobReport, SimReport, StuckItem, StuckJob, Supervisor
    from qbtrigger.supervisor.causes import Cause

__all__ = ["LOG_LINES_SHOWN", "Unblocks", "field_notes", "print_field_notes", "print_report", "write_report_json"]

#: Lines of callback output shown in the report (``--report-json`` keeps all of them).
LOG_LINES_SHOWN = 12
#: Groups of alike blocked frames shown per stuck job, and frame names listed per group.
FRAME_GROUPS_SHOWN = 10
FRAMES_NAMED = 12
#: Failed work items named per failed job.
FAILED_ITEMS_SHOWN = 10


class Unblocks:
    """Watches the event stream: writes the ``--log`` lines, and keeps the first unblocks (a job
    or item made pending by an ``unblock``) with what did it (:meth:`Supervisor.cause`: the
    callback and the event that fired it, its time trigger, the dependency), to show a newcomer
    frames unblocking and why."""

    SHOWN = 8

    def __init__(self, supervisor: Supervisor, log: TextIO | None) -> None:
        self.supervisor = supervisor
        self.log = log
        self.first: list[tuple[float, str, Cause]] = []
        self.count = 0
        self.subjobs = 0  # counted, not listed: they would crowd out the jobs and frames

    def __call__(self, text: str, virtual_time: float) -> None:
        if self.log is not None:
            record = {"time": round(virtual_time, 6), "qube_time": self.supervisor.now, "event": text}
            self.log.write(json.dumps(record) + "\n")
        if not text.startswith("pending-"):
            return
        cause = self.supervisor.cause()
        if cause.verb != "unblock":
            return  # a retry, a requeue...: not an unblock
        if text.split("-", 2)[1] == "subjob":
            self.subjobs += 1
            return
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append((virtual_time, text, cause))

    def print(self, out: TextIO) -> None:
        if not self.first:
            return
        more = [f"first {len(self.first)} of {self.count}"] if self.count > len(self.first) else []
        if self.subjobs:
            more.append(f"and {self.subjobs} subjob{'s' if self.subjobs != 1 else ''}")
        print(f"unblocked{' (' + '; '.join(more) + ')' if more else ''}:", file=out)
        for virtual_time, text, cause in self.first:
            print(f"  {format_duration(virtual_time):>9}  {self._item(text):<28} by {cause.describe(self._title)}", file=out)

    def to_list(self) -> list[dict]:
        """The first unblocks for ``--report-json``: time, event and cause."""
        return [{"time": round(t, 6), "event": text, "cause": cause.to_dict(),
                 "text": cause.describe(self._title)} for t, text, cause in self.first]

    def _title(self, jobid: int) -> str:
        job = self.supervisor.job(jobid) or {}
        return job_title(jobid, job.get("label"), job.get("name"))

    def _item(self, text: str) -> str:
        parts = text.split("-", 3)
        try:
            job = self.supervisor.job(int(parts[2]))
        except (IndexError, ValueError):
            return text
        name = job_title(int(parts[2]), (job or {}).get("label"), (job or {}).get("name"))
        return f"{name} {parts[1]} '{parts[3]}'" if len(parts) == 4 else f"{name}"


def field_notes(supervisor: Supervisor) -> list[dict]:
    """What ``check`` says of the jobs' fields, for the run too: fields qbtrigger keeps but does not
    model (the run cannot show their effect) and unknown fields that look misspelt. One dict per
    finding: ``job`` (id), ``level`` ("ignored" or "warning"), ``message``."""
    from qbtrigger.callbacks.checks import review_fields

    return [{"job": jobid, "level": finding.level, "message": finding.message}
            for jobid in supervisor.job_ids(removed=True)
            for finding in review_fields([supervisor.job_state(jobid).data])]


def print_field_notes(notes: list[dict], supervisor: Supervisor, out: TextIO) -> None:
    """One line per distinct note, naming the jobs it is about (a farm's jobs often share one)."""
    jobs_of: dict[tuple[str, str], list[int]] = {}
    for note in notes:
        jobs_of.setdefault((note["level"], note["message"]), []).append(note["job"])
    for (level, message), ids in jobs_of.items():
        if len(ids) == 1:
            job = supervisor.job_state(ids[0])
            name = job.data.get("name")
            whose = f"job {job.id} ({job_title(job.id, job.label, name if isinstance(name, str) else None)})"
        else:
            ranges = _ranges(ids).split(", ")
            whose = f"jobs {_names(ranges, FAILED_ITEMS_SHOWN)}"
            if len(ranges) > FAILED_ITEMS_SHOWN:
                whose += " ranges (--report-json lists them)"
        text = f"{whose}: {level}: {message}"
        if level == "ignored":
            text += "; this run goes as if they were not set"
        print(text, file=out)


def print_report(report: SimReport, supervisor: Supervisor, out: TextIO) -> None:
    """Every job's outcome, the callback logs, and for each stuck job what it waits on."""
    print(f"{len(report.jobs)} job(s); makespan {format_duration(report.makespan)} of virtual time; "
          f"{report.events:,} events", file=out)
    width = max([len(j.label or j.name or "") for j in report.jobs] + [5])
    for job in report.jobs:
        work = ", ".join(f"{state} {count}" for state, count in sorted(job.work.items()) if count) or "no work"
        print(f"  job {job.id:<6} {job.label or job.name or '-':<{width}}  {job.status:<9}  work: {work};  "
              f"callbacks fired: {job.callbacks_fired}", file=out)
    for cb in report.global_callbacks:
        print(f"  global callback {cb['index']} ({cb['language']}, triggers {cb['triggers']}): "
              f"fired {cb['count']}", file=out)
    _print_callback_logs(report, supervisor, out)
    captured = supervisor.captured_mail()
    if captured:
        print(f"{len(captured)} status mail(s) captured, not sent (--smtp HOST[:PORT] sends them; "
              f"--report-json holds them in full)", file=out)
    failed = report.failed_jobs
    if report.finished and not failed:
        print("every job finished", file=out)
        return
    if failed:
        _print_failed(failed, supervisor, out)
    if report.finished:
        return
    print(f"stuck: {len(report.stuck)} job(s) cannot go on", file=out)
    for stuck in report.stuck:
        _print_stuck(stuck, out)


def _print_stuck(stuck: StuckJob, out: TextIO) -> None:
    """One stuck job: why, to the root cause; its blocked frames first (alike ones on one line),
    then the job's own callbacks, then its held subjobs on one line."""
    if stuck.work and stuck.reason.startswith("has blocked frames"):
        print(f"  job {stuck.id} {stuck.title} ({stuck.status}) has {len(stuck.work)} blocked "
              f"frame{'s' if len(stuck.work) != 1 else ''}:", file=out)
    else:
        print(f"  job {stuck.id} {stuck.title} {stuck.reason}", file=out)
    groups = _alike(stuck.work)
    for first, others in groups[:FRAME_GROUPS_SHOWN]:
        likewise = f"; likewise frame{'s' if len(others) > 1 else ''} {_names(others)}" if others else ""
        print(f"    frame {first.work} {first.reason}{likewise}", file=out)
    if len(groups) > FRAME_GROUPS_SHOWN:
        rest = sum(1 + len(others) for _, others in groups[FRAME_GROUPS_SHOWN:])
        print(f"    ... and {rest} more blocked frame(s) (all of them: --report-json)", file=out)
    for wait in stuck.callbacks:
        _print_wait(wait, out, "    ")
    if stuck.subjobs:
        held = "; ".join(f"{_ranges(ids)} {state}" for state, ids in sorted(stuck.subjobs.items()))
        print(f"    subjobs held: {held}", file=out)


def _alike(items: list[StuckItem]) -> list[tuple[StuckItem, list[str]]]:
    """Blocked frames grouped by reason, with the frame's own name taken out: "frame 3 waits for
    render frame 3, which failed" and the same for frame 7 make one group."""
    groups: dict[str, tuple[StuckItem, list[str]]] = {}
    for item in items:
        name = str(item.work)
        key = re.sub(rf"(?<=frame ){re.escape(name)}(?![\w.-])", "\0", item.reason)
        if key in groups:
            groups[key][1].append(name)
        else:
            groups[key] = (item, [])
    return list(groups.values())


def _names(names: list[str], shown: int = FRAMES_NAMED) -> str:
    """The first ``shown`` names, and how many more."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _ranges(ids: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    parts, start = [], None
    for i, n in enumerate(ids):
        if start is None:
            start = n
        if i + 1 == len(ids) or ids[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts)


def _print_failed(failed: list[JobReport], supervisor: Supervisor, out: TextIO) -> None:
    """The verdict when jobs ended without completing: which, and which of their items failed."""
    print(f"not every job completed: {_states(failed)}", file=out)
    for job in failed:
        info = supervisor.job(job.id) or {}
        agenda, what = info.get("agenda") or [], "work item(s)"
        if not agenda:  # an agenda-less job: its subjobs are its work
            agenda, what = [{"name": s["id"], "status": s["status"]} for s in info.get("subjobs", [])], "subjob(s)"
        bad = [w for w in agenda if w["status"] in (FAILED, KILLED)]
        subjobs = _ended_subjobs(info) if what == "work item(s)" else ""
        if not bad:
            print(f"  job {job.id} {job.title} {job.status}{': ' + subjobs if subjobs else ''}", file=out)
            continue
        retries = info.get("retrywork", 0) or 0
        # an item failed or killed by an action (a callback's, its subjob's end) had retries left
        spent = [w for w in bad if (w.get("retries") or 0) >= retries]
        acted = [w for w in bad if (w.get("retries") or 0) < retries]
        tried = f"after {retries} retr{'y' if retries == 1 else 'ies'} each" if retries else "with no retries (retrywork 0)"
        parts = [f"{len(bad)} of {len(agenda)} {what} {'failed' if job.status == FAILED else 'failed or killed'}"]
        if spent:
            parts[0] += f" {tried}: {_failed_names(spent)}"
        if acted:
            parts.append(f"{len(acted)} ended by an action with retries left: {_failed_names(acted)}")
        if subjobs:
            parts.append(subjobs)
        print(f"  job {job.id} {job.title} {job.status}: {'; '.join(parts)}", file=out)


def _failed_names(items: list[dict]) -> str:
    return _names([str(w["name"]) for w in items], FAILED_ITEMS_SHOWN)


def _ended_subjobs(info: dict) -> str:
    """A frame job's failed and killed subjobs, and the frames no subjob was left to run:
    "subjob 0 failed, 2 frame(s) never ran"."""
    ended: dict[str, list[int]] = {}
    for sub in info.get("subjobs", []):
        if sub["status"] in (FAILED, KILLED):
            ended.setdefault(sub["status"], []).append(sub["id"])
    if not ended:
        return ""
    parts = [f"subjob{'s' if len(ids) > 1 else ''} {_ranges(ids)} {state}" for state, ids in ended.items()]
    left = sum(1 for w in info.get("agenda") or [] if w["status"] not in (COMPLETE, FAILED, KILLED))
    if left:
        parts.append(f"{left} frame(s) never ran")
    return ", ".join(parts)


def _states(jobs: list[JobReport]) -> str:
    counts = Counter(job.status for job in jobs)
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))


def _print_callback_logs(report: SimReport, supervisor: Supervisor, out: TextIO) -> None:
    """What callbacks wrote (prints, tracebacks, mail sent), the first lines of it; global
    callbacks' (job 0's) first."""
    owners = [(GLOBAL_JOB, "global callbacks")] + [(job.id, job.title) for job in report.jobs]
    lines = [
        (jobid, title, line)
        for jobid, title in owners
        for entry in supervisor.callback_log(jobid)
        for line in entry.rstrip("\n").split("\n")
    ]
    if not lines:
        return
    print(f"callback logs ({len(lines)} line{'s' if len(lines) != 1 else ''}):", file=out)
    for jobid, title, line in lines[:LOG_LINES_SHOWN]:
        print(f"  {title}: {line}" if jobid == GLOBAL_JOB else f"  job {jobid} {title}: {line}", file=out)
    if len(lines) > LOG_LINES_SHOWN:
        print(f"  ... {len(lines) - LOG_LINES_SHOWN} more (all of them: --report-json)", file=out)


def _print_wait(wait: CallbackWait, out: TextIO, indent: str) -> None:
    awaited = ", ".join(wait.awaited) or "nothing (it can fire on its next event)"
    print(f"{indent}{wait.callback} ({wait.language}: {wait.code.strip()[:40]}) waits for: {awaited}", file=out)


def write_report_json(path: str, report: SimReport, supervisor: Supervisor, unblocks: Unblocks | None = None) -> None:
    """``--report-json``: the report with each job's work items and callback log (and the first
    unblocks with their causes)."""
    data = report.to_dict()
    if unblocks is not None:
        data["unblocked"] = unblocks.to_list()
    for job in data["jobs"]:
        info = supervisor.job(job["id"])
        job["work_items"] = [{"name": w["name"], "status": w["status"]} for w in (info or {}).get("agenda", [])]
        job["callback_log"] = supervisor.callback_log(job["id"])
    data["global_callback_log"] = supervisor.callback_log(GLOBAL_JOB)
    data["field_notes"] = field_notes(supervisor)
    data["captured_mail"] = supervisor.captured_mail()
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
    except OSError as exc:
        raise CLIError(f"cannot write {path!r}: {exc.strerror or exc}") from None
