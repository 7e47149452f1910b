"""Callbacks: Qube job dicts' callbacks registered in the matcher and run in their language.

>>> from qbtrigger.callbacks import CallbackEngine, Host
>>> class Farm(Host): ...   # jobinfo / act / modify: see host.py
"""

from .engine import GLOBAL_JOB, CallbackEngine, Firing, JobPlan, Submission
from .errors import CodeError, Problem, SubmissionError, UniversalConfigError
from .host import JOB_ACTIONS, SUBJOB_ACTIONS, WORK_ACTIONS, Host, MailSettings
from .languages import DEFAULT_LANGUAGE_FLAGS, LANGUAGE_FLAGS, Callback, Invocation, Language
from .qbapi import QbApi, QbPermissionError

__all__ = [
    "CallbackEngine",
    "Callback",
    "CodeError",
    "DEFAULT_LANGUAGE_FLAGS",
    "GLOBAL_JOB",
    "Firing",
    "Host",
    "Invocation",
    "JOB_ACTIONS",
    "JobPlan",
    "LANGUAGE_FLAGS",
    "Language",
    "MailSettings",
    "Problem",
    "QbApi",
    "QbPermissionError",
    "SUBJOB_ACTIONS",
    "Submission",
    "SubmissionError",
    "UniversalConfigError",
    "WORK_ACTIONS",
]
