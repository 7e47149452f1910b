"""Status mail in the supervisor and ``simulate`` (issues 12 and 13): captured unless --smtp asks
for real sending; sent off the engine's thread, so a silent SMTP server delays mail, never
matching or other callbacks; the wait for it is bounded."""

from __future__ import annotations

import json
import socket
import threading
import types
from typing import Any, List

import pytest

from qbtrigger.callbacks import MailSettings
from qbtrigger.cli import main
from qbtrigger.supervisor import Simulator, Supervisor

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Collect:
    def __init__(self) -> None:
        self.envelopes: List[Any] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


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


class SilentServer:
    """Accepts connections and never says a word, until :meth:`hang_up`."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.connections: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            self.connected.set()

    def hang_up(self) -> None:
        for conn in self.connections:
            conn.close()
        self.listener.close()


def mail_jobs() -> List[dict]:
    return [
        {"label": "render", "agenda": ["1", "2", "3"], "mailaddress": "ann@example.com",
         "callbacks": [{"triggers": "complete-work-self-1", "language": "mail", "code": "frame 1 is done"},
                       {"triggers": "complete-job-self", "language": "python", "code": "print('render done')"}]},
        {"label": "comp", "agenda": ["1", "2", "3"], "dependency": "link-complete-work-render"},
    ]


def test_simulate_captures_mail_by_default_and_sends_nothing(tmp_path, capsys, monkeypatch):
    import qbtrigger.callbacks.languages.mail as mail

    def no_smtp(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("simulate sent a mail without --smtp")

    monkeypatch.setattr(mail, "smtp_send", no_smtp)
    jobs, report = tmp_path / "jobs.json", tmp_path / "report.json"
    jobs.write_text(json.dumps(mail_jobs()))
    assert main(["simulate", str(jobs), "--languages", "qube,python,mail,dependency",
                 "--report-json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "job 1 render: mail: status mail to ann@example.com captured, not sent: qbtrigger: job 1 'render'" in out
    assert "1 status mail(s) captured, not sent (--smtp HOST[:PORT] sends them" in out
    [captured] = json.loads(report.read_text())["captured_mail"]
    assert captured["job"] == 1 and captured["to"] == ["ann@example.com"] and captured["kind"] == "status"
    assert "Event:     complete-work-1-1" in captured["body"] and captured["body"].rstrip().endswith("frame 1 is done")


def test_simulate_smtp_sends_for_real(tmp_path, capsys, smtp):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps(mail_jobs()))
    assert main(["simulate", str(jobs), "--languages", "qube,python,mail,dependency",
                 "--smtp", f"127.0.0.1:{smtp.port}"]) == 0
    out = capsys.readouterr().out
    assert "mail: status mail sent to ann@example.com: qbtrigger: job 1 'render'" in out
    assert "captured" not in out
    assert [env.rcpt_tos for env in smtp.handler.envelopes] == [["ann@example.com"]]


def test_simulate_mails_the_owner_of_a_job_without_mailaddress_with_the_mail_domain(tmp_path, capsys):
    jobs, report = tmp_path / "jobs.json", tmp_path / "report.json"
    jobs.write_text(json.dumps([{"label": "r", "agenda": ["1"], "user": "ann",
                                 "callbacks": [{"triggers": "complete-job-self", "language": "mail"}]}]))
    assert main(["simulate", str(jobs), "--languages", "qube,mail,dependency", "--mail-domain", "studio.example",
                 "--report-json", str(report)]) == 0
    [captured] = json.loads(report.read_text())["captured_mail"]
    assert captured["to"] == ["ann@studio.example"]


@pytest.mark.parametrize("text", ["host:", ":25", "host:0", "host:x"])
def test_a_bad_smtp_address_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "jobs.json", "--smtp", text])
    assert "expected HOST or HOST:PORT" in capsys.readouterr().err


def test_captured_mail_is_stored_with_its_step_and_not_repeated_by_a_resume(tmp_path):
    def farm(db: Any) -> Supervisor:
        return Supervisor(db=db, clock=0, capture_mail=True, language_flags="qube,python,mail,dependency")

    with farm(None) as whole:
        whole.submit(mail_jobs())
        Simulator(whole, workers=2, seed=1).run()
        expected = whole.captured_mail()
    db = tmp_path / "farm.db"
    with farm(db) as first:
        first.submit(mail_jobs())
        Simulator(first, workers=2, seed=1).run(max_steps=8)
        assert first.captured_mail() == expected  # captured before the pause, and stored
    with farm(db) as second:
        Simulator(second, workers=2, seed=1).run()
        assert second.captured_mail() == expected and len(expected) == 1


def test_a_silent_smtp_server_delays_mail_only():
    server = SilentServer()
    sup = Supervisor(clock=0, language_flags="qube,python,mail,dependency",
                     mail_settings=MailSettings(host="127.0.0.1", port=server.port, timeout=60))
    try:
        render, comp = sup.submit(mail_jobs())
        report = Simulator(sup, workers=2).run()
        # the whole farm ran, the python callback after the mail included, while the server
        # still had not said a word to the mail thread
        assert server.connected.wait(10)
        assert report.finished and sup.job(comp["id"])["status"] == "complete"
        assert sup.callback_log(render["id"]) == ["render done\n"]
    finally:
        server.hang_up()
    sup.settle_mail()
    [done, mail] = sup.callback_log(render["id"])
    assert mail.startswith("mail: status mail to ann@example.com not sent (SMTP 127.0.0.1:")
    sup.close()


def test_the_wait_for_a_silent_server_is_bounded():
    server = SilentServer()
    sup = Supervisor(clock=0, language_flags="qube,mail",
                     mail_settings=MailSettings(host="127.0.0.1", port=server.port, timeout=0.5))
    try:
        [job] = sup.submit([{"label": "x", "agenda": ["1"], "mailaddress": "ann@example.com",
                             "callbacks": [{"triggers": "complete-job-self", "language": "mail"}]}])
        Simulator(sup).run()
        sup.close()  # waits for the mail: its SMTP timeout, then gives up
        [text] = sup.callback_log(job["id"])
        assert "not sent" in text and "timed out" in text
    finally:
        server.hang_up()
