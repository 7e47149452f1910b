"""A python worker's warden: the trusted parent that outlives what the callbacks do (stdlib only).

Run as a script by the supervisor (``python -I warden.py READ_FD WRITE_FD``). It makes itself a
child subreaper, forks the worker (:mod:`.executor`) and then only watches: its stdin is the
supervisor's control pipe, its stdout the status pipe. When the worker dies (exit, signal, the
out-of-memory killer), when the supervisor writes ``k`` (a time limit) or when the control pipe
closes (the supervisor is gone), it kills the worker and every process below it, setsid'd ones
included (they were re-parented to it), writes one status line (``exit N``, ``signal N`` or
``killed``) and exits.
"""

from __future__ import annotations

import os
import select
import signal
import sys


def _status(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"signal {os.WTERMSIG(wait_status)}"
    return f"exit {os.waitstatus_to_exitcode(wait_status)}"


def main(argv: list) -> int:
    read_fd, write_fd = int(argv[1]), int(argv[2])
    # Import the siblings from this folder, then drop it from the path so that callbacks cannot
    # import these modules by a bare name (python -I leaves the script's folder out anyway).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import executor  # type: ignore[import-not-found]
    import reaper  # type: ignore[import-not-found]

    del sys.path[0]
    reaper.become_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the operator's Ctrl-C is the supervisor's
    pid = os.fork()
    if pid == 0:
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1):
                os.dup2(null, fd)
            for fd in (null, wake_r, wake_w):
                os.close(fd)
            executor.main(read_fd, write_fd)
        finally:
            os._exit(0)
    os.close(read_fd)
    os.close(write_fd)  # the supervisor sees the channel close as soon as the worker is gone
    status = ""
    while not status:
        ready, _, _ = select.select([0, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 512)
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = _status(wait_status)
        if 0 in ready and not status:
            os.read(0, 512)  # 'k', or EOF: either way the worker goes
            status = "killed"
    reaper.kill_tree([pid] + [child for child in reaper.children(os.getpid()) if child != pid])
    reaper.reap_finished()
    try:
        os.write(1, status.encode() + b"\n")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
