"""Run a Perl submit script with the system perl and a Perl ``qb`` stand-in.

``perl -I QBDIR/api/perl -Mqb -Mqb::Job SCRIPT ARG...`` in the current directory, with ``QBDIR``
set when it is not (:data:`~.qbmodule.QBDIR`): ``qb.pm`` is loaded before the script, so
``use lib "$ENV{QBDIR}/api/perl"; use qb;`` (or any other ``use lib``) gets the stand-in. Each
``qb::`` call crosses the bridge perl callbacks already use (the prelude's JSON lines over two
dedicated pipes, :func:`qbtrigger.callbacks.languages.perl.bridge_answer`) and is answered by
:meth:`StandIn.call`, the very code ``import qb`` runs for Python scripts. Hashes go as Qube's Perl
API takes them (``"cpus" => "5"`` stays the string ``"5"``); the farm normalises them.

The script's output (stdout and stderr, in order) is printed when it ends. A script that dies of a
refusal it did not catch is reported like a Python one (``FILE:LINE: qb.submit: ...``, or the
farm's ``SubmissionError`` as is); any other non-zero exit with its status and its last lines of
output. A script may run for :data:`PERL_TIMEOUT` seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
from typing import Any, List, Optional, Sequence

from ..callbacks.errors import SubmissionError
from ..callbacks.languages.perl import bridge_answer, prelude_path, run_perl
from .errors import QbError, QbPermissionError, SubmitScriptError
from .qbmodule import PERL_FUNCTIONS, StandIn
from .qbmodule import QBDIR

__all__ = ["PERL_TIMEOUT", "run_perl_script"]

#: How long a Perl submit script may run, in seconds.
PERL_TIMEOUT = 600.0
#: The qb:: functions ``qb.pm`` defines itself (list returns, blessing); the rest are plain calls.
_DEFINED_IN_QB_PM = frozenset((
    "submit", "submitcallback", "hostinfo", "jobinfo", "genframes", "genchunks", "genpartitions",
    "rangesplit", "rangechunk", "rangepartition",
))
_DIED_AT = re.compile(r" at (.+?) line (\d+)\.?\s*\Z", re.DOTALL)


def _tail(text: str, lines: int = 5) -> List[str]:
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _died_of(text: str, error: BaseException) -> Optional[str]:
    """The script's line when its output ends with the die message of ``error`` (the refusal was
    not caught), else None."""
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    first = message.split("\n", 1)[0]
    at = text.rfind(first) if first else -1
    if at < 0:
        return None
    match = _DIED_AT.search(text, at)
    return match.group(2) if match else None


def run_perl_script(path: str, stand_in: StandIn, argv: Sequence[str] = (), *, perl: str = "perl",
                    timeout: float = PERL_TIMEOUT) -> None:
    """Run the Perl script at ``path`` with the stand-in (see the module docstring).

    Raises :class:`SubmitScriptError` when perl is missing or the script fails; a
    :class:`SubmissionError` it died of passes through as is.
    """
    if not os.path.isfile(path):
        raise SubmitScriptError(f"{path}: no such file")
    exe = shutil.which(perl)
    if exe is None:
        raise SubmitScriptError(f"perl is not installed (no '{perl}' on PATH); Perl submit scripts need it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBTRIGGER_")}
    env.setdefault("QBDIR", QBDIR)
    env["QBTRIGGER_PERL_PRELUDE"] = prelude_path()
    env["QBTRIGGER_PERL_FUNCTIONS"] = " ".join(n for n in PERL_FUNCTIONS if n not in _DEFINED_IN_QB_PM)
    errors: List[BaseException] = []

    def call(name: str, args: List[Any]) -> Any:
        return stand_in.call(name, args)

    answer = bridge_answer(call, on_error=errors.append)
    argv_ = [exe, f"-I{os.path.join(QBDIR, 'api', 'perl')}", "-Mqb", "-Mqb::Job", path, *argv]
    try:
        outcome = run_perl(argv_, b"", timeout, env, answer)
    except OSError as error:
        raise SubmitScriptError(f"{path}: perl could not be started: {error}") from None
    text = outcome.text()
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    if outcome.timed_out:
        raise SubmitScriptError(f"{path}: the perl script did not finish within {timeout:g} s")
    status = outcome.returncode
    if status == 0:
        return
    if errors:
        last = errors[-1]
        line = _died_of(text, last)
        if line is not None:
            if isinstance(last, SubmissionError):
                raise last
            if isinstance(last, (QbError, QbPermissionError)):
                raise SubmitScriptError(f"{path}:{line}: {last}")
    if status is not None and status < 0:
        try:
            what = f"was killed by signal {signal.Signals(-status).name}"
        except ValueError:
            what = f"was killed by signal {-status}"
    else:
        what = f"exited with status {status}"
    tail = _tail(text)
    detail = (":\n" + "\n".join(f"    {line}" for line in tail)) if tail else ""
    raise SubmitScriptError(f"{path}: the perl script {what}{detail}")
