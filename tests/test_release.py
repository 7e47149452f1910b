"""The static "nothing can release it" check (SPEC §9, issue 12), "did you mean" for a label that
differs only in case, the doubled operator, and explain's frame ranges."""

import json

import pytest

from qbtrigger import TriggerSyntaxError, parse
from qbtrigger.callbacks.checks import check_submission, review_fields
from qbtrigger.callbacks.explain import explain_job
from qbtrigger.callbacks.reach import SELF, SELF_WORK, code_reach
from qbtrigger.cli import main

ALL = "qube,python,perl,mail,dependency"
F = [{"name": str(n)} for n in (1, 2, 3)]


def found(jobs, level=None, **options):
    return [str(f) for f in check_submission(jobs, language_flags=ALL, **options) if level is None or f.level == level]


def test_callbacks_attached_to_the_wrong_job():
    (text,) = found([
        {"label": "A", "agenda": F, "callbacks": [{"triggers": "complete-job-self", "code": "unblock-self"}]},
        {"label": "B", "agenda": F, "status": "blocked"},
    ])
    assert text == (
        "job 'B': submitted blocked, and nothing can ever release it: no callback, dependency or time trigger "
        "of job 'B' unblocks it; job 'A', callback 0 (qube), runs unblock-self, which acts on job 'A' itself "
        "(the job the callback is attached to), not job 'B'")


@pytest.mark.parametrize("language, code", [
    ("python", "qb.unblock(qb.jobid())"),
    ("python", "me = qb.jobid()\nqb.unblock(me)"),
    ("perl", "qb::unblock($qb::jobid);"),
])
def test_qb_jobid_names_the_callbacks_own_job(language, code):
    jobs = [
        {"label": "first", "agenda": F, "callbacks": [{"triggers": "done-job-self", "language": language, "code": code}]},
        {"label": "second", "agenda": F, "status": "blocked"},
    ]
    (text,) = found(jobs)
    assert text.startswith("job 'second': submitted blocked, and nothing can ever release it")
    assert "job 'first', callback 0" in text and "which is job 'first' itself" in text
    # on the blocked job itself, the same code is the right way: no finding
    jobs[1]["callbacks"] = [{"triggers": "done-job-first", "language": language, "code": code}]
    del jobs[0]["callbacks"]
    assert found(jobs) == []


def test_frames_nothing_releases_and_chains():
    assert found([{"label": "B", "agenda": [{"name": "1", "status": "blocked"}, {"name": "2"}]}]) == [
        "job 'B': work item '1' is submitted blocked, and nothing can ever release it: no callback, dependency "
        "or time trigger of job 'B' releases its frames"]
    chain = found([{"label": "A", "agenda": F, "status": "blocked"},
                   {"label": "B", "agenda": F, "dependency": "link-complete-job-A"}])
    assert chain[1] == ("job 'B': submitted blocked, and nothing can ever release it: job 'B', its dependency "
                        "(qube), waits for job 'A' to finish, which can never happen")


@pytest.mark.parametrize("way_out", [
    {"triggers": "dummy-time-self-100", "code": "unblock-self"},  # a time trigger
    {"triggers": "submit-job-self", "code": "kill-self"},  # killed is done, not stuck
    {"triggers": "complete-job-A", "code": "unblock-work-self"},  # releasing a frame releases the job
])
def test_a_way_out_is_no_finding(way_out):
    assert found([{"label": "A", "agenda": F},
                  {"label": "B", "agenda": F, "status": "blocked", "callbacks": [way_out]}]) == []


def test_a_target_that_cannot_be_read_is_a_note_saying_may():
    jobs = [
        {"label": "A", "agenda": F, "callbacks": [{"triggers": "complete-job-self", "language": "python",
                                                    "code": "for j in qb.jobinfo(): qb.unblock(j['id'])"}]},
        {"label": "B", "agenda": F, "status": "blocked"},
    ]
    assert found(jobs, "error") == []
    (note,) = found(jobs, "note")
    assert note.startswith("job 'B': note: submitted blocked, and nothing may release it, unless job 'A', callback 0")


def test_what_the_script_does_and_global_callbacks_count():
    jobs = [{"label": "B", "agenda": F, "status": "blocked"}]
    assert found(jobs)  # nothing releases it...
    assert found(jobs, acted=[2_000_000_000]) == []  # ...but the script unblocks it itself
    opaque = {"triggers": "globaltime-100", "language": "python", "code": "qb.unblock(int(open('id').read()))"}
    assert found(jobs, "error", global_callbacks=[opaque]) == []


def test_a_job_outside_the_submission_is_a_warning():
    assert found([{"label": "B", "agenda": F, "dependency": "7"}]) == [
        "job 'B': warning: waits for job 7, which is not in this submission: on a farm without it, it stays "
        "blocked (simulate's virtual farm holds only this submission)"]
    assert found([{"label": "B", "agenda": F, "dependency": "7"}], farm=[7]) == []


@pytest.mark.parametrize("language, code, reach", [
    ("qube", "unblock-self", {SELF}),
    ("qube", "block-self", set()),
    ("qube", "unblock-work-self", {SELF_WORK}),
    ("mail", "", set()),
    ("python", "print('hi')", set()),
    ("python", "qb.workunblock('%s:5' % qb.jobid())", {SELF_WORK}),
    ("python", "qb.workunblock(f'{qb.jobid()}:{qb.event().extra}')", {SELF_WORK}),
    ("python", "qb.unblock(qb.jobid() + 1)", {("job", 1)}),  # the next job of the submission
    ("python", "qb.unblock(int(qb.jobid()) - 2)", {("job", -2)}),
    ("python", "qb.unblock(5 - qb.jobid())", None),
    ("python", "qb.unblock(no_such_name)", set()),  # raises NameError: releases nothing
    ("perl", "qb::unblock($qb::jobid - 1);", None),
    ("python", "import os\nos.system('qbunblock 5')", None),
    ("python", "q = qb\nq.unblock(5)", None),
    ("python", "getattr(qb, 'unblock')(5)", None),
    ("perl", 'qb::workunblock("$qb::jobid:3");', {SELF_WORK}),
    ("perl", "qb::unblock($other);", None),
    ("perl", "system('qbunblock 5');", None),
])
def test_what_code_may_release(language, code, reach):
    got = code_reach(language, code)
    assert (None if got is None else set(got)) == reach


def test_a_label_that_differs_only_in_case():
    (text,) = found([{"label": "ribGen", "agenda": F},
                     {"label": "render", "agenda": F, "dependency": "link-complete-job-ribgen"}])
    assert text == "job 'render': dependency: label 'ribgen' names no job of this submission: did you mean 'ribGen'?"
    (text,) = found([{"label": "ribGen", "agenda": F},
                     {"label": "r", "agenda": F, "status": "blocked",
                      "callbacks": [{"triggers": "complete-job-RIBGEN", "code": "unblock-self"}]}])
    assert text.startswith("job 'r', callback 0: label 'RIBGEN' names no job of this submission: did you mean 'ribGen'?")
    assert text.endswith("\n    complete-job-RIBGEN\n    ^")


def test_a_label_a_trigger_cannot_name_is_said_where_it_is_defined_and_where_it_is_missed():
    jobs = [{"label": "job A", "agenda": F}, {"label": "b", "agenda": F, "dependency": "link-complete-job-jobA"}]
    (text,) = found(jobs)
    assert text == ("job 'b': dependency: label 'jobA' names no job of this submission: did you mean 'job A'? "
                    "A trigger cannot name that label (a label there is [A-Za-z_][A-Za-z0-9_.]*): rename it")
    assert [str(f) for f in review_fields(jobs)] == [
        "job 'job A': warning: label 'job A' cannot be named by a trigger or a dependency (a label there is "
        "[A-Za-z_][A-Za-z0-9_.]*): nothing can wait on this job by its label"]
    assert review_fields([{"label": "shot_010.v2", "agenda": F}]) == []  # dots, digits, underscores: fine


@pytest.mark.parametrize("text, column, message", [
    ("complete-job-a AND&& complete-job-b", 15, "write '&&' or 'AND', not both"),
    ("complete-job-a OR|| complete-job-b", 15, "write '||' or 'OR', not both"),
    ("complete-job-a &&AND complete-job-b", 15, "write '&&' or 'AND', not both"),
])
def test_the_doubled_operator(impl, text, column, message):
    with pytest.raises(TriggerSyntaxError) as error:
        impl.Network().add(text, owner=1) if hasattr(impl, "Network") else parse(text)
    assert (error.value.column, error.value.message) == (column, message)


def test_check_shows_the_doubled_operator_with_column_and_caret(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"label": "a", "agenda": ["1"]}, {"label": "b", "agenda": ["1"], "status": "blocked",
                    "callbacks": [{"triggers": "complete-job-a AND&& done-job-a", "code": "unblock-self"}]}]))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert ("s.json: job 'b', callback 0: bad trigger: write '&&' or 'AND', not both (column 15)\n"
            "    complete-job-a AND&& done-job-a\n                   ^\n") in out
    assert out.endswith("2 jobs in 1 submission checked, 1 finding\n")  # b's block is not reported twice


def test_explain_summarises_per_frame_callbacks_as_ranges(tmp_path, capsys):
    frames = [{"name": str(n)} for n in range(1, 2001)]
    jobs = [{"label": "up", "agenda": frames},
            {"label": "down", "agenda": frames, "dependency": "link-complete-work-up"}]
    text = explain_job(jobs, "down")
    assert text.splitlines()[2] == (
        "  dependency [qube: unblock-work-self]  frames 1-2000: each waits for complete-work-up-F")
    assert len(text.splitlines()) < 10
    assert "job 'up': work 1-2000" in text
    full = explain_job(jobs, "down", full=True)
    assert len(full.splitlines()) > 4000 and "complete-work-up-1999" in full
    # a script's own per-frame callbacks, and a gap in the frames
    own = [{"label": "up", "agenda": frames[:10]},
           {"label": "down", "agenda": frames[:10], "status": "blocked", "callbacks": [
               {"triggers": f"complete-work-up-{n}", "code": "unblock-work-self"} for n in (1, 2, 3, 4, 8, 9)]}]
    assert "callbacks 0-5 [qube: unblock-work-self]  frames 1-4, 8-9: each waits for complete-work-up-F" in (
        explain_job(own, "down"))
    path = tmp_path / "s.json"
    path.write_text(json.dumps(jobs))
    assert main(["explain", str(path), "--job", "down"]) == 0
    assert "frames 1-2000" in capsys.readouterr().out
    assert main(["explain", str(path), "--job", "down", "--full"]) == 0
    assert "complete-work-up-2000" in capsys.readouterr().out


def test_events_that_need_the_job_to_run_do_not_release_it():
    # a time limit's callback (what `timelimit` adds) fires on a running subjob: never while blocked
    assert found([{"label": "x", "agenda": F, "timelimit": 60, "waitfor": 7}]) == [
        "job 'x': warning: waits for job 7, which is not in this submission: on a farm without it, it stays "
        "blocked (simulate's virtual farm holds only this submission)"]
    (text,) = found([{"label": "x", "status": "blocked",
                      "callbacks": [{"triggers": "running-job-self", "code": "unblock-self"}]}])
    assert text.endswith("job 'x', callback 0 (qube), waits for job 'x' to run, which it cannot while it is blocked")


def test_an_event_only_a_program_raises_is_a_warning():
    assert found([{"label": "review", "agenda": F}, {"label": "publish", "status": "blocked", "callbacks": [
        {"triggers": "approved-work-review-2", "code": "unblock-self"}]}]) == [
        "job 'publish': warning: waits for 'approved-work-review-2', an event of a name of its own that only a "
        "program raises (Supervisor.emit, Qube's C++ API): until one does, it stays blocked (simulate raises none)"]


def test_misdirected_or_failing_code_releases_nothing():
    jobs = [
        {"label": "up", "agenda": ["1"]},
        {"label": "broken", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "complete-job-up", "language": "python", "code": "qb.unblock(no_such_name)"}]},
        {"label": "misdirected", "status": "blocked", "agenda": ["1"],
         "callbacks": [{"triggers": "complete-job-up", "language": "python", "code": "qb.unblock(qb.jobid() - 2)"}]},
    ]
    broken, misdirected = found(jobs)
    assert broken.endswith("job 'broken', callback 0 (python), acts on 'no_such_name', which its code never "
                           "defines: the call raises NameError")
    assert misdirected.endswith("job 'misdirected', callback 0 (python), acts on qb.jobid() - 2, which is job 'up', "
                                "not job 'misdirected'")
    jobs[2]["callbacks"][0]["code"] = "qb.unblock(qb.jobid())"  # then it is right
    assert len(found(jobs)) == 1


def test_a_script_that_unblocks_its_job_itself_is_clean(tmp_path, capsys):
    script = tmp_path / "s.py"
    script.write_text("import qb\n"
                      "[job] = qb.submit([qb.Job(name='late', status='blocked', agenda=qb.genframes('1-2'))])\n"
                      "qb.unblock(job['id'])\n")
    assert main(["check", str(script)]) == 0
    out = capsys.readouterr().out
    assert "note: the script would unblock job 'late' (check does not run it)" in out  # named by its name
    assert out.endswith("1 job in 1 submission checked, no findings\n")
    script.write_text("import qb\nqb.submit([qb.Job(name='late', status='blocked', agenda=qb.genframes('1-2'))])\n")
    assert main(["check", str(script)]) == 1
    assert "job 'late': submitted blocked, and nothing can ever release it" in capsys.readouterr().out
