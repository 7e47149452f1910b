"""A supervisor never commits half a step: an interrupt (or an error) mid-step abandons it, and
reopening the store resumes exactly; a stopped simulation stops at a step boundary; a submission
is stored all or nothing; a store holding what this qbtrigger cannot read still opens and says so;
the --log file is cut back to what the store kept."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest

from qbtrigger.cli import main
from qbtrigger.cli.fingerprint import fingerprint, record
from qbtrigger.cli.simulate_log import cut_uncommitted
from qbtrigger.errors import UnknownItemError
from qbtrigger.supervisor import Simulator
from qbtrigger.supervisor.farm import Farm
from qbtrigger.supervisor.store import UNREADABLE, AbandonedError, Batch

from test_supervisor_persist import SIM, chain, open_sup, outcome


@pytest.fixture(scope="module")
def uninterrupted():
    whole = open_sup(None)
    whole.submit(chain(jobs=4, frames=8))
    return outcome(whole, Simulator(whole, **SIM).run())


class Interrupt:
    """An event listener that raises KeyboardInterrupt (or calls ``action``) at event ``at``."""

    def __init__(self, at, action=None):
        self.at, self.action, self.seen = at, action, 0

    def __call__(self, text, _virtual_time=None):
        self.seen += 1
        if self.seen == self.at:
            if self.action is None:
                raise KeyboardInterrupt
            self.action()


def test_a_keyboard_interrupt_mid_call_abandons_the_step_and_the_store_keeps_the_one_before(tmp_path):
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    jobid = sup.submit([{"label": "a", "agenda": ["1", "2"],
                         "callbacks": [{"triggers": "complete-work-self-*", "language": "python",
                                        "code": "print('done', qb.event()['extra'])"}]}])[0]["id"]
    sup.start(jobid, "1")
    sup.finish(jobid, "1")
    sup.start(jobid, "2")
    before = sup.events()
    sup.add_listener(Interrupt(at=2))  # the second event of the next call: half of it applied
    with pytest.raises(KeyboardInterrupt):
        sup.finish(jobid, "2")
    assert sup.abandoned and "interrupted" in sup.abandoned
    with pytest.raises(AbandonedError, match="reopen the store"):
        sup.commit()
    sup.close()  # writes nothing

    sup = open_sup(db)
    assert sup.events() == before
    assert [w["status"] for w in sup.job(jobid)["agenda"]] == ["complete", "running"]
    assert sup.callback_log(jobid) == ["done 1\n"]
    sup.finish(jobid, "2")  # the step, done again, whole
    assert sup.callback_log(jobid) == ["done 1\n", "done 2\n"]
    assert sup.job(jobid)["status"] == "complete"
    sup.close()


def test_an_error_before_anything_changed_leaves_the_supervisor_usable(tmp_path):
    sup = open_sup(tmp_path / "farm.db")
    jobid = sup.submit([{"agenda": ["1"]}])[0]["id"]
    with pytest.raises(ValueError):
        sup.act("frobnicate", jobid)
    with pytest.raises(UnknownItemError):
        sup.act("kill", jobid, work="no such frame")
    assert sup.abandoned is None
    sup.start(jobid, "1")
    sup.close()
    assert open_sup(tmp_path / "farm.db").job(jobid)["agenda"][0]["status"] == "running"


@pytest.mark.parametrize("draw", range(3))
def test_a_simulation_interrupted_mid_step_resumes_exactly(tmp_path, uninterrupted, draw):
    total = len(uninterrupted["events"])
    at = random.Random(1000 + draw).randrange(5, total - 5)
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    sup.submit(chain(jobs=4, frames=8))
    before = len(sup.events())
    with pytest.raises(KeyboardInterrupt):
        Simulator(sup, on_event=Interrupt(at), commit_every=3, **SIM).run()
    assert sup.abandoned
    sup.close()

    sup = open_sup(db)
    kept = len(sup.events()) - before
    assert kept < at  # the event the interrupt came in is not stored, nor anything of its step
    report = Simulator(sup, **SIM).run()
    assert outcome(sup, report) == uninterrupted
    sup.close()


@pytest.mark.parametrize("draw", range(2))
def test_a_stopped_simulation_stops_at_a_step_boundary_stored(tmp_path, uninterrupted, draw):
    total = len(uninterrupted["events"])
    at = random.Random(2000 + draw).randrange(5, total - 5)
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    sup.submit(chain(jobs=4, frames=8))
    before = len(sup.events())
    simulator = Simulator(sup, commit_every=10**6, commit_seconds=10**6, **SIM)
    simulator.on_event = Interrupt(at, action=simulator.stop)
    report = simulator.run()
    assert not report.finished and sup.abandoned is None
    stopped_at = len(sup.events())
    assert at <= stopped_at - before < at + 12  # the rest of that step, no more
    sup.close()

    sup = open_sup(db)
    assert len(sup.events()) == stopped_at  # all of it was stored
    report = Simulator(sup, **SIM).run()
    assert outcome(sup, report) == uninterrupted
    sup.close()


def test_a_submission_failing_half_way_stores_and_registers_nothing(tmp_path, monkeypatch):
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    first = sup.submit([{"label": "before", "agenda": ["1"]}])[0]["id"]
    real_add = Farm.add
    calls = []

    def add_then_fail(self, job, *args, **kwargs):
        calls.append(job["id"])
        if len(calls) == 2:
            raise MemoryError("out of memory half-way")
        return real_add(self, job, *args, **kwargs)

    monkeypatch.setattr(Farm, "add", add_then_fail)
    with pytest.raises(MemoryError):
        sup.submit([{"label": "a", "agenda": ["1"]}, {"label": "b", "agenda": ["1"]}])
    monkeypatch.setattr(Farm, "add", real_add)
    assert sup.abandoned is None
    assert sup.job_ids() == [first] and sup.engine.jobs == [first]
    assert sup.progress() == (0, 1)
    again = sup.submit([{"label": "a", "agenda": ["1"]}])[0]["id"]  # the ids and the label are free
    assert again == first + 1
    sup.close()
    sup = open_sup(db)
    assert [j["label"] for j in sup.jobinfo()] == ["before", "a"]
    assert Simulator(sup).run().finished
    sup.close()


def test_a_huge_cpus_count_leaves_nothing_stored(tmp_path):
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    with pytest.raises((MemoryError, ValueError)):  # refused at the door, or failing half-way
        sup.submit([{"label": "ok"}, {"label": "huge", "cpus": 2**40}])
    assert sup.job_ids() == [] and sup.engine.jobs == []
    sup.close()
    assert open_sup(db).job_ids() == []


def _poison(db, jobid, **columns):
    with sqlite3.connect(db) as raw:
        for column, value in columns.items():
            raw.execute(f"UPDATE jobs SET {column} = ? WHERE id = ?", (value, jobid))


def test_a_store_holding_what_cannot_be_read_still_opens_and_names_job_and_field(tmp_path, capsys):
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    up, bad, odd = [j["id"] for j in sup.submit([
        {"label": "up", "agenda": ["1", "2"]},
        {"label": "bad", "status": "blocked", "callbacks": [{"triggers": "complete-job-up", "code": "unblock-self"}]},
        {"label": "odd", "agenda": ["1"]},
    ])]
    sup.close()
    data = json.loads(sqlite3.connect(db).execute("SELECT data FROM jobs WHERE id = ?", (bad,)).fetchone()[0])
    data["callbacks"][0]["triggers"] = "complete-job-up &&"  # a trigger this qbtrigger cannot parse
    _poison(db, bad, data=json.dumps(data))
    _poison(db, odd, data='{"label": "odd", "priority": ' + "9" * 5000 + "}")  # past Python's digit limit

    sup = open_sup(db)  # opens
    found = {(u.jobid, u.field) for u in sup.unreadable}
    assert found == {(bad, "callbacks[0]"), (odd, "data")}
    text = "\n".join(map(str, sup.unreadable))
    assert f"job {bad}: stored callbacks[0] cannot be read by this qbtrigger" in text
    assert f"job {odd}: stored data cannot be read by this qbtrigger (ValueError" in text
    assert UNREADABLE in sup.job(odd)  # as stored
    report = Simulator(sup).run()  # the others run; the job without its callback stays blocked
    statuses = report.statuses()
    assert statuses[up] == "complete" and statuses[odd] == "complete" and statuses[bad] == "blocked"
    sup.close()

    # simulate resumes a store that records its submission: say this one was made by it
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text("[]")
    sup = open_sup(db)
    record(sup, fingerprint(str(jobs_file), [], "artist"))
    sup.close()
    assert main(["simulate", str(jobs_file), "--db", str(db), "--user", "artist",
                 "--languages", "qube,python,dependency"]) == 2
    err = capsys.readouterr().err
    assert f"warning: job {bad}: stored callbacks[0] cannot be read by this qbtrigger" in err
    assert f"warning: job {odd}: stored data cannot be read" in err


def test_the_log_is_cut_back_to_what_the_store_committed(tmp_path):
    log = tmp_path / "events.log"
    lines = [json.dumps({"n": n, "event": f"e{n}"}) for n in (3, 4, 6, 7, 9)]
    log.write_text("foreign line\n" + "\n".join(lines) + '\n{"n": 10, "ev')
    cut_uncommitted(str(log), 7)
    assert log.read_text() == "foreign line\n" + "\n".join(lines[:4]) + "\n"
    cut_uncommitted(str(log), 0)
    assert log.read_text() == "foreign line\n"  # what it did not write is kept
    cut_uncommitted(str(tmp_path / "missing.log"), 5)  # no file: nothing to do


class _CommitThenInterrupt:
    """A connection whose COMMIT goes through and is followed at once by a KeyboardInterrupt."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def execute(self, sql, *args):
        result = self._db.execute(sql, *args)
        if sql == "COMMIT":
            raise KeyboardInterrupt
        return result


def test_an_interrupt_just_after_the_commit_leaves_the_batch_written(tmp_path):
    sup = open_sup(tmp_path / "farm.db")
    store = sup.store
    batch = Batch(journal=["submit-job-1"], journal_first=store.journal_length() + 1)
    real = store.db
    store.db = _CommitThenInterrupt(real)
    with pytest.raises(KeyboardInterrupt):
        store.write(batch)
    store.db = real
    assert not batch and batch.journal_first == 2  # written: a retry would not write it twice
    assert store.journal_length() == 1
