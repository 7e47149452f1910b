"""Delivery semantics (docs/callbacks.md, "Delivery"): each firing has an id, the same in every run
of one store however often it was interrupted; a firing's qb actions take effect exactly once
(stored with its step); its external effects may happen again after a crash, and the id lets the
callback do them once."""

from __future__ import annotations

import json
import shutil

import pytest

from qbtrigger.callbacks import CallbackEngine, Invocation
from qbtrigger.callbacks.qbapi import QB_FUNCTIONS
from qbtrigger.supervisor import Simulator

from test_interrupt_supervisor import Interrupt
from test_supervisor_persist import SIM, open_sup

# Each frame's completion: log the firing id, and (a qb action) unblock the next frame of "b".
RECORD = "print(qb.firingid(), qb.event()['text'])"


def jobs():
    names = [str(f) for f in range(1, 9)]
    return [
        {"label": "a", "agenda": names, "retrywork": 2, "callbacks": [
            {"triggers": "complete-work-self-*", "language": "python", "code": RECORD},
            {"triggers": "complete-work-self-*", "language": "python",
             "code": "qb.unblockwork('%d:%s' % (qb.jobid() + 1, qb.event()['extra']))"}]},
        {"label": "b", "agenda": [{"name": n, "status": "blocked"} for n in names], "callbacks": [
            {"triggers": "complete-work-self-*", "language": "python", "code": RECORD}]},
    ]


def firing_lines(sup):
    return [line for jobid in sup.job_ids() for entry in sup.callback_log(jobid) for line in entry.splitlines()]


@pytest.fixture(scope="module")
def uninterrupted():
    sup = open_sup(None)
    sup.submit(jobs())
    Simulator(sup, **SIM).run()
    return sup


def test_firing_ids_are_unique_and_count_every_firing_in_order(uninterrupted):
    sup = uninterrupted
    ids = [int(line.split()[0]) for line in firing_lines(sup)]
    assert len(ids) == len(set(ids)) == sum(1 for e in sup.events() if e.startswith("complete-work-"))
    assert sup.engine.firings == sum(sup.fired(j) for j in sup.job_ids())  # every firing counted once
    assert max(ids) <= sup.engine.firings
    per_job = [[int(line.split()[0]) for e in sup.callback_log(j) for line in e.splitlines()] for j in sup.job_ids()]
    assert all(ids == sorted(ids) for ids in per_job)  # in the order they fired


def test_the_same_firing_has_the_same_id_after_an_interrupt_and_a_resume(tmp_path, uninterrupted):
    db = tmp_path / "farm.db"
    sup = open_sup(db)
    sup.submit(jobs())
    with pytest.raises(KeyboardInterrupt):
        Simulator(sup, on_event=Interrupt(40), commit_every=2, **SIM).run()
    sup.close()
    sup = open_sup(db)
    Simulator(sup, **SIM).run()
    assert firing_lines(sup) == firing_lines(uninterrupted)  # ids and events, each once in the store
    # the qb actions (unblocking b's frames) took effect exactly once: b's work ran as uninterrupted
    assert sup.events(2) == uninterrupted.events(2)
    assert sup.engine.firings == uninterrupted.engine.firings
    sup.close()


def test_external_effects_happen_at_least_once_and_dedupe_by_firing_id(tmp_path, uninterrupted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    effect = ("import json\n"
              "open('effects.jsonl', 'a').write(json.dumps([qb.firingid(), qb.event()['text']]) + '\\n')\n")
    spec = jobs()
    spec[0]["callbacks"][0]["code"] = effect
    whole = open_sup(None)
    whole.submit(spec)
    Simulator(whole, **SIM).run()
    expected = [tuple(json.loads(line)) for line in open("effects.jsonl")]
    (tmp_path / "effects.jsonl").unlink()

    db = tmp_path / "farm.db"
    sup = open_sup(db)
    sup.submit(spec)
    with pytest.raises(KeyboardInterrupt):  # mid-step: the step's effects happened, it was not stored
        Simulator(sup, on_event=Interrupt(60), commit_every=10**6, commit_seconds=10**6, **SIM).run()
    sup.close()
    sup = open_sup(db)
    Simulator(sup, **SIM).run()
    sup.close()
    got = [tuple(json.loads(line)) for line in open("effects.jsonl")]
    assert len(got) > len(expected)  # some happened twice (nothing was committed before the interrupt)
    assert list(dict.fromkeys(got)) == expected  # once each when deduplicated by firing id


def test_an_invocation_made_outside_an_engine_has_firing_zero():
    engine = CallbackEngine.__new__(CallbackEngine)
    inv = Invocation(host=None, qb=None, callback=None, event=None)  # type: ignore[arg-type]
    assert inv.firing == 0 and not hasattr(engine, "firings")
    assert "firingid" in QB_FUNCTIONS


@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
def test_perl_callbacks_see_the_same_firing_id():
    sup = open_sup(None, language_flags="qube,python,perl,dependency")
    jobid = sup.submit([{"agenda": ["1", "2"], "callbacks": [
        {"triggers": "complete-work-self-*", "language": "python", "code": "print('py', qb.firingid())"},
        {"triggers": "complete-work-self-*", "language": "perl", "code": 'print "pl ", qb::firingid(), "\\n";'},
    ]}])[0]["id"]
    Simulator(sup, workers=1).run()
    assert sup.callback_log(jobid) == ["py 1\n", "pl 2\n", "py 3\n", "pl 4\n"]
