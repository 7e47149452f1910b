"""Which submission a ``simulate --db`` store holds, so that a rerun resumes only the same one.

``simulate`` writes a fingerprint of what it submits into the store's meta (key
:data:`SUBMISSION_KEY`) before it runs the script: the file's path and SHA-256, the script's
arguments and user, and (once submitted) the jobs' names and the time. A rerun on a store that
holds jobs compares the file, arguments and user with it: the same submission resumes; any other
is refused with a message naming what the store holds, instead of silently reporting the old run
and ignoring the script.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .common import CLIError

if TYPE_CHECKING:
    from qbtrigger.supervisor import Supervisor

__all__ = ["SUBMISSION_KEY", "fingerprint", "check_resume", "record"]

#: The meta key the fingerprint is stored under.
SUBMISSION_KEY = "simulate_submission"
#: What must match for a rerun to resume.
_COMPARED = ("sha256", "args", "user")
#: Job names a refusal shows.
_JOBS_SHOWN = 8


def fingerprint(path: str, args: list[str], user: str) -> dict[str, Any]:
    """The fingerprint of submitting ``path`` with ``args`` as ``user``."""
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    except OSError as exc:
        raise CLIError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    return {"file": os.path.abspath(path), "sha256": digest, "args": list(args), "user": user}


def record(supervisor: Supervisor, wanted: dict[str, Any], *, jobs: list[str] | None = None) -> None:
    """Store the fingerprint (with the jobs' names and the time once they are submitted)."""
    entry = dict(wanted)
    if jobs is not None:
        entry["jobs"] = jobs
        entry["when"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    supervisor.commit({SUBMISSION_KEY: entry})


def check_resume(supervisor: Supervisor, store: str, wanted: dict[str, Any], titles: list[str]) -> None:
    """Raise :class:`CLIError` unless the store (which holds jobs, ``titles``) holds this submission."""
    held = supervisor.store.get_meta(SUBMISSION_KEY)
    if held is not None and all(held.get(key) == wanted[key] for key in _COMPARED):
        return
    names = ", ".join(titles[:_JOBS_SHOWN]) + (f" and {len(titles) - _JOBS_SHOWN} more" if len(titles) > _JOBS_SHOWN else "")
    if held is None:
        what = f"job(s) {names}, not submitted by qbtrigger simulate (or by a version that did not record it)"
    else:
        args = " ".join(held.get("args") or []) or "no arguments"
        when = f", submitted {held['when']}" if held.get("when") else ""
        what = f"job(s) {names} from {held.get('file')} ({args}; user {held.get('user')}{when})"
        differs = [key for key in _COMPARED if held.get(key) != wanted[key]]
        what += "; " + _difference(differs)
    raise CLIError(
        f"the store {store} holds a different submission: {what}. Resuming needs the same file, "
        f"arguments and --user; to simulate this one, use a new --db (or none)."
    )


def _difference(keys: list[str]) -> str:
    words = {"sha256": "the file's content", "args": "the arguments", "user": "the user"}
    return " and ".join(words[key] for key in keys) + (" differ" if len(keys) > 1 else " differs")
