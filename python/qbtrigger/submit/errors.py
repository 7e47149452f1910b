"""What running a submit script can raise.

:class:`SubmitScriptError` is the runner's: the script could not be run to the end (it does not
compile, it raised, it exited non-zero, it submitted nothing). :class:`QbError` is the stand-in
``qb`` module's: a call it refuses, with a message that names the function, the job or field and
what would be accepted. A script may catch a ``QbError`` (it is a ``ValueError``, as the real
module's refusals are); one it does not catch ends the run with that message and the script's line.
"""

from __future__ import annotations

from ..callbacks.qbapi import QbPermissionError
from ..errors import Error

__all__ = ["SubmitScriptError", "QbError", "QbPermissionError"]


class SubmitScriptError(Error):
    """The script could not be run to the end: ``str()`` says why, in one paragraph."""


class QbError(Error, ValueError):
    """A call of the stand-in ``qb`` module that it refuses (``qb.genframes('1-10x0')``, say)."""
