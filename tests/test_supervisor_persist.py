"""The supervisor's store, on each backend (SQLite and PostgreSQL): reopening resumes jobs, states,
callbacks, the clock and a simulation; a simulation killed with SIGKILL resumes without losing or
repeating a state change."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qbtrigger.supervisor import Simulator, Supervisor
from stores import journal_length

ROOT = Path(__file__).resolve().parent.parent
FLAGS = "qube,python,dependency"


def open_sup(path, **options):
    options.setdefault("clock", 1000)
    options.setdefault("language_flags", FLAGS)
    options.setdefault("default_user", "artist")
    return Supervisor(db=path, **options)


def chain(jobs=6, frames=12):
    """Job k+1's frame f waits on job k's frame f; frames sometimes fail and are retried."""
    names = [str(f) for f in range(frames)]
    out = []
    for k in range(jobs):
        job = {"label": f"j{k}", "agenda": names, "retrywork": 2}
        if k:
            job["dependency"] = f"link-complete-work-j{k - 1}"
        out.append(job)
    out.append({"label": "last", "dependency": f"link-done-job-j{jobs - 1}",
                "callbacks": [{"triggers": "complete-job-self", "language": "python", "code": "print('all done')"}]})
    return out


SIM = dict(workers=3, seed=11, failure_rate=0.2, frame_time=(20.0, 6.0))


def outcome(sup, report):
    """What two runs must agree on."""
    jobs = {j["id"]: (j["status"], [(w["name"], w["status"], w["retries"]) for w in j["agenda"]])
            for j in sup.jobinfo()}
    return {"jobs": jobs, "events": sup.events(), "makespan": report.makespan, "now": sup.now,
            "fired": {i: sup.fired(i) for i in jobs}, "logs": {i: sup.callback_log(i) for i in jobs}}


def test_reopening_a_store_resumes_jobs_states_callbacks_and_the_clock(store_db):
    db = store_db
    sup = open_sup(db)
    up, down, pair = [j["id"] for j in sup.submit([
        {"label": "up", "agenda": ["1", "2"]},
        {"label": "down", "agenda": ["1", "2"], "dependency": "link-complete-work-up"},
        # one latch set by an edge now; the other comes after the reopen
        {"label": "pair", "status": "blocked", "callbacks": [
            {"triggers": "submit-job-self && complete-job-up", "code": "unblock-self"},
            {"triggers": "running-work-up-*", "language": "python", "code": "print('up runs')", "maximum": 1}]},
    ])]
    sup.start(up, "1")
    sup.finish(up, "1")
    sup.advance(1500)
    sup.close()

    sup = open_sup(db)
    assert sup.now == 1500
    assert sup.job(up)["agenda"][0]["status"] == "complete"
    assert [w["status"] for w in sup.job(down)["agenda"]] == ["pending", "blocked"]
    assert sup.callback_log(pair) == ["up runs\n"]
    counts = {c["triggers"]: (c["count"], c["live"]) for c in sup.callback_counts(pair)}
    assert counts == {"submit-job-self && complete-job-up": (0, True), "running-work-up-*": (1, False)}
    assert sup.engine.why_not(sup.engine.callbacks(pair)[0].handle).latched == ("submit-job-self",)
    report = Simulator(sup, workers=2, seed=1).run()
    assert report.finished and set(report.statuses().values()) == {"complete"}
    assert sup.callback_log(pair) == ["up runs\n"]  # maximum 1 held across the reopen
    assert sup.fired(pair) == 2
    # ids continue where they were
    assert sup.submit([{"label": "more"}])[0]["id"] == pair + 1
    sup.close()


def test_a_paused_simulation_resumes_where_it_stopped(store_db):
    whole = open_sup(None)
    whole.submit(chain())
    expected = outcome(whole, Simulator(whole, **SIM).run())

    db = store_db
    sup = open_sup(db)
    sup.submit(chain())
    first = Simulator(sup, **SIM).run(max_steps=40)
    assert not first.finished
    sup.close()
    sup = open_sup(db)
    report = Simulator(sup, seed=999, **{k: v for k, v in SIM.items() if k != "seed"}).run()  # saved RNG wins
    assert report.finished
    assert outcome(sup, report) == expected


def test_running_work_without_a_worker_is_requeued(store_db):
    db = store_db
    sup = open_sup(db)
    jobid = sup.submit([{"agenda": ["1", "2"]}])[0]["id"]
    sup.start(jobid, "1")  # a worker took it, then the supervisor went away
    sup.close()
    sup = open_sup(db)
    report = Simulator(sup).run()
    assert report.finished
    assert sup.events(jobid).count(f"pending-work-{jobid}-1") == 1  # requeued once, then run again
    assert sup.events(jobid).count(f"running-work-{jobid}-1") == 2


CHILD = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{tests!r}]
    from qbtrigger.supervisor import Simulator
    from test_supervisor_persist import SIM, chain, open_sup
    sup = open_sup({db!r})
    if not sup.jobinfo():
        sup.submit(chain())
    # slow each event a little so the parent can kill us mid-run; commit every few steps
    Simulator(sup, on_event=lambda text, vt: time.sleep(0.004), commit_every=3, **SIM).run()
    print("finished")
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_simulation_killed_with_sigkill_resumes_without_loss_or_repeat(store_db):
    whole = open_sup(None)
    whole.submit(chain())
    expected = outcome(whole, Simulator(whole, **SIM).run())
    total = len(expected["events"])

    db = store_db
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(ROOT / "tests"), db=str(db))],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        seen = 0
        while time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
            seen = journal_length(db)
            if seen > total // 3:
                break
        assert child.poll() is None, f"the child ended before it could be killed: {child.communicate()}"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL

    sup = open_sup(db)
    done_before = len(sup.events())
    assert 0 < done_before < total
    report = Simulator(sup, **SIM).run()
    assert report.finished
    got = outcome(sup, report)
    assert got == expected
    # no state change lost or repeated: each frame ran and completed exactly as often as uninterrupted
    per_item = collections.Counter(e for e in got["events"] if "-work-" in e)
    assert per_item == collections.Counter(e for e in expected["events"] if "-work-" in e)
    assert all(per_item[f"complete-work-{j}-{f}"] <= 1 for j in got["jobs"] for f, _, _ in got["jobs"][j][1])
    sup.close()
