"""Which jobs a callback's code acts on, read without running it (for the static checks).

:func:`code_reach` answers, for one callback, what its actions may release (any verb but
``block`` and ``suspend``: an unblocked, killed or failed job is no longer stuck):

- ``frozenset()``: nothing (mail, ``block-self``, code that calls no ``qb`` action);
- ``{SELF}``: only the job the callback is attached to (``unblock-self``; python
  ``qb.unblock(qb.jobid())``, also through a name bound once to ``qb.jobid()``; perl
  ``qb::unblock($qb::jobid)``);
- ``{SELF_WORK}``: only frames of that job (``unblock-work-self``; ``qb.workunblock('%s:5' %
  qb.jobid())``);
- ``None``: it cannot be told (an action on another expression, ``exec``, ``getattr``, an
  import, ``system``...). A check must then assume it may release anything.

Conservative by design: a finding built on it is never wrong when it says "nothing releases".
"""

from __future__ import annotations

import ast
import re
from typing import Dict, FrozenSet, Optional, Set

from .languages.qube import JOB_KEYWORDS, MAIL_KEYWORDS, SUBJOB_KEYWORDS, WORK_KEYWORDS
from .qbapi import JOB_FUNCTIONS, WORK_ALIASES, WORK_FUNCTIONS

__all__ = ["code_reach", "SELF", "SELF_WORK", "Reach"]

SELF = "self"
SELF_WORK = "self-work"
Reach = Optional[FrozenSet[str]]

#: Verbs that leave a blocked item blocked.
_HOLDING = frozenset(("block", "suspend"))
_NOTHING: FrozenSet[str] = frozenset()
#: ``qb`` functions that act on nothing.
_QUIET = frozenset(("jobid", "event", "count", "jobinfo", "hostinfo", "log", "PermissionError"))
#: Python names that reach what static reading cannot follow.
_OPAQUE_NAMES = frozenset(("exec", "eval", "getattr", "setattr", "__import__", "compile", "globals", "locals", "vars"))
_PERL_OPAQUE = re.compile(r"\b(?:system|exec|eval|do|require|open)\b|`|\bqx\b")
_PERL_QB = re.compile(r"(\$?)qb::(\w+)")
_PERL_ARGS = re.compile(r"\s*\(([^()]*)\)")


def _verb(function: str) -> Optional[str]:
    """The host verb of a ``qb`` action function, or None when it is not one."""
    if function in JOB_FUNCTIONS:
        return function
    return WORK_FUNCTIONS.get(function) or WORK_ALIASES.get(function)


def code_reach(language: str, code: str) -> Reach:
    """What one callback's actions may release; see the module docstring."""
    if language == "qube":
        keyword = code.strip().lower()
        if keyword in MAIL_KEYWORDS:
            return _NOTHING
        verb = JOB_KEYWORDS.get(keyword) or SUBJOB_KEYWORDS.get(keyword)
        if verb is not None:
            return _NOTHING if verb in _HOLDING else frozenset((SELF,))
        verb = WORK_KEYWORDS.get(keyword)
        if verb is not None:
            return _NOTHING if verb in _HOLDING else frozenset((SELF_WORK,))
        return None
    if language == "mail":
        return _NOTHING
    if language == "python":
        return _python_reach(code)
    if language == "perl":
        return _perl_reach(code)
    return None


def _python_reach(code: str) -> Reach:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    parents: Dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            return None
        if isinstance(node, ast.Name) and node.id in _OPAQUE_NAMES:
            return None
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    own = _own_names(tree)
    reach: Set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and node.id == "qb"):
            continue
        attribute = parents.get(node)
        call = parents.get(attribute) if attribute is not None else None
        if not (isinstance(attribute, ast.Attribute) and isinstance(call, ast.Call) and call.func is attribute):
            return None  # qb passed around, aliased or reached into
        if attribute.attr in _QUIET or attribute.attr == "modify":
            continue
        verb = _verb(attribute.attr)
        if verb is None:
            return None
        if verb in _HOLDING:
            continue
        job_action = attribute.attr in JOB_FUNCTIONS
        if not call.args or not _names_own_job(call.args[0], own, not job_action):
            return None
        reach.add(SELF if job_action else SELF_WORK)
    return frozenset(reach)


def _is_jobid_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "jobid"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "qb"
    )


def _names_own_job(node: ast.AST, own: Set[str], work: bool) -> bool:
    """Whether an action's first argument names the callback's own job: ``qb.jobid()``, a name
    bound to it, ``str()``/``int()`` of one; for a work action also a ``'jobid:frame'`` text whose
    job part is one (``'%s:5' % qb.jobid()``, ``f'{qb.jobid()}:{n}'``, ``str(qb.jobid()) + ':5'``)."""
    if isinstance(node, ast.Name):
        return node.id in own
    if _is_jobid_call(node):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "int"):
        return len(node.args) == 1 and not node.keywords and _names_own_job(node.args[0], own, False)
    if not work:
        return False
    if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
        first, second = node.values[0], node.values[1]
        return (isinstance(first, ast.FormattedValue) and _names_own_job(first.value, own, False)
                and isinstance(second, ast.Constant) and str(second.value).startswith(":"))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
        first = node.right.elts[0] if isinstance(node.right, ast.Tuple) and node.right.elts else node.right
        return str(node.left.value).startswith(("%s:", "%d:")) and _names_own_job(first, own, False)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        right = node.right
        return (_names_own_job(node.left, own, False) and isinstance(right, ast.Constant)
                and str(right.value).startswith(":")) or (
            isinstance(node.left, ast.BinOp) and _names_own_job(node.left, own, True))
    return False


def _own_names(tree: ast.AST) -> Set[str]:
    """Names bound once, to ``qb.jobid()`` (``jobid = qb.jobid()``), and never rebound."""
    own = {
        node.targets[0].id for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        and _is_jobid_call(node.value)
    }
    stored = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    stored += [n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)]
    return {name for name in own if stored.count(name) == 1}


def _perl_reach(code: str) -> Reach:
    if _PERL_OPAQUE.search(code):
        return None
    reach: Set[str] = set()
    for match in _PERL_QB.finditer(code):
        sigil, name = match.group(1), match.group(2)
        if sigil:
            if name == "jobid":
                continue
            return None  # another qb variable: cannot tell what it holds
        if name in _QUIET or name == "modify":
            continue
        verb = _verb(name)
        if verb is None:
            return None
        if verb in _HOLDING:
            continue
        args = _PERL_ARGS.match(code, match.end())
        if args is None or "$qb::jobid" not in args.group(1):
            return None
        reach.add(SELF if name in JOB_FUNCTIONS else SELF_WORK)
    return frozenset(reach)
