"""What a file given to ``qbtrigger check|simulate|explain`` submits, whatever its kind.

The kind is picked by the file's extension: ``.py`` is a Python submit script
(:mod:`.script`), ``.pl`` and ``.pm`` a Perl one (:mod:`.perl`), ``.json`` and ``.qja`` (what the
stand-in's ``archivejob`` writes) a JSON job list; the commands decide about other names (``check``
reads them as trigger files, ``simulate`` and ``explain`` as JSON).
"""

from __future__ import annotations

import getpass
import json
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from .errors import SubmitScriptError
from .qbmodule import StandIn
from .target import OnSubmit, RecordingTarget, Target

__all__ = [
    "SCRIPT_LANGUAGES",
    "JSON_SUFFIXES",
    "script_language",
    "run_script",
    "load_submissions",
    "default_user",
]

#: Script extensions and their language.
SCRIPT_LANGUAGES = {".py": "python", ".pl": "perl", ".pm": "perl"}
#: Extensions read as JSON job lists.
JSON_SUFFIXES = (".json", ".qja")


def script_language(path: str) -> Optional[str]:
    """``'python'``, ``'perl'`` or None, by the file's extension."""
    return SCRIPT_LANGUAGES.get(os.path.splitext(path)[1].lower())


def default_user() -> str:
    """The login name: who a script runs as unless told otherwise."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "user"


def _target(target: Union[Target, OnSubmit]) -> Target:
    if callable(target) and not hasattr(target, "submit"):
        return RecordingTarget(target)
    return target  # type: ignore[return-value]


def run_script(
    path: str,
    target: Union[Target, OnSubmit],
    argv: Sequence[str] = (),
    *,
    user: Optional[str] = None,
    note: Optional[Callable[[str], None]] = None,
) -> StandIn:
    """Run the submit script at ``path`` (Python or Perl, by its extension) against ``target`` as
    ``user`` (default: the login name); return its :class:`StandIn` (batches, callbacks...)."""
    stand_in = StandIn(_target(target), user=user or default_user(), note=note)
    language = script_language(path)
    if language == "perl":
        from .perl import run_perl_script

        run_perl_script(path, stand_in, argv)
    elif language == "python":
        from .script import run_python_script

        run_python_script(path, stand_in, argv)
    else:
        raise SubmitScriptError(f"{path}: not a submit script (.py, .pl or .pm)")
    return stand_in


def _count(processes: List[str]) -> str:
    return "a process" if len(processes) == 1 else f"{len(processes)} processes"


def _read_json(path: str) -> List[List[Dict[str, Any]]]:
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
    return groups


def load_submissions(
    path: str,
    target: Union[Target, OnSubmit],
    argv: Sequence[str] = (),
    *,
    user: Optional[str] = None,
    note: Optional[Callable[[str], None]] = None,
) -> List[List[Dict[str, Any]]]:
    """The submissions of a submit script (each ``qb.submit`` call) or of a JSON job list (a list
    of job dicts, ``{"jobs": [...]}``, or a list of such lists), each handed to ``target`` in
    order (a :class:`Target`, or an ``on_submit(jobs) -> jobs`` callable); returns what it
    returned for each.

    Raises :class:`SubmitScriptError` with one clear message for a file that cannot be used, and
    for a script that submitted nothing (no job, no global callback).
    """
    if script_language(path) is not None:
        stand_in = run_script(path, target, argv, user=user, note=note)
        if not stand_in.batches and not stand_in.callbacks:
            archived = ""
            if stand_in.archived:
                files = ", ".join(stand_in.archived)
                archived = f"; it wrote {files} with qb.archivejob: give that file to qbtrigger instead"
            started = ""
            if stand_in.processes:
                started = (f"; it started {_count(stand_in.processes)} ({', '.join(map(repr, stand_in.processes))}): "
                           "a job submitted from another process does not reach qbtrigger, so give qbtrigger "
                           "the script that calls qb.submit")
            raise SubmitScriptError(f"{path}: the script submitted no jobs (no qb.submit call ran){archived}{started}")
        return stand_in.batches
    if argv:
        raise SubmitScriptError(f"{path}: arguments after -- are for a submit script (.py, .pl); "
                                "a JSON job list takes none")
    resolved = _target(target)
    return [resolved.submit(group) for group in _read_json(path)]
