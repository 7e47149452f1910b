"""Checkpoints (qbtrigger.supervisor.checkpoint), on each backend: a store reopened from its
checkpoint replays only the journal's tail and ends exactly as an uninterrupted run, whatever
the moment it was killed at (just before, during or just after a checkpoint's write included); a
checkpoint that cannot be used is reported and the whole journal replayed instead."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from qbtrigger.supervisor import Simulator, Supervisor
from qbtrigger.supervisor.backends import open_store
from qbtrigger.supervisor.checkpoint import (
    FORMAT_VERSION, Checkpoint, CheckpointError, decode, encode,
)
from qbtrigger.supervisor.store import SCHEMA_VERSION, Batch
from stores import query
from test_supervisor_persist import SIM, chain, open_sup, outcome

ROOT = Path(__file__).resolve().parent.parent
EVERY = 20  # lines between checkpoints, at least: a dozen or so in one run of chain()


def expected_outcome():
    whole = open_sup(None, checkpoint_every=None)
    whole.submit(chain())
    return outcome(whole, Simulator(whole, **SIM).run())


class Counted:
    """A store whose journal reads are counted: which line they start after, how many lines."""

    def __init__(self, db):
        self.store = open_store(db)
        self.after = []
        self.lines = 0
        read = self.store.journal

        def journal(after=0):
            self.after.append(after)
            for line in read(after):
                self.lines += 1
                yield line

        self.store.journal = journal


def reopen_counted(db, **options):
    counted = Counted(db)
    return open_sup(counted.store, **options), counted


# ---------------------------------------------------------------------- the format
def test_the_format_reads_back_and_refuses_what_is_not_a_checkpoint():
    checkpoint = Checkpoint(812, {"firings": 3, "jobs": [[1, 0, [1, 4]]]}, b"qbtsnap-bytes")
    data = encode(checkpoint)
    assert data[:8] == b"qbtckpt\0" and decode(data) == checkpoint
    with pytest.raises(CheckpointError, match="truncated: 10 bytes"):
        decode(data[:10])
    with pytest.raises(CheckpointError, match="no 'qbtckpt' signature"):
        decode(b"x" + data[1:])
    newer = bytearray(data)
    newer[8:12] = (FORMAT_VERSION + 1).to_bytes(4, "little")
    with pytest.raises(CheckpointError, match=f"version {FORMAT_VERSION + 1} is newer than this qbtrigger reads"):
        decode(bytes(newer))
    flipped = bytearray(data)
    flipped[40] ^= 1
    with pytest.raises(CheckpointError, match="checksum does not match"):
        decode(bytes(flipped))
    with pytest.raises(CheckpointError, match="checksum"):  # cut short: the checksum finds it first
        decode(data[:-3])


# ---------------------------------------------------------------------- reopening from one
def test_a_reopened_store_restores_its_checkpoint_and_replays_only_the_tail(store_db):
    expected = expected_outcome()
    sup = open_sup(store_db, checkpoint_every=EVERY)
    sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run(max_steps=120)
    covered, total = sup._checkpoint_seq, sup.journal_length
    assert 0 < covered < total
    states = {i: (sup.job_state(i).status, sup.fired(i)) for i in sup.job_ids()}
    firings = sup.engine.firings
    sup.abandon()  # as if killed after its last commit: close() would take a checkpoint more
    sup.close()

    sup, counted = reopen_counted(store_db, checkpoint_every=EVERY)
    assert sup.unreadable == []
    assert counted.after == [covered] and counted.lines == total - covered  # the tail, nothing else
    assert {i: (sup.job_state(i).status, sup.fired(i)) for i in sup.job_ids()} == states
    assert sup.engine.firings == firings and sup.journal_length == total
    report = Simulator(sup, **SIM).run()
    assert report.finished and outcome(sup, report) == expected
    sup.close()


def test_closing_takes_a_checkpoint_so_the_next_start_replays_nothing(store_db):
    sup = open_sup(store_db, checkpoint_every=5)
    sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run(max_steps=10)
    assert sup._checkpoint_seq < sup.journal_length
    sup.close()
    sup, counted = reopen_counted(store_db)
    assert counted.after == [sup.journal_length] and counted.lines == 0
    sup.close()


def test_a_store_in_memory_takes_no_checkpoint():
    sup = open_sup(None, checkpoint_every=1)
    sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run()
    assert sup._checkpoint_seq == 0 and sup.store.checkpoint() is None


def test_without_a_checkpoint_the_whole_journal_is_replayed(store_db):
    expected = expected_outcome()
    sup = open_sup(store_db, checkpoint_every=None)  # never takes one
    sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run(max_steps=120)
    total = sup.journal_length
    sup.close()
    sup, counted = reopen_counted(store_db)
    assert counted.after == [0] and counted.lines == total
    report = Simulator(sup, **SIM).run()
    assert outcome(sup, report) == expected
    sup.close()


def test_global_callbacks_spent_callbacks_and_counts_come_back_from_a_checkpoint(store_db):
    def run(db, stop):
        sup = Supervisor(db=db, clock=0, default_user="ann", admins=("wrangler",), language_flags="qube,python",
                         checkpoint_every=1)
        if stop is not None or not sup.job_ids():
            up, down = [j["id"] for j in sup.submit([
                {"label": "up", "agenda": ["1", "2", "3"]},
                {"label": "down", "status": "blocked", "callbacks": [
                    {"triggers": "complete-work-up-*", "language": "python", "code": "print('frame')", "maximum": 2},
                    {"triggers": "complete-work-up-3", "code": "unblock-self"}]}])]
            sup.submit_callback({"triggers": "complete-work-up-1", "language": "python",
                                 "code": "print('first')", "maximum": 1}, user="wrangler")
            sup.submit_callback({"triggers": "running-work-up-*", "language": "python", "code": "print('runs')"},
                                user="wrangler")
        return sup

    whole = run(None, 0)
    report = Simulator(whole, seed=3).run()
    expected = (outcome(whole, report), whole.global_callbacks(), whole.callback_counts(2))

    sup = run(store_db, 0)
    Simulator(sup, seed=3).run(max_steps=5)
    before = (sup.global_callbacks(), sup.callback_counts(2), sup.engine.firings)
    covered = sup._checkpoint_seq
    sup.close()
    sup = run(store_db, None)
    assert sup._checkpoint_seq == covered > 0 and sup.unreadable == []
    assert (sup.global_callbacks(), sup.callback_counts(2), sup.engine.firings) == before
    report = Simulator(sup, seed=3).run()
    assert (outcome(sup, report), sup.global_callbacks(), sup.callback_counts(2)) == expected
    sup.close()


def test_a_store_of_the_previous_schema_gets_the_checkpoint_table_when_opened(store_db):
    sup = open_sup(store_db)
    jobid = sup.submit([{"label": "a", "agenda": ["1"]}])[0]["id"]
    sup.close()
    query(store_db, "DROP TABLE checkpoint")
    query(store_db, "UPDATE meta SET value = '1' WHERE key = 'schema'")
    sup = open_sup(store_db, checkpoint_every=1)
    assert sup.job(jobid)["label"] == "a" and sup.store.get_meta("schema") == SCHEMA_VERSION
    assert Simulator(sup).run().finished
    sup.close()
    assert query(store_db, "SELECT seq FROM checkpoint")[0][0] > 0


# ---------------------------------------------------------------------- checkpoints that cannot be used
def _rewrite_checkpoint(db, change):
    """Replace the store's checkpoint with ``change(seq, bytes) -> (seq, bytes)``."""
    store = open_store(db)
    try:
        seq, data = store.checkpoint()
        store.write(Batch(checkpoint=change(seq, data)))
    finally:
        store.close()


def _flip(seq, data):
    data = bytearray(data)
    data[len(data) // 2] ^= 0x40
    return seq, bytes(data)


def _newer(seq, data):
    data = bytearray(data)
    data[8:12] = (FORMAT_VERSION + 1).to_bytes(4, "little")
    return seq, bytes(data)


def _other_seq(seq, data):
    return seq - 1, data


def _fewer_handles(seq, data):
    checkpoint = decode(data)
    jobid, bare, runs = checkpoint.state["jobs"][-1]
    runs[-1] -= 1  # a job's callbacks no longer match its stored row
    return seq, encode(checkpoint)


def _foreign_network(seq, data):
    from qbtrigger import Network

    checkpoint = decode(data)
    checkpoint.network = Network(state_aware=True).snapshot()
    return seq, encode(checkpoint)


@pytest.mark.parametrize("change, why", [
    (_flip, "checksum does not match"),
    (_newer, "newer than this qbtrigger reads"),
    (_other_seq, "stored for journal line"),
    (_fewer_handles, "callback(s) compile from the store"),
    (_foreign_network, "live callbacks"),
])
def test_a_checkpoint_that_cannot_be_used_is_reported_and_the_whole_journal_replayed(store_db, change, why):
    expected = expected_outcome()
    sup = open_sup(store_db, checkpoint_every=EVERY)
    sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run(max_steps=120)
    total = sup.journal_length
    sup.close()
    _rewrite_checkpoint(store_db, change)

    sup, counted = reopen_counted(store_db, checkpoint_every=EVERY)
    [problem] = sup.unreadable
    assert problem.jobid is None and problem.field == "checkpoint" and why in problem.message
    assert "the whole journal was replayed instead" in str(problem)
    assert counted.after == [0] and counted.lines == total
    report = Simulator(sup, commit_every=3, **SIM).run()
    assert outcome(sup, report) == expected
    sup.close()
    sup = open_sup(store_db)  # a later commit replaced the bad checkpoint
    assert sup.unreadable == [] and sup._checkpoint_seq > 0
    sup.close()


def test_a_checkpoint_of_another_state_awareness_is_not_used(store_db):
    sup = open_sup(store_db, checkpoint_every=EVERY)
    sup.submit(chain())
    Simulator(sup, commit_every=3, **SIM).run(max_steps=60)
    sup.close()
    sup, counted = reopen_counted(store_db, state_aware=False)  # as the replay would build it
    [problem] = sup.unreadable
    assert "the checkpoint's network is state-aware, this supervisor's is not state-aware" in problem.message
    assert counted.after == [0] and not sup.engine.network.state_aware
    sup.close()


def test_a_job_read_bare_stays_bare_and_reported_when_reopened_from_a_checkpoint(tmp_path):
    import json
    import sqlite3

    db = tmp_path / "farm.db"
    sup = open_sup(db)
    up, bad = [j["id"] for j in sup.submit([
        {"label": "up", "agenda": ["1", "2"]},
        {"label": "bad", "status": "blocked", "callbacks": [{"triggers": "complete-job-up", "code": "unblock-self"}]},
    ])]
    sup.close()
    with sqlite3.connect(db) as raw:
        data = json.loads(raw.execute("SELECT data FROM jobs WHERE id = ?", (bad,)).fetchone()[0])
        data["callbacks"][0]["triggers"] = "complete-job-up &&"  # a trigger this qbtrigger cannot parse
        raw.execute("UPDATE jobs SET data = ? WHERE id = ?", (json.dumps(data), bad))
    sup = open_sup(db, checkpoint_every=1)
    found = [(u.jobid, u.field) for u in sup.unreadable]
    assert found == [(bad, "callbacks[0]")]
    sup.start(up, "1")  # a commit: the checkpoint is taken, with the job read bare
    sup.close()
    sup = open_sup(db, checkpoint_every=1)
    assert sup._checkpoint_seq > 0 and [(u.jobid, u.field) for u in sup.unreadable] == found
    assert "callbacks" not in sup.job_state(bad).data and sup.engine.callbacks(bad) == []  # read bare
    assert "callbacks" in sup.job(bad)  # its stored text is left as it is
    report = Simulator(sup).run()
    assert report.statuses()[up] == "complete" and report.statuses()[bad] == "blocked"
    sup.close()


# ---------------------------------------------------------------------- kill -9 around a checkpoint
CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{tests!r}]
    from qbtrigger.supervisor import Simulator
    from test_supervisor_persist import SIM, chain, open_sup
    when, number = {when!r}, {number!r}
    sup = open_sup({db!r}, checkpoint_every={every!r})
    if not sup.jobinfo():
        sup.submit(chain())
    store = sup.store
    seen = {{"writes": 0, "checkpoints": 0}}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Dying:  # SQLite: the connection, dying as the checkpoint row is written (mid-transaction)
        def __init__(self, db):
            self.db = db
        def __getattr__(self, name):
            return getattr(self.db, name)
        def execute(self, sql, *args):
            if when == "during" and sql.startswith("INSERT OR REPLACE INTO checkpoint") and seen["checkpoints"] == number:
                die()
            return self.db.execute(sql, *args)

    if hasattr(store, "db"):
        store.db = Dying(store.db)
    write = store.write

    def dying_write(batch):
        seen["writes"] += 1
        carries = batch.checkpoint is not None
        seen["checkpoints"] += carries
        mine = seen["checkpoints"] == number if when != "write" else seen["writes"] == number
        if mine and (carries or when == "write") and when in ("before", "write"):
            die()
        write(batch)
        if mine and carries and when == "after":
            die()

    store.write = dying_write
    Simulator(sup, commit_every=3, **SIM).run()
    print("finished")
""")


def _run_child(db, when, number):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
    code = CHILD.format(tests=str(ROOT / "tests"), db=str(db), when=when, number=number, every=EVERY)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _points(seed, sqlite):
    """(moment, number) kill points: just before, during (SQLite: mid-transaction) and just after
    the write of checkpoint N, and before an ordinary write N."""
    rng = random.Random(seed)
    moments = ["before", "after", "write"] + (["during"] if sqlite else [])
    return [(moment, rng.randint(1, 6) if moment != "write" else rng.randint(2, 60)) for moment in moments]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_around_checkpoint_writes_a_run_resumes_exactly(new_store_db):
    expected = expected_outcome()
    sqlite = not str(new_store_db()).startswith("postgres")
    seed = random.randrange(1 << 30)
    for when, number in _points(seed, sqlite):
        db = new_store_db()
        first = _run_child(db, when, number)
        assert first.returncode == -signal.SIGKILL, (seed, when, number, first.stdout, first.stderr)
        # and killed a second time, a few commits into the resumed run, before it finishes
        second = _run_child(db, "write", 3)
        assert second.returncode in (-signal.SIGKILL, 0), (seed, when, number, second.stderr)
        sup = open_sup(db, checkpoint_every=EVERY)
        assert sup.unreadable == [], (seed, when, number)
        report = Simulator(sup, commit_every=3, **SIM).run()
        assert report.finished
        assert outcome(sup, report) == expected, (seed, when, number)
        sup.close()


# ---------------------------------------------------------------------- the parts, as a follower calls them
def test_a_follower_replays_the_tail_again_and_again_then_reloads_the_farm_and_takes_over(tmp_path):
    from qbtrigger.supervisor.resume import load_store, replay_journal

    expected = expected_outcome()
    db = tmp_path / "farm.db"
    active = open_sup(db, checkpoint_every=EVERY)
    active.submit(chain())
    run = Simulator(active, commit_every=3, **SIM)
    run.run(max_steps=40)
    follower = open_sup(db, checkpoint_every=EVERY)  # restores the checkpoint, replays the tail
    seen = follower.journal_length
    for _ in range(3):  # the active one goes on; the follower keeps its network up to date
        run.run(max_steps=30)
        seen = replay_journal(follower, seen)
        assert seen == active.journal_length
    active.abandon()  # the active one goes away (its last commit stays)
    active.close()
    load_store(follower)  # takes over: the farm as stored now, on the network it kept
    follower.farm.rebuild_ready()
    fresh = open_sup(db)
    assert follower.engine.network.snapshot() == fresh.engine.network.snapshot()
    assert follower.engine.firings == fresh.engine.firings
    assert {i: follower.callback_counts(i) for i in fresh.job_ids()} == {i: fresh.callback_counts(i) for i in fresh.job_ids()}
    fresh.abandon()
    fresh.close()
    report = Simulator(follower, commit_every=3, **SIM).run()
    assert outcome(follower, report) == expected
    follower.close()
