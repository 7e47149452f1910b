"""Isolated python callbacks reach the supervisor only through their channel (issue 13).

Each attack a callback could make in-process (act as another user, patch ``qb`` for everyone's
later callbacks, clear the engine's callbacks, rewrite the store) is tried from a worker and
must do no harm; and a firing whose worker keeps dying is quarantined across resumes."""

from __future__ import annotations

import os
import sqlite3
import textwrap

import pytest

from farmhost import FarmHost
from qbtrigger.callbacks.isolation import CallbackLimits
from qbtrigger.supervisor import Supervisor

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")

#: What a callback finds of the supervisor's objects in its own process, by type name.
LOOK_AROUND = """\
import gc, os
names = {'CallbackEngine', 'Supervisor', 'QbApi', 'FarmHost', 'Host', 'Network', 'Connection', 'SqliteStore'}
found = sorted({type(o).__name__ for o in gc.get_objects() if type(o).__name__ in names})
print('found', found)
print('private', sorted(n for n in dir(qb) if n.startswith('_') and n not in ('__doc__', '__name__', '__loader__', '__package__', '__spec__', '__dict__')))
targets = []
for fd in os.listdir('/proc/self/fd'):
    try:
        targets.append(os.readlink('/proc/self/fd/' + fd))
    except OSError:
        pass
print('files', sorted(t for t in targets if t.startswith('/') and not t.startswith(('/dev/', '/proc/'))))
"""


def py(trigger: str, code: str) -> dict:
    return {"triggers": trigger, "language": "python", "code": textwrap.dedent(code)}


def test_nothing_of_the_engine_host_or_store_is_in_the_callbacks_process(tmp_path):
    db = tmp_path / "farm.db"
    with Supervisor(db, clock=0, language_flags="qube,python") as sup:
        [job] = sup.submit([{"label": "spy", "callbacks": [py("modified-job-self", LOOK_AROUND)]}])
        sup.modify(job["id"], {"note": "go"})
        log = "".join(sup.callback_log(job["id"]))
    assert "found []\n" in log, log
    assert "private []\n" in log, log  # qb is a plain module of functions: no _engine, _host, _inv
    assert "files []\n" in log, log  # no open file of the store (nor any other)


def test_a_callback_cannot_act_as_another_user_even_by_writing_to_its_channel_itself():
    farm = FarmHost(language_flags="qube,python")
    bob_job, alice_job = farm.submit([
        {"label": "bob", "user": "bob"},
        {"label": "alice", "user": "alice", "callbacks": [py("complete-job-self", """
            import gc
            [worker] = [o for o in gc.get_objects() if type(o).__name__ == 'Worker']
            try:
                qb.kill(%d)
            except qb.PermissionError as error:
                print('api refused:', error)
            worker.send_ahead('kill', (%d,), {})   # a hand-made message, sent ahead as if it were safe
            try:
                qb.sync()
            except PermissionError as error:
                print('channel refused:', error)
        """ % (100, 100))]},
    ])
    farm.engine.feed(f"complete-job-{alice_job}")
    farm.engine.close()
    log = "".join(farm.logs[alice_job])
    assert "api refused: job 101 (user 'alice') may not act on job 100 of user 'bob'" in log
    assert "channel refused: job 101 (user 'alice') may not act on job 100 of user 'bob'" in log
    assert farm.jobs[bob_job]["status"] == "pending"
    assert ("kill", bob_job, None) not in farm.actions


def test_patching_qb_or_builtins_stays_in_the_patchers_own_worker():
    farm = FarmHost(language_flags="qube,python")
    patcher, victim = farm.submit([
        {"label": "patcher", "user": "mallory", "callbacks": [py("complete-job-self", """
            import builtins, sys
            qb.kill = qb.block = lambda *args: None
            sys.modules['qb'] = None
            builtins.print = lambda *args, **kwargs: None
        """)]},
        {"label": "victim", "user": "vic", "agenda": ["1"], "callbacks": [py("complete-job-self", """
            import qb as api
            print('still here', api is qb)
            qb.block(qb.jobid())
        """)]},
    ])
    farm.engine.feed(f"complete-job-{patcher}")
    farm.engine.feed(f"complete-job-{victim}")
    farm.engine.close()
    assert farm.logs[victim] == ["still here True\n"]
    assert ("block", victim, None) in farm.actions


def test_a_callback_cannot_clear_the_engines_callbacks_or_reach_the_store(tmp_path):
    db = tmp_path / "farm.db"
    vandal = """\
        import gc
        for o in gc.get_objects():
            if type(o).__name__ in ('CallbackEngine', 'Connection'):
                o._callbacks.clear() if hasattr(o, '_callbacks') else o.execute('DROP TABLE jobs')
        print('done looking')
    """
    with Supervisor(db, clock=0, language_flags="qube,python,dependency") as sup:
        a, b = sup.submit([
            {"label": "vandal", "agenda": ["1"], "callbacks": [py("modified-job-self", vandal)]},
            {"label": "waits", "agenda": ["1"], "dependency": "link-complete-job-vandal"},
        ])
        sup.modify(a["id"], {"note": "go"})
        sup.start(a["id"], "1")
        sup.finish(a["id"], "1")
        assert sup.job_state(b["id"]).status == "pending"  # its dependency callback still fired
        assert sup.callback_log(a["id"]) == ["done looking\n"]
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM jobs").fetchone() == (2,)
    with Supervisor(db, language_flags="qube,python,dependency") as again:
        assert again.job_state(b["id"]).status == "pending"


def test_a_firing_whose_worker_keeps_dying_is_quarantined_across_resumes(tmp_path):
    db = tmp_path / "farm.db"
    limits = CallbackLimits(quarantine_after=3)
    crash = [py("modified-job-self", "import os\nos._exit(9)\n")]

    def attempt() -> str:
        """Open the store, make the firing happen, and stop without committing (a supervisor
        killed before its next commit): the firing is still to do on the next resume."""
        sup = Supervisor(db, language_flags="qube,python", callback_limits=limits)
        sup.autocommit = False
        jobid = sup.job_ids()[0]
        sup.modify(jobid, {"note": "go"})
        log = "".join(sup.callback_log(jobid))
        sup.engine.close()
        sup.store.close()  # no commit
        return log

    with Supervisor(db, clock=0, language_flags="qube,python", callback_limits=limits) as sup:
        sup.submit([{"label": "crashes", "callbacks": crash}])
    logs = [attempt() for _ in range(4)]
    for log in logs[:2]:
        assert "the firing failed: the worker exited with status 9" in log and "quarantined" not in log
    assert "its worker died 3 times; this firing will not run again" in logs[2]
    assert "quarantined, not run: its worker died 3 times (last: the worker exited with status 9)" in logs[3]
    assert "exited with status 9" not in logs[3].split("quarantined")[0]
