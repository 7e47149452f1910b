"""Event strings (SPEC §1, docs/semantics.md "Events"): ``parse_event`` and what feed does with them."""

from __future__ import annotations

import pytest

from qbtrigger import Event, EventError, parse_event

ACCEPTED = [
    ("complete-work-1234-5", Event("complete", "work", 1234, "5")),
    ("failed-job-1234", Event("failed", "job", 1234, None)),
    ("running-subjob-1234-0", Event("running", "subjob", 1234, "0")),
    ("COMPLETE-Work-1234-Frame_A", Event("complete", "work", 1234, "Frame_A")),
    ("complete-work-1234--10", Event("complete", "work", 1234, "-10")),
    ("complete-work-1234-a-b-c", Event("complete", "work", 1234, "a-b-c")),
    ("complete-job-007", Event("complete", "job", 7, None)),
    ("complete-job-0", Event("complete", "job", 0, None)),
    ("complete-job-2147483647", Event("complete", "job", 2147483647, None)),
    ("up-host-12-render01.farm", Event("up", "host", 12, "render01.farm")),
    ("dummy-time-5-100", Event("dummy", "time", 5, "100")),
    ("dummy-repeat-5-0-60", Event("dummy", "repeat", 5, "0-60")),
    ("tick-globaltime-100", Event("tick", "globaltime", None, "100")),
    ("tick-GLOBALREPEAT-0-60", Event("tick", "globalrepeat", None, "0-60")),
    ("my_event2-job-9", Event("my_event2", "job", 9, None)),
    # global: an event of no job and no extra, raised by a program (Supervisor.emit)
    ("nightly-global", Event("nightly", "global", None, None)),
    ("Nightly-GLOBAL", Event("nightly", "global", None, None)),
    ("done-global", Event("done", "global", None, None)),
    # the two-field clock forms: Qube's time events are named dummy
    ("globaltime-10000", Event("dummy", "globaltime", None, "10000")),
    ("GlobalRepeat-0-60", Event("dummy", "globalrepeat", None, "0-60")),
    ("globaltime-5x", Event("dummy", "globaltime", None, "5x")),  # any text, as name-globaltime-T
    # ... and a second field that is not a number is a type: an event named globaltime
    ("globaltime-job-5", Event("globaltime", "job", 5, None)),
    ("globalrepeat-globaltime-5", Event("globalrepeat", "globaltime", None, "5")),
]

NUMBER = "is not a number from 0 to 2147483647"
REJECTED = [
    ("", "expected name-type-jobid[-extra]"),
    ("complete", "expected name-type-jobid[-extra]"),
    ("complete-job", "expected name-type-jobid[-extra]"),
    ("1st-job-5", "bad name '1st'"),
    ("-job-5", "bad name ''"),
    ("com plete-job-5", "bad name 'com plete'"),
    ("complete-jobs-5", "unknown type 'jobs'"),
    ("complete--5", "unknown type ''"),
    ("tick-globaltime-", "a globaltime event needs a time"),
    ("tick-globalrepeat-", "a globalrepeat event needs a time"),
    ("complete-job-", f"job id '' {NUMBER}"),
    ("complete-job-self", f"job id 'self' {NUMBER}"),
    ("complete-job-render", f"job id 'render' {NUMBER}"),
    ("complete-job-2147483648", f"job id '2147483648' {NUMBER}"),
    ("complete-job--5", f"job id '' {NUMBER}"),
    ("complete-work-x-5", f"job id 'x' {NUMBER}"),
    ("complete-job-5-x", "a job event takes no extra"),
    ("complete-job-5-", "a job event takes no extra"),
    ("complete-work-5", "a work event needs an extra after the job id"),
    ("complete-work-5-", "a work event needs an extra after the job id"),
    ("running-subjob-5", "a subjob event needs an extra after the job id"),
    ("up-host-5", "a host event needs an extra after the job id"),
    ("dummy-time-5", "a time event needs an extra after the job id"),
    ("complete-work-5-*", "'*' is for triggers; an event names one item"),
    ("nightly-global-5", "a global event takes no job id and no extra"),
    ("nightly-GLOBAL-", "a global event takes no job id and no extra"),
    ("nightly-global-1-x", "a global event takes no job id and no extra"),
    ("1st-global", "bad name '1st'"),
    ("nightly-globals", "expected name-type-jobid[-extra]"),
    ("global", "expected name-type-jobid[-extra]"),
    ("globaltime-", "expected name-type-jobid[-extra]"),
    ("globaltime-soon", "expected name-type-jobid[-extra]"),
    ("globalrepeat-x-60", "unknown type 'x'"),
    ("running-subjob-5-*", "'*' is for triggers; an event names one item"),
]


@pytest.mark.parametrize(("text", "event"), ACCEPTED)
def test_parse_event_accepts(text, event):
    assert parse_event(text) == event


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_parse_event_rejects_with_exact_message(text, reason):
    with pytest.raises(ValueError) as info:
        parse_event(text)
    assert type(info.value) is EventError  # a ValueError, and not a syntax error
    assert str(info.value) == f"bad event '{text}': {reason}"


def test_parse_event_of_a_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="an event must be a str, not int"):
        parse_event(5)


@pytest.mark.parametrize(("text", "event"), ACCEPTED)
def test_event_str_is_the_canonical_text(text, event):
    assert parse_event(str(event)) == event


def test_extras_are_case_sensitive_names_and_types_are_not():
    assert parse_event("Done-JOB-5") == parse_event("done-job-5")
    assert parse_event("complete-work-5-Frame") != parse_event("complete-work-5-frame")


# --------------------------------------------------------------------------- feed


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_feed_raises_parse_events_error(impl, text, reason):
    net = impl()
    net.add_job(5)
    net.add("x-job-1", owner=5)
    with pytest.raises(ValueError) as info:
        net.feed(text)
    assert type(info.value) is EventError  # a ValueError, and not a syntax error
    assert str(info.value) == f"bad event '{text}': {reason}"


def test_feed_of_a_non_string_is_a_type_error(impl):
    with pytest.raises(TypeError):
        impl().feed(5)


@pytest.mark.parametrize(("text", "reason"), REJECTED)
def test_feed_many_names_the_index_of_the_bad_event(impl, text, reason):
    net = impl()
    net.add_job(5)
    handle = net.add("x-job-1", owner=5)
    with pytest.raises(ValueError) as info:
        net.feed_many(["x-job-1", "y-job-2", text, "x-job-1"])
    assert type(info.value) is EventError  # a ValueError, and not a syntax error
    assert str(info.value) == f"bad event '{text}' at index 2: {reason}"
    # Nothing was applied, not even the events before the bad one.
    assert net.count(handle) == 0
    assert net.why_not(handle).latched == ()


def test_feed_many_reports_the_first_bad_event(impl):
    net = impl()
    with pytest.raises(ValueError, match=r"^bad event 'b' at index 1: expected name-type-jobid\[-extra\]$"):
        net.feed_many(["a-job-1", "b", "c"])


def test_feed_accepts_parsed_events(impl):
    net = impl()
    net.add_job(5)
    handle = net.add("complete-work-self-Frame", owner=5)
    assert net.feed(parse_event("complete-work-5-Frame")) == [handle]
    assert net.feed(Event("complete", "work", 5, "Frame")) == [handle]
    assert net.feed_many([Event("complete", "work", 5, "Frame"), "complete-work-5-Frame"]) == [
        (0, handle),
        (1, handle),
    ]


def test_feed_matches_case_insensitively_on_name_and_type_only(impl):
    net = impl()
    net.add_job(5)
    handle = net.add("Complete-WORK-self-Frame", owner=5)
    assert net.feed("COMPLETE-work-5-frame") == []
    assert net.feed("complete-Work-5-Frame") == [handle]


# The C core keeps plain-number extras (frame numbers) as numbers rather than interned text: only
# canonical spellings, so an extra still matches exactly its own text.
NUMBER_LIKE_EXTRAS = ["0", "5", "05", "00", "123456789", "1234567890", "999999999", "4294967297", "-1", "5a"]


@pytest.mark.parametrize("extra", NUMBER_LIKE_EXTRAS)
def test_number_like_extras_match_exactly_their_own_text(impl, extra):
    net = impl()
    net.add_job(5)
    handles = {text: net.add(f"complete-work-self-{text}", owner=5) for text in NUMBER_LIKE_EXTRAS}
    fired = net.feed_many([f"complete-work-5-{extra}", f"complete-work-5-{extra}"])
    assert fired == [(0, handles[extra]), (1, handles[extra])]
    assert net.why_not(handles[extra]).awaited == (f"complete-work-self-{extra}",)


def test_number_extras_with_maximum_and_state_aware_catch_up(impl):
    net = impl(state_aware=True)
    net.add_job(5)
    net.feed_many(["complete-work-5-7", "complete-work-5-07", "failed-work-5-8"])
    # The state store holds number and text extras alike; catch-up finds both.
    caught = net.add("complete-work-5-7 && complete-work-5-07", owner=5, maximum=1)
    assert net.drain_catch_up() == [caught]
    later = net.add("done-work-5-8", owner=5)
    assert net.drain_catch_up() == [later]
    net.remove_job(5)
    assert net.stats()["callbacks"] == 0


def test_feed_many_accepts_any_iterable(impl):
    net = impl()
    net.add_job(5)
    handle = net.add("x-job-self", owner=5)
    assert net.feed_many(e for e in ["x-job-5", "y-job-5", "x-job-5"]) == [(0, handle), (2, handle)]
    assert net.feed_many([]) == []


# --------------------------------------------------------------------------- hand-made Event objects
#
# docs/semantics.md accepts "an Event (from qbtrigger.parse_event)". An Event built by hand may not
# be what parse_event would return; the twins must still agree, and the only reading that keeps
# "an event names one item" (no '*') and case-insensitive names is: an Event is fed as its text,
# feed(e) == feed(str(e)), in both twins.

HAND_MADE = [
    Event("Complete", "JOB", 5, None),
    Event("complete", "work", 5, "*"),
    Event("complete", "job", None, None),
    Event("complete", "job", 5, "x"),
    Event("complete", "jobs", 5, None),
    Event("complete", "job", -1, None),
    Event("Nightly", "GLOBAL", None, None),
    Event("nightly", "global", 5, None),
    Event("nightly", "global", None, "x"),
    Event("dummy", "globaltime", None, "5"),
]


def _outcome(call):
    try:
        return ("ok", call())
    except ValueError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("event", HAND_MADE, ids=str)
def test_a_hand_made_event_is_fed_as_its_text(impl, event):
    results = []
    for form in (event, str(event)):
        net = impl(state_aware=True)
        net.add_job(5)
        net.add("complete-job-self || complete-work-self-*", owner=5)
        results.append((_outcome(lambda form=form: net.feed(form)), net.why_not(1)))
        results.append(_outcome(lambda form=form: net.feed_many(["complete-job-6", form])))
    assert results[0] == results[2]
    assert results[1] == results[3]
