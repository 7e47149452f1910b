"""The ``mail`` language and the qube ``mail-*`` keywords: a status message over SMTP (SPEC §7.4).

A ``mail`` callback's code is an optional note, any text, appended to the message; there is
nothing to compile, so nothing is rejected. :func:`send_status_mail` does the work for this
language and for the qube keywords ``mail-status``, ``mail-subjob-status``, ``mail-report-status``
and ``mail-license-status``. It composes a message to the owning job's ``mailaddress`` and hands
it to the host (:meth:`Host.send_mail`), which sends it with :func:`smtp_send` through its
:class:`MailSettings` (a plain host at once; the reference supervisor on a thread of its own, so
a slow server never holds up matching, or not at all when it captures mail). A job without an
address or owner, a refused connection or a timeout is written to the job's callback log and never
raised: a notification must not stop the engine.
"""

from __future__ import annotations

import re
import smtplib
import socket
from collections import Counter
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Dict, List, Tuple

from ...vocabulary import BLOCKED, COMPLETE, FAILED, KILLED, PENDING, RUNNING, SUSPENDED, WAITING
from ..host import MailSettings
from . import Invocation, Language, LanguageContext, Runner

__all__ = ["MailLanguage", "send_status_mail", "smtp_send", "MAIL_KINDS", "create"]

#: The kinds of status mail: ``mail`` callbacks send "status"; the qube keywords ``mail-<kind>``.
MAIL_KINDS = ("status", "subjob-status", "report-status", "license-status")

#: Work statuses in the order a report lists them; others follow alphabetically.
#: How a report mail orders work counts: terminal states first, then the rest.
_STATUS_ORDER = (COMPLETE, FAILED, KILLED, RUNNING, PENDING, WAITING, BLOCKED, SUSPENDED)
#: A report names at most this many failed or killed work items.
_REPORT_NAMES = 50
#: Job fields a license-status mail shows when the host provides them.
_LICENSE_FIELDS = ("reservations", "requirements", "restrictions")

_ADDRESS_SPLIT = re.compile(r"[\s,;]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _addresses(value: Any) -> List[str]:
    """``"a@x, b@y c@z"`` (or a list of such) as a list of addresses."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [a for item in items for a in _ADDRESS_SPLIT.split(str(item)) if a]


def _one_line(value: Any) -> str:
    # A label holding a newline must not turn into a header of its own.
    return _CONTROL.sub(" ", str(value)).strip()


def _order(status: str) -> tuple:
    return (_STATUS_ORDER.index(status), "") if status in _STATUS_ORDER else (len(_STATUS_ORDER), status)


def _compose(inv: Invocation, job: Dict[str, Any], kind: str, note: str) -> tuple:
    """The subject and body of a status mail."""
    event = inv.event
    jobid = job.get("id", inv.jobid)
    label = job.get("label")
    status = job.get("status") or "unknown"
    named = f"job {jobid} '{label}'" if label else f"job {jobid}"
    subjob = event.extra if event is not None and event.type == "subjob" else None
    work = event.extra if event is not None and event.type == "work" else None

    subject = f"qbtrigger: {named} {status}"
    if kind == "subjob-status" and event is not None and subjob is not None:
        subject = f"qbtrigger: {named} subjob {subjob} {event.name}"
    elif kind == "report-status":
        subject += " (report)"
    elif kind == "license-status":
        subject += " (license status)"

    rows = [
        ("Job", f"{jobid}" + (f" '{label}'" if label else "")),
        ("Owner", job.get("user") or "-"),
        ("Status", status),
        ("Callback", inv.callback.describe()),
        ("Triggers", inv.callback.triggers_text()),
        ("Event", str(event) if event is not None else "(none: fired by the clock or at registration)"),
        ("Work", work if work is not None else "(not a work event)"),
    ]
    if kind == "subjob-status":
        rows.append(("Subjob", subjob if subjob is not None else "(not a subjob event)"))
    if kind == "license-status":
        shown = [(field.capitalize(), str(job[field])) for field in _LICENSE_FIELDS if job.get(field)]
        shown += [(k, str(v)) for k, v in sorted(job.items()) if "license" in str(k).lower() and v]
        rows += shown or [("Licenses", "(the job names no license reservations)")]
    # A fixed column, so mail filters and eyes find "Status:" at the same place in every message.
    lines = [f"{name + ':':<10} {value}" for name, value in rows]

    if kind == "report-status":
        agenda = job.get("agenda") or []
        counts = Counter(str(item.get("status") or "unknown") for item in agenda)
        lines += ["", f"Work items: {len(agenda)}"]
        lines += [f"  {s:<10} {counts[s]}" for s in sorted(counts, key=_order)]
        for bad in (FAILED, KILLED):
            names = [str(item.get("name")) for item in agenda if item.get("status") == bad]
            if names:
                more = f" (and {len(names) - _REPORT_NAMES} more)" if len(names) > _REPORT_NAMES else ""
                lines.append(f"  {bad}: {', '.join(names[:_REPORT_NAMES])}{more}")
    if note.strip():
        lines += ["", note.rstrip()]
    return _one_line(subject), "\n".join(lines) + "\n"


def send_status_mail(inv: Invocation, kind: str, note: str = "") -> bool:
    """Compose the owning job's status mail to its ``mailaddress`` and hand it to the host
    (:meth:`Host.send_mail`: the default sends it over SMTP at once; the reference supervisor
    sends it on a thread of its own, or captures it); True when the host took it.

    ``kind`` is one of :data:`MAIL_KINDS`. Every failure is logged to the job's callback log.
    """
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown status mail kind {kind!r} (known: {', '.join(MAIL_KINDS)})")
    job = inv.host.job(inv.jobid)
    if job is None:
        inv.log(f"mail: job {inv.jobid} not found; mail not sent\n")
        return False
    settings: MailSettings = getattr(inv.host, "mail_settings", None) or MailSettings()
    # as Qube: the job's mailaddress, else its owner; a bare user name gets the mail domain
    to = _addresses(job.get("mailaddress")) or _addresses(job.get("user"))
    if not to:
        inv.log(f"mail: job {inv.jobid} has no mailaddress and no owner; mail not sent\n")
        return False
    if settings.domain:
        to = [a if "@" in a else f"{a}@{settings.domain}" for a in to]
    try:
        subject, body = _compose(inv, job, kind, note or "")
        msg = EmailMessage()
        msg["From"] = settings.sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=True)
        msg.set_content(body)
    except Exception as exc:  # a malformed address...: the mail's problem, not the engine's
        inv.log(f"mail: {kind} mail to {', '.join(to)} not sent: {type(exc).__name__}: {exc}\n")
        return False
    return bool(inv.host.send_mail(inv.jobid, msg, to, kind))


def smtp_send(msg: EmailMessage, to: List[str], kind: str, settings: MailSettings) -> Tuple[bool, str]:
    """Send one composed status mail over SMTP; ``(sent, callback log text)``. Never raises: a
    refused connection or a timeout (``settings.timeout``, per socket operation) is the text."""
    subject = str(msg["Subject"])
    try:
        # gethostname, not smtplib's default getfqdn: a slow resolver must not stall the sender.
        with smtplib.SMTP(
            settings.host,
            settings.port,
            timeout=settings.timeout,
            local_hostname=socket.gethostname() or "localhost",
        ) as smtp:
            refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=to)
    except Exception as exc:
        return False, (
            f"mail: {kind} mail to {', '.join(to)} not sent "
            f"(SMTP {settings.host}:{settings.port}): {type(exc).__name__}: {exc}\n"
        )
    accepted = [a for a in to if a not in refused]
    text = f"mail: {kind} mail sent to {', '.join(accepted)}: {subject}\n"
    if refused:
        text += f"mail: refused recipients: {', '.join(sorted(refused))}\n"
    return True, text


class MailLanguage(Language):
    """``mail`` callbacks: the code is a note for the message body."""

    name = "mail"
    flag = "mail"

    def compile(self, code: str) -> Runner:
        note = code if isinstance(code, str) else ("" if code is None else str(code))

        def runner(inv: Invocation) -> None:
            send_status_mail(inv, kind="status", note=note)

        return runner


def create(context: LanguageContext) -> MailLanguage:
    return MailLanguage()
