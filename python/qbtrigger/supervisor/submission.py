"""The job views the engine compiles from stored jobs (at resume, and for a look at a job's
callbacks). Checking a submission is :func:`qbtrigger.callbacks.validation.validate_submission`,
shared with ``qbtrigger check``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from .farm import Job

__all__ = ["compile_view", "stored_dict", "SCRATCH_ID"]

#: Compiles a stored job again for introspection; never assigned.
SCRATCH_ID = 2**31 - 1


def compile_view(job: Mapping[str, Any]) -> Dict[str, Any]:
    """What the engine compiles: the job dict with its agenda as names."""
    view = dict(job)
    view["agenda"] = [w["name"] if isinstance(w, dict) else w for w in job.get("agenda") or []]
    return view


def stored_dict(j: Job, fresh_id: bool = False) -> Dict[str, Any]:
    """The job dict the engine compiled at submission (``fresh_id``: under an id the engine does
    not know, to compile it again for a look at its callbacks)."""
    view = dict(j.data)
    if fresh_id:
        view["id"] = SCRATCH_ID
    view["agenda"] = [] if j.anonymous else list(j.names)
    return view
