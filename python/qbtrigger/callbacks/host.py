"""The host interface: everything the callback engine needs from the farm, and nothing more.

A supervisor embeds qbtrigger by subclassing :class:`Host` (the reference supervisor does, and so
do the tests). The engine calls the host to look jobs up, to change their state, to write a
callback's log and to learn who may do what; the host reports every state change back as an
event through :meth:`CallbackEngine.feed`. A host may call ``feed`` from inside :meth:`Host.act`:
the engine queues such events and applies them after the current event's callbacks have all run
(SPEC §4.3), never re-entrantly.

Only :meth:`jobinfo`, :meth:`act` and :meth:`modify` must be written; the rest have defaults.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

if TYPE_CHECKING:
    from email.message import EmailMessage

from ..vocabulary import JOB_VERBS, JOBINFO_FIELDS, SUBJOB_VERBS, WORK_VERBS

__all__ = [
    "Host",
    "MailSettings",
    "JOB_ACTIONS",
    "WORK_ACTIONS",
    "SUBJOB_ACTIONS",
    "JOBINFO_FIELDS",
]

#: Verbs :meth:`Host.act` receives for a whole job.
JOB_ACTIONS = frozenset(JOB_VERBS)
#: Verbs for one work item (``act(verb, jobid, work=name)``).
WORK_ACTIONS = frozenset(WORK_VERBS)
#: Verbs for subjobs (``act(verb, jobid, subjob=n)``; ``subjob=None`` means all of the job's subjobs).
#: ``unblock-single`` unblocks one subjob only (qube's ``unblock-subjob-self-single``).
SUBJOB_ACTIONS = frozenset(SUBJOB_VERBS)

_log = logging.getLogger("qbtrigger.callbacks")


@dataclass(frozen=True)
class MailSettings:
    """Where ``mail`` callbacks send their messages (SPEC §7.4)."""

    host: str = "localhost"
    port: int = 25
    sender: str = "qbtrigger@localhost"
    timeout: float = 10.0
    #: Qube's ``mail_domain``: appended (after an '@') to a recipient that is a bare user name, as
    #: the job's owner is when the job has no ``mailaddress``.
    domain: Optional[str] = None


class Host:
    """The farm, as the callback engine sees it. Subclass and implement the first three methods."""

    #: SMTP settings for ``mail`` callbacks and the ``mail-*`` qube keywords.
    mail_settings: MailSettings = MailSettings()

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        """Job dicts matching every ``field=value`` of ``criteria`` (fields: :data:`JOBINFO_FIELDS`),
        in id order. Each dict has at least ``id``, ``pgrp``, ``label``, ``user``, ``status`` and
        ``agenda`` (a list of ``{'name', 'status'}``). Return copies: callbacks may keep them."""
        raise NotImplementedError

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        """Change a job's state: ``verb`` is one of :data:`JOB_ACTIONS` (no ``work``/``subjob``),
        :data:`WORK_ACTIONS` (``work`` = the work item's name) or :data:`SUBJOB_ACTIONS`
        (``subjob`` = its id, or None for all). The events the change causes go to
        ``engine.feed``. Raise ``KeyError`` for an unknown job or item."""
        raise NotImplementedError

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        """Set fields of a job (``qb.modify``). Raise ``KeyError`` for an unknown job and
        ``ValueError`` for a field that may not be changed."""
        raise NotImplementedError

    def is_admin(self, user: Optional[str]) -> bool:
        """Whether ``user`` is a farm administrator: its callbacks may act on anyone's jobs."""
        return False

    def log(self, jobid: int, text: str) -> None:
        """Append ``text`` (a callback's output or traceback) to the job's callback log."""
        if text:
            _log.info("job %s callback log: %s", jobid, text.rstrip("\n"))

    def send_mail(self, jobid: int, message: "EmailMessage", to: List[str], kind: str) -> bool:
        """Deliver a status mail a callback of ``jobid`` composed (``kind``: see the mail language)
        and log the outcome to the job's callback log; True when it was taken. This default sends
        it over SMTP (:attr:`mail_settings`) at once, on the calling thread; a host whose engine
        must not wait for a mail server sends it elsewhere (the reference supervisor does)."""
        from .languages.mail import smtp_send  # smtplib is loaded only by hosts that mail

        sent, text = smtp_send(message, to, kind, self.mail_settings or MailSettings())
        self.log(jobid, text)
        return sent

    # Convenience built on jobinfo; a host with a faster lookup may override it.
    def job(self, jobid: int) -> Optional[Dict[str, Any]]:
        """The job dict of ``jobid``, or None when there is no such job."""
        found = self.jobinfo(id=jobid)
        return found[0] if found else None
