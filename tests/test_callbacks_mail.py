"""The ``mail`` language and the status mails of the qube ``mail-*`` keywords (SPEC §7.4).

The messages go to a real SMTP server (aiosmtpd) on 127.0.0.1; failures (nothing listening, a
server that never answers) must end up in the job's callback log, never as an exception.
"""

from __future__ import annotations

import socket
import time
import types
from email import message_from_bytes, policy
from typing import Any, Dict, List, Optional

import pytest

from qbtrigger import Event
from qbtrigger.callbacks.host import Host, MailSettings
from qbtrigger.callbacks.languages import Callback, Invocation
from qbtrigger.callbacks.qbapi import QbApi
from qbtrigger.callbacks.languages.mail import MailLanguage, send_status_mail

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


class FakeHost(Host):
    def __init__(self, jobs: List[Dict[str, Any]], settings: MailSettings) -> None:
        self.jobs = {job["id"]: job for job in jobs}
        self.mail_settings = settings
        self.logs: List[tuple] = []

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return [
            dict(j) for _, j in sorted(self.jobs.items()) if all(j.get(k) == v for k, v in criteria.items())
        ]

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        raise AssertionError("mail callbacks do not act")

    def modify(self, jobid: int, fields: Dict[str, Any]) -> None:
        raise AssertionError("mail callbacks do not modify")

    def log(self, jobid: int, text: str) -> None:
        self.logs.append((jobid, text))

    def log_text(self) -> str:
        return "".join(text for _, text in self.logs)


class Collect:
    """aiosmtpd handler: keeps every envelope it is given."""

    def __init__(self) -> None:
        self.envelopes: List[Any] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


def free_port() -> int:
    # Controller(port=0) is not supported by every aiosmtpd: ask the kernel for a port instead.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    handler = Collect()
    port = free_port()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield types.SimpleNamespace(handler=handler, port=port)
    finally:
        controller.stop()


def make_jobs() -> List[Dict[str, Any]]:
    agenda = [{"name": str(i), "status": "complete"} for i in range(1, 8)]
    agenda += [
        {"name": "8", "status": "failed"},
        {"name": "9", "status": "failed"},
        {"name": "10", "status": "running"},
    ]
    return [
        {
            "id": 1234,
            "pgrp": 1234,
            "label": "render",
            "user": "alice",
            "status": "complete",
            "mailaddress": "alice@example.com",
            "agenda": agenda,
            "reservations": "host.processors=1,license.maya=1",
        },
        {
            "id": 1235,
            "pgrp": 1234,
            "label": None,
            "user": "alice",
            "status": "failed",
            "mailaddress": "a@example.com, b@example.com c@example.com",
            "agenda": [],
        },
        {"id": 1236, "pgrp": 1234, "label": "quiet", "user": "alice", "status": "complete", "agenda": []},
    ]


def invocation(
    host: FakeHost,
    jobid: int = 1234,
    event: Optional[Event] = None,
    triggers: Any = "complete-job-self",
    code: str = "",
) -> Invocation:
    callback = Callback(
        jobid=jobid,
        index=2,
        origin="job",
        triggers=triggers,
        language="mail",
        code=code,
        maximum=None,
        runner=lambda inv: None,
        count=1,
    )
    return Invocation(host=host, qb=QbApi(host), callback=callback, event=event)


def received(smtp) -> List[Any]:
    """(envelope, parsed message) pairs; the controller hands messages over on its own thread."""
    deadline = time.monotonic() + 5
    while not smtp.handler.envelopes and time.monotonic() < deadline:
        time.sleep(0.01)
    return [(env, message_from_bytes(env.content, policy=policy.default)) for env in smtp.handler.envelopes]


def settings_for(port: int, timeout: float = 5.0) -> MailSettings:
    return MailSettings(host="127.0.0.1", port=port, sender="farm@example.com", timeout=timeout)


def test_mail_language_sends_status_with_note(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    runner = MailLanguage().compile("Comp is next: see the dailies page.")
    runner(invocation(host, event=Event("complete", "job", 1234, None)))
    [(envelope, msg)] = received(smtp)
    assert envelope.mail_from == "farm@example.com"
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert msg["Subject"] == "qbtrigger: job 1234 'render' complete"
    assert msg["To"] == "alice@example.com"
    body = msg.get_content()
    assert "Job:       1234 'render'" in body
    assert "Status:    complete" in body
    assert "Triggers:  complete-job-self" in body
    assert "Event:     complete-job-1234" in body
    assert "Work:      (not a work event)" in body
    assert body.rstrip().endswith("Comp is next: see the dailies page.")
    assert "mail: status mail sent to alice@example.com" in host.log_text()


def test_mail_language_metadata():
    language = MailLanguage()
    assert (language.name, language.flag) == ("mail", "mail")


def test_work_event_names_the_work(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    triggers = ["complete-work-self-5", "failed-work-self-*"]
    assert send_status_mail(
        invocation(host, event=Event("complete", "work", 1234, "5"), triggers=triggers), "status"
    )
    [(_, msg)] = received(smtp)
    body = msg.get_content()
    assert "Work:      5" in body
    assert "Triggers:  (complete-work-self-5) || (failed-work-self-*)" in body


def test_multiple_recipients_and_no_label(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    assert send_status_mail(invocation(host, jobid=1235, event=Event("failed", "job", 1235, None)), "status")
    [(envelope, msg)] = received(smtp)
    assert envelope.rcpt_tos == ["a@example.com", "b@example.com", "c@example.com"]
    assert msg["Subject"] == "qbtrigger: job 1235 failed"


def test_subjob_status(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    inv = invocation(host, event=Event("running", "subjob", 1234, "3"), triggers="running-subjob-self-*")
    assert send_status_mail(inv, "subjob-status")
    [(_, msg)] = received(smtp)
    assert msg["Subject"] == "qbtrigger: job 1234 'render' subjob 3 running"
    assert "Subjob:    3" in msg.get_content()


def test_subjob_status_without_subjob_event(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    assert send_status_mail(invocation(host, event=Event("complete", "job", 1234, None)), "subjob-status")
    [(_, msg)] = received(smtp)
    assert msg["Subject"] == "qbtrigger: job 1234 'render' complete"
    assert "Subjob:    (not a subjob event)" in msg.get_content()


def test_report_status_counts_work(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    assert send_status_mail(invocation(host, event=Event("complete", "job", 1234, None)), "report-status")
    [(_, msg)] = received(smtp)
    assert msg["Subject"] == "qbtrigger: job 1234 'render' complete (report)"
    body = msg.get_content()
    assert "Work items: 10" in body
    assert "  complete   7" in body
    assert "  failed     2" in body
    assert "  running    1" in body
    assert "  failed: 8, 9" in body
    # Counts are listed in the fixed status order.
    assert body.index("complete   7") < body.index("failed     2") < body.index("running    1")


def test_license_status(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    assert send_status_mail(invocation(host, event=None), "license-status")
    [(_, msg)] = received(smtp)
    assert msg["Subject"] == "qbtrigger: job 1234 'render' complete (license status)"
    body = msg.get_content()
    assert "Reservations: host.processors=1,license.maya=1" in body
    assert "Event:" in body and "(none" in body


def test_without_a_mailaddress_the_owner_is_mailed_as_in_qube(smtp):
    host = FakeHost(make_jobs(), settings_for(smtp.port))
    assert send_status_mail(invocation(host, jobid=1236), "status")
    [(envelope, msg)] = received(smtp)
    assert envelope.rcpt_tos == ["alice"] and msg["To"] == "alice"


def test_the_mail_domain_completes_bare_user_names_only(smtp):
    jobs = make_jobs()
    jobs[1]["mailaddress"] = "bob, carol@studio.example"
    settings = MailSettings(host="127.0.0.1", port=smtp.port, sender="farm@example.com", domain="farm.example")
    host = FakeHost(jobs, settings)
    assert send_status_mail(invocation(host, jobid=1236), "status")  # the owner
    assert send_status_mail(invocation(host, jobid=1235), "status")
    deadline = time.monotonic() + 5
    while len(smtp.handler.envelopes) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.rcpt_tos for e in smtp.handler.envelopes] == [["alice@farm.example"],
                                                             ["bob@farm.example", "carol@studio.example"]]


def test_no_mailaddress_and_no_owner_is_logged(smtp):
    jobs = make_jobs()
    del jobs[2]["user"]
    host = FakeHost(jobs, settings_for(smtp.port))
    assert send_status_mail(invocation(host, jobid=1236), "status") is False
    assert "no mailaddress and no owner; mail not sent" in host.log_text()
    assert smtp.handler.envelopes == []


def test_unknown_job_is_logged():
    host = FakeHost(make_jobs(), settings_for(free_port()))
    assert send_status_mail(invocation(host, jobid=999), "status") is False
    assert "job 999 not found; mail not sent" in host.log_text()


def test_server_down_is_logged_not_raised():
    host = FakeHost(make_jobs(), settings_for(free_port()))  # nothing listens there
    runner = MailLanguage().compile("")
    runner(invocation(host))  # must not raise
    text = host.log_text()
    assert "mail: status mail to alice@example.com not sent (SMTP 127.0.0.1:" in text
    assert "ConnectionRefusedError" in text


def test_silent_server_times_out_and_is_logged():
    # A server that accepts the connection but never greets: smtplib must give up after timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        host = FakeHost(make_jobs(), settings_for(listener.getsockname()[1], timeout=0.5))
        start = time.monotonic()
        assert send_status_mail(invocation(host), "status") is False
        assert time.monotonic() - start < 3
    assert "not sent" in host.log_text()
    assert "timed out" in host.log_text()


def test_label_with_newline_does_not_inject_headers(smtp):
    jobs = make_jobs()
    jobs[0]["label"] = "evil\nBcc: victim@example.com"
    host = FakeHost(jobs, settings_for(smtp.port))
    assert send_status_mail(invocation(host), "status")
    [(envelope, msg)] = received(smtp)
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert msg["Bcc"] is None
    assert msg["Subject"] == "qbtrigger: job 1234 'evil Bcc: victim@example.com' complete"


def test_unknown_kind_is_a_programming_error():
    host = FakeHost(make_jobs(), settings_for(free_port()))
    with pytest.raises(ValueError, match="unknown status mail kind"):
        send_status_mail(invocation(host), "weekly-digest")
