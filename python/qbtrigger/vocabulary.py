"""The words qbtrigger shares with Qube: states, event names and types, verbs, languages.

Each word is defined here once; every other module imports it from here (the C core keeps its
own tables for speed, and ``tests/test_vocabulary_c.py`` holds them to this module). This module
imports nothing of the project, so any layer may use it.
"""

from __future__ import annotations

from typing import FrozenSet, Tuple

__all__ = [
    "PENDING", "BLOCKED", "RUNNING", "COMPLETE", "FAILED", "KILLED", "WAITING", "SUSPENDED", "DONE",
    "SUBMIT", "ASSIGNED", "MODIFIED", "REMOVED", "TIMEOUT", "DUMMY",
    "STATES", "TERMINAL_STATES", "DONE_STATES", "SUBMIT_STATES", "EDGE_EVENT_NAMES", "EVENT_NAMES",
    "EVENT_TYPES", "ITEM_TYPES", "TIME_TYPES", "GLOBAL_TYPES", "STATEFUL_TYPES",
    "JOB_VERBS", "WORK_VERBS", "SUBJOB_VERBS", "UNBLOCK_SINGLE",
    "LANGUAGES", "LANGUAGE_FLAGS", "DEPENDENCY_FLAG", "DEFAULT_LANGUAGE_FLAGS", "DEFAULT_LANGUAGE",
    "DEPENDENCY_LANGUAGE",
    "JOBINFO_FIELDS",
]

# ---------------------------------------------------------------------------- states (SPEC §5)
PENDING = "pending"
BLOCKED = "blocked"
RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"
KILLED = "killed"
WAITING = "waiting"
SUSPENDED = "suspended"
#: Not a state: the atom name that matches any terminal state's event.
DONE = "done"

#: Every state a job, work item or subjob can be in; an event of one of these names sets it.
STATES: Tuple[str, ...] = (PENDING, BLOCKED, RUNNING, COMPLETE, FAILED, KILLED, WAITING, SUSPENDED)
#: The terminal ("done") states.
TERMINAL_STATES: FrozenSet[str] = frozenset((COMPLETE, FAILED, KILLED))
#: What a dependency (``link-STATE-...``) or a "finished" check waits for: a terminal state or done.
DONE_STATES: Tuple[str, ...] = (COMPLETE, DONE, FAILED, KILLED)
#: The states a job or work item may be given at submission.
SUBMIT_STATES: Tuple[str, ...] = (PENDING, BLOCKED)

# ---------------------------------------------------------------------------- events (SPEC §2)
SUBMIT = "submit"
ASSIGNED = "assigned"
MODIFIED = "modified"
REMOVED = "removed"
TIMEOUT = "timeout"
#: The name of clock events (``dummy-globaltime-T``) and of Qube's do-nothing trigger.
DUMMY = "dummy"
#: Event names that are edges only: they happen, they change no state.
EDGE_EVENT_NAMES: Tuple[str, ...] = (SUBMIT, ASSIGNED, MODIFIED, REMOVED, TIMEOUT, DUMMY)
#: Every event name Qube knows (other identifiers are user-defined names, matched literally).
EVENT_NAMES: FrozenSet[str] = frozenset(STATES + EDGE_EVENT_NAMES + (DONE,))

#: Event and atom types, in the order error messages list them (and the C core numbers them).
EVENT_TYPES: Tuple[str, ...] = (
    "job", "subjob", "work", "host", "time", "repeat", "global", "globaltime", "globalrepeat",
)
#: Types with no job context: ``NAME-global`` (an event of no job, no extra: a program raises it),
#: ``NAME-globaltime-T``, ``NAME-globalrepeat-T-I``.
GLOBAL_TYPES: Tuple[str, ...] = ("global", "globaltime", "globalrepeat")
#: Types whose atoms the clock sets (SPEC §6).
TIME_TYPES: FrozenSet[str] = frozenset(("time", "repeat", "globaltime", "globalrepeat"))
#: Item types that have a state (SPEC §5), in the order messages list them.
ITEM_TYPES: Tuple[str, ...] = ("job", "work", "subjob")
STATEFUL_TYPES: FrozenSet[str] = frozenset(ITEM_TYPES)

# ---------------------------------------------------------------------------- verbs (SPEC §7)
#: What ``Host.act(verb, jobid)`` does to a whole job (and ``qb.<verb>(jobid)`` asks for).
JOB_VERBS: Tuple[str, ...] = (
    "block", "unblock", "kill", "remove", "retry", "requeue", "interrupt", "preempt", "migrate",
    "suspend", "resume", "retire", "complete", "fail",
)
#: What ``Host.act(verb, jobid, work=name)`` does to one work item.
WORK_VERBS: Tuple[str, ...] = ("block", "unblock", "kill", "retry", "requeue", "retire", "complete", "fail")
#: Unblocks one held subjob only (qube's ``unblock-subjob-self-single``).
UNBLOCK_SINGLE = "unblock-single"
#: What ``Host.act(verb, jobid, subjob=n)`` does to subjobs (``subjob=None``: all of them).
SUBJOB_VERBS: Tuple[str, ...] = (
    "unblock", UNBLOCK_SINGLE, "block", "fail", "kill", "migrate", "preempt", "interrupt", "suspend", "resume",
)

# ---------------------------------------------------------------------------- languages (SPEC §7)
#: Callback languages, each one module under ``qbtrigger.callbacks.languages``.
LANGUAGES: Tuple[str, ...] = ("qube", "python", "perl", "mail")
#: The flag that enables a job's ``dependency`` field.
DEPENDENCY_FLAG = "dependency"
#: Every flag ``language_flags`` may hold.
LANGUAGE_FLAGS: Tuple[str, ...] = LANGUAGES + (DEPENDENCY_FLAG,)
#: Qube's default: python and perl stay off until an administrator enables them.
DEFAULT_LANGUAGE_FLAGS = "qube,mail,dependency"
#: A callback dict that names no language is in this one.
DEFAULT_LANGUAGE = "qube"
#: The language a job's ``dependency`` field compiles into (SPEC §8).
DEPENDENCY_LANGUAGE = "qube"

# ---------------------------------------------------------------------------- jobs
#: The job fields ``qb.jobinfo`` and ``Host.jobinfo`` filter on.
JOBINFO_FIELDS: Tuple[str, ...] = ("id", "pgrp", "pid", "label", "status", "user")
