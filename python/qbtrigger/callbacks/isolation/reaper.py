"""Killing everything a callback started, however it tried to leave (standard library only).

A process that makes itself a *child subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``) becomes
the parent of every orphan below it: a grandchild that called ``setsid()`` and whose parent
exited is re-parented to the subreaper, not to init. So the whole tree stays findable through
``/proc/PID/task/TID/children`` and :func:`kill_tree` can kill it, generation by
generation, until no child is left. Workers, wardens and the perl runner use it.

This module is imported both by the supervisor and, by file, in the worker processes: it must
not import anything of qbtrigger.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Callable, Iterable, List, Optional

__all__ = ["become_subreaper", "kill_tree", "kill_all_children", "children", "reap_finished"]

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_libc: Optional[ctypes.CDLL] = None
#: How many kill rounds before giving up on a tree that keeps growing (a fork bomb).
_MAX_ROUNDS = 200


def _prctl(option: int, arg: int) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return int(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0))


def become_subreaper(on: bool = True) -> bool:
    """Make this process a child subreaper (or stop being one); returns whether it was one
    before. Raises OSError where the kernel refuses (not Linux)."""
    was = ctypes.c_int(0)
    if _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.addressof(was)) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_GET_CHILD_SUBREAPER) failed")
    if _prctl(_PR_SET_CHILD_SUBREAPER, 1 if on else 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    return bool(was.value)


def children(pid: int) -> List[int]:
    """The live children of ``pid`` (every thread's), from /proc; [] when it is gone."""
    found: List[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return found


def _tree(pid: int) -> List[int]:
    out: List[int] = []
    stack = children(pid)
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(children(child))
    return out


def reap_finished() -> bool:
    """Collect exited children without waiting; True when no child at all is left. Only for a
    process whose children are all the callback's (a worker): it reaps any child."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            return False


def kill_tree(roots: Iterable[int]) -> int:
    """SIGKILL each pid of ``roots`` and everything below it; returns how many were killed.
    The ones that are this process's children are reaped (by pid: other children are left
    alone). Run by a subreaper, the tree cannot escape: a process that dies hands its children to
    us, and the next round finds them among our own children."""
    me = os.getpid()
    mine = set(children(me))
    targets = set(roots)
    killed = 0
    for _ in range(_MAX_ROUNDS):
        tree: List[int] = []
        for pid in targets:
            tree.append(pid)
            tree.extend(_tree(pid))
        alive = [pid for pid in tree if os.path.exists(f"/proc/{pid}")]
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        # Our children among them are reaped; the orphans they leave become ours: take them too.
        for pid in alive:
            if pid in mine:
                _reap(pid)
        now = set(children(me))
        targets = (now - mine) | {pid for pid in targets if os.path.exists(f"/proc/{pid}")}
        mine |= now
    return killed


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


_waitpid: Optional[Callable[..., int]] = None


def _no_child_left() -> bool:
    """True when this process has no child at all (one ``waitpid(-1, WNOHANG)`` through libc:
    its ``ECHILD`` costs no Python exception). False when there are children, or one was just
    reaped (there may be more). With ``WNOHANG`` and pid -1, ``ECHILD`` is the only failure
    ``waitpid`` can have, so its -1 is read without asking errno (a second foreign call)."""
    global _waitpid
    if _waitpid is None:
        _waitpid = ctypes.CDLL(None).waitpid
    return _waitpid(-1, None, os.WNOHANG) == -1


def kill_all_children() -> int:
    """In a worker: kill every descendant of this process (one ``waitpid`` when there is none)."""
    if _no_child_left() or reap_finished():
        return 0
    killed = kill_tree(children(os.getpid()))
    reap_finished()
    return killed
