"""The events Qube raises that the reference supervisor raises too: assigned (and the virtual
hosts' events), waiting (a retry delay), timeout (time limits, checked every 15 s), and events a
program raises itself (Supervisor.emit)."""

from __future__ import annotations

import pytest

from qbtrigger import EventError, UnknownItemError, UnknownJobError
from qbtrigger.supervisor import Simulator, Supervisor


def new(**kwargs) -> Supervisor:
    return Supervisor(clock=0, default_user="ann", **kwargs)


def test_a_frame_over_its_agenda_timeout_gets_a_timeout_event_at_the_next_check():
    sup = new()
    [job] = sup.submit([{"agenda": ["1"], "agendatimeout": "20"}])
    jid = job["id"]
    sup.advance(7)
    sup.start(jid, "1")  # runs from 7: over at 27, found at the check at 30
    assert sup.next_due() == 30
    sup.advance(29)
    assert f"timeout-work-{jid}-1" not in sup.events()
    sup.advance(31)
    assert sup.events(jid)[-1] == f"timeout-work-{jid}-1"
    sup.advance(100)
    assert sup.events(jid).count(f"timeout-work-{jid}-1") == 1  # once per run
    sup.finish(jid, "1")
    assert sup.job(jid)["status"] == "complete"  # a timeout is an edge: callbacks decide


def test_a_frame_that_finishes_in_time_gets_no_timeout():
    sup = new()
    [job] = sup.submit([{"agenda": ["1"], "agenda_timeout": 20}])
    sup.start(job["id"], "1")
    sup.advance(10)
    sup.finish(job["id"], "1")
    assert sup.next_due() is None
    sup.advance(100)
    assert not any(e.startswith("timeout") for e in sup.events())


def test_agenda_timelimit_fails_frames_that_run_too_long():
    sup = new()
    [job] = sup.submit([{"label": "slow", "agenda": ["1", "2", "3"], "cpus": 3, "agenda_timelimit": 30}])
    report = Simulator(sup, workers=3, seed=1, frame_time=(100.0, 0.0)).run()
    jid = job["id"]
    assert sup.job(jid)["status"] == "failed"
    assert [w["status"] for w in sup.job(jid)["agenda"]] == ["failed"] * 3
    events = sup.events(jid)
    assert all(events.index(f"timeout-work-{jid}-{n}") < events.index(f"failed-work-{jid}-{n}") for n in "123")
    assert report.makespan == pytest.approx(30.0)


def test_timelimit_fails_the_instances_of_a_cmdline_job():
    sup = new()
    [job] = sup.submit([{"prototype": "cmdline", "cpus": 2, "timelimit": "40"}])
    Simulator(sup, workers=2, seed=1, frame_time=(100.0, 0.0)).run()
    jid = job["id"]
    assert sup.job(jid)["status"] == "failed"
    events = sup.events(jid)
    for s in (0, 1):
        assert events.index(f"timeout-subjob-{jid}-{s}") < events.index(f"failed-subjob-{jid}-{s}")


def test_timelimit_on_a_frame_job_ends_the_frame_its_subjob_runs_and_then_the_job():
    sup = new()
    [job] = sup.submit([{"agenda": ["1", "2", "3"], "cpus": 1, "timelimit": 30}])
    report = Simulator(sup, workers=2, seed=1, frame_time=(100.0, 0.0)).run()
    jid = job["id"]
    assert [w["status"] for w in sup.job(jid)["agenda"]] == ["failed", "pending", "pending"]
    assert sup.job(jid)["status"] == "failed"
    events = sup.events(jid)
    order = [f"timeout-subjob-{jid}-0", f"failed-subjob-{jid}-0", f"failed-work-{jid}-1", f"failed-job-{jid}"]
    assert [events.index(e) for e in order] == sorted(events.index(e) for e in order)
    assert f"complete-work-{jid}-1" not in events  # the frame died with its subjob's process
    assert report.makespan == pytest.approx(30.0)


@pytest.mark.parametrize("verb, state", [("kill", "killed"), ("fail", "failed")])
def test_ending_a_busy_subjob_ends_one_running_frame_the_others_go_on(verb, state):
    sup = new()
    [job] = sup.submit([{"agenda": ["1", "2", "3"], "cpus": 2}])
    jid = job["id"]
    sup.start(jid, "1")
    sup.start(jid, "2")
    sup.act(verb, jid, subjob=1)
    assert [w["status"] for w in sup.job(jid)["agenda"]] == ["running", state, "pending"]
    assert sup.job(jid)["status"] == "running"
    sup.finish(jid, "1")
    assert sup.pop_runnable() == (jid, 2)  # the subjob left runs the next frame
    sup.start(jid, "3")
    sup.finish(jid, "3")
    assert sup.job(jid)["status"] == state


def test_ending_an_idle_subjob_ends_no_frame():
    sup = new()
    [job] = sup.submit([{"agenda": ["1", "2"], "cpus": 2}])
    jid = job["id"]
    sup.start(jid, "1")  # one of the two subjobs runs it, the other has nothing to do
    sup.act("kill", jid, subjob=1)
    assert [w["status"] for w in sup.job(jid)["agenda"]] == ["running", "pending"]
    sup.act("kill", jid, subjob=0)  # now the busy one
    assert [w["status"] for w in sup.job(jid)["agenda"]] == ["killed", "pending"]
    assert sup.job(jid)["status"] == "killed"  # no subjob left to run frame 2
    assert [s["status"] for s in sup.job(jid)["subjobs"]] == ["killed", "killed"]


def test_retrying_a_job_whose_subjobs_ended_runs_them_again():
    sup = new()
    [job] = sup.submit([{"agenda": ["1", "2"], "cpus": 1}])
    jid = job["id"]
    sup.start(jid, "1")
    sup.act("fail", jid, subjob=0)
    assert sup.job(jid)["status"] == "failed"
    sup.act("retry", jid)
    assert [s["status"] for s in sup.job(jid)["subjobs"]] == ["pending"]
    assert [w["status"] for w in sup.job(jid)["agenda"]] == ["pending", "pending"]
    Simulator(sup, workers=1, seed=1, frame_time=(10.0, 0.0)).run()
    assert sup.job(jid)["status"] == "complete"


def test_retrying_a_running_job_gives_it_back_its_failed_subjob():
    sup = new()
    [job] = sup.submit([{"agenda": ["1", "2", "3"], "cpus": 2}])
    jid = job["id"]
    sup.start(jid, "1")
    sup.act("fail", jid, subjob=1)  # idle: frame 1 runs on the other one
    assert [s["status"] for s in sup.job(jid)["subjobs"]] == ["running", "failed"]
    sup.act("retry", jid)
    assert sup.job(jid)["status"] == "running"
    assert [s["status"] for s in sup.job(jid)["subjobs"]] == ["running", "running"]
    assert sup.pop_runnable() == (jid, 1)  # two subjobs again: room for frame 2 beside frame 1


@pytest.mark.parametrize("pause_after", [2, 5, 9])
def test_a_frame_jobs_subjob_timelimit_survives_a_resume_exactly(store_db, pause_after):
    def submission():
        return [{"label": "t", "agenda": [str(n) for n in range(1, 7)], "cpus": 2, "timelimit": 75}]

    def simulator(sup):
        return Simulator(sup, workers=2, seed=4, frame_time=(30.0, 20.0))

    reference = new()
    reference.submit(submission())
    simulator(reference).run()
    first = new(db=store_db)
    first.submit(submission())
    simulator(first).run(max_steps=pause_after)
    first.close()
    resumed = Supervisor(db=store_db)
    simulator(resumed).run()
    assert resumed.events() == reference.events()
    assert any(e.startswith("failed-subjob-") for e in reference.events())
    assert any(e.startswith("failed-work-") for e in reference.events())  # a frame ended with its subjob


def test_a_frame_retried_after_a_delay_waits_first():
    sup = new()
    [job] = sup.submit([{"agenda": ["1"], "retrywork": 1, "retrywork_delay": "60"}])
    jid = job["id"]
    sup.advance(10)
    sup.start(jid, "1")
    sup.finish(jid, "1", failed=True)
    assert sup.job(jid)["agenda"][0]["status"] == "waiting"
    assert sup.pop_runnable() is None and sup.next_due() == 70
    sup.advance(69)
    assert sup.job(jid)["agenda"][0]["status"] == "waiting"
    sup.advance(70)
    assert sup.job(jid)["agenda"][0]["status"] == "pending"
    events = sup.events(jid)
    assert events.index(f"waiting-work-{jid}-1") < events.index(f"pending-work-{jid}-1")
    assert f"failed-work-{jid}-1" not in events  # a retried frame never enters failed


@pytest.mark.parametrize("pause_after", [3, 9, 17, 30])
def test_timers_survive_a_resume_exactly(store_db, pause_after):
    def submission():
        return [{"label": "r", "agenda": [str(n) for n in range(1, 9)], "agenda_timelimit": 25, "retrywork": 1,
                 "retrywork_delay": 45}]

    reference = new()
    reference.submit(submission())
    Simulator(reference, workers=2, seed=9, frame_time=(30.0, 12.0), failure_rate=0.4).run()

    db = store_db
    first = new(db=db)
    first.submit(submission())
    Simulator(first, workers=2, seed=9, frame_time=(30.0, 12.0), failure_rate=0.4).run(max_steps=pause_after)
    first.close()
    resumed = Supervisor(db=db)
    Simulator(resumed, workers=2, seed=9, frame_time=(30.0, 12.0), failure_rate=0.4).run()
    assert resumed.events() == reference.events()
    assert any(e.startswith("timeout-work-") for e in reference.events())
    assert any(e.startswith("waiting-work-") for e in reference.events())


def test_workers_are_virtual_hosts_with_assigned_events():
    sup = new()
    [job] = sup.submit([{"agenda": ["1", "2"], "cpus": 2}])
    seen = {}

    def watch(text: str, _time: float) -> None:
        if text.startswith("running-work-"):
            seen[text] = sup.hostinfo()

    Simulator(sup, workers=2, seed=1, on_event=watch).run()
    jid = job["id"]
    events = sup.events(jid)
    assert events[1:3] == [f"assigned-work-{jid}-1", f"assigned-host-{jid}-host01"]
    assert f"assigned-host-{jid}-host02" in events
    assert [h["name"] for h in sup.hostinfo()] == ["host01", "host02"]
    assert all(h["subjobs"] == [] for h in sup.hostinfo())
    busy = seen[f"running-work-{jid}-2"]
    assert busy[1] == {"name": "host02", "state": "active", "subjobs": [{"id": jid, "work": "2", "subjob": None}]}
    assert sup.hostinfo(name="host02")[0]["name"] == "host02"


def test_a_program_raises_its_own_events():
    sup = new()
    [review, publish] = sup.submit([
        {"label": "review", "agenda": ["1", "2"]},
        {"label": "publish", "status": "blocked",
         "callbacks": [{"triggers": "approved-work-review-2", "code": "unblock-self"}]},
    ])
    sup.emit(f"approved-work-{review['id']}-2")
    assert sup.job(publish["id"])["status"] == "pending"
    assert f"approved-work-{review['id']}-2" in sup.events()
    sup.emit("tick-globaltime-5")
    with pytest.raises(EventError, match="'complete' is a state; change it with act"):
        sup.emit(f"complete-job-{review['id']}")
    with pytest.raises(EventError):
        sup.emit("not an event")
    with pytest.raises(UnknownJobError):
        sup.emit("approved-job-999")
    with pytest.raises(UnknownItemError):
        sup.emit(f"approved-work-{review['id']}-7")
    with pytest.raises(UnknownItemError):
        sup.emit(f"approved-subjob-{review['id']}-3")


@pytest.mark.parametrize("origin", [0, 7, 1_000_003])
def test_limit_checks_are_counted_from_the_farms_start_so_a_run_repeats(origin):
    sup = Supervisor(clock=origin)
    [job] = sup.submit([{"agenda": ["1"], "agenda_timeout": 20}])
    sup.advance(origin + 7)
    sup.start(job["id"], "1")
    assert sup.next_due() == origin + 30  # the check at 30 s after the farm began, wherever it began
