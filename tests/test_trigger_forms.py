"""Trigger and dependency forms that real Qube submit scripts write (issue 11), end to end: the
two-field ``globaltime-T`` through the engine and the reference supervisor's clock, ``NAME-global``
raised by a program, and ``info-`` dependency entries whose JSON holds commas.

The matcher's side of the first two is in test_parse.py, test_events.py and test_network.py (both
twins and the oracle); this file is about the layers above it.
"""

from __future__ import annotations

import pytest

from qbtrigger.callbacks.checks import check_submission
from qbtrigger.callbacks.dependency import parse_dependency
from qbtrigger.supervisor import Supervisor

from farmhost import FarmHost

FLAGS = "qube,python,mail,dependency"


def new() -> Supervisor:
    return Supervisor(clock=0, default_user="ann", language_flags=FLAGS)


# --------------------------------------------------------------------------- globaltime-T


def test_a_two_field_globaltime_callback_fires_when_the_supervisors_clock_reaches_it():
    # PipelineFX's Perl example delays a job so: submitted blocked, `globaltime-T` -> unblock-self.
    sup = new()
    [job] = sup.submit([{
        "label": "later", "agenda": ["1"], "status": "blocked",
        "callbacks": [
            {"triggers": "globaltime-10000", "code": "unblock-self"},
            {"triggers": "GlobalTime-10000", "language": "python", "code": "print(qb.event())"},
        ],
    }])
    jid = job["id"]
    assert sup.next_due() == 10000
    sup.advance(9999)
    assert sup.job(jid)["status"] == "blocked" and sup.fired(jid) == 0
    sup.advance(10000)
    assert sup.job(jid)["status"] == "pending" and sup.fired(jid) == 2
    # the callback saw the event the atom stands for
    assert any("dummy" in line and "globaltime" in line and "10000" in line for line in sup.callback_log(jid))
    sup.advance(20000)
    assert sup.fired(jid) == 2


def test_a_two_field_globalrepeat_callback_fires_at_every_interval():
    sup = new()
    [job] = sup.submit([{
        "agenda": ["1"],
        "callbacks": [{"triggers": "globalrepeat-100-50", "language": "python", "code": "print('tick')"}],
    }])
    sup.advance(260)
    assert sup.fired(job["id"]) == 4  # 100, 150, 200, 250


def test_an_event_written_in_the_two_field_form_fires_through_the_engine():
    # A host may report a clock event the short way; Supervisor.emit normalises it, the engine's
    # feed takes the text as given.
    farm = FarmHost()
    [jobid] = farm.submit([{"agenda": [{"name": "1"}], "status": "blocked",
                            "callbacks": [{"triggers": "globaltime-100", "code": "unblock-self"}]}])
    [firing] = farm.engine.feed("globaltime-100")
    assert firing.event in ("globaltime-100", "dummy-globaltime-100")
    assert farm.jobs[jobid]["status"] == "pending"


def test_check_accepts_the_two_field_forms_and_global():
    jobs = [{"label": "a", "agenda": ["1"], "status": "blocked",
             "callbacks": [{"triggers": "globaltime-10000 || globalrepeat-0-60 || nightly-global",
                            "code": "unblock-self"}]}]
    assert [str(f) for f in check_submission(jobs)] == []


# --------------------------------------------------------------------------- NAME-global


def test_a_global_event_a_program_emits_fires_its_callbacks():
    sup = new()
    [job] = sup.submit([{
        "agenda": ["1"], "status": "blocked",
        "callbacks": [{"triggers": "nightly-global", "code": "unblock-self"}],
    }])
    sup.emit("nightly-global")
    assert sup.job(job["id"])["status"] == "pending"


def test_a_global_event_needs_no_job_but_takes_no_extra():
    sup = new()
    sup.submit([{"agenda": ["1"], "callbacks": [{"triggers": "other-global", "code": "unblock-self"}]}])
    sup.emit("nightly-global")  # nobody waits on it: an edge, no job to check
    assert "nightly-global" in sup.events()
    with pytest.raises(ValueError, match="a global event takes no job id and no extra"):
        sup.emit("nightly-global-1")


# --------------------------------------------------------------------------- info- dependencies

QUBE_INFO = 'info-complete-{"1":["540:3"], "*":["600:*"], "":["700"]}'


def test_qubes_documented_info_entry_is_one_entry():
    assert parse_dependency(QUBE_INFO) == ([], [QUBE_INFO], [])


def test_info_entries_among_links_keep_every_column():
    text = f"link-complete-job-a,{QUBE_INFO},link-complete-work-b, 12"
    entries, info, problems = parse_dependency(text)
    assert problems == [] and info == [QUBE_INFO]
    assert [(e.state, e.type, e.context, e.column) for e in entries] == [
        ("complete", "job", "a", 0),
        ("complete", "work", "b", text.index("link-complete-work-b")),
        ("complete", "job", "12", text.index("12")),
    ]


def test_commas_and_brackets_inside_strings_do_not_split():
    text = 'info-complete-{"a,]": "x, \\" ,}"}, INFO-"shot, take", 7'
    entries, info, problems = parse_dependency(text)
    assert problems == []
    assert info == ['info-complete-{"a,]": "x, \\" ,}"}', 'INFO-"shot, take"']
    assert [(e.context, e.column) for e in entries] == [("7", len(text) - 1)]


def test_a_python_dict_written_into_an_info_entry():
    text = "info-complete-" + str({"1": ["540:3"], "*": ["600:*"]}) + ",link-done-job-5"
    entries, info, problems = parse_dependency(text)
    assert problems == [] and len(info) == 1 and [e.context for e in entries] == ["5"]


def test_an_apostrophe_outside_brackets_is_text():
    assert parse_dependency("info-Bob's comp, 7")[1:] == (["info-Bob's comp"], [])


def _caret_at(problem: str) -> int:
    return problem.splitlines()[2].index("^")


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        # an unclosed brace swallows the rest of the field, and says so where it opened
        ('link-complete-job-a, info-complete-{"1":["540:3"], "*":["600:*"],link-complete-work-b', 35,
         "'{' is never closed in an info entry (it runs to the next comma outside brackets and quotes)"),
        ('info-complete-{"1":["540:3"}, link-complete-work-b', 19,
         "'[' is never closed in an info entry: a '}' closes the '{' around it"),
        ("info-x}, 12", 6, "'}' closes nothing in an info entry"),
        ('12,info-"abc, 9', 8,
         "a double quote is never closed in an info entry (it runs to the next comma outside brackets and quotes)"),
        ("info-{'a': 'b}, 9", 11,
         "a single quote is never closed in an info entry (it runs to the next comma outside brackets and quotes)"),
    ],
)
def test_a_malformed_info_entry_is_a_problem_with_a_caret(text, column, message):
    entries, info, problems = parse_dependency(text)
    assert info == []
    [problem] = problems
    assert problem.splitlines()[0] == f"bad dependency: {message}"
    assert problem.splitlines()[1] == text
    assert _caret_at(problem) == column


def test_problems_after_an_info_entry_point_at_their_own_columns():
    text = f"{QUBE_INFO}, ,bogus,link-complete-job-a"
    entries, info, problems = parse_dependency(text)
    assert info == [QUBE_INFO] and [e.context for e in entries] == ["a"]
    assert [p.splitlines()[0] for p in problems] == [
        "bad dependency: empty entry (two commas, or a comma at an end)",
        "bad dependency: 'bogus' is not a job id, link-STATE-TYPE-CTX or info-...",
    ]
    assert [_caret_at(p) for p in problems] == [len(QUBE_INFO) + 2, len(QUBE_INFO) + 3]


@pytest.mark.parametrize("text, hint", [
    ("link-complete-jobA", "did you mean 'link-complete-job-A'?"),
    ("link-done-workrender", "did you mean 'link-done-work-render'?"),
    ("complete-subjob7", "did you mean 'link-complete-subjob-7'?"),
    ("link-complete-job", ""),  # a type with nothing run into it: no guess
    ("link-rendered-jobA", ""),  # not a state: no guess
])
def test_a_type_run_into_its_context_gets_the_missing_dash(text, hint):
    _entries, _info, [problem] = parse_dependency(text)
    first = problem.splitlines()[0]
    assert first.startswith(f"bad dependency: '{text}' is not a job id, link-STATE-TYPE-CTX or info-...")
    assert first.endswith(f"...: {hint}" if hint else "...")


def test_a_job_with_an_info_dependency_waits_for_its_links_only():
    sup = new()
    up, down = sup.submit([
        {"label": "up", "agenda": ["1"]},
        {"label": "down", "agenda": ["1"], "dependency": f"{QUBE_INFO},link-complete-job-up"},
    ])
    assert sup.job(down["id"])["status"] == "blocked"
    sup.start(up["id"], "1")
    sup.finish(up["id"], "1")
    assert sup.job(down["id"])["status"] == "pending"


def test_check_reports_a_malformed_info_entry():
    jobs = [{"label": "a", "dependency": 'info-complete-{"1":["540:3"]'}]
    [finding] = [str(f) for f in check_submission(jobs)]
    assert "'{' is never closed in an info entry" in finding
