"""The ``python`` language: code compiled once at registration, run with ``qb`` (SPEC §7.2).

Identical code strings share one code object. While a callback runs, ``qb`` is in its globals
and ``import qb`` finds the same object (``sys.modules['qb']`` is set for the duration). Output and
tracebacks go to the owning job's callback log; any exception the code raises, ``SystemExit``
included, is caught there. ``KeyboardInterrupt`` is let through: it is the operator's, not the
callback's.
"""

from __future__ import annotations

import builtins
import io
import sys
import traceback
from typing import TYPE_CHECKING, Dict

from ..errors import CodeError
from . import Invocation, Language, LanguageContext, Runner

if TYPE_CHECKING:  # pragma: no cover
    from ..qbapi import QbApi

__all__ = ["PythonLanguage", "create"]

_FILENAME = "<callback>"


class PythonLanguage(Language):
    name = "python"
    flag = "python"
    extensions = (".py",)

    def __init__(self, qb: "QbApi") -> None:
        self._qb = qb
        self._runners: Dict[str, Runner] = {}

    def compile(self, code: str) -> Runner:
        if not isinstance(code, str):
            raise CodeError(f"python code must be a str, not {type(code).__name__}")
        runner = self._runners.get(code)
        if runner is None:
            try:
                compiled = compile(code, _FILENAME, "exec")
            except SyntaxError as error:
                raise CodeError(f"python code does not compile: {error.msg}", error.lineno) from None
            except ValueError as error:  # NUL bytes, say
                raise CodeError(f"python code does not compile: {error}") from None
            runner = self._runners[code] = self._runner(compiled)
        return runner

    def _runner(self, compiled) -> Runner:
        qb = self._qb

        def run(inv: Invocation) -> None:
            out = io.StringIO()
            saved_out, saved_err = sys.stdout, sys.stderr
            saved_module = sys.modules.get("qb")
            sys.stdout = sys.stderr = out
            sys.modules["qb"] = qb  # type: ignore[assignment]
            try:
                with qb.bound(inv):
                    exec(compiled, {"qb": qb, "__name__": "__callback__", "__builtins__": builtins})
            except KeyboardInterrupt:
                raise
            except BaseException:  # noqa: B036 - SystemExit too: a callback never stops the engine
                kind, value, tb = sys.exc_info()
                # Drop this frame: the log shows the callback's own lines only.
                traceback.print_exception(kind, value, tb.tb_next if tb else None, file=out)
            finally:
                sys.stdout, sys.stderr = saved_out, saved_err
                if saved_module is None:
                    sys.modules.pop("qb", None)
                else:
                    sys.modules["qb"] = saved_module
            text = out.getvalue()
            if text:
                inv.log(text)

        return run


def create(context: LanguageContext) -> PythonLanguage:
    return PythonLanguage(context.qb)
