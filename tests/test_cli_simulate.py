"""`qbtrigger simulate`: the examples do what their comments say; files, logs, reports, resume."""

import json
from pathlib import Path

import pytest

from qbtrigger.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", ["frame_by_frame", "wait_for_job", "two_jobs", "a_and_b_or_c", "delayed_start"])
def test_every_example_finishes(name, capsys):
    assert main(["simulate", str(EXAMPLES / f"{name}.py")]) == 0
    out = capsys.readouterr().out
    assert "every job finished" in out and "stuck" not in out


def test_the_deadlock_example_exits_2_naming_what_waits_on_what(capsys):
    assert main(["simulate", str(EXAMPLES / "deadlock.py")]) == 2
    out = capsys.readouterr().out
    assert "stuck: 2 job(s) cannot go on" in out
    assert "waits for: complete-job-fx" in out and "waits for: complete-job-lighting" in out


def test_frames_unblock_one_by_one(capsys):
    assert main(["simulate", str(EXAMPLES / "frame_by_frame.py"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "unblocked (first 8 of 20):" in out and "comp work '" in out


def test_universal_callbacks_run(tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(["simulate", str(EXAMPLES / "wait_for_job.py"), "--universal", str(EXAMPLES / "universal"),
                 "--report-json", str(report)])
    assert code == 0
    data = json.loads(report.read_text())
    assert {j["label"]: j["callbacks_fired"] for j in data["jobs"]} == {"render": 1, "publish": 2}
    render = next(j for j in data["jobs"] if j["label"] == "render")
    assert render["callback_log"] == ["job 1 (render) complete: 10 work items\n"]
    assert "callback logs (2 lines):\n  job 1 render: job 1 (render) complete: 10 work items" in capsys.readouterr().out


def test_log_and_report_json(tmp_path, capsys):
    log, report = tmp_path / "events.jsonl", tmp_path / "report.json"
    assert main(["simulate", str(EXAMPLES / "two_jobs.py"), "--log", str(log), "--report-json", str(report)]) == 0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events and all({"time", "event"} <= set(e) for e in events)
    times = [e["time"] for e in events]
    assert times == sorted(times)
    data = json.loads(report.read_text())
    assert data["finished"] is True
    comp = next(j for j in data["jobs"] if j["label"] == "comp")
    assert comp["status"] == "complete" and len(comp["work_items"]) == 8


def test_fields_the_run_cannot_show_are_said_before_it_and_kept_in_the_report(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"label": "plates", "agenda": [{"name": "1"}, {"name": "2"}], "p_agenda": ["1"], "hosts": "node1"},
        {"name": "comp", "agenda": [{"name": "1"}], "prioirty": 5},
        {"label": "plain", "agenda": [{"name": "1"}]},
    ]))
    report = tmp_path / "report.json"
    assert main(["simulate", str(jobs), "--report-json", str(report)]) == 0
    out = capsys.readouterr().out
    before_the_run = out[: out.index("job(s); makespan")]
    assert ("job 1 (plates): ignored: p_agenda, hosts (qbtrigger does not model them); "
            "this run goes as if they were not set") in before_the_run
    assert "job 2 (comp): warning: unknown field 'prioirty'" in before_the_run and "'priority'" in before_the_run
    assert "job 3" not in before_the_run
    notes = json.loads(report.read_text())["field_notes"]
    assert [(n["job"], n["level"]) for n in notes] == [(1, "ignored"), (2, "warning")]
    assert notes[0]["message"] == "p_agenda, hosts (qbtrigger does not model them)"


def test_a_field_note_shared_by_many_jobs_is_one_line(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"name": f"shot{n}", "agenda": [{"name": "1"}], "cluster": "/gpu"} for n in range(5)]
                               + [{"name": "plain", "agenda": [{"name": "1"}]},
                                  {"name": "last", "agenda": [{"name": "1"}], "cluster": "/gpu"}]))
    assert main(["simulate", str(jobs)]) == 0
    out = capsys.readouterr().out
    assert out.count("ignored: cluster") == 1
    assert "jobs 1-5, 7: ignored: cluster (qbtrigger does not model them); this run goes as if they were not set" in out


def test_a_frame_job_ended_by_its_subjobs_time_limit_says_so(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"label": "slow", "agenda": [{"name": str(n)} for n in (1, 2, 3)], "timelimit": 5}]))
    assert main(["simulate", str(jobs), "--frame-time", "10"]) == 3
    out = capsys.readouterr().out
    assert ("job 1 slow failed: 1 of 3 work item(s) failed with no retries (retrywork 0): 2; "
            "subjob 0 failed, 1 frame(s) never ran") in out


def test_a_frame_ended_by_its_subjob_is_not_said_to_have_spent_its_retries(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"label": "slow", "agenda": [{"name": str(n)} for n in (1, 2, 3)], "timelimit": 5,
                                 "retrywork": 1}]))
    assert main(["simulate", str(jobs), "--frame-time", "10"]) == 3
    assert ("job 1 slow failed: 1 of 3 work item(s) failed; 1 ended by an action with retries left: 2; "
            "subjob 0 failed, 1 frame(s) never ran") in capsys.readouterr().out


def test_a_json_submission_and_resume_from_the_store(tmp_path, capsys):
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([
        {"label": "render", "agenda": [{"name": str(f)} for f in range(1, 6)]},
        {"label": "comp", "agenda": [{"name": str(f)} for f in range(1, 6)], "dependency": "link-complete-work-render"},
    ]))
    db = tmp_path / "farm.db"
    assert main(["simulate", str(jobs), "--db", str(db)]) == 0
    first = capsys.readouterr().out
    assert main(["simulate", str(jobs), "--db", str(db)]) == 0
    second = capsys.readouterr().out
    assert second.startswith(f"resuming from {db}: 2 live job(s)")
    assert first.splitlines()[-3:] == second.splitlines()[-3:]  # the same jobs, not submitted twice


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON job list"),
    ("[]", "expected a non-empty JSON list of job dicts"),
    ('[{"label": "x", "agenda": ["1"], "callbacks": [{"triggers": "complete-job-self &&", "code": "unblock-self"}]}]',
     "job 'x', callback 0: bad trigger"),
    ('[{"label": "x", "cpus": "many"}]', "job 'x': 'cpus' must be a whole number"),
])
def test_a_broken_submission_is_one_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "jobs.json"
    path.write_text(content)
    assert main(["simulate", str(path)]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err


def test_a_script_that_raises(tmp_path, capsys):
    path = tmp_path / "submit.py"
    path.write_text("import qb\nqb.submit([qb.Job(label='a', agenda=qb.genframes('1'))])\nraise RuntimeError('oops')\n")
    assert main(["simulate", str(path)]) == 1
    assert "the script raised RuntimeError: oops (line 3)" in capsys.readouterr().err


def test_reports_name_jobs_as_their_authors_did(tmp_path, capsys):
    # label, else name, else id (issue 12): these jobs have names but no labels
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps([
        {"name": "plates", "agenda": ["1"]},
        {"name": "comp v2", "agenda": ["1"], "dependency": "link-complete-job-1"},
        {"name": "never", "status": "blocked", "agenda": ["1"], "callbacks": [{"triggers": "print-job-self", "language": "python", "code": "print('hi')"}]},
        {"agenda": ["1"]},
    ]))
    assert main(["simulate", str(path), "--languages", "qube,python,dependency"]) == 2
    out = capsys.readouterr().out
    assert "comp v2                      by comp v2's dependency, on complete-job-1" in out  # the unblocked line
    assert "  job 1      plates   complete" in out
    assert "  job 4      -        complete" in out  # no label, no name: the id alone
    assert "  job 3 never is blocked, and nothing can unblock it (no live callback of the job" in out
