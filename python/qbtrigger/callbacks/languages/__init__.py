"""Callback languages: each turns a code string into a runner at registration (SPEC §7).

A language is enabled by its flag in ``language_flags`` (default ``qube,mail,dependency``);
:func:`parse_language_flags` reads that setting. ``compile(code)`` raises :class:`CodeError`
for anything wrong with the code, so every problem is found at submission; the runner it returns
is called with an :class:`Invocation` each time the callback fires and must not raise for
problems of the callback's own making (the engine catches and logs anything that escapes).

The registry: every name in :data:`qbtrigger.vocabulary.LANGUAGES` is a module of this package
with a ``create(context: LanguageContext) -> Language`` function, imported on first use
(:func:`create_language`). A new language is that module plus its name in the vocabulary.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, Optional, Tuple, Union

from ...vocabulary import DEFAULT_LANGUAGE_FLAGS, LANGUAGE_FLAGS, LANGUAGES
from ..callback import Callback, Invocation, Runner

if TYPE_CHECKING:  # pragma: no cover
    from ..isolation import WorkerPool
    from ..qbapi import QbApi

__all__ = [
    "Invocation",
    "Language",
    "Runner",
    "Callback",
    "LANGUAGE_FLAGS",
    "DEFAULT_LANGUAGE_FLAGS",
    "LanguageContext",
    "create_language",
    "language_for_extension",
    "parse_language_flags",
]


def parse_language_flags(flags: Union[str, Iterable[str]]) -> FrozenSet[str]:
    """``"qube,mail,dependency"`` (or an iterable of flags) as a frozenset; unknown flags are an error."""
    items = flags.split(",") if isinstance(flags, str) else list(flags)
    out = set()
    for item in items:
        flag = str(item).strip().lower()
        if not flag:
            continue
        if flag not in LANGUAGE_FLAGS:
            raise ValueError(f"unknown language flag '{item}' (known: {', '.join(LANGUAGE_FLAGS)})")
        out.add(flag)
    return frozenset(out)


class Language:
    """A callback language. Subclasses set ``name`` and ``flag`` and implement :meth:`compile`;
    ``extensions`` are the file endings of its code in a universal-callback folder."""

    name: str = ""
    flag: str = ""
    extensions: Tuple[str, ...] = ()
    #: Its work and subjob actions apply to the item the triggering event names (qube keywords).
    acts_on_event_item: bool = False

    def compile(self, code: str) -> Runner:
        raise NotImplementedError

    def may_act(self, code: str, verb: str, scope: str) -> bool:
        """Whether ``code`` may apply ``verb`` to its own job (``scope`` 'job') or to the job's
        work items (``scope`` 'work'): what a stuck report names as a way out. Scripts are read
        as text, so this default is a guess: the ``qb`` function's name appears in the code."""
        text = code.lower()
        if scope == "work":
            return f"{verb}work" in text or f"work{verb}" in text
        return verb in text and f"{verb}work" not in text


@dataclass(frozen=True)
class LanguageContext:
    """What a language may be given when the engine creates it."""

    qb: "QbApi"
    perl_timeout: float = 30.0
    #: Where python callbacks run: a pool of worker processes, or None for in the engine's own
    #: process (the trusted, in-process mode).
    workers: Optional["WorkerPool"] = None


def create_language(name: str, context: LanguageContext) -> Optional[Language]:
    """The language called ``name``, made from its module, or None when no language has that name."""
    if name not in LANGUAGES:
        return None
    module: Any = importlib.import_module(f"{__name__}.{name}")
    language: Language = module.create(context)
    return language


def language_for_extension(languages: Dict[str, Language], extension: str) -> Optional[str]:
    """The name of the language whose code files end in ``extension``, among ``languages``."""
    for name, language in languages.items():
        if extension in language.extensions:
            return name
    return None
