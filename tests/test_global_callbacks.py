"""Global callbacks (Qube's qb.submitcallback): attached to no job, only an administrator's,
kept across a resume."""

from __future__ import annotations

import pytest

from qbtrigger.callbacks import GLOBAL_JOB, QbPermissionError, SubmissionError
from qbtrigger.supervisor import Supervisor


def farm(db=None) -> Supervisor:
    return Supervisor(db=db, clock=0, default_user="ann", admins=("wrangler",), language_flags="qube,python")


def test_an_administrator_submits_a_global_callback_that_fires_on_the_clock():
    sup = farm()
    [job] = sup.submit([{"label": "nightly", "status": "blocked", "agenda": ["1"]}])
    made = sup.submit_callback(
        {"triggers": "dummy-globaltime-100", "language": "python", "code": f"qb.unblock({job['id']})\nprint('go')"},
        user="wrangler",
    )
    assert made["user"] == "wrangler" and made["language"] == "python"
    sup.advance(99)
    assert sup.job(job["id"])["status"] == "blocked"
    sup.advance(100)
    assert sup.job(job["id"])["status"] == "pending"
    assert sup.callback_log(GLOBAL_JOB) == ["go\n"]


def test_a_global_callback_may_watch_any_job():
    sup = farm()
    render, report = sup.submit([{"label": "render", "agenda": ["1"]}, {"label": "report", "status": "blocked"}])
    sup.submit_callback({"triggers": f"complete-job-{render['id']}", "language": "python",
                         "code": f"qb.unblock({report['id']})"}, user="wrangler")
    sup.start(render["id"], "1")
    sup.finish(render["id"], "1")
    assert sup.job(report["id"])["status"] == "pending"


def test_only_administrators_may_submit_one_and_bad_callbacks_are_refused():
    sup = farm()
    with pytest.raises(QbPermissionError, match="user 'ann' is not one"):
        sup.submit_callback({"triggers": "dummy-globaltime-100", "code": "unblock-self"})
    with pytest.raises(SubmissionError, match="global callback"):
        sup.submit_callback({"triggers": "dummy-globaltime-100 &&", "code": "unblock-self"}, user="wrangler")
    with pytest.raises(SubmissionError, match="disabled"):
        sup.submit_callback({"triggers": "dummy-globaltime-100", "language": "perl", "code": "1;"}, user="wrangler")
    assert GLOBAL_JOB not in sup.engine.jobs or sup.engine.callbacks(GLOBAL_JOB) == []


def test_job_zero_is_never_handed_out():
    with pytest.raises(ValueError, match="first_id must be at least 1"):
        Supervisor(clock=0, first_id=0)


def test_global_callbacks_survive_a_resume_and_do_not_run_twice(store_db):
    db = store_db
    sup = farm(db)
    [a, b] = sup.submit([{"label": "a", "status": "blocked"}, {"label": "b", "status": "blocked"}])
    sup.submit_callback({"triggers": "dummy-globaltime-50", "language": "python",
                         "code": f"qb.unblock({a['id']})\nprint('first')"}, user="wrangler")
    sup.submit_callback({"triggers": "dummy-globaltime-80", "language": "python",
                         "code": f"qb.unblock({b['id']})\nprint('second')"}, user="wrangler")
    sup.advance(60)
    sup.close()
    resumed = farm(db)
    assert resumed.job(a["id"])["status"] == "pending" and resumed.job(b["id"])["status"] == "blocked"
    assert resumed.next_due() == 80
    resumed.advance(90)
    assert resumed.job(b["id"])["status"] == "pending"
    assert resumed.callback_log(GLOBAL_JOB) == ["first\n", "second\n"]


def test_a_global_callback_caught_up_at_registration_runs_once_across_a_resume(store_db):
    db = store_db
    sup = farm(db)
    render, report = sup.submit([{"label": "render", "agenda": ["1"]}, {"label": "report", "status": "blocked"}])
    sup.start(render["id"], "1")
    sup.finish(render["id"], "1")
    sup.submit_callback({"triggers": f"complete-job-{render['id']}", "language": "python",
                         "code": f"qb.unblock({report['id']})\nprint('caught up')"}, user="wrangler")
    assert sup.job(report["id"])["status"] == "pending"
    events = sup.events()
    sup.close()
    resumed = farm(db)
    assert resumed.events() == events
    assert resumed.callback_log(GLOBAL_JOB) == ["caught up\n"]
