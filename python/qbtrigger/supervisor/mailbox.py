"""Where the supervisor's status mails go: captured into the store, or sent off the engine's thread.

A mail callback composes its message while the engine dispatches; delivering it must not hold up
matching or the next callback. :class:`MailOutbox` sends on a thread of its own, one message at a
time, each SMTP operation bounded by ``MailSettings.timeout``; the outcome ("sent to ...", "not
sent: timed out") is handed back and written to the job's callback log on the engine's thread,
at the end of a later step (:meth:`MailOutbox.collect`). A silent server therefore delays mail,
and only mail. :meth:`MailOutbox.close` waits a bounded time for what is still queued, and logs
what it gave up on.

:class:`MailCapture` sends nothing: each message is kept as data (job, recipients, subject, body,
Qube time) and stored with the step that composed it (a meta entry of the store), so a resumed run
keeps them and a re-run step does not capture twice. ``qbtrigger simulate`` captures by default.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from email.message import EmailMessage
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from ..callbacks import MailSettings

__all__ = ["MailCapture", "MailOutbox", "MailRoom", "CAPTURED_KEY"]

#: The meta entry captured mail is stored under.
CAPTURED_KEY = "captured_mail"

#: (jobid, message, recipients, kind): a mail waiting for the sender thread
_Outgoing = Tuple[int, EmailMessage, List[str], str]


class MailCapture:
    """Keeps status mails instead of sending them (see the module docstring)."""

    def __init__(self, stored: Optional[List[Dict[str, Any]]] = None) -> None:
        self.messages: List[Dict[str, Any]] = list(stored or [])
        self.changed = False

    def capture(self, jobid: int, message: EmailMessage, to: List[str], kind: str, now: int) -> str:
        """Keep ``message``; the callback log line saying so."""
        body = message.get_content() if not message.is_multipart() else str(message)
        subject = str(message["Subject"])
        self.messages.append({"job": jobid, "kind": kind, "to": list(to), "subject": subject,
                              "body": body, "qube_time": now})
        self.changed = True
        return f"mail: {kind} mail to {', '.join(to)} captured, not sent: {subject}\n"


class MailOutbox:
    """Sends status mails on a thread of its own (see the module docstring). The thread starts
    with the first mail; outcomes wait in :attr:`done` for :meth:`collect`."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._queue: "queue.Queue[Optional[_Outgoing]]" = queue.Queue()
        self.done: Deque[Tuple[int, str]] = deque()  # (jobid, log text), appended by the thread
        self._thread: Optional[threading.Thread] = None
        self._waiting: Dict[int, _Outgoing] = {}  # posted, not yet answered (for close)
        self._lock = threading.Lock()
        self._posted = 0

    def post(self, jobid: int, message: EmailMessage, to: List[str], kind: str) -> None:
        """Queue one mail; returns at once."""
        with self._lock:
            self._posted += 1
            self._waiting[self._posted] = (jobid, message, to, kind)
        self._queue.put((self._posted, message, to, kind))
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_all, name="qbtrigger-mail", daemon=True)
            self._thread.start()

    def _send_all(self) -> None:
        from ..callbacks.languages.mail import smtp_send

        while True:
            item = self._queue.get()
            if item is None:
                return
            number, message, to, kind = item
            _, text = smtp_send(message, to, kind, self.settings)
            with self._lock:
                waiting = self._waiting.pop(number, None)
            if waiting is not None:  # else close() gave up on it and logged that
                self.done.append((waiting[0], text))

    def collect(self) -> List[Tuple[int, str]]:
        """The outcomes that arrived since the last call, oldest first (call on the engine's thread)."""
        out = []
        while self.done:
            out.append(self.done.popleft())
        return out

    def close(self, wait: Optional[float] = None) -> List[Tuple[int, str]]:
        """Let the thread finish what is queued, waiting at most ``wait`` seconds (default: the
        SMTP timeout and one more second); the outcomes, and a "not sent" line for each mail
        given up on."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(self.settings.timeout + 1.0 if wait is None else wait)
            # a later mail starts a new thread; one still stuck in a send ends on its own (daemon)
            self._thread, self._queue = None, queue.Queue()
        out = self.collect()
        with self._lock:
            given_up = sorted(self._waiting.items())
            self._waiting.clear()
        for _, (jobid, message, to, kind) in given_up:
            out.append((jobid, f"mail: {kind} mail to {', '.join(to)} not sent (SMTP {self.settings.host}:"
                               f"{self.settings.port}): the supervisor closed before the server answered: "
                               f"{message['Subject']}\n"))
        return out


class MailRoom:
    """The supervisor's mail, in one place: captured (``capture``) or sent by a :class:`MailOutbox`
    made on the first mail. ``log(jobid, text)`` writes a job's callback log (on the engine's thread)."""

    def __init__(self, settings: MailSettings, capture: bool, stored: Optional[List[Dict[str, Any]]],
                 log: Callable[[int, str], None]) -> None:
        self.settings = settings
        self.capture = MailCapture(stored) if capture else None
        self.outbox: Optional[MailOutbox] = None
        self.log = log

    def send(self, jobid: int, message: EmailMessage, to: List[str], kind: str, now: int) -> bool:
        if self.capture is not None:
            self.log(jobid, self.capture.capture(jobid, message, to, kind, now))
        else:
            if self.outbox is None:
                self.outbox = MailOutbox(self.settings)
            self.outbox.post(jobid, message, to, kind)
        return True

    def collect(self) -> None:
        """Log the outcomes of mail sent since the last call (cheap when there are none)."""
        if self.outbox is not None and self.outbox.done:
            for jobid, text in self.outbox.collect():
                self.log(jobid, text)

    def settle(self) -> None:
        """Wait (bounded) for the mail being sent and log every outcome, given-up ones too."""
        if self.outbox is not None:
            for jobid, text in self.outbox.close():
                self.log(jobid, text)

    def changed_meta(self) -> Dict[str, Any]:
        """The meta entry to store at a commit: the captured mail, when it changed."""
        if self.capture is None or not self.capture.changed:
            return {}
        self.capture.changed = False
        return {CAPTURED_KEY: self.capture.messages}

    def captured(self) -> List[Dict[str, Any]]:
        return [dict(m) for m in self.capture.messages] if self.capture is not None else []
