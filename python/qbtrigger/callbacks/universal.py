"""Universal callbacks: a folder an administrator installs, attached to every job (SPEC §8).

The folder holds ``callbacks.conf`` and the code files. Each non-blank line that is not a ``#``
comment reads ``file = trigger``; the file's extension picks the language (``.py`` python,
``.pl`` perl, ``.qcb`` qube). Everything is checked when the folder is loaded: the line's shape,
the file (inside the folder, readable), the language (known and enabled), the trigger's syntax
and the code. A bad line rejects the whole file, and the error lists every bad line.

Universal callbacks run as administrator. ``self`` in their triggers is the job they are
attached to; one whose trigger names ``parent`` is attached only to jobs that have a ``pid``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from .. import TriggerSyntaxError, atoms_of, parse
from .errors import CodeError, UniversalConfigError
from .languages import Language, Runner, language_for_extension

__all__ = ["UniversalCallback", "load_universal", "CONFIG_NAME"]

CONFIG_NAME = "callbacks.conf"


@dataclass(frozen=True)
class UniversalCallback:
    line: int
    file: str
    triggers: str
    language: str
    code: str
    runner: Runner
    needs_pid: bool  # the trigger names ``parent``


def load_universal(
    folder: str, languages: Dict[str, Language], enabled: Callable[[str], Optional[str]]
) -> List[UniversalCallback]:
    """Read ``folder/callbacks.conf``. ``enabled(language)`` returns None when the language may be
    used, or the message saying why not. Raises :class:`UniversalConfigError` listing every bad
    line, or when the folder has no readable config."""
    config = os.path.join(folder, CONFIG_NAME)
    try:
        with open(config, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UniversalConfigError(config, [(0, f"cannot read it: {error}")]) from None
    entries: List[UniversalCallback] = []
    problems = []
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        file, sep, trigger = (part.strip() for part in text.partition("="))
        if not sep or not file or not trigger:
            problems.append((number, f"expected 'file = trigger', got {text!r}"))
            continue
        if os.path.basename(file) != file or file in (".", ".."):
            problems.append((number, f"'{file}' must be a file name inside the folder, not a path"))
            continue
        language = language_for_extension(languages, os.path.splitext(file)[1].lower())
        if language is None:
            known = ", ".join(f"{ext} {name}" for name, lang in languages.items() for ext in lang.extensions)
            problems.append((number, f"'{file}': unknown extension (known: {known})"))
            continue
        why_not = enabled(language)
        if why_not:
            problems.append((number, f"'{file}': {why_not}"))
            continue
        try:
            # A placeholder owner and pid: 'self' and 'parent' resolve per job at attachment.
            tree = parse(trigger, owner=0, pid=0)
        except TriggerSyntaxError as error:
            rendered = str(error).replace("\n", "\n    ")
            problems.append((number, f"bad trigger: {rendered}"))
            continue
        try:
            with open(os.path.join(folder, file), encoding="utf-8") as handle:
                code = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            problems.append((number, f"'{file}': cannot read it: {error}"))
            continue
        try:
            runner = languages[language].compile(code)
        except CodeError as error:
            problems.append((number, f"'{file}': {error}"))
            continue
        needs_pid = any(atom.context == "parent" for atom in atoms_of(tree))
        entries.append(UniversalCallback(number, file, trigger, language, code, runner, needs_pid))
    if problems:
        raise UniversalConfigError(config, problems)
    return entries
