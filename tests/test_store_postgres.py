"""The PostgreSQL store's own promises, on a real server: one active supervisor per store (a second
is refused), a standby that takes over when the active one is killed and ends as an uninterrupted
run would, and faults (a server that cannot be reached, wrong credentials, a session cut or a
server restarted under a running supervisor) that lose and repeat nothing."""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgcluster import PASSWORD, PASSWORD_ROLE
from qbtrigger.errors import StoreError, StoreLockedError
from qbtrigger.supervisor import Simulator, Supervisor
from qbtrigger.supervisor.postgres import PostgresStore
from stores import journal_length, query
from test_supervisor_persist import SIM, chain, open_sup, outcome

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture
def dsn(pg_databases):
    return pg_databases()


def uninterrupted():
    whole = open_sup(None)
    whole.submit(chain())
    return outcome(whole, Simulator(whole, **SIM).run())


def finished_outcome(db):
    """The outcome of the run stored in ``db`` (finished: running it again does nothing)."""
    sup = open_sup(db)
    report = Simulator(sup, **SIM).run()
    assert report.finished and report.events == 0
    got = outcome(sup, report)
    sup.close()
    return got


def same_work(got, expected):
    """Nothing lost or repeated: every work event as often as in the uninterrupted run."""
    count = collections.Counter
    assert count(e for e in got["events"] if "-work-" in e) == count(e for e in expected["events"] if "-work-" in e)


# A supervisor in a child process: active (refused if another is) or standby (waits for the lock).
CHILD = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{tests!r}]
    from qbtrigger.supervisor import Simulator
    from qbtrigger.supervisor.postgres import PostgresStore
    from test_supervisor_persist import SIM, chain, open_sup
    store = PostgresStore({db!r}, standby={standby!r}, on_wait=lambda text: print(text, flush=True))
    print("active", flush=True)
    sup = open_sup(store)
    if not sup.jobinfo():
        sup.submit(chain())
    pause = {pause!r}
    Simulator(sup, on_event=(lambda text, vt: time.sleep(pause)) if pause else None, commit_every=3, **SIM).run()
    sup.close()
    print("finished", flush=True)
""")


def child(db, *, standby=False, pause=0.004):
    code = CHILD.format(tests=str(ROOT / "tests"), db=db, standby=standby, pause=pause)
    return subprocess.Popen([sys.executable, "-c", code], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_line(proc, timeout=60.0):
    """The child's next line of output (a thread reads it, so a silent child cannot hang the test)."""
    got = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert got, f"no output from the child within {timeout} s"
    return got[0].strip()


def wait_for_journal(db, proc, target, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if journal_length(db) >= target:
            return
        time.sleep(0.02)
    pytest.fail(f"the child stopped or stalled before the journal reached {target} lines: "
                f"{proc.poll()}, {proc.stderr.read() if proc.poll() is not None else ''}")


def stop(*procs):
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def standby_finishes_after_a_kill(db, start_standby, took_over, latest, rng=random):
    """An active supervisor child runs the chain; ``start_standby()`` starts a standby child once
    the submission is stored; the active one is killed (SIGKILL) when the journal reaches a random
    line between a tenth and ``latest`` of an uninterrupted run's; the standby must say
    ``took_over``, finish, and leave exactly what the uninterrupted run leaves."""
    expected = uninterrupted()
    total = len(expected["events"])
    active = child(db)
    standby = None
    try:
        assert read_line(active) == "active"
        wait_for_journal(db, active, 1)  # its submission is stored: there is something to follow
        standby = start_standby()
        assert read_line(standby).startswith("standby: waiting for the active supervisor on ")
        moment = rng.randint(total // 10, int(total * latest))  # a random moment of the run
        wait_for_journal(db, active, moment)
        active.send_signal(signal.SIGKILL)
        active.wait(10)
        assert read_line(standby) == took_over
        assert read_line(standby, timeout=120) == "finished", standby.stderr.read()
        assert standby.wait(30) == 0
    finally:
        stop(active, *([standby] if standby else []))
    assert active.returncode == -signal.SIGKILL
    got = finished_outcome(db)
    assert got == expected, f"killed after {moment} of {total} journal lines"
    same_work(got, expected)


# ============================================================================ one active supervisor

def test_a_second_active_supervisor_is_refused_and_writes_nothing(dsn):
    secret = "hunter2-not-shown"
    first = open_sup(dsn.replace("postgres@", f"postgres:{secret}@"))
    first.submit(chain(jobs=2, frames=3))
    before = journal_length(dsn)
    with pytest.raises(StoreLockedError, match="another supervisor is active on this job store") as caught:
        open_sup(dsn.replace("postgres@", f"postgres:{secret}@"))
    text = str(caught.value)
    assert "qbtrigger supervisor (pid" in text and "--standby" in text and secret not in text
    assert first.store.name.split("?")[0] in text
    # the command line says so too, and stops before running anything
    done = subprocess.run([sys.executable, "-m", "qbtrigger", "simulate", str(ROOT / "examples" / "frame_by_frame.py"),
                           "--db", dsn], env=ENV, text=True, capture_output=True, timeout=120)
    assert done.returncode == 1 and "another supervisor is active on this job store" in done.stderr
    assert journal_length(dsn) == before
    first.close()
    open_sup(dsn).close()  # once the first is gone, the store opens


def test_a_standby_waits_and_takes_over_when_the_active_one_closes(dsn):
    active = open_sup(dsn)
    active.submit(chain(jobs=2, frames=4))
    Simulator(active, **SIM).run(max_steps=10)
    opened = []
    waiting = threading.Event()
    thread = threading.Thread(target=lambda: opened.append(PostgresStore(dsn, standby=True, on_wait=lambda t: waiting.set())))
    thread.start()
    assert waiting.wait(30)
    time.sleep(0.3)
    assert not opened  # still waiting while the active one lives
    active.close()
    thread.join(30)
    assert opened
    sup = open_sup(opened[0])
    assert Simulator(sup, **SIM).run().finished
    sup.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_the_standby_finishes_a_run_whose_active_supervisor_was_killed(dsn):
    standby_finishes_after_a_kill(dsn, lambda: child(dsn, standby=True, pause=0), "active", 0.7)


def test_simulate_standby_on_the_command_line(dsn, tmp_path):
    jobs = tmp_path / "jobs.json"
    jobs.write_text('[{"label": "a", "agenda": ["1", "2", "3"]},'
                    ' {"label": "b", "agenda": ["1", "2", "3"], "dependency": "link-complete-work-a"}]')
    argv = [sys.executable, "-m", "qbtrigger", "simulate", str(jobs), "--report-json"]
    reference = subprocess.run([*argv, str(tmp_path / "ref.json")], env=ENV, text=True,
                               capture_output=True, timeout=120)
    assert reference.returncode == 0, reference.stderr
    holder = PostgresStore(dsn)  # an active supervisor, as far as the lock goes
    proc = subprocess.Popen([*argv, str(tmp_path / "got.json"), "--db", dsn, "--standby"], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = []
        reader = threading.Thread(target=lambda: line.append(proc.stderr.readline()), daemon=True)
        reader.start()
        reader.join(60)
        assert line and "standby: waiting for the active supervisor on" in line[0]
        assert proc.poll() is None
        holder.close()
        out, err = proc.communicate(timeout=120)
    finally:
        stop(proc)
    assert proc.returncode == 0, err
    assert "standby: took over the job store" in err and "every job finished" in out
    got, ref = (json.loads((tmp_path / name).read_text()) for name in ("got.json", "ref.json"))
    for report in (got, ref):  # Qube times: from the wall clock at each run's start
        del report["start_time"], report["end_time"]
    assert got == ref and got["finished"]


# ============================================================================ faults

def test_an_unreachable_server_is_a_clear_error_naming_the_database(tmp_path):
    for dsn in (f"postgresql://farm:s3cret-pw@/farmdb?host={tmp_path}",  # no server on that socket
                "postgresql://farm:s3cret-pw@127.0.0.1:1/farmdb"):  # nothing listens on the port
        with pytest.raises(StoreError) as caught:
            Supervisor(db=dsn)
        text = str(caught.value)
        assert text.startswith("cannot open the job store postgresql://farm@") and "/farmdb" in text, text
        assert "s3cret-pw" not in text


def test_wrong_credentials_are_a_clear_error_without_the_password(pg_server, dsn):
    dbname = conninfo_to_dict(dsn)["dbname"]
    wrong = pg_server.dsn(dbname, user=PASSWORD_ROLE, password="not-" + PASSWORD)
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        Supervisor(db=wrong)
    assert "not-" + PASSWORD not in str(caught.value) and PASSWORD_ROLE in str(caught.value)
    right = pg_server.dsn(dbname, user=PASSWORD_ROLE, password=PASSWORD)
    query(dsn, f"GRANT ALL ON SCHEMA public TO {PASSWORD_ROLE}")
    Supervisor(db=right, clock=0).close()  # the right password opens it


def cut_session(store):
    """End the store's server session from outside, as a restart or a network cut would."""
    query(store.dsn, f"SELECT pg_terminate_backend({store.conn.info.backend_pid})")


def test_a_session_cut_between_commits_reconnects_and_loses_nothing(dsn):
    expected = uninterrupted()
    sup = open_sup(dsn)
    sup.submit(chain())
    sim = Simulator(sup, commit_every=5, **SIM)
    for _ in range(3):
        cut_session(sup.store)
        sim.run(max_steps=60)  # its commits find the session gone, reconnect, retake the lock, go on
    sim.run()
    sup.close()
    got = finished_outcome(dsn)
    assert got == expected
    same_work(got, expected)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_session_cut_around_a_commit_neither_loses_nor_doubles_it(dsn, monkeypatch, when):
    """'before': the write's transaction never reaches the server, so it is redone; 'after': it
    committed but the session died before saying so, so it is not redone (meta.writes tells)."""
    expected = uninterrupted()
    sup = open_sup(dsn)
    store = sup.store
    real_apply = store._apply
    cuts = []

    def apply_with_a_cut(batch):
        if len(cuts) < 4 and store._writes % 7 == 3:
            cuts.append(store._writes)
            if when == "before":
                cut_session(store)
                real_apply(batch)  # fails: the session is gone
            else:
                real_apply(batch)  # commits
                cut_session(store)
                store.conn.execute("SELECT 1")  # the lost reply: the session is found gone here
        else:
            real_apply(batch)

    monkeypatch.setattr(store, "_apply", apply_with_a_cut)
    sup.submit(chain())
    Simulator(sup, commit_every=4, **SIM).run()
    sup.close()
    assert len(cuts) == 4
    got = finished_outcome(dsn)
    assert got == expected
    same_work(got, expected)


def test_a_server_restarted_under_a_running_supervisor_loses_nothing(pg_server, dsn):
    expected = uninterrupted()
    total = len(expected["events"])
    active = child(dsn)
    try:
        assert read_line(active) == "active"
        for fraction in (0.2, 0.5):
            wait_for_journal(dsn, active, int(total * fraction))
            pg_server.restart()
        assert read_line(active, timeout=120) == "finished", active.stderr.read()
        assert active.wait(30) == 0
    finally:
        stop(active)
    got = finished_outcome(dsn)
    assert got == expected
    same_work(got, expected)


def test_a_server_gone_for_good_is_a_clear_error_and_the_changes_wait(pg_server, dsn):
    sup = open_sup(PostgresStore(dsn, reconnect_seconds=1.0))
    sup.submit(chain(jobs=2, frames=3))
    sup.autocommit = False
    pg_server.stop()
    try:
        sup.start(1, "0")
        with pytest.raises(StoreError, match="could not reconnect within 1 s") as caught:
            sup.commit()
        assert "cannot open the job store postgresql://postgres@/" in str(caught.value)
    finally:
        pg_server.start()
    sup.commit()  # the server is back: the same changes are written now
    sup.close()
    resumed = open_sup(dsn)
    assert resumed.job(1)["agenda"][0]["status"] == "running"
    resumed.close()
