"""Snapshots (Network.snapshot / restore / from_snapshot / pickling), in both twins and across them.

The differential property: random operations (the generators of test_differential.py), a snapshot
at a random point, restores of it in both twins (a C snapshot into the pure twin and back), then
the rest of the operations on the originals, on every restored copy and on the oracle: the same
outcomes and the same observable state after every call. Then bad snapshots: truncated, corrupted,
of a newer format, or not snapshots at all, each refused with the same SnapshotError text in both
twins and the network restored into left as it was.
"""

from __future__ import annotations

import copy
import pickle
import zlib
from functools import partial

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

import oracle
from conftest import IMPL_IDS, load_network_class
from qbtrigger import Error, SnapshotError, UnknownJobError
from qbtrigger.workload import farm_workload
from test_differential import (
    add_ops,
    call_text,
    concrete,
    job_setups,
    observe,
    operations,
    outcome,
    state_operations,
)

TWINS = [load_network_class(impl_id) for impl_id in IMPL_IDS]
#: Each example plays its operations on six networks and the oracle: fewer examples than the profile's.
FEWER = settings(max_examples=max(10, settings().max_examples // 3))


def play(ops, state_aware: bool, split: int) -> None:
    """Run ``ops`` on the oracle and every twin; at ``split``, snapshot each twin and restore each
    snapshot into each twin, then go on with all of them."""
    ref = oracle.Network(state_aware=state_aware)
    nets = {f"{N.__module__}": N(state_aware=state_aware) for N in TWINS}
    issued = 0
    added: list = []
    for step, op in enumerate(ops):
        if step == split:
            snapshots = {name: net.snapshot() for name, net in nets.items()}
            for name, data in snapshots.items():
                for N in TWINS:
                    restored = N.from_snapshot(data)
                    nets[f"{N.__module__} from {name}"] = restored
                    if N.__module__ == name:  # the same twin writes the same bytes back
                        assert restored.snapshot() == data
            note(f"snapshot at step {split}: {sorted(nets)}")
        method, args, kwargs = concrete(op, ref, issued, added)
        text = call_text(method, args, kwargs)
        note(text)
        expected = outcome(partial(getattr(ref, method), *args, **kwargs))
        for name, net in nets.items():
            actual = outcome(partial(getattr(net, method), *args, **kwargs))
            assert actual == expected, f"{text}: {name} gave {actual}, oracle {expected}"
        if method == "add" and expected[0] == "ok":
            issued = expected[1]
            added.append(args)
        seen = observe(ref, issued)
        for name, net in nets.items():
            assert observe(net, issued) == seen, f"{name}: state differs after {text}"
            assert net.next_due() == ref.next_due(), f"{name}: next_due differs after {text}"


@FEWER
@given(
    jobs=job_setups(),
    callbacks=st.lists(add_ops(), min_size=1, max_size=5),
    ops=st.lists(operations, min_size=4, max_size=40),
    split=st.integers(0, 40),
    state_aware=st.booleans(),
)
def test_a_restored_network_goes_on_as_the_original(jobs, callbacks, ops, split, state_aware):
    steps = jobs + callbacks + ops
    play(steps, state_aware, min(len(jobs) + split, len(steps) - 1))


@FEWER
@given(jobs=job_setups(), ops=st.lists(state_operations, min_size=4, max_size=30), split=st.integers(0, 30))
def test_a_restored_state_aware_network_keeps_its_item_states_and_catch_up_queue(jobs, ops, split):
    steps = jobs + ops
    play(steps, True, min(len(jobs) + split, len(steps) - 1))


# --------------------------------------------------------------------------- whole networks


def farm_network(N, callbacks: int = 300, state_aware: bool = False):
    workload = farm_workload(callbacks, seed=5)
    net = workload.network(N, state_aware=state_aware)
    net.feed_many(workload.events[: len(workload.events) // 2])
    return net, workload


@pytest.mark.parametrize("state_aware", [False, True])
def test_farm_snapshots_cross_between_the_twins(state_aware):
    nets = [farm_network(N, state_aware=state_aware) for N in TWINS]
    workload = nets[0][1]
    rest = workload.events[len(workload.events) // 2 :]
    snapshots = [source.snapshot() for source, _ in nets]
    expected = nets[0][0].feed_many(rest)
    for data in snapshots:
        for N in TWINS:
            copy_ = N.from_snapshot(data)
            assert len(copy_) == len(nets[0][0])
            assert copy_.feed_many(rest) == expected


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_restore_in_place_replaces_everything(impl_id):
    N = load_network_class(impl_id)
    source = N(state_aware=True)
    source.add_job(7, label="render")
    handle = source.add("complete-work-self-1 && complete-work-self-2", 7, maximum=2)
    source.feed("complete-work-7-1")
    target = N()
    target.add_job(1)
    target.add("x-job-1", 1)
    target.restore(source.snapshot())
    assert target.state_aware is True
    assert len(target) == 1 and target.owner(handle) == 7
    with pytest.raises(UnknownJobError):
        target.add("x-job-1", 1)  # job 1 went with the old contents
    assert target.why_not(handle).latched == ("complete-work-self-1",)
    assert target.feed("complete-work-7-2") == [handle]
    assert target.add("x-job-7", 7) == handle + 1  # handles go on where the source's were


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_pickle_and_copy_go_through_snapshots(impl_id):
    N = load_network_class(impl_id)
    net, workload = farm_network(N, 50)
    data = net.snapshot()
    clones = [pickle.loads(pickle.dumps(net, protocol)) for protocol in range(pickle.HIGHEST_PROTOCOL + 1)]
    clones += [copy.deepcopy(net), copy.copy(net)]
    expected = net.feed_many(workload.events)
    for clone in clones:
        assert type(clone) is N
        assert clone.snapshot() == data
        assert clone.feed_many(workload.events) == expected


@pytest.mark.parametrize("impl_id", IMPL_IDS)
def test_an_empty_network_round_trips(impl_id):
    N = load_network_class(impl_id)
    data = N().snapshot()
    assert data == TWINS[0]().snapshot()
    assert len(N.from_snapshot(data)) == 0


def test_both_twins_write_the_same_bytes_for_flat_expressions():
    """Expressions with no parenthesised node of the same kind: the twins store the same tree."""
    snapshots = []
    for N in TWINS:
        net = N(state_aware=True)
        net.add_job(3, label="comp")
        net.add_job(4, pgrp=3, pid=3)
        net.add("complete-work-self-12 && (done-job-comp || failed-subjob-parent-*)", 4, maximum=5)
        net.add("nightly-global || dummy-globalrepeat-100-60", 3)
        net.feed_many(["running-job-3", "complete-work-4-12", "failed-job-3"])
        net.advance(170)
        net.add("failed-job-3", 4)
        snapshots.append(net.snapshot())
    assert len(set(snapshots)) == 1


# --------------------------------------------------------------------------- bad snapshots


def _with_crc(data: bytearray) -> bytes:
    data[12:16] = zlib.crc32(bytes(data[16:])).to_bytes(4, "little")
    return bytes(data)


def _reference_snapshot() -> bytes:
    net, _ = farm_network(TWINS[0], 20, state_aware=True)
    return net.snapshot()


GOOD = _reference_snapshot()


def _bad_snapshots():
    newer = bytearray(GOOD)
    newer[8:12] = (2).to_bytes(4, "little")
    flipped = bytearray(GOOD)
    flipped[len(GOOD) // 2] ^= 0x10
    return {
        "empty": (b"", "not a qbtrigger snapshot (no 'qbtsnap' signature)"),
        "other bytes": (b"PK\x03\x04" + bytes(40), "not a qbtrigger snapshot (no 'qbtsnap' signature)"),
        "header cut": (GOOD[:20], "snapshot truncated: 20 bytes, shorter than the header"),
        "truncated": (GOOD[:-7], f"snapshot truncated: {len(GOOD) - 7} bytes where its header says {len(GOOD)}"),
        "trailing": (GOOD + b"\0", f"snapshot has trailing bytes: {len(GOOD) + 1} bytes where its header says {len(GOOD)}"),
        "newer": (_with_crc(newer), "snapshot format version 2 is newer than this qbtrigger reads (1)"),
        "flipped bit": (bytes(flipped), "snapshot corrupted: its checksum does not match its contents"),
    }


@pytest.mark.parametrize("impl_id", IMPL_IDS)
@pytest.mark.parametrize("case", sorted(_bad_snapshots()))
def test_a_bad_snapshot_is_refused_and_changes_nothing(impl_id, case):
    data, message = _bad_snapshots()[case]
    N = load_network_class(impl_id)
    net, workload = farm_network(N, 30)
    before = net.snapshot()
    with pytest.raises(SnapshotError) as info:
        net.restore(data)
    assert str(info.value) == message
    assert isinstance(info.value, Error) and isinstance(info.value, ValueError)
    assert net.snapshot() == before
    assert net.feed_many(workload.events) == N.from_snapshot(before).feed_many(workload.events)


@given(position=st.integers(32, len(GOOD) - 1), value=st.integers(0, 255), cut=st.booleans())
def test_a_body_with_a_good_checksum_but_bad_structure_never_breaks_a_twin(position, value, cut):
    """Damage made to look whole (the checksum recomputed): refused with SnapshotError, or taken as
    a network that then works; never a crash, and on refusal the target is unchanged."""
    data = bytearray(GOOD)
    if cut:  # a section cut short, the header's length adjusted
        del data[position:]
        data[16:24] = len(data).to_bytes(8, "little")
    else:
        data[position] = value
    data = _with_crc(data)
    results = []
    for N in TWINS:
        net = N()
        net.add_job(1)
        try:
            net.restore(data)
        except SnapshotError as exc:
            assert str(exc).startswith("snapshot corrupted: ")
            assert len(net) == 0 and 1 not in net and net.add("a-job-1", 1) == 1
            results.append("refused")
            continue
        net.feed_many(["complete-job-1", "complete-work-2-3", "done-job-9"])
        net.advance(net.clock + 1000)
        results.append("taken")
        note(f"{N.__module__} took it")


# --------------------------------------------------------------------------- C core: memory


def test_snapshot_and_restore_survive_every_failed_allocation():
    """Debug build: the n-th allocation fails, for every n; snapshot raises MemoryError and changes
    nothing, restore raises MemoryError and leaves the target as it was, and no allocation leaks."""
    native = pytest.importorskip("qbtrigger._native")
    if not native.debug_build:
        pytest.skip("needs QBTRIGGER_DEBUG_BUILD=1")
    source, _ = farm_network(native.Network, 40, state_aware=True)
    source.add_job(5000, label="x")
    source.add("complete-job-5000 && dummy-time-self-900", 5000)
    expected = source.snapshot()
    target = native.Network()
    target.add_job(1)
    target.add("a-job-1 && b-job-1", 1)
    target_before = target.snapshot()
    live = native.debug_live_allocations()
    for call, check in (
        (source.snapshot, lambda: source.snapshot() == expected),
        (partial(target.restore, expected), lambda: target.snapshot() == target_before),
    ):
        nth = 1
        while True:
            native.debug_fail_allocation(nth)
            try:
                call()
            except MemoryError:
                native.debug_fail_allocation(0)
                assert check(), f"allocation {nth} failed and the network changed"
                assert native.debug_live_allocations() == live
                nth += 1
                continue
            finally:
                native.debug_fail_allocation(0)
            break
        assert nth > 3
    assert target.snapshot() == expected
