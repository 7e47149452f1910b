"""End to end: the four classic dependency shapes, in qube, python and the dependency field.

Each test submits upstream jobs and a downstream job to :class:`tests.farmhost.FarmHost`, lets the
farm run, and checks the downstream work ran only once what it waits on was complete.
"""

import shutil

import pytest

from farmhost import FarmHost

FRAMES = ["1", "2", "3", "4"]
ALL = "qube,python,perl,mail,dependency"


def upstream(label, frames=FRAMES, **extra):
    return {"label": label, "agenda": list(frames), **extra}


def completion_index(order, jobid, frame):
    return order.index((jobid, frame))


# --------------------------------------------------------------------------- shape 1: job waits for a job

WAIT_FOR_JOB = {
    "qube": {"status": "blocked", "callbacks": [{"triggers": "complete-job-render", "language": "qube", "code": "unblock-self"}]},
    "python": {
        "status": "blocked",
        "callbacks": [{"triggers": "complete-job-render", "language": "python", "code": "import qb\nqb.unblock(qb.jobid())"}],
    },
    "perl": {
        "status": "blocked",
        "callbacks": [{"triggers": "complete-job-render", "language": "perl", "code": "qb::unblock($qb::jobid);"}],
    },
    "dependency": {"dependency": "link-complete-job-render"},
}


@pytest.mark.parametrize("form", sorted(WAIT_FOR_JOB))
def test_a_job_waits_for_a_whole_job(form):
    if form == "perl" and shutil.which("perl") is None:
        pytest.skip("no perl on this machine")
    farm = FarmHost(language_flags=ALL)
    render, comp = farm.submit([upstream("render"), {"label": "comp", "agenda": FRAMES, **WAIT_FOR_JOB[form]}])
    assert farm.jobs[comp]["status"] == "blocked"
    order = farm.run()
    last_render = max(completion_index(order, render, f) for f in FRAMES)
    first_comp = min(completion_index(order, comp, f) for f in FRAMES)
    assert last_render < first_comp
    assert farm.jobs[comp]["status"] == "complete"
    assert not any(farm.logs.values()), dict(farm.logs)


# --------------------------------------------------------------------------- shape 2: frame waits for frame

PER_FRAME_PY = "import qb\nqb.unblockwork('%d:%s' % (qb.jobid(), qb.event()['extra']))"


def frame_callbacks(form, expression):
    if form == "qube":
        return [{"triggers": expression.format(f=f), "language": "qube", "code": "unblock-work-self"} for f in FRAMES]
    return [{"triggers": expression.format(f=f), "language": "python", "code": PER_FRAME_PY} for f in FRAMES]


def blocked_frames():
    return [{"name": f, "status": "blocked"} for f in FRAMES]


@pytest.mark.parametrize("form", ["qube", "python", "dependency"])
def test_each_frame_waits_for_the_same_frame_upstream(form):
    farm = FarmHost(language_flags=ALL)
    if form == "dependency":
        down = {"label": "comp", "agenda": FRAMES, "dependency": "link-complete-work-render"}
    else:
        down = {"label": "comp", "agenda": blocked_frames(), "callbacks": frame_callbacks(form, "complete-work-render-{f}")}
    # Upstream frames complete in reverse order: each downstream frame must follow its own.
    render, comp = farm.submit([upstream("render", list(reversed(FRAMES))), down])
    assert farm.jobs[comp]["status"] == "pending"
    assert all(w["status"] == "blocked" for w in farm.jobs[comp]["agenda"])
    order = farm.run()
    for f in FRAMES:
        assert completion_index(order, render, f) < completion_index(order, comp, f)
    # frame-by-frame, not job-by-job: comp's frame 4 ran before render's last frame (1)
    assert completion_index(order, comp, "4") < completion_index(order, render, "1")
    assert farm.jobs[comp]["status"] == "complete"
    assert not any(farm.logs.values()), dict(farm.logs)


# --------------------------------------------------------------------------- shape 3: job waits for two jobs

@pytest.mark.parametrize("form", ["qube", "python", "dependency"])
def test_a_job_waits_for_two_jobs(form):
    farm = FarmHost(language_flags=ALL)
    trigger = "complete-job-fg && complete-job-bg"
    if form == "dependency":
        down = {"label": "comp", "agenda": FRAMES, "dependency": "link-complete-job-fg, link-complete-job-bg"}
    else:
        code = "unblock-self" if form == "qube" else "qb.unblock(qb.jobid())"
        down = {"label": "comp", "agenda": FRAMES, "status": "blocked",
                "callbacks": [{"triggers": trigger, "language": form, "code": code}]}
    # bg is submitted blocked and released by hand: comp must wait for it too.
    fg, bg, comp = farm.submit([upstream("fg"), upstream("bg", status="blocked"), down])
    assert farm.run() == [(fg, f) for f in FRAMES]
    assert farm.jobs[comp]["status"] == "blocked"
    farm.act("unblock", bg)
    order = farm.run()
    assert order[: len(FRAMES)] == [(bg, f) for f in FRAMES]
    assert order[len(FRAMES):] == [(comp, f) for f in FRAMES]


# --------------------------------------------------------------------------- shape 4: (A and B) or C per frame

@pytest.mark.parametrize("form", ["qube", "python"])
def test_each_frame_waits_for_a_and_b_or_c(form):
    farm = FarmHost(language_flags=ALL)
    expression = "(complete-work-a-{f} && complete-work-b-{f}) || complete-work-c-{f}"
    down = {"label": "comp", "agenda": blocked_frames(), "callbacks": frame_callbacks(form, expression)}
    # a runs only frames 1-2, b all; c (blocked) runs frames 3-4 when released.
    a, b, c, comp = farm.submit([upstream("a", ["1", "2"]), upstream("b"), upstream("c", ["3", "4"], status="blocked"), down])
    farm.run()
    statuses = {w["name"]: w["status"] for w in farm.jobs[comp]["agenda"]}
    assert statuses == {"1": "complete", "2": "complete", "3": "blocked", "4": "blocked"}
    farm.act("unblock", c)
    farm.run()
    assert farm.jobs[comp]["status"] == "complete"
    assert not any(farm.logs.values()), dict(farm.logs)
