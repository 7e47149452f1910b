"""Static checks (SPEC §9), `qbtrigger check` on submissions, `explain`, the submit-script `qb`."""

import json
import textwrap

import pytest

from qbtrigger.callbacks.checks import check_submission, explain_job
from qbtrigger.cli import main
from qbtrigger.submitscript import SubmitScriptError, genframes, load_submissions

FRAMES = [{"name": str(f)} for f in range(1, 4)]


def messages(jobs, **options):
    """The errors (warnings and notes do not fail a check)."""
    return [str(f) for f in check_submission(jobs, **options) if f.level == "error"]


def test_a_clean_submission_has_no_findings():
    jobs = [
        {"label": "render", "agenda": FRAMES},
        {"label": "comp", "agenda": FRAMES, "dependency": "link-complete-work-render"},
        {"label": "late", "agenda": FRAMES, "status": "blocked",
         "callbacks": [{"triggers": "complete-job-comp && done-job-render", "code": "unblock-self"}]},
        {"label": "farm", "dependency": "1234"},  # a job id outside the submission is fine
    ]
    assert messages(jobs) == []


def test_registration_errors_are_findings_with_caret():
    (text,) = messages([{"label": "x", "callbacks": [{"triggers": "complete-job-self &&", "code": "unblock-self"}]}])
    assert text.startswith("job 'x', callback 0: bad trigger:") and "^" in text


def test_unknown_labels_in_callbacks_and_dependencies():
    found = messages([
        {"label": "comp", "dependency": "link-complete-job-rendr",
         "callbacks": [{"triggers": "complete-job-self || failed-job-ghost", "code": "mail-status"}]},
    ])
    assert found[0] == "job 'comp': dependency: label 'rendr' names no job of this submission"
    assert found[1].startswith("job 'comp', callback 0: label 'ghost' names no job of this submission\n")
    assert found[1].endswith("\n    " + " " * len("complete-job-self || ") + "^")


def test_frames_the_upstream_agenda_lacks():
    found = messages([
        {"label": "render", "agenda": FRAMES},
        {"label": "comp", "agenda": [{"name": "4"}], "dependency": "link-complete-work-render",
         "callbacks": [{"triggers": "complete-work-render-9", "code": "unblock-work-self"}]},
    ])
    assert "job 'comp': dependency: job 'render' has no work item '4' (its agenda: 1, 2, 3)" in found
    assert any(f.startswith("job 'comp', callback 0: job 'render' has no work item '9'") for f in found)


def test_a_blocked_job_waiting_for_itself():
    found = messages([{"label": "x", "status": "blocked",
                       "callbacks": [{"triggers": "complete-job-self", "code": "unblock-self"}]}])
    assert any("waits for job 'x' to finish, but it is submitted blocked" in f for f in found)
    # another way out: no finding
    assert not any("waits for" in f for f in messages([
        {"label": "x", "status": "blocked", "callbacks": [
            {"triggers": "complete-job-self", "code": "mail-status"},
            {"triggers": "dummy-time-self-100", "code": "unblock-self"},
        ]},
    ]))


def test_dependency_cycles_between_jobs_and_between_frames():
    jobs = [
        {"label": "a", "agenda": FRAMES, "dependency": "link-complete-job-b"},
        {"label": "b", "agenda": FRAMES, "dependency": "link-complete-job-a"},
    ]
    (cycle,) = [f for f in messages(jobs) if "cycle" in f]
    assert cycle.startswith("job 'a': dependency cycle: job 'a' -> job 'a' work '1' -> job 'b'")
    frames = [
        {"label": "a", "agenda": FRAMES, "dependency": "link-complete-work-b"},
        {"label": "b", "agenda": FRAMES, "dependency": "link-complete-work-a"},
    ]
    assert any("dependency cycle: job 'a' work '1' -> job 'b' work '1' -> job 'a' work '1'" in f for f in messages(frames))
    # an OR with a way out is not a cycle
    way_out = [
        {"label": "a", "agenda": FRAMES, "status": "blocked",
         "callbacks": [{"triggers": "complete-job-b || complete-job-c", "code": "unblock-self"}]},
        {"label": "b", "agenda": FRAMES, "dependency": "link-complete-job-a"},
        {"label": "c", "agenda": FRAMES},
    ]
    assert messages(way_out) == []


def test_explain_lists_atoms_and_what_they_wait_on():
    jobs = [
        {"label": "render", "agenda": FRAMES},
        {"label": "comp", "agenda": FRAMES, "dependency": "link-complete-work-render",
         "callbacks": [{"triggers": "complete-job-1234 && dummy-time-self-500", "code": "mail-status"}]},
    ]
    text = explain_job(jobs, "comp")
    assert "callback 0 [qube: mail-status]  complete-job-1234 && dummy-time-self-500" in text
    assert "job 1234 (not in this submission)" in text
    assert "dependency [qube: unblock-work-self]  frames 1-3: each waits for complete-work-render-F" in text
    assert "dependency [qube: unblock-work-self]  complete-work-render-1" in explain_job(jobs, "comp", full=True)
    assert "job 'render': work 1, 2, 3" in text
    with pytest.raises(KeyError):
        explain_job([{"label": "x"}], "y")


def test_genframes():
    assert [w["name"] for w in genframes("1-3,7,10-6x2")] == ["1", "2", "3", "7", "10", "8", "6"]
    with pytest.raises(ValueError):
        genframes("1-5-9")  # numeric, but no range form ("1-a" would be a literal work name, as in Qube)


SCRIPT = """\
import qb
render = qb.Job(name='render', label='render', agenda=qb.genframes('1-3'))
ids = [j['id'] for j in qb.submit([render])]
comp = qb.Job(label='comp', agenda=qb.genframes('1-3'), dependency='link-complete-work-%d' % ids[0])
qb.submit(comp)
"""


def test_a_submit_script_runs_unmodified(tmp_path):
    path = tmp_path / "submit.py"
    path.write_text(SCRIPT)
    seen = []

    def on_submit(jobs):
        seen.append(jobs)
        return [dict(job, id=100 + len(seen) * 10 + i) for i, job in enumerate(jobs)]

    batches = load_submissions(str(path), on_submit)
    assert [[j["label"] for j in b] for b in batches] == [["render"], ["comp"]]
    assert batches[1][0]["dependency"] == "link-complete-work-110"
    assert seen[0][0]["agenda"] == [{"name": "1"}, {"name": "2"}, {"name": "3"}]  # Qube's qb.Work: a name only


@pytest.mark.parametrize("content, message", [
    ("import qb\nraise KeyError('frames')\n", "the script raised KeyError: 'frames' (line 2)"),
    ("import sys\nsys.exit(3)\n", "the script exited with status 3"),
    ("x = 1\n", "the script submitted no jobs"),
])
def test_a_broken_submit_script_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.py"
    path.write_text(content)
    with pytest.raises(SubmitScriptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_submissions(str(path), lambda jobs: jobs)


def test_cli_check_on_a_json_submission(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"label": "render", "agenda": FRAMES},
                                {"label": "comp", "agenda": FRAMES, "dependency": "link-complete-work-render"}]))
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().out.endswith("2 jobs in 1 submission checked, no findings\n")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"label": "comp", "callbacks": [{"triggers": "complete-job-render", "language": "python", "code": "x ="}]}]))
    assert main(["check", str(bad), "--languages", "qube,mail,dependency"]) == 1
    out = capsys.readouterr().out
    assert "job 'comp', callback 0: language 'python' is disabled: enable it with the language flag 'python'" in out
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "python code: line 1: python code does not compile" in out
    assert "label 'render' names no job of this submission" in out


def test_cli_check_and_explain_errors_are_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert main(["check", str(broken)]) == 1
    assert "not a JSON job list" in capsys.readouterr().err
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    assert main(["explain", str(script), "--job", "comp"]) == 0
    out = capsys.readouterr().out
    assert "frames 1-3: each waits for complete-work-2000000000-F" in out
    assert "job 2000000000 (not in this submission): work 1, 2, 3" in out  # render, of the script's first submission
    assert main(["explain", str(script), "--job", "comp", "--full"]) == 0
    assert "complete-work-2000000000-1" in capsys.readouterr().out
    assert main(["explain", str(script), "--job", "nope"]) == 1
    assert "no job labelled 'nope'" in capsys.readouterr().err


def test_check_with_a_universal_folder(tmp_path, capsys):
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "callbacks.conf").write_text("x.qcb = complete-job-self\n")
    (tmp_path / "u" / "x.qcb").write_text("bogus-keyword\n")
    sub = tmp_path / "s.json"
    sub.write_text(json.dumps([{"label": "a"}]))
    assert main(["check", str(sub), "--universal", str(tmp_path / "u")]) == 1
    assert "line 1: 'x.qcb': unknown qube keyword" in capsys.readouterr().err


def test_script_output_does_not_break_check(tmp_path, capsys):
    script = tmp_path / "chatty.py"
    script.write_text(textwrap.dedent("""\
        import qb
        print('submitting')
        qb.submit([qb.Job(label='a', agenda=qb.genframes('1-2'))])
    """))
    assert main(["check", str(script)]) == 0


def test_explain_finds_a_job_by_label_name_id_or_index():
    jobs = [
        {"label": "render", "agenda": ["1"]},
        {"name": "comp v2", "agenda": ["1"], "dependency": "link-complete-job-render"},
    ]
    by_name = explain_job(jobs, "comp v2")
    assert by_name.startswith("job 'comp v2': 1 work item(s), 1 callback expression(s)")  # named by its name
    assert explain_job(jobs, "1") == by_name  # its index
    assert explain_job(jobs, "render").startswith("job 'render'")
    with pytest.raises(KeyError, match="no job labelled 'nobody'"):
        explain_job(jobs, "nobody")
