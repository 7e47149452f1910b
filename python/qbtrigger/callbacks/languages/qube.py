"""The ``qube`` language: one keyword per callback, acting on the owning job (SPEC §7.1).

Work keywords act on the owning job's work item named by the triggering event's extra (so
``complete-work-render-5`` fires ``unblock-work-self`` on frame 5 of the owner); subjob keywords
on the subjob the triggering event names, or on all subjobs when the event is not a subjob event.
Each keyword compiles once to a small closure; running one is a single host call.
"""

from __future__ import annotations

from typing import Dict, Optional

from ..errors import CodeError
from ...vocabulary import UNBLOCK_SINGLE
from . import Invocation, Language, LanguageContext, Runner

__all__ = ["QubeLanguage", "create", "JOB_KEYWORDS", "WORK_KEYWORDS", "SUBJOB_KEYWORDS", "MAIL_KEYWORDS", "KEYWORDS"]

#: keyword -> host verb
JOB_KEYWORDS = {
    f"{verb}-self": verb
    for verb in "unblock block fail kill migrate preempt interrupt suspend resume".split()
}
WORK_KEYWORDS = {
    f"{verb}-work-self": verb for verb in "unblock block kill retry requeue complete fail".split()
}
SUBJOB_KEYWORDS = {
    f"{verb}-subjob-self": verb
    for verb in "unblock block fail kill migrate preempt interrupt suspend resume".split()
}
SUBJOB_KEYWORDS["unblock-subjob-self-single"] = UNBLOCK_SINGLE
#: keyword -> kind of status mail
MAIL_KEYWORDS = {
    "mail-status": "status",
    "mail-subjob-status": "subjob-status",
    "mail-report-status": "report-status",
    "mail-license-status": "license-status",
}
KEYWORDS = tuple(list(JOB_KEYWORDS) + list(WORK_KEYWORDS) + list(SUBJOB_KEYWORDS) + list(MAIL_KEYWORDS))


def _job_runner(verb: str) -> Runner:
    def run(inv: Invocation) -> None:
        inv.host.act(verb, inv.callback.jobid)

    return run


def _work_runner(verb: str, keyword: str) -> Runner:
    def run(inv: Invocation) -> None:
        event = inv.event
        if event is None or event.type != "work" or event.extra is None:
            inv.log(f"{keyword}: the triggering event names no work item ({event}); nothing done\n")
            return
        inv.host.act(verb, inv.callback.jobid, work=event.extra)

    return run


def _fixed_work_runner(verb: str, work: str) -> Runner:
    def run(inv: Invocation) -> None:
        inv.host.act(verb, inv.callback.jobid, work=work)

    return run


def _subjob_runner(verb: str) -> Runner:
    def run(inv: Invocation) -> None:
        event = inv.event
        subjob: Optional[int] = None
        if event is not None and event.type == "subjob" and event.extra is not None and event.extra.isdigit():
            subjob = int(event.extra)
        inv.host.act(verb, inv.callback.jobid, subjob=subjob)

    return run


def _mail_runner(kind: str) -> Runner:
    def run(inv: Invocation) -> None:
        from .mail import send_status_mail  # the mail module pulls in smtplib; load it on first use

        send_status_mail(inv, kind)

    return run


class QubeLanguage(Language):
    name = "qube"
    flag = "qube"
    extensions = (".qcb",)
    acts_on_event_item = True

    def __init__(self) -> None:
        self._runners: Dict[str, Runner] = {}
        for keyword, verb in JOB_KEYWORDS.items():
            self._runners[keyword] = _job_runner(verb)
        for keyword, verb in WORK_KEYWORDS.items():
            self._runners[keyword] = _work_runner(verb, keyword)
        for keyword, verb in SUBJOB_KEYWORDS.items():
            self._runners[keyword] = _subjob_runner(verb)
        for keyword, kind in MAIL_KEYWORDS.items():
            self._runners[keyword] = _mail_runner(kind)

    def compile(self, code: str) -> Runner:
        if not isinstance(code, str):
            raise CodeError(f"qube code must be a keyword string, not {type(code).__name__}")
        runner = self._runners.get(code.strip().lower())
        if runner is None:
            raise CodeError(
                f"unknown qube keyword '{code.strip()}' (SPEC §7.1: job keywords such as unblock-self, "
                "work keywords such as unblock-work-self, subjob keywords such as unblock-subjob-self, "
                "mail keywords such as mail-status)"
            )
        return runner

    def compile_for_work(self, keyword: str, work: str) -> Runner:
        """A work keyword bound to one frame, whatever event fires it (a dependency's per-frame
        link, whose triggers may end on a job event)."""
        verb = WORK_KEYWORDS.get(keyword.strip().lower())
        if verb is None:
            raise CodeError(f"'{keyword}' is not a work keyword")
        return _fixed_work_runner(verb, work)

    def may_act(self, code: str, verb: str, scope: str) -> bool:
        """A keyword says exactly what it does: ``unblock-self`` unblocks the job (and so do the
        subjob forms), ``unblock-work-self`` the frame its triggering event names."""
        keyword = code.strip().lower()
        if scope == "work":
            return keyword == f"{verb}-work-self"
        return keyword in (f"{verb}-self", f"{verb}-subjob-self", f"{verb}-subjob-self-single")


def create(context: LanguageContext) -> QubeLanguage:
    return QubeLanguage()
