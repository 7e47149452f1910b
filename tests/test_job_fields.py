"""Job fields as real submissions give them: numbers as strings, Qube's spellings and shorthands,
unknown and misspelt fields (callbacks/fields.py), through the supervisor and the checker."""

from __future__ import annotations

import pytest

from qbtrigger.callbacks import SubmissionError
from qbtrigger.callbacks.checks import check_submission, review_fields
from qbtrigger.callbacks.fields import normalize_job
from qbtrigger.supervisor import Supervisor


def new() -> Supervisor:
    return Supervisor(clock=0, default_user="ann")


def test_numbers_given_as_strings_are_read_as_numbers():
    sup = new()
    [job] = sup.submit([{"label": "r", "cpus": "5", "priority": " 4000 ", "retrywork": "2", "agenda": ["1"]}])
    assert (job["cpus"], job["priority"], job["retrywork"]) == (5, 4000, 2)
    assert len(job["subjobs"]) == 5
    [low] = sup.submit([{"priority": "-10"}])
    assert low["priority"] == -10


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpus": "five"}, "'cpus' must be a whole number (an int, or a string of digits such as '5'), not 'five'"),
        ({"cpus": "0"}, "'cpus' must be at least 1, not '0'"),
        ({"cpus": 2.5}, "'cpus' must be a whole number (an int, or a string of digits such as '5'), not 2.5"),
        ({"retrywork": True}, "'retrywork' must be a whole number, not True"),
        ({"agenda_timeout": "1e3"}, "'agenda_timeout' must be a whole number (an int, or a string of digits such as '5'), not '1e3'"),
    ],
)
def test_junk_numbers_are_one_clear_problem_naming_the_field(fields, message):
    sup = new()
    with pytest.raises(SubmissionError) as caught:
        sup.submit([dict(label="render", **fields)])
    assert [p.detail for p in caught.value.problems] == [message]
    assert caught.value.problems[0].job == "job 'render'"
    assert sup.job_ids() == []


def test_a_job_rejected_for_one_field_still_counts_for_the_others():
    jobs = [
        {"label": "render", "cpus": "eight", "agenda": ["1"]},
        {"label": "comp", "dependency": "link-complete-job-render", "agenda": ["1"]},
    ]
    findings = check_submission(jobs)
    assert [str(f) for f in findings] == [
        "job 'render': 'cpus' must be a whole number (an int, or a string of digits such as '5'), not 'eight'"
    ]


def test_check_accepts_what_simulate_accepts():
    jobs = [{"label": "render", "cpus": "5", "priority": "4000", "agenda": ["1", "2"]}]
    assert check_submission(jobs) == []
    assert new().submit(jobs)[0]["cpus"] == 5


def test_agendatimeout_is_qubes_other_spelling_of_agenda_timeout():
    job = {"agendatimeout": "30"}
    assert normalize_job(job).problems == []
    assert job == {"agenda_timeout": 30}
    clash = {"agendatimeout": 30, "agenda_timeout": 40}
    assert normalize_job(clash).problems == [
        "'agendatimeout' and 'agenda_timeout' are one field in Qube and they differ (30, 40)"
    ]


def test_timelimit_shorthands_add_qubes_callbacks():
    job = {"timelimit": "60", "agenda_timelimit": 30, "callbacks": [{"triggers": "done-job-self", "language": "mail"}]}
    assert normalize_job(job).problems == []
    assert (job["timeout"], job["agenda_timeout"]) == (60, 30)
    assert job["callbacks"][1:] == [
        {"triggers": "timeout-subjob-self-*", "language": "qube", "code": "fail-subjob-self"},
        {"triggers": "timeout-work-self-*", "language": "qube", "code": "fail-work-self"},
    ]


def test_waitfor_becomes_a_done_link():
    sup = new()
    [first] = sup.submit([{"label": "a", "agenda": ["1"]}])
    [second] = sup.submit([{"label": "b", "waitfor": str(first["id"]), "dependency": "info-x", "agenda": ["1"]}])
    assert second["dependency"] == f"info-x,link-done-job-{first['id']}"
    assert second["status"] == "blocked"
    sup.start(first["id"], "1")
    sup.finish(first["id"], "1", failed=True)
    assert sup.job(second["id"])["status"] == "pending"
    job = {"waitfor": "soon"}
    assert normalize_job(job).problems == ["'waitfor' takes job ids, not 'soon'"]


def test_a_field_many_jobs_leave_unmodelled_is_one_note_naming_them():
    jobs = [{"label": f"shot{n}", "cluster": "/gpu"} for n in range(7)] + [{"cluster": "/gpu"}, {"hosts": "n1"}]
    assert [str(f) for f in review_fields(jobs)] == [
        "jobs 'shot0', 'shot1', 'shot2', 'shot3', 'shot4' and 3 more: ignored: cluster (qbtrigger does not model them)",
        "job #8: ignored: hosts (qbtrigger does not model them)",
    ]


def test_unknown_fields_are_kept_and_likely_misspellings_named():
    sup = new()
    jobs = [{"label": "r", "dependancy": "link-complete-job-x", "mail_address": "a@b", "studio_shot": "sh010",
             "hosts": "node01", "cluster": "/gpu", "package": {"cmdline": "render"}}]
    [job] = sup.submit(jobs)
    assert job["studio_shot"] == "sh010" and job["dependancy"] == "link-complete-job-x"
    notes = [str(f) for f in review_fields(jobs)]
    assert notes == [
        "job 'r': warning: unknown field 'dependancy' is kept but not used: did you mean 'dependency'?",
        "job 'r': warning: unknown field 'mail_address' is kept but not used: did you mean 'mailaddress'?",
        "job 'r': ignored: hosts, cluster (qbtrigger does not model them)",
    ]
    assert check_submission(jobs) == []
