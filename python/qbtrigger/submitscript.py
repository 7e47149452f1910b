"""Run pipeline engineers' Qube submit scripts unmodified, with a stand-in ``qb`` module.

A submit script does ``import qb``, builds ``qb.Job()`` dicts (agenda from ``qb.genframes``,
callbacks, a dependency string) and calls ``qb.submit(jobs)``. :func:`run_submit_script` runs
one with the stand-in installed as ``qb``, hands each ``submit`` call's jobs to ``on_submit``
(the simulator's supervisor, or the checker), and returns what was submitted. ``submit`` returns
the jobs with their ids, as Qube's does, so scripts that print or chain ids keep working.

The stand-in offers what such scripts commonly use: ``submit``, ``Job``, ``Work``,
``genframes``, ``QB_TIME_EPOCH_OFFSET``, ``jobinfo`` (of the jobs submitted so far), ``ping``,
``validatejob`` and ``convertstatus``.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import sys
import types
from typing import Any, Callable, Dict, Iterable, List, Optional

from .callbacks.errors import SubmissionError
from .vocabulary import PENDING

__all__ = ["SubmitScriptError", "run_submit_script", "load_submissions", "make_qb_module", "genframes", "QB_TIME_EPOCH_OFFSET"]

#: Unix time of Qube time 0 (2000-01-01 05:00:00 UTC).
QB_TIME_EPOCH_OFFSET = 946702800

OnSubmit = Callable[[List[Dict[str, Any]]], List[Dict[str, Any]]]


class SubmitScriptError(Exception):
    """The script could not be run to the end: ``str()`` says why, in one paragraph."""


class Work(dict):
    """``qb.Work()``: a work item (frame) dict."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setdefault("name", "")
        self.setdefault("status", PENDING)

    def name(self) -> str:  # some scripts call work.name()
        return self["name"]


class Job(dict):
    """``qb.Job()``: a job dict with Qube's usual defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setdefault("name", "")
        self.setdefault("prototype", "cmdline")
        self.setdefault("cpus", 1)
        self.setdefault("priority", 9999)
        self.setdefault("package", {})
        self.setdefault("agenda", [])
        self.setdefault("callbacks", [])


_RANGE = re.compile(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?:[x:]\s*(\d+))?)?\s*\Z")


def genframes(spec: str) -> List[Work]:
    """``'1-100'``, ``'1-100x2'``, ``'10-1'``, ``'1,5,7-9'``: a list of :class:`Work` items."""
    frames: List[Work] = []
    for part in str(spec).split(","):
        if not part.strip():
            continue
        match = _RANGE.match(part)
        if match is None:
            raise ValueError(f"genframes: bad frame range {part.strip()!r} in {spec!r}")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        step = int(match.group(3) or 1)
        if step < 1:
            raise ValueError(f"genframes: the step must be at least 1 in {spec!r}")
        direction = 1 if end >= start else -1
        for frame in range(start, end + direction, step * direction):
            frames.append(Work(name=str(frame)))
    return frames


def make_qb_module(on_submit: OnSubmit) -> types.ModuleType:
    """The stand-in ``qb`` module, sending each ``submit`` to ``on_submit``."""
    module = types.ModuleType("qb", "qbtrigger's stand-in for Qube's qb module (submit scripts)")
    submitted: List[Dict[str, Any]] = []

    def submit(jobs: Any, *args: Any, **kwargs: Any) -> List[Dict[str, Any]]:
        batch = [jobs] if isinstance(jobs, dict) else list(jobs)
        for job in batch:
            if not isinstance(job, dict):
                raise TypeError(f"qb.submit: a job must be a dict (qb.Job), not {type(job).__name__}")
        accepted = on_submit([_plain(job) for job in batch])
        submitted.extend(accepted)
        return [Job(job) for job in accepted]

    def jobinfo(*args: Any, **criteria: Any) -> List[Dict[str, Any]]:
        for flag, value in zip(args[::2], args[1::2]):
            criteria[str(flag).lstrip("-")] = value
        return [Job(j) for j in submitted if all(_matches(j.get(k), v) for k, v in criteria.items())]

    module.submit = submit  # type: ignore[attr-defined]
    module.Job = Job  # type: ignore[attr-defined]
    module.Work = Work  # type: ignore[attr-defined]
    module.genframes = genframes  # type: ignore[attr-defined]
    module.QB_TIME_EPOCH_OFFSET = QB_TIME_EPOCH_OFFSET  # type: ignore[attr-defined]
    module.jobinfo = jobinfo  # type: ignore[attr-defined]
    module.ping = lambda *a, **k: True  # type: ignore[attr-defined]
    module.validatejob = lambda job: isinstance(job, dict)  # type: ignore[attr-defined]
    module.convertstatus = lambda status: status  # type: ignore[attr-defined]
    return module


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, (list, tuple, set)):
        return value in wanted
    return value == wanted


def _plain(value: Any) -> Any:
    """Job/Work subclasses and tuples as plain dicts and lists (JSON-shaped, as the farm stores)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def run_submit_script(path: str, on_submit: OnSubmit, argv: Optional[Iterable[str]] = None) -> List[Dict[str, Any]]:
    """Run the script at ``path`` with the stand-in ``qb``; return every job it submitted.

    Raises :class:`SubmitScriptError` when the script cannot be read, raises, or exits non-zero;
    a :class:`SubmissionError` (or SubmitScriptError) raised by ``on_submit`` passes through as is.
    """
    if not os.path.isfile(path):
        raise SubmitScriptError(f"{path}: no such file")
    module = make_qb_module(on_submit)
    saved = {name: sys.modules.get(name) for name in ("qb",)}
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.modules["qb"] = module
    sys.argv = [path, *(argv or [])]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            raise SubmitScriptError(f"{path}: the script exited with status {exit_.code}") from None
    except (SubmitScriptError, SubmissionError):
        raise  # the submission's own problem, already worded for the user
    except Exception as error:  # the user's script: any error becomes one clear message
        raise SubmitScriptError(f"{path}: the script raised {_describe(error, os.path.abspath(path))}") from error
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module.jobinfo()


def _describe(error: BaseException, script: str) -> str:
    """``KeyError: 'x' (line 12)``: the exception and the script's line it came from."""
    tb = error.__traceback__
    line = None
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == script:
            line = tb.tb_lineno
        tb = tb.tb_next
    text = f"{type(error).__name__}: {error}"
    return text if line is None else f"{text} (line {line})"


def load_submissions(path: str, on_submit: OnSubmit) -> List[List[Dict[str, Any]]]:
    """The submissions of a ``.py`` submit script (each ``qb.submit`` call) or of a ``.json``
    file (a list of job dicts, ``{"jobs": [...]}``, or a list of such lists), each passed through
    ``on_submit`` in order; returns what ``on_submit`` returned for each.

    Raises :class:`SubmitScriptError` with one clear message for a file that cannot be used.
    """
    batches: List[List[Dict[str, Any]]] = []

    def collect(jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        accepted = on_submit(jobs)
        batches.append(accepted)
        return accepted

    if path.endswith(".py"):
        run_submit_script(path, collect)
        if not batches:
            raise SubmitScriptError(f"{path}: the script submitted no jobs (no qb.submit call ran)")
        return batches
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise SubmitScriptError(f"cannot read {path!r}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SubmitScriptError(f"{path}: not a JSON job list: {error}") from None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if not isinstance(data, list) or not data:
        raise SubmitScriptError(f"{path}: expected a non-empty JSON list of job dicts")
    groups = data if all(isinstance(item, list) for item in data) else [data]
    for number, group in enumerate(groups):
        bad = [i for i, job in enumerate(group) if not isinstance(job, dict)]
        if bad:
            raise SubmitScriptError(f"{path}: submission {number}: item {bad[0]} is not a job dict")
        collect(group)
    return batches
