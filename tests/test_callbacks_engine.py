"""The callback engine: registration errors, dispatch order, the qb API, universal callbacks."""

import os
import textwrap

import pytest

from farmhost import FarmHost
from qbtrigger.callbacks import CallbackEngine, SubmissionError, UniversalConfigError

ALL = "qube,python,perl,mail,dependency"


def py(triggers, code, **more):
    return {"triggers": triggers, "language": "python", "code": textwrap.dedent(code), **more}


def rejected(farm, jobs):
    with pytest.raises(SubmissionError) as info:
        farm.submit(jobs)
    return info.value


# --------------------------------------------------------------------------- registration errors

def test_a_syntax_error_names_job_callback_column_and_caret():
    farm = FarmHost()
    error = rejected(farm, [{"label": "comp", "callbacks": [
        {"triggers": "complete-job-self", "code": "unblock-self"},
        {"triggers": "complete-work-render-5 &&", "code": "unblock-self"},
    ]}])
    (problem,) = error.problems
    assert (problem.job, problem.callback) == ("job 'comp'", 1)
    text = str(error)
    assert "job 'comp', callback 1: bad trigger:" in text
    assert "complete-work-render-5 &&\n" in text and "^" in text


def test_every_problem_of_a_submission_is_reported_and_nothing_registers():
    farm = FarmHost()
    error = rejected(farm, [
        {"label": "a", "callbacks": [{"triggers": "complete-job-self", "language": "python", "code": "x = 1"}]},
        {"callbacks": [{"triggers": "complete-job-self", "code": "unblock-everything"}]},
        {"label": "c", "dependency": "link-complete-job-a,,bogus"},
        {"label": "d", "callbacks": [{"triggers": "complete-job-a", "language": "cobol", "code": ""}]},
    ])
    texts = [str(p) for p in error.problems]
    assert texts[0].startswith("job 'a', callback 0: language 'python' is disabled: enable it with the language flag 'python'")
    assert texts[1].startswith("job #1, callback 0: qube code: unknown qube keyword 'unblock-everything'")
    assert texts[2].startswith("job 'c': bad dependency: empty entry")
    assert texts[3].startswith("job 'c': bad dependency: 'bogus' is not a job id")
    assert texts[4].startswith("job 'd', callback 0: unknown language 'cobol'")
    assert farm.engine.jobs == [] and len(farm.engine.network) == 0


def test_python_code_that_does_not_compile_is_rejected_with_its_line():
    farm = FarmHost(language_flags=ALL)
    error = rejected(farm, [{"label": "x", "callbacks": [py("complete-job-self", "a = 1\nif a\n    pass\n")]}])
    assert "job 'x', callback 0: python code: line 2: python code does not compile" in str(error)


@pytest.mark.parametrize("code", ["print 'done'\n", "try:\n    pass\nexcept Exception, e:\n    pass\n"])
def test_python_2_callback_code_is_named_as_such(code):
    farm = FarmHost(language_flags=ALL)
    error = rejected(farm, [{"label": "x", "callbacks": [py("complete-job-self", code)]}])
    assert "(it looks like Python 2: callbacks run with Python 3)" in str(error)


def test_python_3_code_with_another_syntax_error_gets_no_python_2_hint():
    farm = FarmHost(language_flags=ALL)
    error = rejected(farm, [{"label": "x", "callbacks": [py("complete-job-self", "if True\n    pass\n")]}])
    assert "does not compile" in str(error) and "Python 2" not in str(error)


def test_the_dependency_field_needs_its_flag():
    farm = FarmHost(language_flags="qube")
    error = rejected(farm, [{"dependency": "1234"}])
    assert "enable it with the language flag 'dependency'" in str(error)


def test_duplicate_labels_and_parent_without_pid_are_rejected():
    farm = FarmHost()
    error = rejected(farm, [
        {"label": "a"},
        {"label": "a"},
        {"label": "b", "callbacks": [{"triggers": "complete-job-parent", "code": "unblock-self"}]},
    ])
    text = str(error)
    assert "job 'a': label 'a' is already used in pgrp 100 by job 'a'" in text
    assert "'parent' needs a parent job" in text


def test_a_failed_registration_leaves_earlier_jobs_alone():
    farm = FarmHost()
    (first,) = farm.submit([{"label": "a", "callbacks": [{"triggers": "complete-job-self", "code": "mail-status"}]}])
    rejected(farm, [{"label": "b", "callbacks": [{"triggers": "(", "code": "unblock-self"}]}])
    assert farm.engine.jobs == [first] and len(farm.engine.network) == 1


# --------------------------------------------------------------------------- dispatch

def test_callbacks_of_one_event_run_before_the_events_their_actions_cause():
    farm = FarmHost(language_flags=ALL)
    seen = []
    farm.log = lambda jobid, text: seen.append(text.strip())
    a, b = farm.submit([
        {"label": "a", "agenda": ["1"], "callbacks": [
            py("complete-work-self-1", "print('first'); qb.fail(qb.jobid())"),
            py("complete-work-self-1", "print('second')"),
            py("failed-job-self", "print('after')"),
        ]},
        {"label": "b", "callbacks": [py("complete-work-a-1", "print('third')")]},
    ])
    firings = farm.engine.feed(f"complete-work-{a}-1")
    assert seen == ["first", "second", "third", "after"]
    assert [f.event for f in firings] == [f"complete-work-{a}-1"] * 3 + [f"failed-job-{a}"]


def test_maximum_and_count():
    farm = FarmHost(language_flags=ALL)
    (a,) = farm.submit([{"label": "a", "callbacks": [py("complete-work-self-*", "print(qb.count())", maximum=2)]}])
    for frame in "123":
        farm.engine.feed(f"complete-work-{a}-{frame}")
    assert [t.strip() for t in farm.logs[a]] == ["1", "2"]
    assert farm.engine.callbacks(a) == []


def test_an_exception_or_exit_in_a_callback_is_logged_and_the_engine_goes_on():
    farm = FarmHost(language_flags=ALL)
    (a,) = farm.submit([{"label": "a", "callbacks": [
        py("complete-job-self", "raise RuntimeError('boom')"),
        py("complete-job-self", "import sys; sys.exit(3)"),
        py("complete-job-self", "print('still here')"),
    ]}])
    farm.engine.feed(f"complete-job-{a}")
    logs = farm.logs[a]
    assert "RuntimeError: boom" in logs[0] and 'line 1' in logs[0]
    assert "SystemExit: 3" in logs[1]
    assert logs[2] == "still here\n"


def test_a_work_keyword_fired_by_a_job_event_logs_that_it_has_no_frame():
    farm = FarmHost()
    (a,) = farm.submit([{"label": "a", "agenda": ["1"], "callbacks": [{"triggers": "complete-job-self", "code": "retry-work-self"}]}])
    farm.engine.feed(f"complete-job-{a}")
    assert "names no work item" in farm.logs[a][0]


# --------------------------------------------------------------------------- qb

def test_qb_tells_the_callback_about_itself_and_its_event():
    farm = FarmHost(language_flags=ALL)
    a, b = farm.submit([
        {"label": "render", "agenda": ["5"]},
        {"label": "comp", "callbacks": [py("complete-work-render-5", """
            import qb as imported
            assert imported is qb
            ev = qb.event()
            print(qb.jobid(), qb.count(), ev['name'], ev['type'], ev['jobid'], ev['extra'], ev['label'], ev['pgrp'])
            print([j['label'] for j in qb.jobinfo('-pgrp', ev['pgrp'])], qb.jobinfo(id=ev['jobid'])[0]['id'])
        """)]},
    ])
    farm.engine.feed(f"complete-work-{a}-5")
    assert farm.logs[b] == [f"{b} 1 complete work {a} 5 render {a}\n['render', 'comp'] {a}\n"]


def test_qb_work_actions_and_modify():
    farm = FarmHost(language_flags=ALL)
    (a,) = farm.submit([{"label": "a", "agenda": ["1", "2"], "callbacks": [py("done-job-self", """
        qb.retrywork('%d:1' % qb.jobid())
        qb.workblock('%d:2' % qb.jobid())
        qb.modify({'priority': 10}, qb.jobid())
    """)]}])
    farm.engine.feed(f"failed-job-{a}")
    assert farm.actions == [("retry", a, "1"), ("block", a, "2")]
    assert farm.jobs[a]["priority"] == 10


def test_a_callback_may_not_act_on_another_users_job_unless_its_owner_is_admin():
    farm = FarmHost(language_flags=ALL)
    other, mine, admins = farm.submit([
        {"label": "other", "user": "bob"},
        {"label": "mine", "user": "alice", "callbacks": [py("complete-job-self", """
            try:
                qb.kill(%s)
            except qb.PermissionError as e:
                print('refused:', e)
        """ % 100)]},
        {"label": "boss", "user": "admin", "callbacks": [py("complete-job-self", "qb.kill(100)")]},
    ])
    farm.engine.feed(f"complete-job-{mine}")
    assert farm.logs[mine][0].startswith("refused: job 101 (user 'alice') may not act on job 100 of user 'bob'")
    assert farm.jobs[other]["status"] == "pending"
    farm.engine.feed(f"complete-job-{admins}")
    assert farm.jobs[other]["status"] == "killed"


# --------------------------------------------------------------------------- universal callbacks

def write_folder(tmp_path, conf, files):
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    (tmp_path / "callbacks.conf").write_text(textwrap.dedent(conf))
    return tmp_path


def test_universal_callbacks_attach_to_jobs_submitted_afterwards_and_run_as_admin(tmp_path):
    folder = write_folder(tmp_path, """\
        # every job: note completion, and fail its parent's frames on failure
        note.py = complete-job-self
        block.qcb = failed-job-self
    """, {"note.py": "print('done', qb.jobid()); qb.block(100)\n", "block.qcb": "block-self\n"})
    farm = FarmHost(language_flags=ALL)
    (before,) = farm.submit([{"label": "before", "user": "bob"}])
    farm.engine.load_universal(folder)
    (after,) = farm.submit([{"label": "after", "user": "alice"}])
    assert [c.source for c in farm.engine.callbacks(after)] == ["note.py", "block.qcb"]
    assert farm.engine.callbacks(before) == []
    farm.engine.feed(f"complete-job-{after}")
    assert farm.logs[after] == [f"done {after}\n"]
    assert farm.jobs[before]["status"] == "blocked"  # bob's job: universal callbacks are admin


def test_a_bad_callbacks_conf_lists_every_bad_line_and_loads_nothing(tmp_path):
    folder = write_folder(tmp_path, """\
        ok.qcb = complete-job-self
        # a comment
        no equals sign here
        missing.py = complete-job-self
        bad.qcb = complete-job-self &&
        bad.qcb = complete-job-self
        run.sh = complete-job-self
        ../etc.py = complete-job-self
        broken.py = complete-job-self
    """, {"ok.qcb": "unblock-self", "bad.qcb": "frobnicate-self", "broken.py": "def (:\n"})
    engine = FarmHost(language_flags=ALL).engine
    with pytest.raises(UniversalConfigError) as info:
        engine.load_universal(folder)
    lines = [n for n, _ in info.value.problems]
    assert lines == [3, 4, 5, 6, 7, 8, 9]
    text = str(info.value)
    assert "line 3: expected 'file = trigger'" in text
    assert "line 5: bad trigger:" in text and "line 6: 'bad.qcb': unknown qube keyword" in text
    assert "line 9: 'broken.py': line 1: python code does not compile" in text
    assert engine.universal == []


def test_a_universal_callback_in_a_disabled_language_names_the_flag(tmp_path):
    folder = write_folder(tmp_path, "x.py = complete-job-self\n", {"x.py": "pass\n"})
    with pytest.raises(UniversalConfigError, match="enable it with the language flag 'python'"):
        CallbackEngine(FarmHost().engine.host, universal=os.fspath(folder))


# --------------------------------------------------------------------------- state-aware, time, removal

def test_state_aware_catch_up_unblocks_a_job_submitted_after_its_upstream_finished():
    farm = FarmHost(state_aware=True)
    (render,) = farm.submit([{"label": "render", "agenda": ["1", "2"]}])
    farm.run()
    (comp,) = farm.submit([{"pgrp": render, "label": "comp", "agenda": ["1", "2"], "dependency": "link-complete-work-render"}])
    assert [w["status"] for w in farm.jobs[comp]["agenda"]] == ["pending", "pending"]


def test_a_delayed_start_with_the_clock():
    farm = FarmHost()
    (a,) = farm.submit([{"label": "late", "status": "blocked", "agenda": ["1"],
                         "callbacks": [{"triggers": "dummy-time-self-500", "code": "unblock-self"}]}])
    assert farm.engine.advance(499) == []
    (firing,) = farm.engine.advance(500)
    assert firing.event == "dummy-globaltime-500" and farm.jobs[a]["status"] == "pending"


def test_removing_a_job_from_a_callback_skips_its_remaining_callbacks():
    farm = FarmHost(language_flags=ALL)
    (a,) = farm.submit([{"label": "a", "callbacks": [
        py("complete-job-self", "qb.remove(qb.jobid())"),
        py("complete-job-self", "print('never')"),
    ]}])
    firings = farm.engine.feed(f"complete-job-{a}")
    assert len(firings) == 1 and a not in farm.engine and farm.logs[a] == []
