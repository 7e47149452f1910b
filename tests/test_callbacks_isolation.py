"""Python callbacks run in worker processes (issue 13): whatever one does, it fails that firing
only, with the cause in the job's callback log, and the engine goes on with a new worker.

Each fault is tried on purpose: a loop, an exit, a segfault, deep recursion, a huge allocation, a
fork, and programs left running (setsid'd ones included); perl gets the same kill."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import time

import pytest

from farmhost import FarmHost
from qbtrigger.callbacks import CallbackEngine
from qbtrigger.callbacks.isolation import CallbackLimits

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")


def py(trigger: str, code: str) -> dict:
    return {"triggers": trigger, "language": "python", "code": textwrap.dedent(code)}


def farm_with(code: str, timeout: float = 30.0, **limits) -> tuple:
    """A farm whose job 'a' (user artist) runs ``code`` on each of its frames' completion."""
    farm = FarmHost(language_flags="qube,python,perl", limits=CallbackLimits(timeout=timeout, **limits))
    (a,) = farm.submit([{"label": "a", "agenda": ["1", "2", "3"], "callbacks": [py("complete-work-self-*", code)]}])
    return farm, a


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_dead(pid: int, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def pids_in(text: str, word: str = "pid") -> list:
    return [int(p) for p in re.findall(rf"{word} (\d+)", text)]


@pytest.fixture
def closing():
    engines = []
    yield engines.append
    for engine in engines:
        engine.close()


# ------------------------------------------------------------------ faults: one firing fails
FAULTS = {
    "loop": ("while True:\n    pass\n", r"killed after 1 s \(time limit\)"),
    "os._exit": ("import os\nos._exit(3)\n", r"the worker exited with status 3"),
    "segfault": ("import ctypes\nctypes.string_at(0)\n", r"the worker was killed by SIGSEGV"),
    "deep recursion": (
        # through a builtin, so that each level takes C stack until there is none left
        "import sys\nsys.setrecursionlimit(10**8)\ndef down(n):\n    return [*map(down, [n + 1])]\ndown(0)\n",
        r"the worker was killed by SIGSEGV",
    ),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_fails_that_firing_only_and_a_new_worker_takes_the_next(fault, closing):
    code, cause = FAULTS[fault]
    code = "import os\nif qb.event()['extra'] == '1':\n" + textwrap.indent(code, "    ")
    code += "print('frame', qb.event()['extra'], 'pid', os.getpid())\nqb.retrywork('%d:1' % qb.jobid())\n"
    # Only the loop needs the time limit; the others get room on a loaded machine.
    farm, a = farm_with(code, timeout=1.0 if fault == "loop" else 60.0)
    closing(farm.engine)
    farm.engine.feed(f"complete-work-{a}-1")
    [failure] = farm.logs[a]
    assert re.search(rf"python callback 0 of job {a}: the firing failed: {cause}; a new worker", failure), failure
    assert farm.actions == []  # the failed firing's action never came
    farm.engine.feed(f"complete-work-{a}-2")
    farm.engine.feed(f"complete-work-{a}-3")
    second, third = farm.logs[a][1:]
    assert second.startswith("frame 2 pid") and third.startswith("frame 3 pid")
    assert pids_in(second) == pids_in(third)  # one worker for both, not a process per firing
    assert pids_in(second)[0] != os.getpid()
    assert farm.actions == [("retry", a, "1"), ("retry", a, "1")]


def test_a_huge_allocation_meets_the_memory_limit_and_the_worker_lives_on(closing):
    farm, a = farm_with(
        "import os\nprint('pid', os.getpid())\nif qb.event()['extra'] == '1':\n    data = bytearray(10 * 1024**3)\n",
        memory=512 << 20,
    )
    closing(farm.engine)
    farm.engine.feed(f"complete-work-{a}-1")
    farm.engine.feed(f"complete-work-{a}-2")
    first, second = farm.logs[a]
    assert "MemoryError" in first
    assert pids_in(first) == pids_in(second)


def test_a_fork_in_a_callback_runs_its_actions_once_and_the_copy_cannot_speak(closing):
    farm, a = farm_with("""\
import os
child = os.fork()
if child == 0:
    try:
        qb.jobinfo(id=qb.jobid())
    except RuntimeError as error:
        os.write(2, b'')  # (output of the copy goes nowhere)
qb.retrywork('%d:1' % qb.jobid())
if child:
    os.waitpid(child, 0)
    print('parent done')
""")
    closing(farm.engine)
    farm.engine.feed(f"complete-work-{a}-2")
    farm.engine.feed(f"complete-work-{a}-3")
    assert farm.actions == [("retry", a, "1"), ("retry", a, "1")]  # once per firing, not twice
    assert farm.logs[a] == ["parent done\n", "parent done\n"]


# ------------------------------------------------------------------ what a callback started is killed
LEAVE_BEHIND = """\
import os, subprocess, sys
plain = subprocess.Popen(['sleep', '300'])
detached = subprocess.Popen(['sleep', '301'], start_new_session=True)
# a daemon: fork, setsid, fork again, and the middle process exits (the grandchild is orphaned)
daemon = subprocess.run([sys.executable, '-c', '''
import os, subprocess, sys
if os.fork() == 0:
    os.setsid()
    p = subprocess.Popen(['sleep', '302'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(p.pid, flush=True)
    os._exit(0)
os.wait()
'''], capture_output=True, text=True).stdout.split()[0]
print('pid', plain.pid, 'pid', detached.pid, 'pid', daemon)
"""


def test_programs_a_callback_leaves_running_are_killed_when_it_ends_setsid_or_not(closing):
    farm, a = farm_with(LEAVE_BEHIND)
    closing(farm.engine)
    farm.engine.feed(f"complete-work-{a}-1")
    pids = pids_in(farm.logs[a][0])
    assert len(pids) == 3, farm.logs[a]
    assert all(wait_dead(pid) for pid in pids)


def test_a_time_limit_kills_the_setsid_programs_of_the_callback_too(closing):
    farm, a = farm_with(LEAVE_BEHIND.replace("print('pid'", "open(os.environ['OUT'], 'w').write('pid %d pid %d pid %s' % (plain.pid, detached.pid, daemon))\nwhile True: pass\nprint('pid'"), timeout=3.0)
    closing(farm.engine)
    out = f"/tmp/qbtrigger-iso-{os.getpid()}.txt"
    os.environ["OUT"] = out
    try:
        # (workers start on first need, so this one sees OUT)
        farm.engine.feed(f"complete-work-{a}-1")
        pids = pids_in(open(out).read())
    finally:
        del os.environ["OUT"]
        if os.path.exists(out):
            os.remove(out)
    assert "killed after 3 s (time limit)" in farm.logs[a][0]
    assert len(pids) == 3
    assert all(wait_dead(pid) for pid in pids)


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
def test_perl_setsid_children_are_killed_at_the_time_limit_and_when_perl_ends():
    farm = FarmHost(language_flags="qube,perl", perl_timeout=2.0)
    code = textwrap.dedent("""\
        use POSIX ();
        my $pid = fork();
        if ($pid == 0) { POSIX::setsid(); exec('sleep', '303'); }
        print "pid $pid\\n";
        sleep 100 if $qb::jobid && qb::event()->{extra} eq '1';
    """)
    (a,) = farm.submit([{"label": "p", "agenda": ["1", "2"],
                         "callbacks": [{"triggers": "complete-work-self-*", "language": "perl", "code": code}]}])
    farm.engine.feed(f"complete-work-{a}-1")  # meets the time limit
    farm.engine.feed(f"complete-work-{a}-2")  # ends at once
    looped, quick = farm.logs[a]
    assert "killed after 2 s (time limit)" in looped
    for text in (looped, quick):
        [pid] = pids_in(text)
        assert wait_dead(pid), text


# ------------------------------------------------------------------ in-process mode, and the pool
def test_in_process_mode_runs_callbacks_in_the_engines_own_process():
    farm = FarmHost(language_flags="qube,python", in_process_python=True)
    (a,) = farm.submit([{"label": "a", "agenda": ["1"], "callbacks": [py("complete-work-self-*", "import os\nprint('pid', os.getpid())")]}])
    farm.engine.feed(f"complete-work-{a}-1")
    assert pids_in(farm.logs[a][0]) == [os.getpid()]
    assert farm.engine.workers is None


def test_each_owner_has_a_worker_of_its_own_and_the_pool_stays_small(closing):
    farm = FarmHost(language_flags="qube,python", limits=CallbackLimits(workers=2))
    closing(farm.engine)
    code = py("complete-job-self", "import os\nprint('pid', os.getpid())")
    ids = farm.submit([{"label": f"j{i}", "user": user, "callbacks": [code]}
                       for i, user in enumerate(["ann", "bob", "ann", "cat"])])
    for jobid in ids:
        farm.engine.feed(f"complete-job-{jobid}")
    ann1, bob, ann2, cat = (pids_in(farm.logs[j][0])[0] for j in ids)
    assert ann1 == ann2 and len({ann1, bob, cat}) == 3
    assert len(farm.engine.workers.worker_pids) == 2  # ann's went when cat's came (least recently used)
    farm.engine.close()
    assert all(wait_dead(pid) for pid in (ann1, bob, cat))


def test_the_limits_are_checked():
    with pytest.raises(ValueError, match="time limit"):
        CallbackLimits(timeout=0)
    with pytest.raises(ValueError, match="memory limit"):
        CallbackLimits(memory=1000)


def test_a_plain_engine_gets_perls_time_limit_for_python_callbacks():
    engine = CallbackEngine(FarmHost(), perl_timeout=7.0)
    assert engine.limits.timeout == 7.0
    engine.close()


def test_a_callback_that_kills_its_warden_still_meets_the_time_limit(closing):
    farm, a = farm_with("import os, signal\nprint('pid', os.getpid())\nos.kill(os.getppid(), signal.SIGKILL)\n"
                        "if qb.event()['extra'] == '2':\n    while True:\n        pass\n", timeout=2.0)
    closing(farm.engine)
    farm.engine.feed(f"complete-work-{a}-1")
    [worker] = pids_in(farm.logs[a][0])
    farm.engine.feed(f"complete-work-{a}-2")
    assert "killed after 2 s (time limit)" in farm.logs[a][1]
    assert wait_dead(worker)


def test_ctrl_c_while_a_worker_is_busy_drops_that_worker(closing, monkeypatch):
    from qbtrigger.callbacks.isolation.channel import FrameReader

    farm, a = farm_with("import os\nprint('pid', os.getpid())\n")
    closing(farm.engine)
    farm.engine.feed(f"complete-work-{a}-1")
    [first] = pids_in(farm.logs[a][0])
    real_read = FrameReader.read

    def interrupted(self, deadline=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(FrameReader, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        farm.engine.feed(f"complete-work-{a}-2")
    monkeypatch.setattr(FrameReader, "read", real_read)
    assert wait_dead(first)
    farm.engine.feed(f"complete-work-{a}-3")
    assert pids_in(farm.logs[a][-1])[0] != first
