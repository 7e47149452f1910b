"""Qube's documented frame-by-frame way: a job submitted blocked, its frames blocked, each frame
released by an ``unblock-work-self`` callback on the upstream frame of the same name."""

from __future__ import annotations

from qbtrigger.supervisor import Simulator, Supervisor


def submission(frames: int = 4):
    names = [str(f) for f in range(1, frames + 1)]
    ribgen = {"label": "ribgen", "agenda": names}
    render = {
        "label": "render",
        "status": "blocked",
        "agenda": [{"name": n, "status": "blocked"} for n in names],
        "callbacks": [
            {"triggers": f"complete-work-ribgen-{n}", "language": "qube", "code": "unblock-work-self"} for n in names
        ],
    }
    return [ribgen, render]


def test_a_blocked_job_runs_each_frame_its_callbacks_release():
    sup = Supervisor(clock=0)
    ribgen, render = sup.submit(submission())
    report = Simulator(sup, workers=2, seed=5).run()
    assert report.finished, report.stuck
    assert sup.job(render["id"])["status"] == "complete"
    events = sup.events()
    for n in "1234":
        assert events.index(f"complete-work-{ribgen['id']}-{n}") < events.index(f"running-work-{render['id']}-{n}")


def test_releasing_one_frame_releases_the_job_but_not_its_other_frames():
    sup = Supervisor(clock=0)
    ribgen, render = sup.submit(submission(2))
    sup.start(ribgen["id"], "1")
    sup.finish(ribgen["id"], "1")
    job = sup.job(render["id"])
    assert job["status"] == "pending"
    assert [w["status"] for w in job["agenda"]] == ["pending", "blocked"]


def test_a_mixed_dependency_waits_for_its_job_entries_before_any_frame():
    sup = Supervisor(clock=0)
    gate, plates, comp = sup.submit([
        {"label": "gate", "agenda": ["1"]},
        {"label": "plates", "agenda": ["1", "2"]},
        {"label": "comp", "agenda": ["1", "2"], "dependency": "link-complete-job-gate,link-complete-work-plates"},
    ])
    for n in ("1", "2"):
        sup.start(plates["id"], n)
        sup.finish(plates["id"], n)
    job = sup.job(comp["id"])
    assert job["status"] == "blocked" and [w["status"] for w in job["agenda"]] == ["blocked", "blocked"]
    sup.start(gate["id"], "1")
    sup.finish(gate["id"], "1")
    job = sup.job(comp["id"])
    assert job["status"] == "pending" and [w["status"] for w in job["agenda"]] == ["pending", "pending"]
