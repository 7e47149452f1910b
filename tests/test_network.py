"""The matcher's semantics (SPEC §4-§6, docs/semantics.md), rule by rule, on small readable cases.

Every test runs on both twins and, to keep the referee honest, on the brute-force oracle
(tests/oracle.py) too: the ``impl`` fixture is overridden here to add the ``oracle`` id.
"""

from __future__ import annotations

from functools import partial

import pytest

from conftest import IMPL_IDS_AND_ORACLE, load_network_class
from qbtrigger import Event, LimitError, TriggerSyntaxError, WhyNot


@pytest.fixture(scope="module", params=IMPL_IDS_AND_ORACLE)
def impl(request):
    return load_network_class(request.param)


def network(impl, *jobs, state_aware=False):
    """A network with jobs added: each job is an id or a dict of add_job's arguments."""
    net = impl(state_aware=state_aware)
    for job in jobs:
        if isinstance(job, dict):
            net.add_job(**job)
        else:
            net.add_job(job)
    return net


def key_error_text(info) -> str:
    return info.value.args[0]


# =========================================================================== firing (SPEC §4)


class TestFiring:
    def test_single_atom_fires_on_its_event(self, impl):
        net = network(impl, 5)
        h = net.add("complete-job-5", owner=5)
        assert net.feed("complete-job-5") == [h]
        assert net.count(h) == 1

    def test_unrelated_events_do_not_fire(self, impl):
        net = network(impl, 5)
        net.add("complete-job-5", owner=5)
        for event in ("failed-job-5", "complete-job-6", "complete-work-5-1", "complete-subjob-5-0"):
            assert net.feed(event) == []

    def test_and_fires_when_its_last_missing_event_arrives(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 && b-job-2 && c-job-3", owner=5)
        assert net.feed("c-job-3") == []
        assert net.feed("a-job-1") == []
        assert net.feed("b-job-2") == [h]

    def test_a_latch_already_set_stays_set(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 && b-job-2", owner=5)
        assert net.feed_many(["a-job-1", "a-job-1", "a-job-1"]) == []
        assert net.feed("b-job-2") == [h]
        assert net.count(h) == 1

    def test_or_fires_on_the_first_branch_and_rearms(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 || b-job-2", owner=5)
        assert net.feed("b-job-2") == [h]
        assert net.feed("a-job-1") == [h]
        assert net.count(h) == 2

    def test_firing_clears_every_latch_of_the_callback(self, impl):
        net = network(impl, 5)
        h = net.add("(a-job-1 && b-job-2) || (c-job-3 && d-job-4)", owner=5)
        assert net.feed("a-job-1") == []
        assert net.feed("c-job-3") == []
        assert net.feed("b-job-2") == [h]
        # c's latch was cleared by the firing: d alone is not enough.
        assert net.feed("d-job-4") == []
        assert net.feed("c-job-3") == [h]

    def test_after_firing_the_whole_expression_must_be_satisfied_again(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 && b-job-2", owner=5)
        assert net.feed_many(["a-job-1", "b-job-2"]) == [(1, h)]
        assert net.feed("b-job-2") == []
        assert net.feed("a-job-1") == [h]

    def test_one_event_sets_every_occurrence_of_the_same_atom(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 && (a-job-1 || b-job-2)", owner=5)
        assert net.feed("a-job-1") == [h]

    def test_one_event_fires_a_callback_only_once(self, impl):
        net = network(impl, 5)
        h = net.add(["a-job-1", "a-job-1 || b-job-2", "A-JOB-1"], owner=5)
        assert net.feed("a-job-1") == [h]
        assert net.count(h) == 1

    def test_wildcard_work_atom_fires_once_per_matching_event(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-self-*", owner=5)
        assert net.feed_many(
            ["complete-work-5-1", "complete-work-5-2", "complete-work-6-1", "complete-work-5-1"]
        ) == [(0, h), (1, h), (3, h)]

    def test_wildcard_subjob_and_host_atoms(self, impl):
        net = network(impl, 5)
        subjob = net.add("running-subjob-self-*", owner=5)
        host = net.add("up-host-5-*", owner=5)
        assert net.feed("running-subjob-5-0") == [subjob]
        assert net.feed("running-subjob-5-3") == [subjob]
        assert net.feed("up-host-5-render01") == [host]

    def test_wildcard_inside_an_and(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-self-* && complete-job-7", owner=5)
        assert net.feed_many(["complete-work-5-1", "complete-work-5-2", "complete-job-7"]) == [(2, h)]
        assert net.feed("complete-job-7") == []
        assert net.feed("complete-work-5-3") == [h]

    def test_extras_are_compared_as_written(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-self-Frame5 || complete-subjob-self-1", owner=5)
        assert (
            net.feed_many(["complete-work-5-frame5", "complete-work-5-Frame05", "complete-subjob-5-01"]) == []
        )
        assert net.feed("complete-work-5-Frame5") == [h]

    def test_work_extra_with_hyphens(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-self--10", owner=5)
        assert net.feed("complete-work-5-10") == []
        assert net.feed("complete-work-5--10") == [h]

    def test_types_must_be_equal(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-self-1", owner=5)
        assert net.feed("complete-subjob-5-1") == []
        assert net.feed("complete-host-5-1") == []
        assert net.feed("complete-work-5-1") == [h]

    @pytest.mark.parametrize("name", ["complete", "failed", "killed", "COMPLETE", "Killed"])
    def test_done_matches_complete_failed_and_killed(self, impl, name):
        net = network(impl, 5)
        job = net.add("done-job-self", owner=5)
        work = net.add("done-work-self-1", owner=5)
        assert net.feed(f"{name}-job-5") == [job]
        assert net.feed(f"{name}-work-5-1") == [work]

    @pytest.mark.parametrize("name", ["running", "blocked", "submit", "removed", "doner"])
    def test_done_does_not_match_other_names(self, impl, name):
        net = network(impl, 5)
        net.add("done-job-self", owner=5)
        assert net.feed(f"{name}-job-5") == []

    def test_an_event_literally_named_done_matches_done_atoms_only(self, impl):
        net = network(impl, 5)
        done = net.add("done-job-self", owner=5)
        complete = net.add("complete-job-self", owner=5)
        assert net.feed("done-job-5") == [done]
        assert net.count(complete) == 0

    def test_complete_does_not_match_failed(self, impl):
        net = network(impl, 5)
        net.add("complete-job-self", owner=5)
        assert net.feed("failed-job-5") == []

    def test_user_defined_names_match_literally(self, impl):
        net = network(impl, 5)
        h = net.add("Lighting_Approved-job-self", owner=5)
        assert net.feed("lighting_approved-job-6") == []
        assert net.feed("LIGHTING_APPROVED-job-5") == [h]

    def test_callbacks_fired_by_one_event_come_in_registration_order(self, impl):
        net = network(impl, 5, 6)
        first = net.add("b-job-2 && a-job-1", owner=6)
        second = net.add("a-job-1", owner=5)
        third = net.add("x-job-9 || a-job-1", owner=6)
        assert net.feed("b-job-2") == []
        assert net.feed("a-job-1") == [first, second, third]
        # b's latch was cleared when first fired: it needs a and b again.
        assert net.feed_many(["a-job-1", "b-job-2", "a-job-1"]) == [
            (0, second),
            (0, third),
            (1, first),
            (2, second),
            (2, third),
        ]

    def test_events_before_registration_do_not_latch(self, impl):
        net = network(impl, 5)
        net.feed("a-job-1")
        h = net.add("a-job-1 && b-job-2", owner=5)
        assert net.feed("b-job-2") == []
        assert net.why_not(h) == WhyNot(("b-job-2",), ("a-job-1",))
        assert net.feed("a-job-1") == [h]

    def test_events_may_name_jobs_that_were_never_added(self, impl):
        net = network(impl, 5)
        h = net.add("complete-job-99 && complete-work-1234-7", owner=5)
        assert net.feed_many(["complete-job-99", "complete-work-1234-7"]) == [(1, h)]

    def test_feed_many_is_the_same_as_feeding_one_by_one(self, impl):
        stream = ["a-job-1", "b-job-2", "a-job-1", "c-job-3", "b-job-2", "a-job-1", "c-job-3"]
        expressions = ["a-job-1 && b-job-2", "a-job-1 || c-job-3", "(a-job-1 || b-job-2) && c-job-3"]
        one_by_one = network(impl, 5)
        many = network(impl, 5)
        for text in expressions:
            one_by_one.add(text, owner=5)
            many.add(text, owner=5)
        expected = [(i, h) for i, event in enumerate(stream) for h in one_by_one.feed(event)]
        assert many.feed_many(stream) == expected
        assert expected  # the stream does fire something

    def test_a_callback_removed_inside_a_batch_leaves_its_key_to_the_others(self, impl):
        # The C core looks up every event's keys (and their first latch) before applying any; a
        # callback that reaches its maximum mid-batch changes those lists under the later events.
        stream = ["a-work-1-1", "a-work-1-1", "b-job-2", "a-work-1-1", "a-work-1-1"]
        one_by_one = network(impl, 5)
        many = network(impl, 5)
        for net in (one_by_one, many):
            net.add("a-work-1-1", owner=5, maximum=1)
            net.add("a-work-1-1 && b-job-2", owner=5, maximum=1)
            net.add("a-work-1-1", owner=5, maximum=2)
            net.add("a-work-1-*", owner=5)
        expected = [(i, h) for i, event in enumerate(stream) for h in one_by_one.feed(event)]
        assert many.feed_many(stream) == expected
        assert len(expected) == 1 + 2 + 1 + 4  # every maximum reached within the stream

    def test_feed_returns_a_list_and_feed_many_a_list_of_pairs(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1", owner=5)
        fired = net.feed("a-job-1")
        assert type(fired) is list and fired == [h]
        pairs = net.feed_many(["a-job-1"])
        assert type(pairs) is list and pairs == [(0, h)] and type(pairs[0]) is tuple


# =========================================================================== contexts


class TestContexts:
    def test_self_is_the_owner(self, impl):
        net = network(impl, 5, 6)
        h = net.add("complete-job-self", owner=5)
        assert net.feed("complete-job-6") == []
        assert net.feed("complete-job-5") == [h]

    def test_same_text_with_self_means_each_owners_own_job(self, impl):
        net = network(impl, 5, 6)
        h5 = net.add("complete-job-self", owner=5)
        h6 = net.add("complete-job-self", owner=6)
        assert net.feed("complete-job-6") == [h6]
        assert net.feed("complete-job-5") == [h5]

    def test_parent_is_the_owners_pid_even_if_never_added(self, impl):
        net = network(impl, {"jobid": 5, "pid": 40})
        h = net.add("done-job-parent", owner=5)
        assert net.feed("complete-job-5") == []
        assert net.feed("killed-job-40") == [h]

    def test_numeric_context_with_leading_zeros(self, impl):
        net = network(impl, 5)
        h = net.add("complete-job-0040", owner=5)
        assert net.feed("complete-job-40") == [h]

    def test_label_resolves_inside_the_owners_pgrp(self, impl):
        net = network(
            impl,
            {"jobid": 10, "label": "render"},
            {"jobid": 11, "pgrp": 10, "label": "comp"},
            {"jobid": 20, "label": "render"},
        )
        h = net.add("complete-job-render", owner=11)
        assert net.feed("complete-job-20") == []
        assert net.feed("complete-job-10") == [h]

    def test_label_of_the_owner_itself(self, impl):
        net = network(impl, {"jobid": 10, "label": "me"})
        h = net.add("complete-work-me-1", owner=10)
        assert net.feed("complete-work-10-1") == [h]

    def test_labels_are_case_sensitive(self, impl):
        net = network(impl, {"jobid": 10, "label": "Render"}, {"jobid": 11, "pgrp": 10})
        h = net.add("complete-job-render || complete-job-Render", owner=11)
        assert net.feed("complete-job-10") == [h]
        assert net.why_not(h) == WhyNot((), ("complete-job-render", "complete-job-Render"))

    def test_label_of_a_job_added_after_the_callback_binds(self, impl):
        net = network(impl, 10)
        h = net.add("complete-job-render", owner=10)
        assert net.feed("complete-job-11") == []
        net.add_job(11, pgrp=10, label="render")
        assert net.feed("complete-job-11") == [h]

    def test_label_unbinds_when_its_job_is_removed_and_rebinds_to_a_new_holder(self, impl):
        net = network(impl, 10, {"jobid": 11, "pgrp": 10, "label": "render"})
        h = net.add("complete-job-render", owner=10)
        net.remove_job(11)
        assert net.feed("complete-job-11") == []
        net.add_job(12, pgrp=10, label="render")
        assert net.feed("complete-job-11") == []
        assert net.feed("complete-job-12") == [h]

    def test_label_in_a_different_pgrp_does_not_bind(self, impl):
        net = network(impl, 10)
        h = net.add("complete-job-render", owner=10)
        net.add_job(11, label="render")  # pgrp 11
        assert net.feed("complete-job-11") == []
        assert net.why_not(h).latched == ()

    def test_a_latch_set_through_a_label_survives_the_label_job_leaving(self, impl):
        net = network(impl, 10, {"jobid": 11, "pgrp": 10, "label": "render"})
        h = net.add("complete-job-render && go-job-self", owner=10)
        assert net.feed("complete-job-11") == []
        net.remove_job(11)
        assert net.why_not(h).latched == ("complete-job-render",)
        assert net.feed("go-job-10") == [h]

    def test_label_bound_job_can_be_a_job_without_callbacks_from_another_owner(self, impl):
        net = network(impl, {"jobid": 1, "label": "a"}, {"jobid": 2, "pgrp": 1, "label": "b"})
        ha = net.add("x-job-b", owner=1)
        hb = net.add("x-job-a", owner=2)
        assert net.feed("x-job-2") == [ha]
        assert net.feed("x-job-1") == [hb]

    def test_global_time_atoms_have_no_context(self, impl):
        net = network(impl, 5)
        h = net.add("tick-globaltime-100", owner=5)
        assert net.feed("tick-globaltime-100") == [h]
        assert net.feed("tick-globaltime-101") == []


# =========================================================================== events of no job


class TestGlobalForms:
    """``NAME-global`` (Qube's type global: an event of no job, with no extra, that a program raises)
    and the two-field clock forms ``globaltime-T`` / ``globalrepeat-T-I`` (``dummy-globaltime-T``)."""

    def test_a_global_atom_matches_its_own_event_only(self, impl):
        net = network(impl, 5)
        h = net.add("Nightly-GLOBAL", owner=5)
        assert net.why_not(h) == WhyNot((), ("nightly-global",))
        assert net.feed("other-global") == []
        assert net.feed("nightly-job-5") == []
        assert net.feed("nightly-globaltime-5") == []
        assert net.feed("nightly-global") == [h]
        assert net.feed("NIGHTLY-Global") == [h]
        assert net.feed_many(["nightly-global", "x-job-5", "nightly-global"]) == [(0, h), (2, h)]

    def test_an_event_spelling_a_global_atom_with_an_extra_is_still_refused(self, impl):
        # the pure twin looks an event up as its own key first: a global key must not take one
        net = network(impl, 5)
        h = net.add("nightly-global", owner=5)
        for text in ("nightly-global-None", "nightly-global-", "nightly-global-5"):
            with pytest.raises(ValueError, match="a global event takes no job id and no extra"):
                net.feed(text)
            with pytest.raises(ValueError, match="a global event takes no job id and no extra"):
                net.feed_many(["nightly-global", text])
        assert net.count(h) == 0

    def test_a_global_atom_is_no_jobs_atom(self, impl):
        net = network(impl, 5)
        job = net.add("nightly-job-self", owner=5)
        glob = net.add("nightly-global", owner=5)
        assert net.feed("nightly-job-5") == [job]
        assert net.feed("nightly-global") == [glob]

    def test_done_global_matches_the_terminal_names(self, impl):
        net = network(impl, 5)
        h = net.add("done-global", owner=5)
        assert [net.feed(f"{name}-global") for name in ("complete", "failed", "killed", "running")] == [
            [h], [h], [h], [],
        ]

    def test_global_and_job_atoms_together(self, impl):
        net = network(impl, 5, {"jobid": 6, "pgrp": 5, "label": "render"})
        h = net.add("complete-job-render && approved-global", owner=5)
        assert net.feed("approved-global") == []
        assert net.why_not(h) == WhyNot(("approved-global",), ("complete-job-render",))
        assert net.feed("complete-job-6") == [h]

    def test_a_global_atom_is_never_due_on_the_clock(self, impl):
        net = network(impl, 5)
        h = net.add("nightly-global", owner=5)
        assert net.next_due() is None
        assert net.advance(10**6) == []
        assert net.count(h) == 0

    def test_a_global_event_sets_no_state_and_is_never_caught_up(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-global")
        h = net.add("complete-global || done-global", owner=5)
        assert net.drain_catch_up() == []
        assert net.feed("complete-global") == [h]
        assert net.feed("running-global") == []

    def test_two_field_globaltime_fires_when_the_clock_reaches_it(self, impl):
        net = network(impl, 5)
        h = net.add("globaltime-100", owner=5)
        assert net.why_not(h) == WhyNot((), ("dummy-globaltime-100",))
        assert net.next_due() == 100
        assert net.advance_many(99) == []
        assert net.advance_many(1000) == [(100, h)]

    def test_two_field_globalrepeat_repeats(self, impl):
        net = network(impl, 5)
        h = net.add("GlobalRepeat-0-7", owner=5)
        assert net.advance_many(21) == [(7, h), (14, h), (21, h)]
        assert net.why_not(h).awaited == ("dummy-globalrepeat-0-7",)

    def test_two_field_form_is_the_dummy_named_atom(self, impl):
        net = network(impl, 5)
        short = net.add("globaltime-100", owner=5)
        full = net.add("dummy-globaltime-100", owner=5)
        other = net.add("tick-globaltime-100", owner=5)
        assert net.stats()["alpha_entries"] == 2  # short and full share their key
        assert net.feed("dummy-globaltime-100") == [short, full]
        assert net.feed("globaltime-100") == [short, full]  # an event may be written so too
        assert net.feed("tick-globaltime-100") == [other]

    def test_globaltime_before_a_type_is_an_event_name(self, impl):
        net = network(impl, 5)
        h = net.add("globaltime-job-self", owner=5)
        assert net.feed("globaltime-100") == []
        assert net.feed("globaltime-job-5") == [h]

    def test_a_passed_two_field_time_is_caught_up_as_its_dummy_event(self, impl):
        net = network(impl, 5, state_aware=True)
        net.advance(60)
        h = net.add("globaltime-50", owner=5)
        assert net.drain_catch_up_events() == [(h, Event("dummy", "globaltime", None, "50"))]


# =========================================================================== jobs


class TestJobs:
    def test_duplicate_job_is_a_value_error(self, impl):
        net = network(impl, 5)
        with pytest.raises(ValueError) as info:
            net.add_job(5, label="x")
        assert str(info.value) == "job 5 is already added"

    def test_duplicate_label_in_a_pgrp_is_a_value_error(self, impl):
        net = network(impl, {"jobid": 5}, {"jobid": 6, "pgrp": 5, "label": "render"})
        with pytest.raises(ValueError) as info:
            net.add_job(7, pgrp=5, label="render")
        assert str(info.value) == "label 'render' is already used in pgrp 5 by job 6"
        assert net.stats()["jobs"] == 2

    def test_same_label_in_another_pgrp_or_another_case_is_fine(self, impl):
        net = network(impl, {"jobid": 5, "label": "render"})
        net.add_job(6, label="render")
        net.add_job(7, pgrp=5, label="Render")
        assert net.stats()["jobs"] == 3

    def test_a_removed_jobs_label_can_be_reused(self, impl):
        net = network(impl, {"jobid": 5, "label": "render"})
        net.remove_job(5)
        net.add_job(6, pgrp=5, label="render")

    def test_pgrp_defaults_to_the_job_id(self, impl):
        net = network(impl, {"jobid": 5, "label": "render"})
        with pytest.raises(ValueError, match=r"^label 'render' is already used in pgrp 5 by job 5$"):
            net.add_job(6, pgrp=5, label="render")

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"jobid": -1}, "job id -1 is out of range (0 to 2147483647)"),
            ({"jobid": 2**31}, "job id 2147483648 is out of range (0 to 2147483647)"),
            ({"jobid": 1, "pgrp": -5}, "pgrp -5 is out of range (0 to 2147483647)"),
            ({"jobid": 1, "pgrp": 2**40}, "pgrp 1099511627776 is out of range (0 to 2147483647)"),
            ({"jobid": 1, "pid": -1}, "pid -1 is out of range (0 to 2147483647)"),
            ({"jobid": 1, "pid": 2**31}, "pid 2147483648 is out of range (0 to 2147483647)"),
        ],
    )
    def test_ids_out_of_range(self, impl, kwargs, message):
        net = network(impl)
        with pytest.raises(ValueError) as info:
            net.add_job(**kwargs)
        assert type(info.value) is LimitError  # a ValueError, and not a syntax error
        assert str(info.value) == message
        assert net.stats()["jobs"] == 0

    def test_ids_at_the_limits_are_fine(self, impl):
        net = network(impl)
        net.add_job(0, pgrp=2147483647, pid=2147483647)
        net.add_job(2147483647, pgrp=0, pid=0)
        h = net.add("complete-job-parent", owner=2147483647)
        assert net.feed("complete-job-2147483647") == []
        assert net.feed("complete-job-0") == [h]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"jobid": True},
            {"jobid": "5"},
            {"jobid": 5.0},
            {"jobid": 1, "pgrp": False},
            {"jobid": 1, "pid": True},
        ],
    )
    def test_ids_must_be_ints_and_not_bools(self, impl, kwargs):
        net = network(impl)
        with pytest.raises(TypeError):
            net.add_job(**kwargs)
        assert net.stats()["jobs"] == 0

    def test_any_str_is_a_label_even_one_no_atom_can_spell(self, impl):
        net = network(impl, {"jobid": 5, "label": ""}, {"jobid": 6, "pgrp": 5, "label": "a-b"})
        with pytest.raises(ValueError, match=r"^label '' is already used in pgrp 5 by job 5$"):
            net.add_job(7, pgrp=5, label="")
        h = net.add("complete-job-a || complete-job-b", owner=5)
        assert net.feed_many(["complete-job-6", "complete-job-5"]) == []
        assert net.count(h) == 0

    def test_looked_up_ids_take_any_int_and_are_simply_unknown(self, impl):
        net = network(impl, 5)
        for jobid in (-1, 2**31, 2**70):
            with pytest.raises(KeyError) as info:
                net.remove_job(jobid)
            assert key_error_text(info) == f"unknown job {jobid}"
            with pytest.raises(KeyError) as info:
                net.add("a-job-1", owner=jobid)
            assert key_error_text(info) == f"unknown job {jobid}"

    def test_remove_unknown_job_is_a_key_error(self, impl):
        net = network(impl, 4)
        with pytest.raises(KeyError) as info:
            net.remove_job(5)
        assert key_error_text(info) == "unknown job 5"

    def test_remove_job_twice_is_a_key_error(self, impl):
        net = network(impl, 5)
        net.remove_job(5)
        with pytest.raises(KeyError, match="unknown job 5"):
            net.remove_job(5)

    def test_remove_job_removes_its_callbacks_only(self, impl):
        net = network(impl, 5, 6)
        mine = net.add("a-job-1", owner=5)
        other = net.add("a-job-1", owner=6)
        net.remove_job(5)
        assert mine not in net and other in net and len(net) == 1
        assert net.feed("a-job-1") == [other]
        with pytest.raises(KeyError, match="unknown callback handle 1"):
            net.count(mine)

    def test_a_job_id_can_be_added_again_after_removal_without_its_old_callbacks(self, impl):
        net = network(impl, 5)
        net.add("a-job-1", owner=5)
        net.remove_job(5)
        net.add_job(5)
        assert len(net) == 0
        assert net.feed("a-job-1") == []
        assert net.add("a-job-1", owner=5) == 2

    def test_stats_counts_jobs(self, impl):
        net = network(impl, 1, 2, 3)
        net.remove_job(2)
        assert net.stats()["jobs"] == 2


# =========================================================================== callbacks and handles


class TestCallbacks:
    def test_handles_count_up_from_one_and_are_never_reused(self, impl):
        net = network(impl, 5)
        assert [net.add("a-job-1", owner=5) for _ in range(3)] == [1, 2, 3]
        net.remove(3)
        net.remove(1)
        assert net.add("a-job-1", owner=5) == 4

    def test_handles_keep_counting_across_owners_and_removed_jobs(self, impl):
        net = network(impl, 5, 6)
        assert net.add("a-job-1", owner=5) == 1
        net.remove_job(5)
        assert net.add("a-job-1", owner=6) == 2

    def test_len_contains_count_and_owner(self, impl):
        net = network(impl, 5, 6)
        h1 = net.add("a-job-1", owner=5)
        h2 = net.add("a-job-1 && b-job-2", owner=6)
        assert len(net) == 2 and h1 in net and h2 in net and 3 not in net and 0 not in net
        assert (net.owner(h1), net.owner(h2)) == (5, 6)
        net.feed("a-job-1")
        net.feed("a-job-1")
        assert (net.count(h1), net.count(h2)) == (2, 0)
        net.remove(h1)
        assert len(net) == 1 and h1 not in net

    def test_only_ints_are_handles(self, impl):
        net = network(impl, 5)
        assert net.add("a-job-1", owner=5) == 1
        assert 1 in net
        for not_a_handle in (True, "1", None, 1.5):
            assert not_a_handle not in net
        for method in ("remove", "count", "owner", "why_not"):
            with pytest.raises(TypeError):
                getattr(net, method)(True)
        assert len(net) == 1

    @pytest.mark.parametrize("method", ["remove", "count", "owner", "why_not"])
    def test_unknown_handles_are_key_errors(self, impl, method):
        net = network(impl, 5)
        h = net.add("a-job-1", owner=5)
        for bad in (0, 7, -1):
            with pytest.raises(KeyError) as info:
                getattr(net, method)(bad)
            assert key_error_text(info) == f"unknown callback handle {bad}"
        net.remove(h)
        with pytest.raises(KeyError) as info:
            getattr(net, method)(h)
        assert key_error_text(info) == f"unknown callback handle {h}"

    def test_unknown_owner_is_a_key_error(self, impl):
        net = network(impl, 4)
        with pytest.raises(KeyError) as info:
            net.add("a-job-1", owner=5)
        assert key_error_text(info) == "unknown job 5"

    @pytest.mark.parametrize("maximum", [0, -1, -(2**40)])
    def test_maximum_below_one_is_a_value_error(self, impl, maximum):
        net = network(impl, 5)
        with pytest.raises(ValueError) as info:
            net.add("a-job-1", owner=5, maximum=maximum)
        assert str(info.value) == "maximum must be at least 1"

    @pytest.mark.parametrize("maximum", [True, "2", 2.0])
    def test_maximum_must_be_an_int(self, impl, maximum):
        net = network(impl, 5)
        with pytest.raises(TypeError):
            net.add("a-job-1", owner=5, maximum=maximum)

    def test_owner_must_be_an_int(self, impl):
        net = network(impl, 1)
        for bad in (True, "1", 1.0):
            with pytest.raises(TypeError):
                net.add("a-job-1", owner=bad)

    def test_checks_run_in_order_triggers_type_owner_maximum_expressions(self, impl):
        net = network(impl, 5)
        with pytest.raises(TypeError):
            net.add(7, owner=6, maximum=0)
        with pytest.raises(KeyError, match="unknown job 6"):
            net.add("a-job-1 &&", owner=6, maximum=0)
        with pytest.raises(ValueError, match=r"^maximum must be at least 1$"):
            net.add("a-job-1 &&", owner=5, maximum=0)
        with pytest.raises(TriggerSyntaxError):
            net.add("a-job-1 &&", owner=5, maximum=1)

    def test_failed_add_consumes_no_handle(self, impl):
        net = network(impl, 5)
        assert net.add("a-job-1", owner=5) == 1
        for bad in [("a-job-1 &&", 5, None), ("a-job-1", 6, None), ("a-job-1", 5, 0), ([], 5, None)]:
            with pytest.raises((TriggerSyntaxError, KeyError, ValueError)):
                net.add(*bad)
        assert net.add("a-job-1", owner=5) == 2
        assert len(net) == 2

    def test_a_callback_holds_at_most_32000_atoms(self, impl):
        net = network(impl, 5)
        biggest = " || ".join(["a-job-1"] * 32000)
        assert net.add(biggest, owner=5) == 1
        assert net.stats()["atoms"] == 32000
        assert net.feed("a-job-1") == [1]
        for too_big in (
            biggest + " || b-job-2",
            ["a-job-1 && b-job-2", biggest[: len(biggest) - 11]] + ["c-job-3"],
        ):
            with pytest.raises(ValueError) as info:
                net.add(too_big, owner=5)
            assert type(info.value) is LimitError  # a ValueError, and not a syntax error
            assert str(info.value) == "a callback may hold at most 32000 events"
        assert net.add("a-job-1", owner=5) == 2
        assert net.stats()["atoms"] == 32001

    def test_syntax_errors_come_before_the_size_limit(self, impl):
        net = network(impl, 5)
        with pytest.raises(TriggerSyntaxError):
            net.add([" || ".join(["a-job-1"] * 32001), "b-job-2 &&"], owner=5)

    def test_maximum_one_fires_once_and_is_removed(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1", owner=5, maximum=1)
        other = net.add("a-job-1", owner=5)
        assert net.feed("a-job-1") == [h, other]
        assert h not in net and len(net) == 1
        assert net.feed("a-job-1") == [other]
        with pytest.raises(KeyError, match="unknown callback handle 1"):
            net.count(h)

    def test_maximum_two_fires_twice(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 || b-job-2", owner=5, maximum=2)
        assert net.feed_many(["a-job-1", "b-job-2", "a-job-1"]) == [(0, h), (1, h)]
        assert h not in net

    def test_count_survives_until_the_maximum(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1", owner=5, maximum=3)
        net.feed_many(["a-job-1", "a-job-1"])
        assert net.count(h) == 2

    def test_removed_callback_never_fires(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 && b-job-2", owner=5)
        net.feed("a-job-1")
        net.remove(h)
        assert net.feed("b-job-2") == []

    def test_trigger_list_is_an_or_of_its_items(self, impl):
        net = network(impl, 5)
        h = net.add(["a-job-1 && b-job-2", "c-job-3"], owner=5)
        assert net.feed("a-job-1") == []
        assert net.feed("c-job-3") == [h]
        assert net.feed("b-job-2") == []  # a was cleared by the firing
        h2 = net.add(("a-job-1",), owner=5)
        assert net.feed("a-job-1") == [h, h2]

    def test_add_returns_an_int(self, impl):
        net = network(impl, 5)
        assert type(net.add("a-job-1", owner=5)) is int


# =========================================================================== why_not and stats


class TestIntrospection:
    def test_why_not_lists_canonical_atoms_in_expression_order(self, impl):
        net = network(impl, {"jobid": 5, "pid": 3})
        h = net.add("COMPLETE-JOB-007 && (Done-Work-Render-Frame1 || x-job-SELF) && y-job-Parent", owner=5)
        awaited = ("complete-job-7", "done-work-Render-Frame1", "x-job-self", "y-job-parent")
        assert net.why_not(h) == WhyNot((), awaited)
        net.feed("x-job-5")
        assert net.why_not(h) == WhyNot(
            ("x-job-self",), ("complete-job-7", "done-work-Render-Frame1", "y-job-parent")
        )

    def test_why_not_returns_a_whynot_of_tuples(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1", owner=5)
        result = net.why_not(h)
        assert isinstance(result, WhyNot)
        assert type(result.latched) is tuple and type(result.awaited) is tuple

    def test_why_not_after_firing_shows_everything_awaited(self, impl):
        net = network(impl, 5)
        h = net.add("a-job-1 && b-job-2", owner=5)
        net.feed_many(["a-job-1", "b-job-2"])
        assert net.why_not(h) == WhyNot((), ("a-job-1", "b-job-2"))

    def test_why_not_repeats_duplicate_atoms_and_spans_trigger_lists(self, impl):
        net = network(impl, 5)
        h = net.add(["a-job-1 && b-job-2", "tick-globaltime-0100 && a-job-01"], owner=5)
        net.feed("a-job-1")
        assert net.why_not(h) == WhyNot(("a-job-1", "a-job-1"), ("b-job-2", "tick-globaltime-0100"))

    def test_why_not_wildcards_and_time_atoms(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-self-* && dummy-repeat-12-0-60 && Tick-GlobalRepeat-5-10", owner=5)
        assert net.why_not(h).awaited == (
            "complete-work-self-*",
            "dummy-repeat-12-0-60",
            "tick-globalrepeat-5-10",
        )

    def test_stats_keys_and_counts(self, impl):
        net = network(impl, 5, 6)
        assert set(net.stats()) == {"callbacks", "atoms", "alpha_entries", "jobs", "bytes"}
        net.add("a-job-1 && b-job-2", owner=5)
        net.add("a-job-1 || a-job-1 || c-job-3", owner=6)
        stats = net.stats()
        assert all(type(value) is int for value in stats.values())
        assert (stats["callbacks"], stats["atoms"], stats["jobs"]) == (2, 5, 2)
        assert stats["alpha_entries"] == 3  # a-job-1, b-job-2, c-job-3

    def test_stats_alpha_entries_are_shared_between_callbacks(self, impl):
        net = network(impl, 5, 6)
        for owner in (5, 6):
            net.add("complete-job-7", owner=owner)
        assert net.stats()["alpha_entries"] == 1
        net.add("failed-job-7", owner=5)
        assert net.stats()["alpha_entries"] == 2

    def test_stats_after_removing_everything(self, impl):
        net = network(impl, 5)
        net.add("a-job-1 && b-job-2", owner=5)
        net.add("a-job-1", owner=5, maximum=1)
        net.feed("a-job-1")
        net.remove_job(5)
        stats = net.stats()
        assert (stats["callbacks"], stats["atoms"], stats["alpha_entries"], stats["jobs"]) == (0, 0, 0, 0)

    def test_stats_atoms_drop_when_maximum_removes_a_callback(self, impl):
        net = network(impl, 5)
        net.add("a-job-1 && b-job-2", owner=5)
        net.add("a-job-1 || c-job-3", owner=5, maximum=1)
        assert net.stats()["atoms"] == 4
        net.feed("a-job-1")
        assert (net.stats()["atoms"], net.stats()["callbacks"]) == (2, 1)


def test_stats_bytes_is_a_positive_estimate_for_the_twins(impl):
    if impl.__module__ == "oracle":
        pytest.skip("the oracle does not account memory")
    net = network(impl, 5)
    net.add("a-job-1 && b-job-2", owner=5)
    assert net.stats()["bytes"] > 0


# =========================================================================== time (SPEC §6)


class TestTime:
    def test_clock_starts_at_zero(self, impl):
        assert impl().clock == 0

    def test_time_atom_fires_when_the_clock_reaches_it(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100", owner=5)
        assert net.advance(99) == []
        assert net.clock == 99
        assert net.advance(100) == [h]
        assert net.advance(10**6) == []

    def test_jumping_over_a_moment_still_applies_it(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100", owner=5)
        assert net.advance_many(5000) == [(100, h)]
        assert net.clock == 5000

    def test_moments_come_in_time_order_then_handle_order(self, impl):
        net = network(impl, 5)
        late = net.add("dummy-time-self-300", owner=5)
        early = net.add("dummy-time-self-100", owner=5)
        same = net.add("tick-globaltime-100", owner=5)
        assert net.advance_many(1000) == [(100, early), (100, same), (300, late)]

    def test_advance_returns_handles_and_advance_many_pairs(self, impl):
        for method, expected in (("advance", [1, 1]), ("advance_many", [(10, 1), (20, 1)])):
            net = network(impl, 5)
            net.add("x-repeat-self-10-10", owner=5)
            result = getattr(net, method)(25)
            assert type(result) is list and result == expected

    def test_repeat_fires_at_start_and_every_interval(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-repeat-self-100-50", owner=5)
        assert net.advance_many(99) == []
        assert net.advance_many(260) == [(100, h), (150, h), (200, h), (250, h)]
        assert net.advance_many(300) == [(300, h)]
        assert net.count(h) == 5

    def test_repeat_registered_late_fires_at_its_next_occurrence(self, impl):
        net = network(impl, 5)
        net.advance(120)
        h = net.add("dummy-repeat-self-100-50", owner=5)
        assert net.advance_many(200) == [(150, h), (200, h)]

    def test_repeat_registered_exactly_on_an_occurrence_waits_for_the_next(self, impl):
        net = network(impl, 5)
        net.advance(150)
        h = net.add("dummy-repeat-self-100-50", owner=5)
        assert net.advance_many(200) == [(200, h)]

    def test_global_repeat(self, impl):
        net = network(impl, 5)
        h = net.add("tick-globalrepeat-0-7", owner=5)
        assert net.advance_many(21) == [(7, h), (14, h), (21, h)]

    def test_a_passed_time_never_fires_in_a_bare_network(self, impl):
        net = network(impl, 5)
        net.advance(100)
        hs = [
            net.add(text, owner=5) for text in ("dummy-time-self-100", "dummy-time-self-50", "t-globaltime-0")
        ]
        assert net.advance(10**9) == []
        assert [net.count(h) for h in hs] == [0, 0, 0]
        assert net.drain_catch_up() == []

    def test_time_zero_at_clock_zero_has_passed(self, impl):
        net = network(impl, 5)
        net.add("dummy-time-self-0", owner=5)
        assert net.advance(100) == []

    def test_name_and_context_do_not_matter_to_the_clock(self, impl):
        net = network(impl, 5)
        h = net.add("whatever-time-12345-100 && other-time-parentless_label-100", owner=5)
        assert net.advance_many(100) == [(100, h)]

    def test_one_moment_is_one_event_for_all_atoms_due_then(self, impl):
        net = network(impl, 5)
        both = net.add("a-time-self-100 && b-time-self-100", owner=5)
        either = net.add("a-time-self-100 || b-repeat-self-40-30", owner=5)
        assert net.advance_many(100) == [(40, either), (70, either), (100, both), (100, either)]
        assert (net.count(both), net.count(either)) == (1, 3)

    def test_and_of_two_times_fires_at_the_later(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100 && dummy-time-self-200", owner=5)
        assert net.advance_many(1000) == [(200, h)]

    def test_time_and_event(self, impl):
        net = network(impl, 5)
        h = net.add("complete-job-7 && dummy-time-self-100", owner=5)
        assert net.advance(100) == []
        assert net.feed("complete-job-7") == [h]

    def test_maximum_stops_a_repeat(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-repeat-self-10-10", owner=5, maximum=2)
        assert net.advance_many(100) == [(10, h), (20, h)]
        assert h not in net

    def test_equal_advance_is_a_no_op(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100", owner=5)
        assert net.advance(100) == [h]
        assert net.advance(100) == []
        assert net.clock == 100

    def test_clock_cannot_go_back(self, impl):
        net = network(impl, 5)
        net.advance(100)
        with pytest.raises(ValueError) as info:
            net.advance(99)
        assert str(info.value) == "the clock cannot go back from 100 to 99"
        with pytest.raises(ValueError, match=r"^the clock cannot go back from 100 to -1$"):
            net.advance_many(-1)
        assert net.clock == 100

    def test_the_clock_stops_at_max_time(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-4611686018427387904", owner=5)
        with pytest.raises(ValueError):
            net.advance(2**62 + 1)
        assert net.clock == 0
        assert net.advance_many(2**62) == [(2**62, h)]

    def test_advance_needs_an_int(self, impl):
        net = network(impl)
        for bad in (True, "5", 5.0):
            with pytest.raises(TypeError):
                net.advance(bad)
        assert net.clock == 0

    def test_time_events_fed_as_strings_match_by_key_and_do_not_move_the_clock(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100", owner=5)
        assert net.feed("other-time-5-100") == []
        assert net.feed("dummy-time-6-100") == []
        assert net.feed("dummy-time-5-100") == [h]
        assert net.clock == 0
        assert net.advance(100) == [h]

    def test_repeat_events_fed_as_strings_match_their_whole_extra(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-repeat-self-0-60 || tick-globalrepeat-0-60", owner=5)
        assert net.feed("dummy-repeat-5-60") == []
        assert net.feed("dummy-repeat-5-0-60") == [h]
        assert net.feed("tick-globalrepeat-0-60") == [h]

    def test_clock_driven_firing_respects_registration_order_and_removals(self, impl):
        net = network(impl, 5, 6)
        a = net.add("t-repeat-self-10-10", owner=6)
        b = net.add("t-time-self-20", owner=5)
        net.advance(15)
        net.remove_job(6)
        assert net.advance_many(40) == [(20, b)]
        assert a not in net

    # ---------------------------------------------------------------- next_due

    def test_next_due_of_an_empty_network_is_none(self, impl):
        net = network(impl, 5)
        assert net.next_due() is None and net.next_due(repeats=False) is None
        net.add("complete-job-7 && x-work-self-*", owner=5)
        assert net.next_due() is None and net.next_due(repeats=False) is None

    def test_next_due_of_a_time_atom(self, impl):
        net = network(impl, 5)
        net.add("complete-job-7 && dummy-time-self-100", owner=5)
        net.add("x-time-self-300", owner=5)
        assert net.next_due() == 100 and net.next_due(repeats=False) == 100
        net.advance(99)
        assert net.next_due() == 100
        net.advance(100)
        assert net.next_due() == 300
        net.advance(300)
        assert net.next_due() is None and net.next_due(repeats=False) is None

    def test_next_due_does_not_depend_on_the_latch(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100 && x-job-1", owner=5)
        net.feed("dummy-time-5-100")  # latched by a fed event: still due at 100
        assert net.why_not(h).latched == ("dummy-time-self-100",)
        assert net.next_due() == 100

    def test_next_due_of_a_repeat_is_its_next_occurrence(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-repeat-self-100-50", owner=5)
        assert net.next_due() == 100
        assert net.next_due(repeats=False) is None
        assert net.advance(100) == [h]
        assert net.next_due() == 150
        net.advance(170)
        assert net.next_due() == 200

    def test_next_due_of_a_repeat_registered_late(self, impl):
        net = network(impl, 5)
        net.advance(150)
        net.add("dummy-repeat-self-100-50", owner=5)
        assert net.next_due() == 200

    def test_next_due_of_a_repeat_whose_callback_waits_for_more(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-repeat-self-100-50 && x-job-1", owner=5)
        assert net.advance(100) == []
        assert net.next_due() == 150  # latched, not fired: due again all the same
        net.advance(1010)
        assert net.next_due() == 1050
        assert net.feed("x-job-1") == [h]
        assert net.next_due() == 1050
        assert net.advance_many(1050) == []  # the latch was cleared by the firing: set again
        assert net.feed("x-job-1") == [h]

    def test_next_due_of_global_atoms(self, impl):
        net = network(impl, 5)
        net.add("tick-globaltime-70", owner=5)
        net.add("tock-globalrepeat-30-40", owner=5)
        assert net.next_due() == 30
        assert net.next_due(repeats=False) == 70
        net.advance(70)
        assert net.next_due() == 110
        assert net.next_due(repeats=False) is None

    def test_next_due_without_repeats_ignores_repeats(self, impl):
        net = network(impl, 5, 6)
        net.add("a-repeat-self-10-10 || b-time-self-500", owner=5)
        net.add("c-repeat-self-0-3", owner=6)
        assert net.next_due() == 3
        assert net.next_due(repeats=False) == 500
        net.advance(499)
        assert net.next_due() == 500  # a's and b's; c's next is 501
        assert net.next_due(repeats=False) == 500

    def test_next_due_forgets_a_removed_callback(self, impl):
        net = network(impl, 5)
        early = net.add("dummy-time-self-100", owner=5)
        net.add("dummy-time-self-300", owner=5)
        shared = net.add("dummy-time-self-300", owner=5)
        net.remove(early)
        assert net.next_due() == 300
        net.remove(shared)
        assert net.next_due() == 300  # the other callback still holds the key

    def test_next_due_forgets_a_key_nobody_holds(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-time-self-100", owner=5)
        net.remove(h)
        assert net.next_due() is None and net.next_due(repeats=False) is None
        again = net.add("dummy-time-self-100", owner=5)  # the same key again: due as before
        assert net.next_due() == 100
        assert net.advance(100) == [again]

    def test_next_due_does_not_change_what_advance_does(self, impl):
        def run(query: bool) -> list:
            net = network(impl, 5, 6)
            out = []
            a = net.add("x-repeat-self-0-7 && y-job-1", owner=5)
            net.add("z-time-self-40", owner=6)
            for step in (5, 20, 21, 60):
                if step == 21:
                    net.remove(a)
                    net.add("x-repeat-self-0-7", owner=5)
                if query:
                    out.append((net.next_due(), net.next_due(repeats=False)))
                out.append(net.advance_many(step))
                out.append(net.feed("y-job-1"))
            return [o for o in out if type(o) is list]

        assert run(True) == run(False)

    def test_next_due_forgets_a_removed_job(self, impl):
        net = network(impl, 5, 6)
        net.add("dummy-repeat-self-10-10", owner=6)
        net.add("dummy-time-self-100", owner=5)
        assert net.next_due() == 10
        net.remove_job(6)
        assert net.next_due() == 100
        net.remove_job(5)
        assert net.next_due() is None

    def test_next_due_after_maximum_is_reached(self, impl):
        net = network(impl, 5)
        h = net.add("dummy-repeat-self-10-10", owner=5, maximum=2)
        net.add("other-time-self-100", owner=5)
        assert net.advance_many(20) == [(10, h), (20, h)]
        assert h not in net
        assert net.next_due() == 100

    def test_next_due_of_a_passed_time_is_none(self, impl):
        net = network(impl, 5)
        net.advance(200)
        net.add("dummy-time-self-100", owner=5)
        net.add("dummy-time-self-200", owner=5)
        net.add("g-globaltime-150", owner=5)
        assert net.next_due() is None
        net.add("dummy-time-self-201", owner=5)
        assert net.next_due() == 201

    def test_next_due_is_keyword_only(self, impl):
        with pytest.raises(TypeError):
            impl().next_due(False)


# =========================================================================== state-aware (SPEC §5)


class TestStateAware:
    def test_state_aware_flag(self, impl):
        assert impl().state_aware is False
        assert impl(state_aware=True).state_aware is True

    def test_catch_up_fires_at_registration(self, impl):
        net = network(impl, 5, state_aware=True)
        assert net.feed("complete-job-7") == []
        h = net.add("complete-job-7", owner=5)
        assert net.count(h) == 1
        assert net.drain_catch_up() == [h]
        assert net.drain_catch_up() == []
        assert net.why_not(h) == WhyNot((), ("complete-job-7",))

    def test_no_catch_up_in_a_bare_network(self, impl):
        net = network(impl, 5)
        net.feed("complete-job-7")
        h = net.add("complete-job-7", owner=5)
        assert net.count(h) == 0 and net.drain_catch_up() == []

    @pytest.mark.parametrize("state", ["complete", "failed", "killed"])
    def test_catch_up_of_done(self, impl, state):
        net = network(impl, 5, state_aware=True)
        net.feed(f"{state}-work-7-1")
        h = net.add("done-work-7-1", owner=5)
        assert net.drain_catch_up() == [h]

    def test_catch_up_only_latches_and_the_rest_is_awaited(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        h = net.add("complete-job-7 && complete-job-8", owner=5)
        assert net.drain_catch_up() == []
        assert net.why_not(h) == WhyNot(("complete-job-7",), ("complete-job-8",))
        assert net.feed("complete-job-8") == [h]

    def test_catch_up_uses_the_latest_state(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed_many(["complete-job-7", "running-job-7"])
        stale = net.add("complete-job-7", owner=5)
        current = net.add("running-job-7", owner=5)
        done = net.add("done-job-7", owner=5)
        assert net.drain_catch_up() == [current]
        assert (net.count(stale), net.count(done)) == (0, 0)

    @pytest.mark.parametrize("state", ["blocked", "running", "waiting", "pending", "suspended"])
    def test_every_state_name_catches_up(self, impl, state):
        net = network(impl, 5, state_aware=True)
        net.feed(f"{state}-subjob-7-0")
        h = net.add(f"{state}-subjob-7-0", owner=5)
        assert net.drain_catch_up() == [h]

    @pytest.mark.parametrize("name", ["submit", "assigned", "modified", "removed", "timeout", "approved"])
    def test_edge_only_names_do_not_catch_up(self, impl, name):
        net = network(impl, 5, state_aware=True)
        net.feed(f"{name}-job-7")
        h = net.add(f"{name}-job-7", owner=5)
        assert net.drain_catch_up() == [] and net.count(h) == 0

    def test_edge_only_names_do_not_change_the_state(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed_many(["complete-job-7", "modified-job-7"])
        h = net.add("complete-job-7", owner=5)
        assert net.drain_catch_up() == [h]

    def test_wildcards_never_catch_up(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-work-7-1")
        h = net.add("complete-work-7-*", owner=5)
        assert net.drain_catch_up() == [] and net.count(h) == 0

    def test_host_atoms_have_no_state(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-host-7-render01")
        net.add("complete-host-7-render01", owner=5)
        assert net.drain_catch_up() == []

    def test_catch_up_items_are_exact_type_and_extra(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed_many(["complete-work-7-1", "complete-subjob-7-1"])
        net.add("complete-work-7-01 || complete-job-7 || complete-work-7-2", owner=5)
        h = net.add("complete-subjob-7-1", owner=5)
        assert net.drain_catch_up() == [h]

    def test_catch_up_resolves_self_parent_and_labels_now(self, impl):
        net = network(
            impl,
            {"jobid": 10, "label": "render"},
            {"jobid": 11, "pgrp": 10, "pid": 10},
            state_aware=True,
        )
        net.feed_many(["complete-job-10", "running-job-11"])
        by_label = net.add("complete-job-render", owner=11)
        by_parent = net.add("done-job-parent", owner=11)
        by_self = net.add("running-job-self", owner=11)
        unheld_label = net.add("running-job-comp", owner=11)
        assert net.drain_catch_up() == [by_label, by_parent, by_self]
        assert net.count(unheld_label) == 0

    def test_a_label_gained_later_does_not_catch_up_retroactively(self, impl):
        net = network(impl, 10, state_aware=True)
        net.feed("complete-job-11")
        h = net.add("complete-job-comp", owner=10)
        net.add_job(11, pgrp=10, label="comp")
        assert net.drain_catch_up() == [] and net.count(h) == 0
        assert net.why_not(h).latched == ()

    def test_states_of_jobs_never_added_still_count(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("failed-job-99")
        h = net.add("done-job-99", owner=5)
        assert net.drain_catch_up() == [h]

    def test_remove_job_forgets_its_items_states(self, impl):
        net = network(impl, 5, 7, state_aware=True)
        net.feed_many(["complete-job-7", "complete-work-7-1", "complete-job-8"])
        net.remove_job(7)
        h = net.add("complete-job-7 || complete-work-7-1", owner=5)
        other = net.add("complete-job-8", owner=5)
        assert net.drain_catch_up() == [other]
        assert net.count(h) == 0

    def test_maximum_applies_to_catch_up(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        h = net.add("complete-job-7", owner=5, maximum=1)
        assert h not in net and len(net) == 0
        assert net.drain_catch_up() == [h]
        assert net.feed("complete-job-7") == []

    def test_catch_up_then_ordinary_firing(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        h = net.add("complete-job-7", owner=5, maximum=2)
        assert net.feed("complete-job-7") == [h]
        assert h not in net
        assert net.drain_catch_up() == [h]

    def test_catch_up_queue_keeps_registration_order_across_adds(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        first = net.add("complete-job-7", owner=5)
        net.add("failed-job-7", owner=5)
        third = net.add("done-job-7 || x-job-1", owner=5)
        assert net.drain_catch_up() == [first, third]

    def test_catch_up_fires_only_the_new_callback(self, impl):
        net = network(impl, 5, state_aware=True)
        old = net.add("complete-job-7 && x-job-1", owner=5)
        net.feed("complete-job-7")
        new = net.add("complete-job-7", owner=5)
        assert net.drain_catch_up() == [new]
        assert net.count(old) == 0

    def test_passed_time_atoms_catch_up(self, impl):
        net = network(impl, 5, state_aware=True)
        net.advance(100)
        on_time = net.add("dummy-time-self-100", owner=5)
        earlier = net.add("tick-globaltime-0", owner=5)
        future = net.add("dummy-time-self-101", owner=5)
        repeat = net.add("dummy-repeat-self-0-30", owner=5)
        assert net.drain_catch_up() == [on_time, earlier]
        assert net.advance_many(120) == [(101, future), (120, repeat)]

    def test_time_zero_catches_up_at_clock_zero(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("dummy-time-self-0 && complete-job-7", owner=5)
        assert net.why_not(h).latched == ("dummy-time-self-0",)
        assert net.feed("complete-job-7") == [h]

    # ---------------------------------------------------------------- retract

    def test_leaving_a_state_retracts_its_latches(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("complete-work-7-1 && complete-work-7-2", owner=5)
        net.feed("complete-work-7-1")
        net.feed("running-work-7-1")  # frame 1 is retried
        assert net.why_not(h).latched == ()
        assert net.feed("complete-work-7-2") == []
        assert net.feed("complete-work-7-1") == [h]

    def test_without_state_awareness_nothing_retracts(self, impl):
        net = network(impl, 5)
        h = net.add("complete-work-7-1 && complete-work-7-2", owner=5)
        assert net.feed_many(["complete-work-7-1", "running-work-7-1", "complete-work-7-2"]) == [(2, h)]

    def test_leaving_the_terminal_states_retracts_done(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("done-job-7 && x-job-1", owner=5)
        net.feed_many(["failed-job-7", "pending-job-7"])
        assert net.feed("x-job-1") == []
        assert net.why_not(h).latched == ("x-job-1",)

    def test_moving_between_terminal_states_keeps_done_but_retracts_the_old_name(self, impl):
        net = network(impl, 5, state_aware=True)
        done = net.add("done-job-7 && x-job-1", owner=5)
        complete = net.add("complete-job-7 && x-job-1", owner=5)
        net.feed_many(["complete-job-7", "failed-job-7"])
        assert net.feed("x-job-1") == [done]
        assert net.why_not(complete).latched == ("x-job-1",)

    def test_the_same_state_again_retracts_nothing(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("complete-job-7 && x-job-1", owner=5)
        net.feed_many(["complete-job-7", "complete-job-7"])
        assert net.feed("x-job-1") == [h]

    def test_wildcard_latches_never_retract(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("complete-work-7-* && x-job-1", owner=5)
        net.feed_many(["complete-work-7-1", "running-work-7-1"])
        assert net.why_not(h).latched == ("complete-work-7-*",)
        assert net.feed("x-job-1") == [h]

    def test_retract_touches_only_the_item_that_changed(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("complete-work-7-1 && complete-job-7 && x-job-1", owner=5)
        net.feed_many(["complete-work-7-1", "complete-job-7", "running-work-7-2", "running-subjob-7-1"])
        net.feed("running-work-8-1")
        assert net.feed("x-job-1") == [h]

    def test_retract_follows_the_previous_state_not_every_name(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("running-job-7 && x-job-1", owner=5)
        net.feed_many(["complete-job-7", "running-job-7", "running-job-7"])
        # Leaving 'complete' does not touch the running latch just set; 'running' again keeps it.
        assert net.feed("x-job-1") == [h]

    def test_retract_of_a_state_latched_by_catch_up(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        h = net.add("complete-job-7 && x-job-1", owner=5)
        net.feed("running-job-7")
        assert net.feed("x-job-1") == []
        assert net.why_not(h).awaited == ("complete-job-7",)

    def test_retract_through_self_and_label(self, impl):
        net = network(impl, {"jobid": 10, "label": "render"}, {"jobid": 11, "pgrp": 10}, state_aware=True)
        h = net.add("complete-work-render-1 && complete-work-self-1 && x-job-1", owner=11)
        net.feed_many(["complete-work-10-1", "complete-work-11-1", "x-job-1"])
        assert net.count(h) == 1
        net.feed_many(["complete-work-10-1", "complete-work-11-1", "waiting-work-10-1", "blocked-work-11-1"])
        assert net.feed("x-job-1") == []
        assert net.why_not(h).latched == ("x-job-1",)

    def test_retract_does_not_touch_edge_only_names(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("submit-job-7 && x-job-1", owner=5)
        net.feed_many(["submit-job-7", "running-job-7", "complete-job-7"])
        assert net.feed("x-job-1") == [h]

    def test_state_events_still_fire_as_edges(self, impl):
        net = network(impl, 5, state_aware=True)
        h = net.add("complete-work-7-*", owner=5)
        assert net.feed_many(["complete-work-7-1", "complete-work-7-1"]) == [(0, h), (1, h)]

    def test_drain_catch_up_is_empty_on_a_new_network(self, impl):
        assert impl(state_aware=True).drain_catch_up() == []
        assert impl(state_aware=True).drain_catch_up_events() == []

    # ---------------------------------------------------------------- the events catch-up stands for

    def test_catch_up_events_name_the_items_state(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed_many(["failed-work-7-1", "complete-job-7", "running-subjob-8-0"])
        done = net.add("done-work-7-1", owner=5)
        job = net.add("done-job-7", owner=5)
        subjob = net.add("running-subjob-8-0", owner=5)
        assert net.drain_catch_up_events() == [
            (done, Event("failed", "work", 7, "1")),
            (job, Event("complete", "job", 7, None)),
            (subjob, Event("running", "subjob", 8, "0")),
        ]
        assert net.drain_catch_up() == [] and net.drain_catch_up_events() == []

    def test_catch_up_events_resolve_self_parent_and_labels(self, impl):
        net = network(
            impl, {"jobid": 10, "label": "render"}, {"jobid": 11, "pgrp": 10, "pid": 10}, state_aware=True
        )
        net.feed_many(["complete-work-10-f1", "killed-job-10", "running-job-11"])
        by_label = net.add("complete-work-render-f1", owner=11)
        by_parent = net.add("done-job-parent", owner=11)
        by_self = net.add("running-job-self", owner=11)
        assert net.drain_catch_up_events() == [
            (by_label, Event("complete", "work", 10, "f1")),
            (by_parent, Event("killed", "job", 10, None)),
            (by_self, Event("running", "job", 11, None)),
        ]

    def test_catch_up_event_is_the_latch_that_completed_the_callback(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed_many(["complete-job-7", "complete-work-8-1", "failed-job-9"])
        both = net.add("complete-job-7 && complete-work-8-1", owner=5)
        first = net.add("failed-job-9 || complete-job-7", owner=5)
        nested = net.add("(x-job-1 || complete-work-8-1) && (complete-job-7 || y-job-1)", owner=5)
        assert net.drain_catch_up_events() == [
            (both, Event("complete", "work", 8, "1")),
            (first, Event("failed", "job", 9, None)),
            (nested, Event("complete", "job", 7, None)),
        ]

    def test_catch_up_event_of_a_passed_time_is_the_clocks(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        net.advance(150)
        alone = net.add("dummy-time-self-0100", owner=5)
        last = net.add("complete-job-7 && tick-globaltime-50", owner=5)
        item_last = net.add("tick-globaltime-150 && done-job-7", owner=5)
        assert net.drain_catch_up_events() == [
            (alone, Event("dummy", "globaltime", None, "100")),
            (last, Event("dummy", "globaltime", None, "50")),
            (item_last, Event("complete", "job", 7, None)),
        ]

    def test_catch_up_events_and_handles_drain_one_queue(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed("complete-job-7")
        a = net.add("complete-job-7", owner=5)
        assert net.drain_catch_up() == [a]
        b = net.add("complete-job-7", owner=5)
        assert net.drain_catch_up_events() == [(b, Event("complete", "job", 7, None))]
        assert net.drain_catch_up() == []

    def test_catch_up_events_outlive_their_callback_and_item(self, impl):
        net = network(impl, 5, 7, state_aware=True)
        net.feed("complete-work-7-only_here")
        h = net.add("complete-work-7-only_here", owner=5, maximum=1)
        assert h not in net
        net.remove_job(7)  # the item's state goes too: nothing else holds its name
        net.add_job(8)
        net.feed("complete-work-8-something_else")
        net.add("x-work-self-another_name", owner=5)
        assert net.drain_catch_up_events() == [(h, Event("complete", "work", 7, "only_here"))]

    def test_catch_up_event_extras_are_as_written(self, impl):
        net = network(impl, 5, state_aware=True)
        net.feed_many(["complete-work-7-01", "complete-subjob-7-12"])
        a = net.add("done-work-7-01", owner=5)
        b = net.add("done-subjob-7-12", owner=5)
        assert net.drain_catch_up_events() == [
            (a, Event("complete", "work", 7, "01")),
            (b, Event("complete", "subjob", 7, "12")),
        ]

    def test_no_catch_up_events_in_a_bare_network(self, impl):
        net = network(impl, 5)
        net.feed("complete-job-7")
        net.add("complete-job-7", owner=5)
        assert net.drain_catch_up_events() == []


# =========================================================================== failing calls change nothing


def _setup(net):
    net.add_job(1, label="a")
    net.add_job(2, pgrp=1, label="b", pid=1)
    net.add("x-job-1 && y-job-2", owner=1)
    net.add("complete-job-b || dummy-time-self-50", owner=2, maximum=2)
    net.add(["complete-work-a-*", "done-job-parent && z-job-2"], owner=2)
    net.feed_many(["x-job-1", "complete-job-7", "complete-work-1-3"])
    net.advance(10)


def _outcome(call):
    try:
        return ("ok", call())
    except Exception as exc:  # the outcome itself is what we compare
        return ("error", type(exc).__name__, str(exc))


def _future(net) -> list:
    """Outcomes of a follow-up script that touches every part of the network's state."""
    ops = [
        lambda: net.add_job(3, pgrp=1, label="c"),
        lambda: net.add("complete-job-c && y-job-2", owner=3),
        lambda: net.add("complete-job-7 || tick-globaltime-40", owner=1),
        lambda: net.drain_catch_up(),
        lambda: net.feed("y-job-2"),
        lambda: net.feed_many(["complete-job-2", "complete-job-3", "z-job-2", "complete-work-1-4"]),
        lambda: net.advance_many(60),
        lambda: net.feed_many(["running-job-7", "complete-job-1", "x-job-1", "y-job-2", "complete-job-3"]),
        lambda: [
            (h in net, _outcome(partial(net.count, h)), _outcome(partial(net.why_not, h))) for h in range(8)
        ],
        lambda: {k: v for k, v in net.stats().items() if k != "bytes"},
        lambda: (len(net), net.clock),
        lambda: net.add_job(4, pgrp=1, label="a"),
        lambda: net.remove_job(2),
        lambda: net.feed("complete-job-1"),
        lambda: net.add("x-job-1", owner=1),
    ]
    return [_outcome(op) for op in ops]


FAILING_CALLS = {
    "bad expression": lambda net: net.add("x-job-1 && (y-job-2", owner=1),
    "bad later list item": lambda net: net.add(["x-job-1", "y-jobs-2"], owner=1),
    "empty trigger list": lambda net: net.add([], owner=1),
    "parent without pid": lambda net: net.add("x-job-1 && done-job-parent", owner=1),
    "unknown owner": lambda net: net.add("x-job-1", owner=9),
    "bad maximum": lambda net: net.add("x-job-1", owner=1, maximum=0),
    "bool maximum": lambda net: net.add("x-job-1", owner=1, maximum=True),
    "bad triggers type": lambda net: net.add(42, owner=1),
    "duplicate job": lambda net: net.add_job(2, pgrp=1, label="c"),
    "duplicate label": lambda net: net.add_job(3, pgrp=1, label="a"),
    "pid out of range": lambda net: net.add_job(3, pgrp=1, label="c", pid=-1),
    "pgrp out of range": lambda net: net.add_job(3, pgrp=2**31, label="c"),
    "unknown job removed": lambda net: net.remove_job(9),
    "bad event": lambda net: net.feed("y-job"),
    "bad event in feed_many": lambda net: net.feed_many(["y-job-2", "complete-job-2", "z-job-2", "oops"]),
    "unknown handle removed": lambda net: net.remove(99),
    "unknown handle counted": lambda net: net.count(99),
    "unknown handle why_not": lambda net: net.why_not(99),
    "clock backwards": lambda net: net.advance(9),
    "bool clock": lambda net: net.advance(True),
}


@pytest.mark.parametrize("state_aware", [False, True], ids=["bare", "aware"])
@pytest.mark.parametrize("failing", list(FAILING_CALLS), ids=list(FAILING_CALLS))
def test_a_failing_call_leaves_the_network_as_it_was(impl, failing, state_aware):
    untouched = impl(state_aware=state_aware)
    touched = impl(state_aware=state_aware)
    _setup(untouched)
    _setup(touched)
    with pytest.raises((TypeError, ValueError, KeyError)):
        FAILING_CALLS[failing](touched)
    assert _future(touched) == _future(untouched)


def test_the_follow_up_script_does_observe_state(impl):
    # Guard for the test above: a network that missed one event has a different future.
    a, b = impl(), impl()
    _setup(a)
    _setup(b)
    b.feed("y-job-2")
    assert _future(a) != _future(b)
