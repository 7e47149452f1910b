"""The seeded workload generators shared by tests and benchmarks: exact sizes, shape, determinism."""

from __future__ import annotations

import re
from collections import Counter

import pytest

import qbtrigger
from qbtrigger.workload import describe, farm_workload, parse_size, two_atom_workload

FRAME_AND = re.compile(r"complete-work-A-(\d+) && complete-work-B-\1\Z")
FRAME_OR = re.compile(r"\(complete-work-A-(\d+) && complete-work-B-\1\) \|\| complete-work-C-\1\Z")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 999, 1000, 1001, 2500, 10_000, 100_000])
def test_farm_callback_count_is_exact(n):
    w = farm_workload(n)
    assert len(w.callbacks) == n
    assert w.params["n_callbacks"] == n


@pytest.mark.parametrize("n", [1000, 10_000, 100_000])
def test_farm_shape(n):
    w = farm_workload(n)
    submissions = w.params["submissions"]
    assert submissions == n // 1000
    lo, hi = w.params["frames"]
    assert 100 <= lo <= hi <= 1000
    assert len(w.jobs) == 4 * submissions
    by_id = {jobid: (pgrp, label, pid) for jobid, pgrp, label, pid in w.jobs}
    assert len(by_id) == len(w.jobs)
    # composite first in its pgrp, then A, B, C labelled in the same pgrp
    for jobid, pgrp, label, pid in w.jobs:
        if label == "comp":
            assert pgrp == jobid and pid is None
        else:
            assert label in ("A", "B", "C") and by_id[pgrp][1] == "comp" and pid == pgrp
    kinds = Counter()
    for triggers, owner in w.callbacks:
        assert by_id[owner][1] == "comp"
        if FRAME_AND.match(triggers):
            kinds["and"] += 1
        elif FRAME_OR.match(triggers):
            kinds["or"] += 1
        elif triggers == "complete-work-C-*":
            kinds["star"] += 1
        elif triggers.startswith("done-"):
            kinds["done"] += 1
        else:
            assert "-job-" in triggers
            kinds["job"] += 1
    assert kinds["and"] == kinds["or"]
    assert kinds["star"] == submissions
    assert kinds["done"] >= submissions and kinds["job"] >= submissions
    extras = n - 2 * kinds["and"]
    assert 0.005 * n <= extras <= 0.02 * n
    # events: every upstream frame completion, once each
    assert len(w.events) == len(set(w.events)) == 3 * kinds["and"]
    for event in w.events[:1000]:
        parsed = qbtrigger.parse_event(event)
        assert parsed.name == "complete" and parsed.type == "work"
        assert by_id[parsed.jobid][1] in ("A", "B", "C")


def test_farm_every_expression_parses():
    for triggers, _ in farm_workload(3000).callbacks:
        qbtrigger.parse(triggers)


def test_farm_is_deterministic_and_seeded():
    a, b = farm_workload(5000, seed=3), farm_workload(5000, seed=3)
    assert (a.jobs, a.callbacks, a.events) == (b.jobs, b.callbacks, b.events)
    c = farm_workload(5000, seed=4)
    assert (c.jobs, c.callbacks) == (a.jobs, a.callbacks)
    assert c.events != a.events and sorted(c.events) == sorted(a.events)


def test_farm_events_are_shuffled():
    w = farm_workload(2000)
    jobs = [int(e.split("-")[2]) for e in w.events[:60]]
    assert len(set(jobs)) > 3  # not job by job


def test_two_atom_shape_and_determinism():
    w = two_atom_workload(2500, seed=1)
    assert len(w.callbacks) == 2500
    atoms = [a for triggers, _ in w.callbacks for a in triggers.split(" && ")]
    assert len(atoms) == 5000 == len(set(atoms))
    assert sorted(w.events) == sorted(atoms)
    assert w.events == two_atom_workload(2500, seed=1).events
    assert w.events != two_atom_workload(2500, seed=2).events
    owners = {jobid for jobid, *_ in w.jobs}
    assert all(owner in owners for _, owner in w.callbacks)


def test_register_and_fire_on_the_active_twin():
    w = farm_workload(1000)
    net = w.network(qbtrigger.Network)
    assert len(net) == 1000
    fired = net.feed_many(w.events)
    handles = Counter(h for _, h in fired)
    # every per-frame AND fires exactly once; the OR at least once
    for i, (triggers, _) in enumerate(w.callbacks, 1):
        if FRAME_AND.match(triggers):
            assert handles[i] == 1, triggers
        elif FRAME_OR.match(triggers):
            assert 1 <= handles[i] <= 2, triggers
        elif triggers == "complete-work-C-*":
            assert handles[i] == w.params["frames"][0]


def test_keys_are_the_distinct_events():
    w = two_atom_workload(100)
    assert sorted(w.keys()) == sorted(set(w.events))


def test_parse_size_and_describe():
    assert parse_size("1k") == 1000
    assert parse_size("10K") == 10_000
    assert parse_size("1M") == 1_000_000
    assert parse_size("2500") == 2500
    with pytest.raises(ValueError):
        parse_size("1.5")
    assert describe(farm_workload(1000)).startswith("farm: 1000 callbacks, 1485 events")


def test_one_million_callbacks_are_generated():
    # How long generation takes is the benchmarks' business (no timing assertions here).
    w = farm_workload(1_000_000)
    assert len(w.callbacks) == 1_000_000
    assert describe(w).startswith("farm: 1000000 callbacks")
