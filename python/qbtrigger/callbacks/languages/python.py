"""The ``python`` language: code compiled once at registration, run with ``qb`` (SPEC §7.2).

By default each firing runs in a worker process of the callback owner's (the engine's
:class:`~qbtrigger.callbacks.isolation.WorkerPool`): a loop, a crash, an exit, a fork or a huge
allocation there fails that firing only, and ``qb`` there reaches the supervisor through a narrow
channel. The code is compiled here first, so a syntax error is still found at submission.

In-process mode (``CallbackEngine(in_process_python=True)``, for trusted code only) runs the code
in the engine's own process and thread: while a callback runs, ``qb`` is in its globals and
``import qb`` finds the same object (``sys.modules['qb']`` is set for the duration).

Either way, output and tracebacks go to the owning job's callback log; any exception the code
raises, ``SystemExit`` included, is caught there. In-process, ``KeyboardInterrupt`` is let
through: it is the operator's, not the callback's.
"""

from __future__ import annotations

import builtins
import functools
import io
import sys
import traceback
from typing import TYPE_CHECKING, Dict, Optional

from ..errors import CodeError, looks_like_python2
from . import Invocation, Language, LanguageContext, Runner

if TYPE_CHECKING:  # pragma: no cover
    from ..isolation import WorkerPool
    from ..qbapi import QbApi

__all__ = ["PythonLanguage", "create"]

_FILENAME = "<callback>"


class PythonLanguage(Language):
    name = "python"
    flag = "python"
    extensions = (".py",)

    def __init__(self, qb: "QbApi", workers: Optional["WorkerPool"] = None) -> None:
        self._qb = qb
        self._workers = workers
        self._runners: Dict[str, Runner] = {}

    @property
    def isolated(self) -> bool:
        """Whether firings run in worker processes (else in the engine's own process)."""
        return self._workers is not None

    def compile(self, code: str) -> Runner:
        if not isinstance(code, str):
            raise CodeError(f"python code must be a str, not {type(code).__name__}")
        runner = self._runners.get(code)
        if runner is None:
            try:
                compiled = compile(code, _FILENAME, "exec")
            except SyntaxError as error:
                hint = " (it looks like Python 2: callbacks run with Python 3)" if looks_like_python2(error.msg) else ""
                raise CodeError(f"python code does not compile: {error.msg}{hint}", error.lineno) from None
            except ValueError as error:  # NUL bytes, say
                raise CodeError(f"python code does not compile: {error}") from None
            workers = self._workers
            if workers is not None:
                runner = _isolated_runner(workers, code)
            else:
                runner = self._in_process_runner(compiled)
            self._runners[code] = runner
        return runner

    def _in_process_runner(self, compiled) -> Runner:
        qb = self._qb

        def run(inv: Invocation) -> None:
            out = io.StringIO()
            saved_out, saved_err = sys.stdout, sys.stderr
            saved_module = sys.modules.get("qb")
            sys.stdout = sys.stderr = out
            sys.modules["qb"] = qb  # type: ignore[assignment]
            # qb.bound(inv), without a generator and a context manager made per firing.
            outer, qb._inv = qb._inv, inv
            try:
                exec(compiled, {"qb": qb, "__name__": "__callback__", "__builtins__": builtins})
            except KeyboardInterrupt:
                raise
            except BaseException:  # noqa: B036 - SystemExit too: a callback never stops the engine
                kind, value, tb = sys.exc_info()
                # Drop this frame: the log shows the callback's own lines only.
                traceback.print_exception(kind, value, tb.tb_next if tb else None, file=out)
            finally:
                qb._inv = outer
                sys.stdout, sys.stderr = saved_out, saved_err
                if saved_module is None:
                    sys.modules.pop("qb", None)
                else:
                    sys.modules["qb"] = saved_module
            text = out.getvalue()
            if text:
                inv.log(text)

        return run


def _isolated_runner(workers: "WorkerPool", code: str) -> Runner:
    # A partial of the pool's bound method: no Python frame of ours between engine and pool.
    return functools.partial(workers.run, workers.code_id(code), code)


def create(context: LanguageContext) -> PythonLanguage:
    return PythonLanguage(context.qb, context.workers)
