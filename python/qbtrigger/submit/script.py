"""Run a Python submit script as ``python script.py ARG...`` would, with the stand-in ``qb``.

What the script sees:

- ``__name__ == "__main__"``, ``__file__`` its absolute path, ``sys.argv == [path, *args]``, its own
  folder first on ``sys.path`` (so its sibling modules import), the current directory unchanged;
- ``QBDIR`` in the environment, when it is not set already, naming :data:`QBDIR`, whose
  ``api/python`` holds a ``qb.py`` and ``api/perl`` a ``qb.pm``: the usual
  ``sys.path.append(os.environ['QBDIR'] + '/api/python'); import qb`` works;
- ``import qb`` gives the stand-in (:class:`~.qbmodule.StandIn`), whatever ``sys.path`` holds; a
  script that uses ``qb`` without importing it (Qube's documentation snippets do) finds it among its
  globals, and a one-line note on stderr says so.

What it gets back: a syntax error is reported as ``FILE:LINE:COL: message`` with the line and a
caret (no traceback), with a hint when the script looks like Python 2; an exception it does not
catch as one line naming its type, message and the script's line; a refusal of the stand-in
(:class:`QbError`) as ``FILE:LINE: qb.FUNCTION: ...``; ``sys.exit(n)`` with ``n`` not 0 as an error.
Everything is put back afterwards (``sys.argv``, ``sys.path``, ``QBDIR``, the modules the script
imported from its own folder), so several scripts can run in one process.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import sys
import sysconfig
import tokenize
import types
from typing import Any, Dict, List, Optional, Sequence

from ..callbacks.errors import SubmissionError, looks_like_python2
from .errors import QbError, QbPermissionError, SubmitScriptError
from .qbmodule import QBDIR, StandIn

__all__ = ["QBDIR", "run_python_script", "format_syntax_error"]


class _ProcessWatch:
    """Notes the commands a running script starts (``subprocess``, ``os.system``, ``os.exec*``,
    ``os.posix_spawn``), through one audit hook, added the first time a script runs: an audit hook
    cannot be removed, so it stays, and does nothing while no script runs. Only calls made from
    the script's folder count, not a process the target starts meanwhile (a callback worker)."""

    SHOWN = 5
    _active: "Optional[_ProcessWatch]" = None
    _hooked = False

    def __init__(self, started: List[str], folder: str) -> None:
        self.started = started
        self.folder = os.path.join(folder, "")

    @classmethod
    def start(cls, started: List[str], folder: str) -> "_ProcessWatch":
        watch = cls(started, folder)
        if not cls._hooked:
            sys.addaudithook(cls._audit)
            cls._hooked = True
        cls._active = watch
        return watch

    def stop(self) -> None:
        if _ProcessWatch._active is self:
            _ProcessWatch._active = None

    @staticmethod
    def _audit(event: str, args: tuple) -> None:
        watch = _ProcessWatch._active
        if watch is None or event not in _PROCESS_EVENTS or len(watch.started) >= _ProcessWatch.SHOWN:
            return
        try:
            watch._note(event, args)
        except Exception:  # an exception here would fail the script's own call: a hint is not worth that
            pass

    def _note(self, event: str, args: tuple) -> None:
        frame: Optional[types.FrameType] = sys._getframe(2)
        while frame is not None and (not frame.f_code.co_filename.startswith(self.folder)
                                     or frame.f_code.co_filename.startswith(_PACKAGE)):
            frame = frame.f_back
        if frame is None:
            return
        command = args[0] if event == "os.system" else args[1]
        if isinstance(command, (list, tuple)):
            command = " ".join(os.fsdecode(part) if isinstance(part, (str, bytes, os.PathLike)) else str(part)
                               for part in command)
        self.started.append(os.fsdecode(command) if isinstance(command, (str, bytes, os.PathLike)) else str(command))


#: qbtrigger's own files, which a script's folder may hold (a checkout): their calls are not the script's.
_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")
#: Audit events of a new process (their command: ``args[1]``, or ``args[0]`` for ``os.system``).
_PROCESS_EVENTS = frozenset(("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"))


def format_syntax_error(path: str, error: SyntaxError) -> str:
    """``FILE:LINE:COL: message``, the line and a caret under the column (COL 1-based)."""
    line = error.lineno or 0
    column = error.offset or 0
    text = (error.text or "").rstrip("\r\n")
    message = error.msg or "invalid syntax"
    where = f"{path}:{line}:{column}: {message}" if column else f"{path}:{line}: {message}"
    out = [where]
    if text:
        shown = text.expandtabs(8) if "\t" in text else text
        prefix = text[: max(column - 1, 0)].expandtabs(8) if "\t" in text else text[: max(column - 1, 0)]
        out += [f"    {shown}", f"    {' ' * len(prefix)}^"]
    if looks_like_python2(message):
        out.append("(the script looks like Python 2; qbtrigger runs submit scripts with Python 3)")
    return "\n".join(out)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SubmitScriptError(f"cannot read {path!r}: {error.strerror or error}") from None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as error:
        raise SubmitScriptError(f"{path}: cannot decode the script: {error}") from None


def _qb_use(tree: ast.AST) -> Dict[str, bool]:
    """Whether the script reads the name ``qb``, binds it (import, assignment...), or star-imports."""
    uses = binds = star = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "qb":
            if isinstance(node.ctx, ast.Load):
                uses = True
            else:
                binds = True
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == "qb":
                    binds = True
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                elif (alias.asname or alias.name) == "qb":
                    binds = True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == "qb":
            binds = True
        elif isinstance(node, ast.arg) and node.arg == "qb":
            binds = True
    return {"uses": uses, "binds": binds, "star": star}


def _script_line(error: BaseException, script: str) -> Optional[int]:
    """The line of the script the exception went through last (the deepest frame of the script)."""
    tb = error.__traceback__
    line = None
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == script:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _raised_in(error: BaseException, script: str) -> Optional[str]:
    """``FILE line N`` of the frame that raised, when it is another file of the user's (a module
    the script imports); None when the script itself raised, or Python, a library or qbtrigger."""
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return None
    filename = last.tb_frame.f_code.co_filename
    if filename.startswith("<") or os.path.abspath(filename) == script:
        return None
    filename = os.path.abspath(filename)
    paths = sysconfig.get_paths()
    libraries = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    libraries.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # qbtrigger itself
    if any(filename.startswith(os.path.abspath(lib) + os.sep) for lib in libraries):
        return None
    return f"{os.path.relpath(filename, os.path.dirname(script))} line {last.tb_lineno}"


def _describe(path: str, error: BaseException, script: str) -> str:
    line = _script_line(error, script)
    if isinstance(error, (QbError, QbPermissionError)):
        return f"{path}:{line}: {error}" if line is not None else f"{path}: {error}"
    if isinstance(error, SyntaxError):
        # A module the script imports does not compile (a Python 2 sibling module, say).
        where = error.filename or path
        text = format_syntax_error(os.path.relpath(where) if os.path.isabs(where) else where, error)
        return f"{path}: the script imports a file that does not compile:\n{text}"
    if isinstance(error, KeyError) and len(error.args) == 1:
        message = repr(error.args[0])
    else:
        message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    at = "" if line is None else f" (line {line}"
    inner = _raised_in(error, script)
    if inner is not None:
        at = f"{at}, raised in {inner})" if at else f" (raised in {inner})"
    elif at:
        at += ")"
    return f"{path}: the script raised {text}{at}"


def run_python_script(path: str, stand_in: StandIn, argv: Sequence[str] = ()) -> None:
    """Run the Python script at ``path`` with ``stand_in``'s module as ``qb`` (module docstring).

    Raises :class:`SubmitScriptError` with one clear message when the script cannot be read,
    does not compile, raises, or exits non-zero; a :class:`SubmissionError` (the target refused a
    submission) passes through as is.
    """
    if not os.path.isfile(path):
        raise SubmitScriptError(f"{path}: no such file")
    source = _read(path)
    script = os.path.abspath(path)
    try:
        code = compile(source, script, "exec", dont_inherit=True)
        tree = ast.parse(source, script)
    except SyntaxError as error:
        raise SubmitScriptError(format_syntax_error(path, error)) from None
    except ValueError as error:  # null bytes
        raise SubmitScriptError(f"{path}: {error}") from None
    qb = stand_in.module()
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=script, __builtins__=builtins, __cached__=None, __loader__=None,
                         __spec__=None, __package__=None)
    use = _qb_use(tree)
    if use["uses"] and not use["binds"]:
        main.__dict__["qb"] = qb
        if not use["star"]:
            stand_in.note(f"{path} uses qb without importing it; the stand-in qb was provided "
                          "(as Qube's documentation snippets assume)")

    folder = os.path.dirname(script)
    saved_modules = {name: sys.modules.get(name) for name in ("qb", "__main__")}
    before = set(sys.modules)
    saved_argv, saved_path = sys.argv, list(sys.path)
    saved_qbdir = os.environ.get("QBDIR")
    if saved_qbdir is None:
        os.environ["QBDIR"] = QBDIR
    sys.modules["qb"] = qb
    sys.modules["__main__"] = main
    sys.argv = [path, *argv]
    sys.path.insert(0, folder)
    watch = _ProcessWatch.start(stand_in.processes, folder)
    try:
        exec(code, main.__dict__)
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            if isinstance(exit_.code, int):
                raise SubmitScriptError(f"{path}: the script exited with status {exit_.code}") from None
            raise SubmitScriptError(f"{path}: the script exited: {exit_.code}") from None
    except (SubmitScriptError, SubmissionError):
        raise  # the submission's own problem, already worded for the user
    except Exception as error:  # the user's script: any error becomes one clear message
        raise SubmitScriptError(_describe(path, error, script)) from error
    finally:
        watch.stop()
        sys.argv, sys.path[:] = saved_argv, saved_path
        if saved_qbdir is None:
            os.environ.pop("QBDIR", None)
        for name, old in saved_modules.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
        _forget_modules(before, folder)


def _forget_modules(before: set, folder: str) -> None:
    """Drop the modules the script imported from its own folder (a next script may have its own
    module of the same name)."""
    prefix = folder.rstrip(os.sep) + os.sep
    for name in set(sys.modules) - before:
        module: Any = sys.modules.get(name)
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and os.path.abspath(filename).startswith(prefix):
            del sys.modules[name]
