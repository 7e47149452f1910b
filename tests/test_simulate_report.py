"""What ``simulate`` reports is true (issue 12): unblocks name their real cause, the verdict says
what failed and exits non-zero, global callbacks' firings are in the report."""

from __future__ import annotations

import json
from pathlib import Path

from qbtrigger.cli import main
from qbtrigger.supervisor import Simulator, Supervisor
from qbtrigger.supervisor.causes import CALLBACK, CALLER, CATCH_UP, CLOCK, FARM

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def watch_causes(sup: Supervisor) -> list:
    """Every event with its cause, as a listener sees them."""
    seen: list = []
    sup.add_listener(lambda text: seen.append((text, sup.cause())))
    return seen


def unblocks(seen: list) -> list:
    """The jobs and frames unblocked (their subjobs go with them), with the cause."""
    return [(text, cause) for text, cause in seen
            if text.startswith("pending-") and "-subjob-" not in text and cause.verb == "unblock"]


def test_a_frame_link_names_the_dependency_and_the_upstream_frame_event():
    sup = Supervisor(clock=0)
    seen = watch_causes(sup)
    render, comp = sup.submit([
        {"label": "render", "agenda": [str(f) for f in range(1, 6)]},
        {"label": "comp", "agenda": [str(f) for f in range(1, 6)], "dependency": "link-complete-work-render"},
    ])
    assert Simulator(sup, workers=3, seed=2).run().finished
    found = {text: cause for text, cause in unblocks(seen)}
    assert sorted(found) == [f"pending-work-{comp['id']}-{f}" for f in range(1, 6)]
    for f in range(1, 6):
        cause = found[f"pending-work-{comp['id']}-{f}"]
        assert (cause.kind, cause.origin, cause.jobid) == (CALLBACK, "dependency", comp["id"])
        assert cause.event == f"complete-work-{render['id']}-{f}"  # its own frame, not a neighbour's
    assert cause.describe(lambda j: sup.job(j)["label"]) == f"comp's dependency, on complete-work-{render['id']}-5"


def test_an_and_names_the_event_that_completed_it_not_the_one_just_before():
    sup = Supervisor(clock=0)
    seen = watch_causes(sup)
    a, b, c = sup.submit([
        {"label": "a", "agenda": ["1"]}, {"label": "b", "agenda": ["1", "2"]},
        {"label": "c", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "complete-work-a-1 && complete-work-b-1", "code": "unblock-self"}]},
    ])
    sup.start(b["id"], "1")
    sup.finish(b["id"], "1")
    sup.start(a["id"], "1")
    sup.finish(a["id"], "1")  # completes the AND: complete-work-a-1, then complete-job-a follows
    [(text, cause)] = unblocks(seen)
    assert text == f"pending-job-{c['id']}"
    assert (cause.kind, cause.jobid, cause.callback, cause.event) == (CALLBACK, c["id"], "callback 0", f"complete-work-{a['id']}-1")


def test_a_time_trigger_a_direct_call_and_the_farm_are_named_as_such():
    sup = Supervisor(clock=0)
    seen = watch_causes(sup)
    nightly, held = sup.submit([
        {"label": "nightly", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "dummy-time-self-100", "code": "unblock-self"}]},
        {"label": "held", "status": "blocked", "agenda": ["1"], "retrywork": 1},
    ])
    sup.advance(100)
    sup.act("unblock", held["id"])
    sup.start(held["id"], "1")
    sup.finish(held["id"], "1", failed=True)  # retried: pending again, but not an unblock
    found = unblocks(seen)
    assert [text for text, _ in found] == [f"pending-job-{nightly['id']}", f"pending-job-{held['id']}"]
    clock, direct = found[0][1], found[1][1]
    assert (clock.kind, clock.event) == (CLOCK, "dummy-globaltime-100")
    assert clock.describe(lambda j: sup.job(j)["label"]) == "nightly's callback 0, on its time trigger (Qube time 100)"
    assert direct.kind == CALLER and direct.describe(str) == "a direct unblock (no callback)"
    retry = [cause for text, cause in seen if text == f"pending-work-{held['id']}-1"][-1]
    assert retry.kind == FARM and retry.verb is None


def test_catch_up_at_submission_is_named():
    sup = Supervisor(clock=0)
    [gate] = sup.submit([{"label": "gate", "agenda": ["1"]}])
    sup.start(gate["id"], "1")
    sup.finish(gate["id"], "1")
    seen = watch_causes(sup)
    [late] = sup.submit([{"label": "late", "agenda": ["1"], "dependency": f"link-complete-job-{gate['id']}"}])
    [(text, cause)] = unblocks(seen)
    assert text == f"pending-job-{late['id']}" and cause.kind == CATCH_UP and cause.origin == "dependency"
    assert "at submission (complete-job-" in cause.describe(str)


def test_simulate_lists_unblocks_with_their_cause_and_not_retries(tmp_path, capsys):
    report = tmp_path / "report.json"
    assert main(["simulate", str(EXAMPLES / "frame_by_frame.py"), "--report-json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "comp work '2'                by comp's dependency, on complete-work-1-2" in out
    first = json.loads(report.read_text())["unblocked"][0]
    assert first["event"] == "pending-work-2-2" and first["cause"]["event"] == "complete-work-1-2"
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"label": "render", "agenda": ["1", "2", "3"], "retrywork": 5}]))
    main(["simulate", str(jobs), "--failure-rate", "0.5", "--seed", "3"])
    out = capsys.readouterr().out
    assert "unblocked" not in out  # retried frames went back to pending: no unblock


def test_a_failed_job_is_the_verdict_and_exits_3(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"label": "render", "agenda": ["1", "2", "3"], "retrywork": 1},
                                {"label": "notes", "agenda": ["1"]}]))
    assert main(["simulate", str(jobs), "--failure-rate", "1"]) == 3
    out = capsys.readouterr().out
    assert "every job finished" not in out
    assert "not every job completed: 2 failed" in out
    assert "job 1 render failed: 3 of 3 work item(s) failed after 1 retry each: 1, 2, 3" in out


def test_the_help_lists_the_exit_statuses(capsys):
    try:
        main(["simulate", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    assert "exit status:" in out and "3    every job ended, but some failed or were killed" in out


def test_global_callbacks_and_their_logs_are_in_the_report(tmp_path, capsys):
    script = tmp_path / "submit.py"
    script.write_text(
        "import qb\n"
        "[job] = qb.submit([qb.Job(label='render', agenda=qb.genframes('1-2'))])\n"
        "qb.submitcallback({'triggers': 'complete-job-%d' % job['id'], 'language': 'python',\n"
        "                   'code': 'print(\"render is done\")'})\n"
    )
    report = tmp_path / "report.json"
    assert main(["simulate", str(script), "--user", "admin", "--report-json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "  global callback 0 (python, triggers complete-job-1): fired 1" in out
    assert "  global callbacks: render is done" in out
    data = json.loads(report.read_text())
    assert [(g["index"], g["count"]) for g in data["global_callbacks"]] == [(0, 1)]
    assert data["global_callback_log"] == ["render is done\n"]


def test_a_store_holding_another_submission_is_refused_and_the_same_one_resumes(tmp_path, capsys):
    db = tmp_path / "farm.db"
    first, other = tmp_path / "first.json", tmp_path / "other.json"
    first.write_text(json.dumps([{"label": "render", "agenda": ["1", "2"]}, {"label": "comp", "agenda": ["1"]}]))
    other.write_text(json.dumps([{"label": "plates", "agenda": ["1"]}]))
    assert main(["simulate", str(first), "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(other), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"the store {db} holds a different submission: job(s) render, comp from {first}" in err
    assert "submitted 20" in err and "the file's content differs" in err and "use a new --db" in err
    assert main(["simulate", str(first), "--db", str(db), "--user", "someone-else"]) == 1
    assert "the user differs" in capsys.readouterr().err
    assert main(["simulate", str(first), "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith(f"resuming from {db}: 2 live job(s)")


def test_a_store_without_a_fingerprint_is_refused(tmp_path, capsys):
    db = tmp_path / "farm.db"
    with Supervisor(db=db, clock=0) as sup:
        sup.submit([{"label": "old", "agenda": ["1"]}])
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"label": "new", "agenda": ["1"]}]))
    assert main(["simulate", str(jobs), "--db", str(db)]) == 1
    assert "holds a different submission: job(s) old, not submitted by qbtrigger simulate" in capsys.readouterr().err


def test_a_stuck_frame_names_the_root_cause_and_alike_frames_share_a_line(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"label": "render", "agenda": ["1", "2", "3"], "retrywork": 1},
        {"label": "comp", "agenda": ["1", "2", "3"], "dependency": "link-complete-work-render"},
        {"label": "final", "agenda": ["1"], "dependency": "link-complete-job-comp"},
    ]))
    assert main(["simulate", str(jobs), "--failure-rate", "1"]) == 2  # stuck wins over failed
    out = capsys.readouterr().out
    assert ("  job 2 comp (pending) has 3 blocked frames:\n"
            "    frame 1 is blocked: its dependency waits for render frame 1 to complete, which failed "
            "(retries exhausted: 1 of retrywork 1); likewise frames 2, 3\n") in out
    assert ("  job 3 final is blocked: its dependency waits for comp to complete, which has blocked frames: "
            "frame 1 is blocked: its dependency waits for render frame 1 to complete, which failed") in out
    assert "not every job completed: 1 failed" in out


def test_a_cycle_is_named_never_a_circular_reason(capsys):
    assert main(["simulate", str(EXAMPLES / "deadlock.py")]) == 2
    out = capsys.readouterr().out
    assert ("  job 1 lighting is blocked: its dependency waits for fx to complete, which is blocked: its "
            "dependency waits for lighting to complete: a cycle (lighting -> fx -> lighting)") in out
    assert "the job is blocked" not in out


def test_held_subjobs_are_one_line():
    from io import StringIO

    from qbtrigger.cli.simulate_report import print_report

    sup = Supervisor(clock=0)
    [up] = sup.submit([{"label": "up", "agenda": ["1", "2"], "cpus": 4}])
    for subjob in range(4):
        sup.act("block", up["id"], subjob=subjob)
    report = Simulator(sup, workers=2).run()
    text = StringIO()
    print_report(report, sup, text)
    assert "\n    subjobs held: 0-3 blocked\n" in text.getvalue()
    assert report.stuck[0].to_dict()["held_subjobs"] == {"blocked": [0, 1, 2, 3]}


def test_a_blocked_job_lists_its_frames_before_its_own_callbacks(capsys, tmp_path):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"label": "gate", "agenda": ["1"], "status": "blocked"},
        {"label": "plates", "agenda": ["1", "2"]},
        {"label": "comp", "agenda": ["1", "2"], "dependency": "link-complete-job-gate,link-complete-work-plates"},
    ]))
    assert main(["simulate", str(jobs)]) == 2
    out = capsys.readouterr().out
    comp = out[out.index("  job 3 comp"):]
    assert comp.index("    frame 1 ") < comp.index("    dependency callback (qube: unblock-self) waits for: complete-job-gate")
    assert "comp is blocked: its dependency waits for gate to complete, which is blocked, and nothing can unblock it" in comp


def test_a_subjob_link_is_followed_to_the_failed_subjob():
    from io import StringIO

    from qbtrigger.cli.simulate_report import print_report

    sup = Supervisor(clock=0)
    a, b = sup.submit([{"label": "a", "cpus": 3}, {"label": "b", "cpus": 3, "dependency": "link-complete-subjob-a"}])
    sup.start(a["id"], subjob=1)
    sup.finish(a["id"], subjob=1, failed=True)
    report = Simulator(sup, workers=2).run()
    text = StringIO()
    print_report(report, sup, text)
    out = text.getvalue()
    assert "  job 1 a failed: 1 of 3 subjob(s) failed with no retries (retrywork 0): 1\n" in out
    assert ("  job 2 b has held subjobs: subjob 1 is blocked: its dependency waits for a subjob 1 to complete, "
            "which failed (retries exhausted: retrywork 0)\n") in out


def test_a_spent_or_misdirected_callback_is_the_root_cause(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"label": "up", "agenda": ["1"]},
        {"label": "broken", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "complete-job-up", "language": "python", "code": "qb.unblock(no_such_name)",
                        "maximum": 1}]},
        {"label": "misdirected", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "complete-job-up", "language": "python", "code": "qb.unblock(qb.jobid() - 2)"}]},
    ]))
    assert main(["simulate", str(jobs)]) == 2
    out = capsys.readouterr().out
    assert ("  job 2 broken is blocked, and nothing can unblock it any more: its callback 0 (python) fired and "
            "is spent (maximum 1), and what it did left this job blocked; the job's callback log has an error: "
            "NameError: name 'no_such_name' is not defined\n") in out
    assert ("  job 3 misdirected is blocked: its callback 0 waits for up to complete, which already happened "
            "(the callback fired 1 time(s) and left it blocked") in out


def test_an_or_is_reported_as_alternatives_and_satisfied_atoms_are_left_out():
    sup = Supervisor(clock=0)
    a, b, c, d = sup.submit([
        {"label": "a", "agenda": ["1"]}, {"label": "b", "agenda": ["1"]}, {"label": "c", "agenda": ["1"]},
        {"label": "d", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "(complete-job-a && complete-job-b) || complete-job-c", "code": "unblock-self"}]},
    ])
    for job, failed in ((a, False), (b, True), (c, True)):
        sup.start(job["id"], "1")
        sup.finish(job["id"], "1", failed=failed)
    [stuck] = [s for s in sup.stuck() if s.id == d["id"]]
    assert stuck.reason == ("is blocked: its callback 0 waits for either b to complete, which failed (frame 1: "
                            "retries exhausted: retrywork 0); or for c to complete, which failed (frame 1: "
                            "retries exhausted: retrywork 0)")
