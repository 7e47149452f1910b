"""Jobs without an agenda (``prototype: cmdline``, or a package with no frame range): each of their
``cpus`` instances runs the command once, as Qube runs them, and the subjob events fire."""

from __future__ import annotations

import pytest

from qbtrigger.supervisor import Simulator, Supervisor


def new(**kwargs) -> Supervisor:
    return Supervisor(clock=0, default_user="ann", **kwargs)


def test_each_instance_runs_once_and_the_job_completes_with_them():
    sup = new()
    [job] = sup.submit([{"name": "ls", "prototype": "cmdline", "package": {"cmdline": "ls -l"}, "cpus": "3"}])
    jid = job["id"]
    assert job["agenda"] == [] and [s["status"] for s in job["subjobs"]] == ["pending"] * 3
    report = Simulator(sup, workers=2, seed=1).run()
    assert report.finished and sup.job(jid)["status"] == "complete"
    events = sup.events(jid)
    for s in range(3):
        assert events.index(f"running-subjob-{jid}-{s}") < events.index(f"complete-subjob-{jid}-{s}")
    assert not any("-work-" in e for e in events)
    assert events[-1] == f"complete-job-{jid}"
    assert sup.progress() == (3, 3)


def test_instances_are_started_and_finished_by_subjob():
    sup = new()
    [job] = sup.submit([{"cpus": 2}])
    jid = job["id"]
    sup.start(jid)  # the first pending instance
    sup.start(jid, subjob=1)
    assert [s["status"] for s in sup.job(jid)["subjobs"]] == ["running", "running"]
    sup.finish(jid, subjob=1, failed=True)
    sup.finish(jid)  # the first running instance
    assert sup.events(jid)[-3:] == [f"failed-subjob-{jid}-1", f"complete-subjob-{jid}-0", f"failed-job-{jid}"]


def test_a_failed_instance_is_retried_while_retrywork_allows():
    sup = new()
    [job] = sup.submit([{"cpus": 1, "retrywork": 1}])
    jid = job["id"]
    sup.start(jid)
    sup.finish(jid, failed=True)
    assert sup.job(jid)["subjobs"][0]["status"] == "pending"
    sup.start(jid)
    sup.finish(jid)
    assert sup.job(jid)["status"] == "complete"


def test_subjob_triggers_and_dependencies_on_agendaless_jobs():
    sup = new()
    render, mail = sup.submit([
        {"label": "render", "cpus": 2},
        {"label": "after", "dependency": "link-done-job-render", "cpus": 1,
         "callbacks": [{"triggers": "complete-subjob-render-1", "code": "unblock-subjob-self"}]},
    ])
    assert sup.job(mail["id"])["status"] == "blocked"
    Simulator(sup, workers=4, seed=2).run()
    assert sup.job(render["id"])["status"] == "complete"
    assert sup.job(mail["id"])["status"] == "complete"


def test_a_held_instance_does_not_start():
    sup = new()
    [job] = sup.submit([{"cpus": 2}])
    jid = job["id"]
    sup.act("block", jid, subjob=0)
    assert sup.pop_runnable() == (jid, 1)
    sup.start_item(jid, 1)
    with pytest.raises(ValueError, match="not runnable"):
        sup.start_item(jid, 0)
    sup.act("unblock", jid, subjob=0)
    assert sup.job(jid)["subjobs"][0]["status"] == "pending"
    report = Simulator(sup, workers=1, seed=1).run()
    assert report.finished


def test_agendaless_jobs_resume_from_the_store(store_db):
    db = store_db
    sup = new(db=db)
    [job] = sup.submit([{"cpus": 3}])
    Simulator(sup, workers=1, seed=4).run(max_steps=2)
    sup.close()
    resumed = Supervisor(db=db)
    assert Simulator(resumed, workers=1, seed=4).run().finished
    reference = new()
    reference.submit([{"cpus": 3}])
    Simulator(reference, workers=1, seed=4).run()
    assert resumed.events() == reference.events()
