"""Which jobs a callback's code acts on, read without running it (for the static checks).

:func:`code_reach` answers, for one callback, what its actions may release (any verb but
``block`` and ``suspend``: an unblocked, killed or failed job is no longer stuck):

- ``frozenset()``: nothing (mail, ``block-self``, code that calls no ``qb`` action);
- ``{SELF}``: only the job the callback is attached to (``unblock-self``; python
  ``qb.unblock(qb.jobid())``, also through a name bound once to ``qb.jobid()``; perl
  ``qb::unblock($qb::jobid)``); ``("job", -2)`` for ``qb.unblock(qb.jobid() - 2)``;
- ``{SELF_WORK}``: only frames of that job (``unblock-work-self``; ``qb.workunblock('%s:5' %
  qb.jobid())``);
- an action whose argument reads a name nothing binds releases nothing: it raises NameError;
- ``None``: it cannot be told (an action on another expression, ``exec``, ``getattr``, an
  import, ``system``...). A check must then assume it may release anything.

Conservative by design: a finding built on it is never wrong when it says "nothing releases".
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from .languages.qube import JOB_KEYWORDS, MAIL_KEYWORDS, SUBJOB_KEYWORDS, WORK_KEYWORDS
from .qbapi import JOB_FUNCTIONS, WORK_ALIASES, WORK_FUNCTIONS

__all__ = ["code_reach", "python_undefined", "SELF", "SELF_WORK", "Reach", "Target"]

#: What an action releases: ("job", offset) a job, ("work", offset) frames of a job, the offset
#: counted from the callback's own job (a submission's jobs are numbered one after the other).
Target = Tuple[str, int]
SELF: Target = ("job", 0)
SELF_WORK: Target = ("work", 0)
Reach = Optional[FrozenSet[Target]]

#: Verbs that leave a blocked item blocked.
_HOLDING = frozenset(("block", "suspend"))
_NOTHING: FrozenSet[Target] = frozenset()
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
    bound = _bound_names(tree)
    reach: Set[Target] = set()
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
        if call.args and undefined_names(call.args[0], bound):
            continue  # the call raises NameError before it acts
        job_action = attribute.attr in JOB_FUNCTIONS
        offset = None
        if call.args:
            offset = _job_offset(call.args[0], own) if job_action else _work_offset(call.args[0], own)
        if offset is None:
            return None
        reach.add(("job" if job_action else "work", offset))
    return frozenset(reach)


def undefined_names(node: ast.AST, bound: Set[str]) -> List[str]:
    """Names ``node`` reads that nothing binds: reading one raises NameError."""
    return sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                   and n.id not in bound})


def python_undefined(code: str) -> List[str]:
    """The names a python callback's ``qb`` actions read that nothing binds (empty when the code
    does not parse: the engine reports that)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    bound = _bound_names(tree)
    out: Set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "qb" and _verb(node.func.attr) is not None and node.args):
            out.update(undefined_names(node.args[0], bound))
    return sorted(out)


def _bound_names(tree: ast.AST) -> Set[str]:
    """What a callback may read: builtins, its globals (``qb``, ``__name__``) and every name it binds."""
    bound = set(dir(builtins)) | {"qb", "__name__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _is_jobid_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "jobid"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "qb"
    )


def _job_offset(node: ast.AST, own: Set[str]) -> Optional[int]:
    """How far the job id an expression gives is from the callback's own: ``qb.jobid()`` (or a
    name bound once to it, or ``str()``/``int()`` of one) is 0, ``qb.jobid() - 2`` is -2 (a
    submission's jobs are numbered one after the other); None when it cannot be told."""
    if isinstance(node, ast.Name):
        return 0 if node.id in own else None
    if _is_jobid_call(node):
        return 0
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "int"):
        return _job_offset(node.args[0], own) if len(node.args) == 1 and not node.keywords else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        sign = 1 if isinstance(node.op, ast.Add) else -1
        for inner, number, factor in ((node.left, node.right, sign), (node.right, node.left, 1)):
            base = _job_offset(inner, own)
            if base is not None and isinstance(number, ast.Constant) and type(number.value) is int:
                if inner is node.right and sign == -1:
                    return None  # 5 - qb.jobid(): not an id of this submission
                return base + factor * number.value
    return None


def _work_offset(node: ast.AST, own: Set[str]) -> Optional[int]:
    """The job offset of a ``'jobid:frame'`` argument (``'%s:5' % qb.jobid()``,
    ``f'{qb.jobid()}:{n}'``, ``str(qb.jobid()) + ':5'``), or of a bare job id; None otherwise."""
    if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
        first, second = node.values[0], node.values[1]
        if (isinstance(first, ast.FormattedValue) and isinstance(second, ast.Constant)
                and str(second.value).startswith(":")):
            return _job_offset(first.value, own)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
        first = node.right.elts[0] if isinstance(node.right, ast.Tuple) and node.right.elts else node.right
        return _job_offset(first, own) if str(node.left.value).startswith(("%s:", "%d:")) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        right = node.right
        if isinstance(right, ast.Constant) and str(right.value).startswith(":"):
            return _job_offset(node.left, own)
        if isinstance(node.left, ast.BinOp):
            return _work_offset(node.left, own)
        return None
    return _job_offset(node, own)


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
    reach: Set[Target] = set()
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
        if args is None or "$qb::jobid" not in args.group(1) or re.search(r"\$qb::jobid\s*[-+*/]", args.group(1)):
            return None
        reach.add(SELF if name in JOB_FUNCTIONS else SELF_WORK)
    return frozenset(reach)
