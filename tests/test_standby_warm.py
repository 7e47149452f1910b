"""The warm standby on a real PostgreSQL server: it follows the active supervisor's store while it
waits (never writing), stays exactly what a cold resume of the same commit would be, takes over
when the active one is killed at a random moment and ends as an uninterrupted run; when following
fails it resumes cold instead. Also: change tracking (``written``) and the upgrade of a store of
the first layout, on both backends."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from qbtrigger.errors import StoreError, StoreLockedError
from qbtrigger.supervisor import Simulator
from qbtrigger.supervisor.standby import Follower, StoreReader, WarmStandby
from qbtrigger.supervisor.store import SCHEMA_VERSION, Batch
from stores import query
from test_store_postgres import (
    ENV,
    ROOT,
    finished_outcome,
    standby_finishes_after_a_kill,
    uninterrupted,
)
from test_supervisor_persist import SIM, chain, open_sup


@pytest.fixture
def dsn(pg_databases):
    return pg_databases()


def state_of(sup):
    """Everything a resumed supervisor is made of, in comparable form."""
    jobs = {}
    for jobid, j in sup.farm.jobs.items():
        jobs[jobid] = {name: getattr(j, name) for name in (
            "pgrp", "pid", "label", "user", "priority", "retrywork", "retry_delay", "timed", "data", "text", "names",
            "state", "retries", "hold", "status", "subs", "held", "free", "removed", "fired", "handles")}
        jobs[jobid]["counts"] = {s: n for s, n in j.counts.items() if n}
    engine = sup.engine
    callbacks = {jobid: [(cb.handle, cb.count) for cb in engine.callbacks(jobid)] for jobid in engine.jobs}
    return {
        "jobs": jobs, "order": list(sup.farm.jobs), "labels": sup.farm.labels, "items": sup.farm.items,
        "done": sup.farm.done, "logs": {i: sup.callback_log(i) for i in sup.farm.jobs}, "now": sup.now,
        "next_id": sup._next_id, "timers": sup._timers.state(), "origin": sup._timers.origin,
        "journal": sup.journal_length, "network": engine.network.snapshot(), "firings": engine.firings,
        "checkpoint": sup._checkpoint_seq,
        "callbacks": callbacks, "globals": sup.global_callbacks(), "unreadable": sup.unreadable,
    }


def cold_state(dsn):
    """The state a cold resume of the store's last commit gives (through a reader: no lock)."""
    cold = Follower(StoreReader(dsn), open_sup)
    assert cold.load()
    got = state_of(cold.supervisor)
    cold.close()
    return got


# ============================================================================ following

def test_a_follower_stays_exactly_a_cold_resume_through_many_commits(dsn):
    active = open_sup(dsn, checkpoint_every=30)  # cold resumes restore checkpoints; the follower replays
    active.submit(chain())
    follower = Follower(StoreReader(dsn), open_sup)
    assert follower.load()
    sim = Simulator(active, commit_every=2, **SIM)
    rng = random.Random(5)
    rounds = 0
    while sim.run(max_steps=rng.randint(1, 25)).steps:  # until nothing more can happen
        if rounds == 3:
            active.modify(2, {"priority": 5, "note": "changed"})  # a changed job row (its data)
            active.submit([{"label": "late", "agenda": ["a", "b"], "dependency": "link-complete-work-j1"}])
        assert follower.catch_up()
        assert state_of(follower.supervisor) == cold_state(dsn), f"after round {rounds}"
        rounds += 1
    follower.catch_up()
    assert state_of(follower.supervisor) == cold_state(dsn)
    assert not follower.catch_up()  # nothing new: nothing read but the position
    assert rounds > 10 and follower.catch_ups > 10
    assert query(dsn, "SELECT seq FROM checkpoint")[0][0] > 0
    follower.close()
    active.close()


def test_a_follower_never_writes_and_a_second_active_is_still_refused(dsn):
    active = open_sup(dsn)
    active.submit(chain(jobs=2, frames=3))
    reader = StoreReader(dsn)
    follower = Follower(reader, open_sup)
    assert follower.load()
    with pytest.raises(StoreError, match="never writes"):
        reader.write(Batch(meta={"x": 1}))
    with reader.snapshot(), pytest.raises(Exception, match="read-only"):
        reader.conn.execute("UPDATE meta SET value = '0' WHERE key = 'clock'")
    with pytest.raises(StoreLockedError, match="another supervisor is active"):
        open_sup(dsn)
    # the follower's supervisor cannot commit either
    with pytest.raises(StoreError, match="never writes"):
        follower.supervisor.commit({"x": 1})
    follower.close()
    active.close()


def test_a_follower_gives_up_on_a_store_of_another_layout(dsn):
    active = open_sup(dsn)
    active.submit(chain(jobs=2, frames=3))
    follower = Follower(StoreReader(dsn), open_sup)
    assert follower.load()
    active.store.write(Batch(meta={"schema": SCHEMA_VERSION + 1}))
    with pytest.raises(Exception, match=f"schema {SCHEMA_VERSION + 1}"):
        follower.catch_up()
    follower.close()
    active.close()


# ============================================================================ taking over

def run_standby_in_thread(dsn, **options):
    standby = WarmStandby(dsn, open_sup, follow_seconds=0.05, **options)
    got = []
    thread = threading.Thread(target=lambda: got.append(standby.run()), daemon=True)
    thread.start()
    return standby, thread, got


def test_a_warm_standby_takes_over_when_the_active_one_closes_and_finishes_the_run(dsn):
    expected = uninterrupted()
    active = open_sup(dsn)
    active.submit(chain())
    sim = Simulator(active, commit_every=3, **SIM)
    sim.run(max_steps=5)
    standby, thread, got = run_standby_in_thread(dsn)
    while standby.follower is None or standby.follower.catch_ups < 2:
        sim.run(max_steps=4)
        thread.join(0.1)
    active.close()
    thread.join(60)
    assert got and standby.warm and standby.fallback is None
    sup = got[0]
    report = Simulator(sup, **SIM).run()
    assert report.finished
    sup.close()
    assert finished_outcome(dsn) == expected


def test_a_standby_that_cannot_follow_resumes_cold_and_still_ends_right(dsn, monkeypatch):
    expected = uninterrupted()
    active = open_sup(dsn)
    active.submit(chain())
    sim = Simulator(active, commit_every=3, **SIM)
    sim.run(max_steps=5)

    def broken(self, final=False):
        raise RuntimeError("a fault while following")

    monkeypatch.setattr(Follower, "catch_up", broken)
    notes = []
    standby, thread, got = run_standby_in_thread(dsn, on_note=notes.append)
    while standby.fallback is None:
        sim.run(max_steps=2)
        thread.join(0.1)
    sim.run(max_steps=10)
    active.close()
    thread.join(60)
    assert got and not standby.warm and "a fault while following" in standby.fallback
    assert notes and "it will resume from the store" in notes[0]
    sup = got[0]
    assert Simulator(sup, **SIM).run().finished
    sup.close()
    assert finished_outcome(dsn) == expected


# A warm standby in a child process: it follows until it holds the lock, then finishes the run.
WARM_CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = [{tests!r}]
    from qbtrigger.supervisor import Simulator
    from qbtrigger.supervisor.standby import WarmStandby
    from test_supervisor_persist import SIM, chain, open_sup
    standby = WarmStandby({db!r}, open_sup, follow_seconds=0.05, on_wait=lambda text: print(text, flush=True))
    sup = standby.run()
    print("warm" if standby.warm else "cold: " + str(standby.fallback), standby.follower is None, flush=True)
    if not sup.jobinfo():
        sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run()
    sup.close()
    print("finished", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_warm_standby_finishes_a_run_whose_active_supervisor_was_killed(dsn, seed):
    code = WARM_CHILD.format(tests=str(ROOT / "tests"), db=dsn)

    def start_standby():
        return subprocess.Popen([sys.executable, "-c", code], env=ENV, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    standby_finishes_after_a_kill(dsn, start_standby, "warm True", 0.9, random.Random(seed))


# ============================================================================ change tracking

def test_every_write_numbers_the_rows_it_touches(store_db):
    sup = open_sup(store_db)
    sup.submit(chain(jobs=2, frames=3))
    first = sup.store.get_meta("writes")
    sup.start(1, "0")
    second = sup.store.get_meta("writes")
    assert second > first
    rows = query(store_db, "SELECT jobid, idx, written FROM work ORDER BY jobid, idx")
    assert {(j, i) for j, i, w in rows if w == second} == {(1, 0)}
    assert {w for _, _, w in rows} == {first, second}
    jobs = dict(query(store_db, "SELECT id, written FROM jobs"))
    assert jobs[1] == second and jobs[2] == first
    sup.close()


def test_a_store_of_the_first_layout_is_upgraded_on_open(store_db):
    sup = open_sup(store_db)
    sup.submit(chain(jobs=2, frames=3))
    Simulator(sup, **SIM).run(max_steps=6)
    before = (sup.jobinfo(), sup.events(), sup.now)
    sup.close()
    for table in ("jobs", "work", "subjobs"):  # back to layout 1: no change tracking
        query(store_db, f"DROP INDEX {table}_by_write")
        query(store_db, f"ALTER TABLE {table} DROP COLUMN written")
    query(store_db, "UPDATE meta SET value = '1' WHERE key = 'schema'")
    sup = open_sup(store_db)
    assert sup.store.get_meta("schema") == SCHEMA_VERSION
    assert (sup.jobinfo(), sup.events(), sup.now) == before
    Simulator(sup, **SIM).run()
    sup.close()
    assert {w for (w,) in query(store_db, "SELECT DISTINCT written FROM work")} != {0}
