"""One validation for `check` and `Supervisor.submit` (issue 12), bad input stopped at the door
(issue 13): every problem the supervisor refuses a submission for, check reports, naming the job
and the field; the size limits; job ids in ASCII digits only."""

import random

import pytest

from qbtrigger.callbacks import SubmissionError
from qbtrigger.callbacks.checks import check_submission
from qbtrigger.callbacks.validation import MAX_AGENDA, MAX_CODE, MAX_CPUS, MAX_EXPRESSION, MAX_NESTING
from qbtrigger.supervisor import Supervisor

ALL = "qube,python,perl,mail,dependency"


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


# (submission, text every problem list holds: the job's name and the field)
REFUSED = {
    "cpus a word": ([{"label": "a", "cpus": "x"}], "job 'a': 'cpus' must be a whole number"),
    "cpus too many": ([{"label": "a", "cpus": 2**40}], f"job 'a': 'cpus' is at most {MAX_CPUS}, not 1099511627776"),
    "cpus a string too many": ([{"label": "a", "cpus": "99999"}], f"job 'a': 'cpus' is at most {MAX_CPUS}"),
    "priority past every bound": ([{"name": "n", "priority": 10**30}], "job 'n': 'priority' must be at most"),
    "status a tuple": ([{"label": "a", "status": ("blocked",)}], "job 'a': 'status' at submission is 'pending' or 'blocked'"),
    "status running": ([{"label": "a", "status": "running"}], "'status' at submission is 'pending' or 'blocked', not 'running'"),
    "work name twice": ([{"label": "a", "agenda": ["1", "1"]}], "job 'a': agenda item 1: work name '1' is used twice"),
    "work name line break": ([{"label": "a", "agenda": ["1\n2"]}], "has a line break"),
    "work status": ([{"agenda": [{"name": "1", "status": "done"}]}], "job #0: agenda item 0 ('1'): status at submission"),
    "agenda a dict": ([{"label": "a", "agenda": {"1": 1}}], "job 'a': 'agenda' must be a list"),
    "label an int": ([{"label": 5}], "job #0: 'label' must be a str, not int"),
    "user an int": ([{"name": "n", "user": 5}], "job 'n': 'user' must be a str, not int"),
    "pid out of range": ([{"label": "a", "pid": 2**40}], "job 'a': 'pid' must be an int from 0"),
    "superscript two": ([{"label": "a", "dependency": "²"}], "job 'a': bad dependency: '²' is not a job id"),
    "arabic digits": ([{"label": "a", "dependency": "١٢٣"}], "job 'a': bad dependency: '١٢٣' is not a job id"),
    "a job id of 5,000 digits": ([{"label": "a", "dependency": "9" * 5000}], "job 'a': bad dependency: job id '999"),
    "a link to a huge id": ([{"label": "a", "dependency": "link-done-job-99999999999"}], "is out of range"),
    "waitfor a huge id": ([{"label": "a", "waitfor": "9" * 5000}], "job 'a': 'waitfor' takes job ids"),
    "nested too deep": ([{"label": "a", "data": nested(MAX_NESTING + 5)}], f"job 'a': 'data' nests deeper than {MAX_NESTING} levels"),
    "not JSON": ([{"label": "a", "data": {1, 2}}], "job 'a': a job dict must hold JSON values only"),
    "not a dict": ([{"label": "a"}, 7], "job #1: a job must be a dict, not int"),
    "maximum zero": ([{"callbacks": [{"triggers": "complete-job-self", "code": "unblock-self", "maximum": 0}]}],
                     "job #0, callback 0: 'maximum' must be an int >= 1"),
    "bad trigger": ([{"label": "a", "callbacks": [{"triggers": "complete-job-self &&", "code": "unblock-self"}]}],
                    "job 'a', callback 0: bad trigger: expected an event or '(' but the expression ends (column 20)"),
    "expression too big": ([{"label": "a", "callbacks": [{"triggers": " " * (MAX_EXPRESSION + 1) + "complete-job-self",
                                                          "code": "unblock-self"}]}],
                           f"job 'a', callback 0: 'triggers': an expression holds at most {MAX_EXPRESSION} characters"),
    "code too big": ([{"label": "a", "callbacks": [{"triggers": "complete-job-self", "language": "python",
                                                    "code": "#" * (MAX_CODE + 1)}]}],
                     f"job 'a', callback 0: 'code' holds at most {MAX_CODE} characters"),
    "named by name": ([{"name": "comp", "cpus": 0}], "job 'comp': 'cpus' must be at least 1"),
}


@pytest.mark.parametrize("jobs, text", list(REFUSED.values()), ids=list(REFUSED))
def test_what_submit_refuses_check_reports_with_the_same_words(jobs, text):
    supervisor = Supervisor(language_flags=ALL, clock=0)
    with pytest.raises(SubmissionError) as refused:
        supervisor.submit(jobs)
    assert supervisor.job_ids(removed=True) == []  # nothing stored
    assert any(text in str(p) for p in refused.value.problems), refused.value
    found = [f for f in check_submission(jobs, language_flags=ALL) if f.level == "error"]
    assert {str(p) for p in refused.value.problems} <= {_as_problem(f) for f in found}


def _as_problem(finding):
    """A finding in a Problem's layout (detail lines indented), to compare the two."""
    where = finding.job if finding.callback is None else f"{finding.job}, callback {finding.callback}"
    first, _, rest = finding.message.partition("\n")
    return f"{where}: {first}" + ("\n" + "\n".join("    " + line for line in rest.split("\n")) if rest else "")


def test_the_agenda_limit_is_checked_before_the_agenda_is_read():
    jobs = [{"label": "a", "agenda": [None] * (MAX_AGENDA + 1)}]
    with pytest.raises(SubmissionError, match=f"'agenda' holds at most {MAX_AGENDA} work items"):
        Supervisor(clock=0).submit(jobs)


def test_a_job_with_one_bad_field_still_exists_for_the_other_checks():
    jobs = [{"label": "render", "cpus": "many", "agenda": ["1"]},
            {"label": "comp", "agenda": ["1"], "dependency": "link-complete-job-render"}]
    found = [str(f) for f in check_submission(jobs)]
    assert found == ["job 'render': 'cpus' must be a whole number (an int, or a string of digits such as '5'), not 'many'"]
    # and a job whose label is bad still has its callbacks checked
    found = [str(f) for f in check_submission([{"label": 3, "callbacks": [{"triggers": "complete-job-ghost",
                                                                          "code": "mail-status"}]}])]
    assert found[0] == "job #0: 'label' must be a str, not int"
    assert found[1].startswith("job #0, callback 0: label 'ghost' names no job")


def test_a_live_label_reused_is_a_submission_error():
    supervisor = Supervisor(clock=0)
    (first,) = supervisor.submit([{"label": "a"}])
    with pytest.raises(SubmissionError, match=f"job 'a': label 'a' is already used in pgrp {first['pgrp']}"):
        supervisor.submit([{"label": "a", "pgrp": first["pgrp"]}])
    assert check_submission([{"label": "a", "pgrp": 7}], live_labels={(7, "a"): 1})[0].message == (
        "label 'a' is already used in pgrp 7 by job 1")


def test_ascii_digits_are_job_ids_with_or_without_leading_zeros():
    supervisor = Supervisor(clock=0)
    supervisor.submit([{"label": "up"}])
    (job,) = supervisor.submit([{"label": "down", "dependency": "0001, link-done-job-01"}])
    assert supervisor.job_state(job["id"]).status == "blocked"
    assert [c["triggers"] for c in supervisor.callback_counts(job["id"])] == ["complete-job-1 && done-job-1"]


def test_null_pgrp_and_user_are_the_defaults():
    supervisor = Supervisor(clock=0, default_user="ann")
    (job,) = supervisor.submit([{"label": "a", "pgrp": None, "user": None}])
    assert (job["pgrp"], job["user"]) == (job["id"], "ann")


def test_garbage_is_refused_with_a_submission_error_that_check_also_reports():
    """Random jobs from odd values: submit raises SubmissionError or accepts; never anything
    else, and what it refuses, check reports (seeded: the same cases every run)."""
    rng = random.Random(12)
    values = [None, True, 0, -1, 2**31, 2**63, 1.5, "", "x", "1", "²", "blocked", [], {}, [1], {"a": 1},
              ("blocked",), "complete-job-self", "9" * 5000]
    keys = ["label", "name", "agenda", "callbacks", "dependency", "status", "cpus", "pid", "pgrp", "user",
            "priority", "retrywork", "waitfor", "timelimit", "agenda_timelimit", "timeout", "id"]
    for _ in range(300):
        job = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 6))}
        if rng.random() < 0.3:
            job["callbacks"] = [{k: rng.choice(values + ["qube", "unblock-self"]) for k in
                                 rng.sample(["triggers", "language", "code", "maximum"], rng.randint(0, 4))}]
        try:
            Supervisor(clock=0, language_flags=ALL).submit([job])
        except SubmissionError as refused:
            errors = {_as_problem(f) for f in check_submission([job], language_flags=ALL) if f.level == "error"}
            assert {str(p) for p in refused.problems} <= errors, job


@pytest.mark.parametrize("spec, text", [
    ({"triggers": "globaltime-100", "code": "#" * (MAX_CODE + 1), "language": "python"}, "'code' holds at most"),
    ({"triggers": "globaltime-100", "code": "unblock-self", "data": nested(MAX_NESTING + 1)}, "nests deeper than"),
    ({"triggers": "globaltime-100 AND&& x-global", "code": "unblock-self"}, "write '&&' or 'AND', not both"),
    ({"triggers": "globaltime-100", "code": {1, 2}}, "JSON values only"),
])
def test_a_global_callback_is_refused_by_submit_and_reported_by_check_alike(spec, text):
    from qbtrigger.submit import CheckTarget

    with pytest.raises(SubmissionError) as refused:
        Supervisor(clock=0, language_flags=ALL).submit_callback(spec, user="admin")
    target = CheckTarget(language_flags=ALL)
    target.submit_callback(spec, user="admin")
    assert text in str(refused.value)
    assert [p.detail for p in refused.value.problems] == [f.message for f in target.findings]


@pytest.mark.parametrize("text", ["²", "١٢٣", "12x", "", "99999999999"])
def test_qb_api_job_ids_are_ascii_digits_only(text):
    # A callback's qb.unblock('١٢٣') must not act on job 123: only ASCII digits name a job.
    from qbtrigger.callbacks.qbapi import _job_id

    with pytest.raises(TypeError, match="a job id must be an int or a string of digits"):
        _job_id(text)


def test_qb_api_job_id_strings_of_digits_are_read():
    from qbtrigger.callbacks.qbapi import _job_id

    assert _job_id(" 0012 ") == 12 and _job_id(7) == 7
