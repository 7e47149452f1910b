"""feed_batch and feed_text against feed_many: the same firings, the same order, the same errors.

Each case builds a network from random jobs, callbacks and operations (test_differential.py's
generators), copies it through a snapshot, and feeds the same batch to each copy through
feed_many, feed_batch and feed_text: the results, the exceptions (type and text) and the networks
after (their snapshots) must agree, in both twins and between them.
"""

from __future__ import annotations

from array import array
from functools import partial

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import oracle
from conftest import IMPL_IDS, load_network_class
from qbtrigger import Event, EventError, Firings
from qbtrigger.workload import farm_workload
from test_differential import add_ops, concrete, event_specs, job_setups, operations, outcome, resolve

TWINS = [load_network_class(impl_id) for impl_id in IMPL_IDS]


def prepared(ops, state_aware: bool):
    """A network of each twin after ``ops`` (errors ignored), and the oracle that resolved them."""
    ref = oracle.Network(state_aware=state_aware)
    nets = [N(state_aware=state_aware) for N in TWINS]
    issued, added = 0, []
    for op in ops:
        method, args, kwargs = concrete(op, ref, issued, added)
        result = outcome(partial(getattr(ref, method), *args, **kwargs))
        for net in nets:
            outcome(partial(getattr(net, method), *args, **kwargs))
        if method == "add" and result[0] == "ok":
            issued = result[1]
            added.append(args)
    return ref, nets


def _pairs(call):
    result = outcome(call)
    if result[0] == "ok" and isinstance(result[1], Firings):
        firings = result[1]
        assert firings.events.typecode == firings.handles.typecode == "Q"
        return ("ok", list(firings))
    return result


@given(
    jobs=job_setups(),
    callbacks=st.lists(add_ops(), min_size=1, max_size=6),
    ops=st.lists(operations, max_size=20),
    batch=st.lists(event_specs, max_size=12),
    state_aware=st.booleans(),
)
def test_batch_entry_points_agree_with_feed_many(jobs, callbacks, ops, batch, state_aware):
    ref, nets = prepared(jobs + callbacks + ops, state_aware)
    events = resolve(batch, ref, 0)
    note(f"events = {events!r}")
    text = "".join(f"{e}\n" for e in events).encode("utf-8", "surrogatepass")
    results = []
    for net in nets:
        data = net.snapshot()
        copies = [type(net).from_snapshot(data) for _ in range(3)]
        many = outcome(partial(copies[0].feed_many, events))
        batch_result = _pairs(partial(copies[1].feed_batch, events))
        assert batch_result == many
        if all("\n" not in e and "\r" not in e for e in events):
            assert _pairs(partial(copies[2].feed_text, text)) == many
            assert copies[2].snapshot() == copies[0].snapshot()
        assert copies[1].snapshot() == copies[0].snapshot()
        results.append(many)
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_farm_batch_matches_feed_many_and_reads_without_a_copy(impl_id):
    N = load_network_class(impl_id)
    workload = farm_workload(2000, seed=4)
    expected = workload.network(N).feed_many(workload.events)
    firings = workload.network(N).feed_batch(workload.events)
    from_text = workload.network(N).feed_text("\n".join(workload.events).encode())
    assert list(firings) == list(from_text) == expected and len(firings) == len(expected)
    assert firings == from_text
    view = memoryview(firings.handles)
    assert view.obj is firings.handles and view.format == "Q" and view.itemsize == 8
    assert view.tolist() == [h for _, h in expected]
    assert array("Q", firings.events).tolist() == [i for i, _ in expected]


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_long_and_non_ascii_events_in_one_batch(impl_id):
    """The native binding copies a batch's texts into one buffer, first sized at 32 bytes an event:
    longer events (which make it grow, more than once), non-ASCII ones, Events and str subclasses
    in one batch must still give feed_many's firings, with a bad event's index and text intact."""
    N = load_network_class(impl_id)

    class Text(str):
        pass

    long_extra = "frame" + "x" * 500
    net = N()
    net.add_job(1)
    handles = [
        net.add(f"done-work-1-{long_extra}", 1),
        net.add("complete-work-1-é", 1),
        net.add("complete-work-1-7 && complete-job-1", 1),
    ]
    events = (
        [f"done-work-1-{long_extra}"] * 3
        + ["complete-work-1-é", Text("complete-work-1-7"), Event("complete", "job", 1, None)] * 40
        + ["complete-work-1-" + "y" * 4000]
    )
    expected = N.from_snapshot(net.snapshot()).feed_many(events)
    assert [h for _, h in expected[:3]] == [handles[0]] * 3 and (3, handles[1]) in expected
    firings = N.from_snapshot(net.snapshot()).feed_batch(events)
    assert list(firings) == expected
    bad = events + ["complete-job-" + "z" * 300] + ["no"]
    for method in ("feed_many", "feed_batch"):
        with pytest.raises(EventError) as info:
            getattr(N.from_snapshot(net.snapshot()), method)(bad)
        assert f"at index {len(events)}" in str(info.value) and "z" * 50 in str(info.value)


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_a_batch_is_read_as_it_was_passed_whatever_its_items_do(impl_id):
    """The native binding reads a list of plain strings in place and copies it only at the first
    other item: an item whose conversion empties the caller's list must not change the batch."""
    N = load_network_class(impl_id)
    net = N()
    net.add_job(1)
    handles = [net.add(f"complete-work-1-{k}", 1) for k in range(4)]
    caller: list = []

    class Emptying(str):
        def __str__(self) -> str:
            caller.clear()
            return str.__str__(self)

    plain = ["complete-work-1-0", "complete-work-1-1"]
    caller.extend(plain + [Emptying("complete-work-1-2"), "complete-work-1-3"])
    firings = N.from_snapshot(net.snapshot()).feed_batch(caller)
    assert list(firings) == list(zip(range(4), handles))  # (the pure twin never calls __str__)
    as_tuple = tuple(plain + [Event("complete", "work", 1, "2"), "complete-work-1-3"])
    assert list(N.from_snapshot(net.snapshot()).feed_batch(as_tuple)) == list(zip(range(4), handles))


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_batches_of_changing_sizes_one_after_another(impl_id):
    """The native binding keeps one batch's buffers for the next: a big batch, a small one, then one
    of longer events than the buffer was sized for, each as feed_many gives it."""
    N = load_network_class(impl_id)
    workload = farm_workload(300, seed=9)
    batches = [workload.events, workload.events[:5], [e + "x" * 90 for e in workload.events[:50]], workload.events]
    for batch in batches:
        expected = workload.network(N).feed_many(batch)
        assert list(workload.network(N).feed_batch(batch)) == expected
        assert list(workload.network(N).feed_text("\n".join(batch).encode())) == expected


def test_numpy_reads_the_arrays_in_place():
    np = pytest.importorskip("numpy")
    for N in TWINS:
        workload = farm_workload(500, seed=1)
        firings = workload.network(N).feed_batch(workload.events)
        handles = np.frombuffer(firings.handles, dtype=np.uint64)
        assert handles.tolist() == list(firings.handles)
        firings.handles[0] += 1  # the same memory: a change shows through
        assert int(handles[0]) == firings.handles[0]


@pytest.mark.parametrize("impl_id", IMPL_IDS)
@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", []),
        (b"complete-job-1\n", [(0, 1)]),
        (b"complete-job-1\r\nrunning-job-1", [(0, 1)]),
        (bytearray(b"x-job-2\ncomplete-job-1"), [(1, 1)]),
        (memoryview(b"complete-job-1\n\n"), "bad event '' at index 1: expected name-type-jobid[-extra]"),
        (b"complete-job-1\n\xff", "event data is not UTF-8 at byte 15"),
        ("complete-job-1".encode() + b"\n\xc3\xa9-job-1", "bad event '\xe9-job-1' at index 1: bad name '\xe9'"),
    ],
)
def test_feed_text_lines(impl_id, data, expected):
    net = load_network_class(impl_id)()
    net.add_job(1)
    net.add("complete-job-1", 1)
    if isinstance(expected, str):
        with pytest.raises(EventError) as info:
            net.feed_text(data)
        assert str(info.value) == expected
        assert net.why_not(1).latched == ()  # a bad event anywhere applies none
    else:
        assert list(net.feed_text(data)) == expected


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_feed_text_takes_bytes_only(impl_id):
    net = load_network_class(impl_id)()
    with pytest.raises(TypeError):
        net.feed_text("complete-job-1")
    with pytest.raises(TypeError):
        net.feed_text(5)


# --------------------------------------------------------------------------- threads


@pytest.mark.parametrize("method", ["feed_batch", "feed_text", "snapshot", "restore"])
def test_another_thread_runs_during_the_c_work_of_the_embedding_calls(method):
    """The C core's work runs with the GIL released (test_threads.py explains the check: with the
    switch interval far above the call's length, the other thread runs only if the call lets go)."""
    import sys
    import threading
    import time

    if "c" not in IMPL_IDS:
        pytest.skip("the C core's GIL release (QBTRIGGER_PURE_PYTHON=1 is set)")
    N = load_network_class("c")
    workload = farm_workload(20_000, seed=3)
    net = workload.network(N)
    events = workload.events * 4
    data = net.snapshot()
    calls = {
        "feed_batch": lambda: net.feed_batch(events),
        "feed_text": lambda: net.feed_text("\n".join(events).encode()),
        "snapshot": net.snapshot,
        "restore": lambda: N.from_snapshot(data),
    }
    ticks = [0]
    stop = threading.Event()

    def other_thread():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0)

    old = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        progressed = []
        for _ in range(5):
            before = ticks[0]
            calls[method]()
            progressed.append(ticks[0] - before)
            if progressed[-1]:
                break
    finally:
        stop.set()
        sys.setswitchinterval(old)
        worker.join()
    assert any(progressed), f"the other thread never ran during {method}: {progressed}"
