"""The earlier home of the submit-script runner: kept so ``qbtrigger.submitscript`` imports work.

Everything lives in :mod:`qbtrigger.submit` now. ``run_submit_script(path, on_submit, argv)``
returns the jobs the script submitted (each ``on_submit`` result, in order), as it always did, and
``make_qb_module(on_submit)`` the stand-in module over a bare ``on_submit`` callable.
"""

from __future__ import annotations

import types
from typing import Any, Dict, Iterable, List, Optional

from .submit import (
    QB_TIME_EPOCH_OFFSET,
    Job,
    OnSubmit,
    RecordingTarget,
    StandIn,
    SubmitScriptError,
    Work,
    genframes,
    load_submissions,
    run_script,
)

__all__ = [
    "SubmitScriptError",
    "run_submit_script",
    "load_submissions",
    "make_qb_module",
    "genframes",
    "QB_TIME_EPOCH_OFFSET",
    "Job",
    "Work",
    "OnSubmit",
]


def make_qb_module(on_submit: OnSubmit) -> types.ModuleType:
    """The stand-in ``qb`` module, sending each ``submit`` to ``on_submit``."""
    return StandIn(RecordingTarget(on_submit)).module()


def run_submit_script(path: str, on_submit: OnSubmit, argv: Optional[Iterable[str]] = None) -> List[Dict[str, Any]]:
    """Run the script at ``path``; return every job it submitted, in order."""
    stand_in = run_script(path, on_submit, list(argv or ()))
    return [job for batch in stand_in.batches for job in batch]
