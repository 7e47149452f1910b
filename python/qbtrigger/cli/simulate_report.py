"""What ``qbtrigger simulate`` prints and writes once the farm has run: the first unblocks, the
per-job summary, callback logs, what is stuck and why, and the ``--report-json`` file.

Apart from :mod:`.simulate` so that running a simulation and presenting its outcome can be read
(and changed) separately. Imported only when ``simulate`` runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TextIO

from qbtrigger.supervisor.report import job_title

from .common import CLIError

if TYPE_CHECKING:
    from qbtrigger.supervisor import CallbackWait, SimReport, Supervisor

__all__ = ["LOG_LINES_SHOWN", "Unblocks", "print_report", "write_report_json"]

#: Lines of callback output shown in the report (``--report-json`` keeps all of them).
LOG_LINES_SHOWN = 12


class Unblocks:
    """Watches the event stream: writes the ``--log`` lines, and keeps the first unblocks (an item
    going back to pending) with the event just before them, to show a newcomer frames unblocking."""

    SHOWN = 8

    def __init__(self, supervisor: Supervisor, log: TextIO | None) -> None:
        self.supervisor = supervisor
        self.log = log
        self.first: list[tuple[float, str, str]] = []
        self.count = 0
        self.cause = ""

    def __call__(self, text: str, virtual_time: float) -> None:
        if self.log is not None:
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
        name = job_title(int(parts[2]), (job or {}).get("label"), (job or {}).get("name"))
        return f"{name} {parts[1]} '{parts[3]}'" if len(parts) == 4 else f"{name}"


def print_report(report: SimReport, supervisor: Supervisor, out: TextIO) -> None:
    """Every job's outcome, the callback logs, and for each stuck job what it waits on."""
    print(f"{len(report.jobs)} job(s); makespan {_duration(report.makespan)} of virtual time; "
          f"{report.events:,} events", file=out)
    width = max([len(j.label or j.name or "") for j in report.jobs] + [5])
    for job in report.jobs:
        work = ", ".join(f"{state} {count}" for state, count in sorted(job.work.items()) if count) or "no work"
        print(f"  job {job.id:<6} {job.label or job.name or '-':<{width}}  {job.status:<9}  work: {work};  "
              f"callbacks fired: {job.callbacks_fired}", file=out)
    _print_callback_logs(report, supervisor, out)
    if report.finished:
        print("every job finished", file=out)
        return
    print(f"stuck: {len(report.stuck)} job(s) cannot go on", file=out)
    for stuck in report.stuck:
        print(f"  job {stuck.id} {stuck.label or stuck.name or ''} is {stuck.status}: {stuck.reason}", file=out)
        for wait in stuck.callbacks:
            _print_wait(wait, out, "    ")
        for item in stuck.work[:10]:
            print(f"    work '{item.work}' is {item.status}: {item.reason}", file=out)
            for wait in item.callbacks:
                _print_wait(wait, out, "      ")
        if len(stuck.work) > 10:
            print(f"    ... and {len(stuck.work) - 10} more work item(s)", file=out)


def _print_callback_logs(report: SimReport, supervisor: Supervisor, out: TextIO) -> None:
    """What callbacks wrote (prints, tracebacks, mail sent), the first lines of it."""
    lines = [
        (job.id, job.label or job.name, line)
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


def _print_wait(wait: CallbackWait, out: TextIO, indent: str) -> None:
    awaited = ", ".join(wait.awaited) or "nothing (it can fire on its next event)"
    print(f"{indent}{wait.callback} ({wait.language}: {wait.code.strip()[:40]}) waits for: {awaited}", file=out)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def write_report_json(path: str, report: SimReport, supervisor: Supervisor) -> None:
    """``--report-json``: the report with each job's work items and callback log."""
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
