"""A frame job runs at most one frame per free subjob (its ``cpus``), however many workers are
idle, as Qube's instances each take one agenda item at a time; a blocked subjob is one slot less
until it is unblocked; a store reopened half-way schedules the rest exactly as the uninterrupted
run does."""

from __future__ import annotations

from typing import Dict, List

import pytest

from qbtrigger.supervisor import Simulator, Supervisor

FRAMES = [str(f) for f in range(1, 9)]


def most_at_once(sup: Supervisor, jobid: int, run) -> int:
    """The largest number of the job's frames running at one moment while ``run()`` goes."""
    now: Dict[str, int] = {"running": 0, "peak": 0}
    prefix = f"-work-{jobid}-"

    def watch(text: str, _time: float) -> None:
        if prefix not in text:
            return
        if text.startswith("running-"):
            now["running"] += 1
            now["peak"] = max(now["peak"], now["running"])
        elif text.split("-", 1)[0] in ("complete", "failed", "pending", "killed", "blocked"):
            now["running"] = max(0, now["running"] - 1)

    sup.add_listener(lambda text: watch(text, 0.0))
    run()
    return now["peak"]


@pytest.mark.parametrize("cpus", [1, 2, 3])
def test_frames_run_no_wider_than_the_jobs_subjobs(cpus):
    sup = Supervisor(clock=0)
    [job] = sup.submit([{"agenda": FRAMES, "cpus": cpus}])
    sim = Simulator(sup, workers=8, seed=1, frame_time=(10.0, 0.0))
    peak = most_at_once(sup, job["id"], sim.run)
    assert peak == cpus
    rounds = -(-len(FRAMES) // cpus)  # ceil: frames of 10 s, cpus at a time
    assert sim.report().makespan == pytest.approx(10.0 * rounds)


def test_idle_workers_take_another_jobs_frames_meanwhile():
    sup = Supervisor(clock=0)
    narrow, wide = sup.submit([{"agenda": FRAMES, "cpus": 1}, {"agenda": FRAMES, "cpus": 4}])
    report = Simulator(sup, workers=5, seed=1, frame_time=(10.0, 0.0)).run()
    assert report.makespan == pytest.approx(80.0)  # the narrow job, one frame at a time
    assert [w["status"] for w in sup.job(wide["id"])["agenda"]] == ["complete"] * len(FRAMES)


def test_a_blocked_subjob_is_one_slot_less_until_unblocked():
    sup = Supervisor(clock=0)
    [job] = sup.submit([{"agenda": FRAMES, "cpus": 2}])
    jid = job["id"]
    sup.act("block", jid, subjob=1)
    sim = Simulator(sup, workers=4, seed=1, frame_time=(10.0, 0.0))
    assert most_at_once(sup, jid, lambda: sim.run(max_steps=6)) == 1
    sup.act("unblock", jid, subjob=1)
    assert most_at_once(sup, jid, sim.run) == 2


def test_a_job_without_free_subjobs_runs_nothing():
    sup = Supervisor(clock=0)
    [job] = sup.submit([{"agenda": FRAMES, "cpus": 2}])
    jid = job["id"]
    sup.act("block", jid, subjob=0)
    sup.act("block", jid, subjob=1)
    Simulator(sup, workers=4, seed=1).run()
    assert {w["status"] for w in sup.job(jid)["agenda"]} == {"pending"}


def outcome(sup: Supervisor) -> List:
    return [(j["id"], j["status"], [w["status"] for w in j["agenda"]]) for j in sup.jobinfo()] + [sup.events()]


def test_a_reopened_store_schedules_the_rest_as_the_uninterrupted_run(tmp_path):
    jobs = [{"label": "a", "agenda": FRAMES, "cpus": 1}, {"label": "b", "agenda": FRAMES, "cpus": 2},
            {"label": "c", "agenda": FRAMES, "cpus": 3, "dependency": "link-complete-work-a"}]
    options = dict(workers=4, seed=5, frame_time=(10.0, 4.0), failure_rate=0.2)

    reference = Supervisor(tmp_path / "reference.db", clock=0)
    reference.submit(jobs)
    Simulator(reference, **options).run()
    expected = outcome(reference)
    reference.close()

    paused = Supervisor(tmp_path / "paused.db", clock=0)
    paused.submit(jobs)
    Simulator(paused, **options).run(max_steps=17)
    paused.close()
    resumed = Supervisor(tmp_path / "paused.db")
    Simulator(resumed, **options).run()
    assert outcome(resumed) == expected
    resumed.close()


def test_a_job_stays_running_between_its_frames():
    sup = Supervisor(clock=0)
    [job] = sup.submit([{"agenda": FRAMES, "cpus": 1}])
    jid = job["id"]
    Simulator(sup, workers=2, seed=1).run()
    job_events = [e for e in sup.events(jid) if e.endswith(f"-job-{jid}")]
    assert job_events == [f"submit-job-{jid}", f"running-job-{jid}", f"complete-job-{jid}"]
