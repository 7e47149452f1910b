"""The ``perl`` language: callbacks run by the system perl in a child process (SPEC §7.3).

At registration the code is checked with ``perl -c`` (its own line numbers kept by a ``#line 1``
directive), so a syntax error is a :class:`CodeError` at submission, not a log line later. Each
firing runs ``perl -`` with the prelude (``qb_prelude.pl``, the ``qb::`` functions) and the code on
stdin. ``qb::`` calls come back to the engine as JSON lines over two dedicated pipes and are
answered by :meth:`QbApi.call`, so perl sees exactly the python API and its permission rule. The
callback's stdout and stderr, a non-zero exit status and a time limit's kill go to the job's
callback log; nothing the callback does makes the runner raise.

Everything runs in one ``select`` loop in the engine's thread: the engine is single-threaded, and a
``qb::`` action must run there, between the callback's own steps, exactly as in python callbacks.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections import OrderedDict
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..errors import CodeError
from ..isolation import reaper
from ..qbapi import QB_FUNCTIONS, QbApi
from . import Invocation, Language, LanguageContext, Runner

__all__ = ["PerlLanguage", "create", "bridge_answer", "run_perl", "prelude_path"]

#: The file name perl's messages give the callback's code (``die`` says "at callback line 3.").
_FILENAME = "callback"
#: The callback's output kept for the log; beyond this it is cut (a runaway print loop).
_OUTPUT_LIMIT = 1 << 20
#: How long to keep reading output after perl exits, when a program it started holds the pipe.
_EXIT_GRACE = 0.2
#: Identical code strings are checked once; universal callbacks repeat one code on every job.
_CACHE_SIZE = 1024

_LINE_RE = re.compile(r" at " + re.escape(_FILENAME) + r" line (\d+)")


def _prelude() -> str:
    # Read on first use: package data (setup.cfg lists it), next to this module.
    return resources.files(__package__).joinpath("qb_prelude.pl").read_text(encoding="utf-8")


def _script(prelude: str, code: str) -> bytes:
    """The program perl reads on stdin: functions list, prelude, then the code at its line 1."""
    head = f"BEGIN {{ @qb::FUNCTIONS = qw({' '.join(QB_FUNCTIONS)}); }}\n"
    text = f'{head}{prelude}\npackage main;\n#line 1 "{_FILENAME}"\n{code}\n'
    # surrogateescape: code that arrived as undecodable bytes goes back out as those bytes.
    return text.encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    """perl speaks bytes: UTF-8 if it is valid, else Latin-1 (a ``use utf8`` string of é's)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _error_type(exc: BaseException) -> str:
    # Subclasses (qbapi's QbPermissionError) answer with the base name perl's classes use.
    for kind in (PermissionError, KeyError, TypeError, ValueError, AttributeError):
        if isinstance(exc, kind):
            return kind.__name__
    return type(exc).__name__


def _error_message(exc: BaseException) -> str:
    # str(KeyError('x')) is "'x'": give perl the message, not its repr.
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc) or type(exc).__name__


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class _Outcome:
    """What one perl process did: its output, exit status, and whether the time limit hit."""

    def __init__(self) -> None:
        self.output = bytearray()
        self.truncated = False
        self.returncode: Optional[int] = None
        self.timed_out = False

    def add_output(self, data: bytes) -> None:
        room = _OUTPUT_LIMIT - len(self.output)
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        self.output += data

    def text(self) -> str:
        text = self.output.decode("utf-8", "replace")
        if self.truncated:
            text += f"\n[output cut at {_OUTPUT_LIMIT} bytes]\n"
        return text


def bridge_answer(
    call: Callable[[str, List[Any]], Any], on_error: Optional[Callable[[BaseException], None]] = None
) -> Callable[[bytes], bytes]:
    """The bridge's answering side: one JSON request line ``{"f": name, "a": [args]}`` in, one
    reply line out, ``{"result": call(name, args)}`` or ``{"error": {"type", "message"}}``.

    Everything ``call`` raises goes back to perl as a die the perl code may catch, exactly as
    python code sees the exception; ``on_error`` is told of each one first. Perl callbacks answer
    with the engine's ``qb`` API; submit scripts (:mod:`qbtrigger.submit.perl`) with the stand-in.
    """

    def answer(line: bytes) -> bytes:
        try:
            request = json.loads(_decode(line))
            name, args = request["f"], request.get("a", [])
            if not isinstance(name, str) or not isinstance(args, list):
                raise TypeError("malformed qb:: request")
            result = call(name, args)
            reply = json.dumps({"result": result}, default=_jsonable, ensure_ascii=False, allow_nan=False)
        except Exception as exc:
            if on_error is not None:
                on_error(exc)
            error = {"type": _error_type(exc), "message": _error_message(exc)}
            reply = json.dumps({"error": error}, ensure_ascii=False)
        return reply.encode("utf-8", "surrogateescape") + b"\n"

    return answer


def _run(
    argv: List[str],
    script: bytes,
    timeout: float,
    env: Optional[Dict[str, str]] = None,
    answer: Optional[Callable[[bytes], bytes]] = None,
    reap: bool = False,
) -> _Outcome:
    """Run perl on ``script`` (fed on stdin) for at most ``timeout`` seconds.

    With ``answer``, two extra pipes carry ``qb::`` requests (lines) and their replies; their fd
    numbers are passed in ``QBTRIGGER_PERL_FDS``. Raises OSError only if perl cannot be started.
    Every fd opened here is closed and the child reaped before returning. With ``reap``, every
    process perl started is killed when it ends, those that left its session included (see
    :func:`_reaping`).
    """
    with _reaping(reap):
        return _run_perl(argv, script, timeout, env, answer, reap)


class _reaping:
    """While perl runs, this process is a child subreaper: whatever perl started and left behind
    (a ``setsid()`` daemon whose parent exited) is re-parented here instead of to init, so it can
    be found and killed when perl ends. Ours are the children that appeared meanwhile."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.was = True
        self.before: set = set()

    def __enter__(self) -> None:
        if self.on:
            try:
                self.was = reaper.become_subreaper(True)
            except OSError:  # not Linux: perl's process group is all we can kill
                self.on = False
                return
            self.before = set(reaper.children(os.getpid()))

    def __exit__(self, *exc: Any) -> None:
        if not self.on:
            return
        try:
            reaper.kill_tree(set(reaper.children(os.getpid())) - self.before)
        finally:
            if not self.was:
                reaper.become_subreaper(False)


def _run_perl(
    argv: List[str],
    script: bytes,
    timeout: float,
    env: Optional[Dict[str, str]],
    answer: Optional[Callable[[bytes], bytes]],
    reap: bool,
) -> _Outcome:
    outcome = _Outcome()
    own: List[int] = []  # our ends, closed at the end
    theirs: List[int] = []  # the child's ends, closed once it has them

    try:
        stdin_r, stdin_w = os.pipe()
        theirs.append(stdin_r)
        own.append(stdin_w)
        out_r, out_w = os.pipe()
        own.append(out_r)
        theirs.append(out_w)
        pass_fds: Tuple[int, ...] = ()
        child_env = dict(os.environ if env is None else env)
        if answer is not None:
            req_r, req_w = os.pipe()
            own.append(req_r)
            theirs.append(req_w)
            rep_r, rep_w = os.pipe()
            theirs.append(rep_r)
            own.append(rep_w)
            pass_fds = (req_w, rep_r)
            child_env["QBTRIGGER_PERL_FDS"] = f"{req_w},{rep_r}"
        proc = subprocess.Popen(
            argv,
            stdin=stdin_r,
            stdout=out_w,
            stderr=out_w,  # one pipe keeps stdout and stderr lines in the order they were written
            pass_fds=pass_fds,
            env=child_env,
            close_fds=True,
            # Its own process group: the time limit kills perl and whatever it started.
            start_new_session=True,
        )
    except BaseException:
        for fd in own + theirs:
            os.close(fd)
        raise
    for fd in theirs:
        os.close(fd)

    sel = selectors.DefaultSelector()
    pending: Dict[int, bytearray] = {stdin_w: bytearray(script)}  # fd -> bytes still to write
    requests = bytearray()

    def close(fd: int) -> None:
        if fd in own:
            try:
                sel.unregister(fd)
            except KeyError:
                pass
            own.remove(fd)
            pending.pop(fd, None)
            os.close(fd)

    try:
        for fd in own:
            os.set_blocking(fd, False)
        sel.register(stdin_w, selectors.EVENT_WRITE)
        sel.register(out_r, selectors.EVENT_READ)
        if answer is not None:
            sel.register(req_r, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        exited_at: Optional[float] = None
        while True:
            now = time.monotonic()
            if proc.poll() is not None:
                exited_at = exited_at if exited_at is not None else now
                readers = [k for k in sel.get_map().values() if k.events & selectors.EVENT_READ]
                # Done once perl's output is drained, or soon after its exit if a program it
                # started in the background still holds the pipe.
                if not readers or now - exited_at > _EXIT_GRACE:
                    break
            if now >= deadline:
                outcome.timed_out = True
                break
            if not sel.get_map():
                proc_wait = min(deadline - now, 0.05)
                try:
                    proc.wait(proc_wait)
                except subprocess.TimeoutExpired:
                    pass
                continue
            for key, mask in sel.select(min(deadline - now, 0.1)):
                fd = key.fd
                if mask & selectors.EVENT_READ:
                    try:
                        data = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        close(fd)
                    elif fd == out_r:
                        outcome.add_output(data)
                    else:
                        requests += data
                        while answer is not None and b"\n" in requests:
                            line, _, rest = bytes(requests).partition(b"\n")
                            requests[:] = rest
                            reply = answer(line)
                            if rep_w in own:
                                if not pending.get(rep_w):
                                    pending[rep_w] = bytearray()
                                    sel.register(rep_w, selectors.EVENT_WRITE)
                                pending[rep_w] += reply
                elif mask & selectors.EVENT_WRITE:
                    buf = pending[fd]
                    try:
                        buf[: os.write(fd, buf[:65536])] = b""
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # perl stopped reading (it exited): nothing to do
                        buf.clear()
                    if not buf:
                        if fd == stdin_w:
                            close(fd)  # EOF ends the program text
                        else:
                            sel.unregister(fd)
                            del pending[fd]
    finally:
        # What perl started, setsid'd or not, goes before perl itself (its orphans would be ours).
        if reap:
            reaper.kill_tree(reaper.children(proc.pid))
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:  # already gone (ProcessLookupError), or nothing more we can do
                pass
        proc.wait()
        # What perl wrote just before it ended is worth keeping.
        if out_r in own:
            try:
                while data := os.read(out_r, 65536):
                    outcome.add_output(data)
                    if outcome.truncated:
                        break
            except OSError:
                pass
        sel.close()
        for fd in list(own):
            os.close(fd)
        own.clear()
    outcome.returncode = proc.returncode
    return outcome


#: Run perl with the bridge (see :func:`_run`); the submit-script front end uses it too.
run_perl = _run


def prelude_path() -> str:
    """The file holding the ``qb::`` prelude (package data, next to this module)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "qb_prelude.pl")


class PerlLanguage(Language):
    """``perl`` callbacks. ``timeout`` bounds each run (and the registration check) in seconds;
    ``perl`` is the interpreter's name or path."""

    name = "perl"
    flag = "perl"
    extensions = (".pl",)

    def __init__(self, qb: QbApi, *, timeout: float = 30.0, perl: str = "perl") -> None:
        self._qb = qb
        self.timeout = float(timeout)
        self.perl = perl
        self._runners: "OrderedDict[str, Runner]" = OrderedDict()
        self._prelude: Optional[str] = None

    def _perl_path(self) -> str:
        path = shutil.which(self.perl)
        if path is None:
            raise CodeError(f"perl is not installed (no '{self.perl}' on PATH); perl callbacks need it")
        return path

    def _script(self, code: str) -> bytes:
        if self._prelude is None:
            self._prelude = _prelude()
        return _script(self._prelude, code)

    def compile(self, code: str) -> Runner:
        if not isinstance(code, str):
            raise CodeError(f"perl code must be a str, not {type(code).__name__}")
        runner = self._runners.get(code)
        if runner is not None:
            self._runners.move_to_end(code)
            return runner
        script = self._script(code)
        self._check(script)
        runner = _PerlRunner(self, script)
        self._runners[code] = runner
        if len(self._runners) > _CACHE_SIZE:
            self._runners.popitem(last=False)
        return runner

    def _check(self, script: bytes) -> None:
        """``perl -c``: raise CodeError with perl's message and the code's line number.

        perl -c runs BEGIN blocks (``use`` included): a missing module is caught here too, and a
        BEGIN block that never returns meets the time limit. qb:: calls die there.
        """
        perl = self._perl_path()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBTRIGGER_")}
        try:
            outcome = _run([perl, "-c", "-"], script, self.timeout, env=env, reap=True)
        except OSError as exc:
            raise CodeError(f"perl could not be started: {exc}") from None
        if outcome.timed_out:
            raise CodeError(
                f"perl -c did not finish within {self.timeout:g} s (a BEGIN block that never returns?)"
            )
        if outcome.returncode == 0:
            return
        lines = [
            line
            for line in outcome.text().splitlines()
            if line.strip() and not line.startswith("- had compilation errors") and line != "- syntax OK"
        ]
        message = "\n".join(lines) or f"perl -c failed with status {outcome.returncode}"
        match = _LINE_RE.search(message)
        raise CodeError(message, int(match.group(1)) if match else None)

    def _run(self, inv: Invocation, script: bytes) -> None:
        what = f"perl {inv.callback.describe()} of job {inv.jobid}"
        qb = self._qb if self._qb is not None else inv.qb

        def call(name: str, args: List[Any]) -> Any:
            with qb.bound(inv):
                return qb.call(name, args)

        answer = bridge_answer(call)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBTRIGGER_")}
        env["QBTRIGGER_JOBID"] = str(inv.jobid)
        try:
            outcome = _run([shutil.which(self.perl) or self.perl, "-"], script, self.timeout, env, answer, reap=True)
        except OSError as exc:
            inv.log(f"{what}: perl could not be started: {exc}\n")
            return
        text = outcome.text()
        if text and not text.endswith("\n"):
            text += "\n"
        if outcome.timed_out:
            text += f"{what}: killed after {self.timeout:g} s (time limit)\n"
        elif outcome.returncode is not None and outcome.returncode > 0:
            text += f"{what}: perl exited with status {outcome.returncode}\n"
        elif outcome.returncode is not None and outcome.returncode < 0:
            text += f"{what}: perl was killed by signal {_signal_name(-outcome.returncode)}\n"
        if text:
            inv.log(text)


class _PerlRunner:
    """The runner ``compile`` returns: the checked script, run once per firing."""

    __slots__ = ("_language", "_script")

    def __init__(self, language: PerlLanguage, script: bytes) -> None:
        self._language = language
        self._script = script

    def __call__(self, inv: Invocation) -> None:
        self._language._run(inv, self._script)


def create(context: LanguageContext) -> PerlLanguage:
    return PerlLanguage(context.qb, timeout=context.perl_timeout)
