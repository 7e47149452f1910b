"""What the callback engine raises: every registration problem, found at submission.

A submission is checked as a whole before anything is registered, and every problem found is
reported in one :class:`SubmissionError`, each naming the job (its label, or its index in the
submission) and the callback's index, so a pipeline engineer fixes them all in one pass.
"""

from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Optional, Tuple

from ..errors import Error

__all__ = ["Problem", "SubmissionError", "CodeError", "UniversalConfigError", "looks_like_python2"]

#: What Python 3's compiler says of the commonest Python 2 lines: code that gets one of these is
#: told it looks like Python 2 (submit scripts and python callbacks alike).
_PYTHON2_MESSAGES = (
    "Missing parentheses in call to 'print'",
    "multiple exception types must be parenthesized",
    "Missing parentheses in call to 'exec'",
)


def looks_like_python2(message: str) -> bool:
    """Whether a ``SyntaxError`` message is one Python 2 code typically gets from Python 3."""
    return any(hint in message for hint in _PYTHON2_MESSAGES)


class Problem(NamedTuple):
    """One thing wrong with a submission.

    ``job`` is how the job is named in the submission (``"job 'render'"`` or ``"job #2"``),
    ``callback`` the callback's index in the job's ``callbacks`` list (None for job-level problems
    such as a bad ``dependency``), ``detail`` the message, possibly several lines (a caret
    rendering of a syntax error, say).
    """

    job: str
    callback: Optional[int]
    detail: str

    def __str__(self) -> str:
        where = self.job if self.callback is None else f"{self.job}, callback {self.callback}"
        first, _, rest = self.detail.partition("\n")
        text = f"{where}: {first}"
        if rest:
            text += "\n" + "\n".join("    " + line for line in rest.split("\n"))
        return text


class SubmissionError(Error, ValueError):
    """A submission was rejected; nothing of it was registered. ``problems`` lists every finding."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.problems)
        head = "submission rejected: 1 problem" if count == 1 else f"submission rejected: {count} problems"
        return "\n".join([head] + [f"  {p}" for p in self.problems])

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.problems,))


class CodeError(Error, ValueError):
    """A callback's code cannot be registered (a Python syntax error, an unknown qube keyword...).

    ``line`` is the 1-based line in the code when the problem has one.
    """

    def __init__(self, message: str, line: Optional[int] = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message if line is None else f"line {line}: {message}")


class UniversalConfigError(Error, ValueError):
    """A universal-callback folder was rejected; ``problems`` holds ``(line number, message)``."""

    def __init__(self, path: str, problems: Iterable[Tuple[int, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = [f"{path}: {len(self.problems)} bad line(s); nothing was loaded"]
        lines += [f"  line {n}: {msg}" for n, msg in self.problems]
        super().__init__("\n".join(lines))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.path, self.problems))
