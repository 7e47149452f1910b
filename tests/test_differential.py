"""Differential property tests: each twin against the brute-force oracle (tests/oracle.py).

Hypothesis generates jobs (some with labels, pids and shared pgrps), trigger expressions from the
grammar of SPEC §3 plus random mutations that usually break them, event streams (with the odd
malformed event) and sequences of every Network operation, on bare and state-aware networks. Every
call goes to the oracle and to the twin; the results must be identical: return values, and on
failure the exception type and ``str()`` (for ``TypeError``, whose texts are not pinned, the type
only). After every call the observable state (length, clock, counts, owners, why_not of every handle
issued so far, stats) is compared as well.

When a case fails, hypothesis shrinks it and the ``note``\\s print the calls as Python to replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from hypothesis import given
from hypothesis import note as _hypothesis_note
from hypothesis.errors import InvalidArgument
from hypothesis import strategies as st

import oracle
from conftest import PURE_ONLY, load_network_class
from qbtrigger import TriggerSyntaxError

# --------------------------------------------------------------------------- vocabulary

JOB_IDS = [1, 2, 3, 4, 5]
# "" is a label too (and one no atom can spell): removing its job must release it (issue 13).
LABELS = ["a", "b", "Render", ""]
# Numbers past int()'s 4,300-digit limit: zero-padded ones are small values in both twins, the
# others out of range in both (docs/semantics.md, "Numbers").
LONG_ZEROS = "0" * 4400
# Small vocabularies, so that random events often do match random atoms.
ATOM_NAMES = ["complete", "complete", "failed", "done", "done", "running", "x", "COMPLETE", "Done"]
EVENT_NAMES = [
    "complete",
    "complete",
    "failed",
    "killed",
    "running",
    "running",
    "x",
    "done",
    "submit",
    "Complete",
]
CONTEXTS = ["self", "self", "parent", "1", "2", "3", "02", "a", "b", "Render", "render", LONG_ZEROS + "2"]
EVENT_JOBS = ["1", "2", "3", "1", "2", "3", "4", "02", LONG_ZEROS + "1"]
WORK_EXTRAS = ["1", "2", "1", "-1", "F"]
SUBJOB_EXTRAS = ["0", "1"]
HOST_EXTRAS = ["h1"]
TIMES = ["0", "5", "30", "60", "090", "150", LONG_ZEROS + "60"]
REPEATS = ["0-10", "20-25", "5-3", "100-50", f"{LONG_ZEROS}5-{LONG_ZEROS}20"]

ATOM_TYPES = ["job"] * 4 + ["work"] * 3 + ["subjob"] * 2 + [
    "host", "time", "repeat", "global", "globaltime", "globalrepeat", "two-field",
]
TYPE_SPELLINGS = {
    "job": ["job", "JOB"],
    "work": ["work", "Work"],
    "global": ["global", "Global"],
    "globaltime": ["globaltime", "GlobalTime"],
}
# Atoms of no job: a global event's names, and the two-field clock forms (dummy-globaltime-T).
GLOBAL_NAMES = ["nightly", "done", "complete"]
TWO_FIELD_CLOCK = ["globaltime", "GLOBALTIME", "globalrepeat"]


@st.composite
def atom_texts(draw) -> str:
    type_ = draw(st.sampled_from(ATOM_TYPES))
    type_text = draw(st.sampled_from(TYPE_SPELLINGS.get(type_, [type_])))
    name = draw(st.sampled_from(ATOM_NAMES))
    if type_ == "two-field":
        clock = draw(st.sampled_from(TWO_FIELD_CLOCK))
        return f"{clock}-{draw(st.sampled_from(REPEATS if clock.lower() == 'globalrepeat' else TIMES))}"
    if type_ == "global":
        return f"{draw(st.sampled_from([*GLOBAL_NAMES, name]))}-{type_text}"
    if type_ == "globaltime":
        return f"{name}-{type_text}-{draw(st.sampled_from(TIMES))}"
    if type_ == "globalrepeat":
        return f"{name}-{type_text}-{draw(st.sampled_from(REPEATS))}"
    context = draw(st.sampled_from(CONTEXTS))
    extras = {
        "job": [None],
        "work": [*WORK_EXTRAS, "*"],
        "subjob": [*SUBJOB_EXTRAS, "*"],
        "host": [*HOST_EXTRAS, "*"],
        "time": TIMES,
        "repeat": REPEATS,
    }[type_]
    extra = draw(st.sampled_from(extras))
    return f"{name}-{type_text}-{context}" + ("" if extra is None else f"-{extra}")


OPERATORS = ["&&", "||", " && ", " || ", " and ", " OR ", " And ", "\t||\n", "&&  ", " or"]


def _join(parts) -> str:
    left, operator, right = parts
    if operator[0].isalpha() or operator[-1].isalpha():  # word operators must stand apart
        operator = f" {operator.strip()} "
    return f"{left}{operator}{right}"


valid_expressions = st.recursive(
    atom_texts(),
    lambda inner: st.one_of(
        inner.map(lambda e: f"({e})"),
        st.tuples(inner, st.sampled_from(OPERATORS), inner).map(_join),
    ),
    max_leaves=6,
)


@st.composite
def mutated_expressions(draw) -> str:
    """A valid expression with one random mutation: most of these are syntax errors."""
    text = draw(valid_expressions)
    kind = draw(
        st.sampled_from(
            ["drop", "insert", "truncate", "type", "context", "extra", "empty", "deep", "noise", "keep"]
        )
    )
    position = draw(st.integers(0, len(text)))
    if kind == "drop" and text:
        position = min(position, len(text) - 1)
        return text[:position] + text[position + 1 :]
    if kind == "insert":
        stray = draw(
            st.sampled_from([" & ", "|", " not ", "NOT(", "!", "(", ")", " && ", "|| ", " ", "-", "*"])
        )
        return text[:position] + stray + text[position:]
    if kind == "truncate":
        return text[:position]
    if kind == "type":
        bad = draw(st.sampled_from(["-jobs-", "-frame-", "--", "-time-", "-repeat-", "-globaltime-", "-global-"]))
        return text.replace("-job-", bad, 1).replace("-work-", bad, 1)
    if kind == "context":
        bad = draw(
            st.sampled_from(["parent", "1abc", "a$b", "2147483648", "", "self-x", "9" * 4400, LONG_ZEROS + "2147483648"])
        )
        return text.replace("-self", f"-{bad}", 1)
    if kind == "extra":
        bad = draw(st.sampled_from(["-x", "-", "-1.5", "-*", "-" + "7" * 4400, "-1-" + "7" * 4400]))
        return text.replace("-self", f"-self{bad}", 1)
    if kind == "empty":
        return draw(st.sampled_from(["", "   ", "\t"]))
    if kind == "deep":
        depth = draw(st.sampled_from([255, 256, 257, 300]))
        return "(" * depth + text + ")" * depth
    if kind == "noise":
        return draw(st.text(alphabet=" ()&|-!*abcjoselfwrk0123456789", max_size=24))
    return text


expressions = st.one_of(valid_expressions, valid_expressions, mutated_expressions())


@st.composite
def triggers(draw):
    shape = draw(st.sampled_from(["str"] * 12 + ["list", "list", "tuple", "empty", "not-a-str"]))
    if shape == "str":
        return draw(expressions)
    if shape == "list":
        return draw(st.lists(expressions, min_size=1, max_size=3))
    if shape == "tuple":
        return tuple(draw(st.lists(expressions, min_size=1, max_size=2)))
    if shape == "empty":
        return []
    return draw(st.sampled_from([42, None, b"x-job-1"]))


@st.composite
def event_texts(draw) -> str:
    if draw(st.integers(0, 24)) == 0:
        return draw(
            st.sampled_from(
                [
                    "complete-job",
                    "complete-work-1-*",
                    "x-jobs-1",
                    "complete-job-1-x",
                    "",
                    "c-globaltime-",
                    "1-job-1",
                    "nightly-global-1",
                    "nightly-global-",
                    "nightly-global-None",
                    "globaltime-",
                    "globaltime-soon",
                    "globalrepeat-x-1",
                    "complete-job-" + "8" * 4400,
                    "complete-job-" + LONG_ZEROS + "2147483648",
                    "complete-work-" + "8" * 4400 + "-1",
                ]
            )
        )
    type_ = draw(
        st.sampled_from(["job"] * 4 + ["work"] * 3 + ["subjob"] * 2 + ["host", "time", "repeat"] + ["g", "global", "two"])
    )
    name = draw(st.sampled_from(EVENT_NAMES))
    if type_ == "global":
        return f"{draw(st.sampled_from([*GLOBAL_NAMES, name]))}-{draw(st.sampled_from(['global', 'GLOBAL']))}"
    if type_ == "two":
        clock = draw(st.sampled_from(TWO_FIELD_CLOCK))
        return f"{clock}-{draw(st.sampled_from(REPEATS if clock.lower() == 'globalrepeat' else TIMES))}"
    if type_ == "g":
        if draw(st.booleans()):
            return f"{name}-globaltime-{draw(st.sampled_from(TIMES))}"
        return f"{name}-globalrepeat-{draw(st.sampled_from(REPEATS))}"
    jobid = draw(st.sampled_from(EVENT_JOBS))
    extras = {
        "job": [None],
        "work": WORK_EXTRAS,
        "subjob": SUBJOB_EXTRAS,
        "host": HOST_EXTRAS,
        "time": TIMES,
        "repeat": REPEATS,
    }[type_]
    extra = draw(st.sampled_from(extras))
    return f"{name}-{type_}-{jobid}" + ("" if extra is None else f"-{extra}")


# --------------------------------------------------------------------------- operations
#
# An operation is (method, args, kwargs) as plain data, so that hypothesis can shrink it. Arguments
# that must fit the network's state are Pick placeholders, resolved against the oracle just before
# the call (the resolved call is what both sides receive, and what the notes print):
# - Pick("job", k): k >= 0 picks an added job (k-th modulo their number), k < 0 an unknown one;
# - Pick("handle", k): k >= 0 picks a live handle, k < 0 an unknown one (0, the next handle to be
#   issued, or a handle that is gone);
# - Pick("event", k, a, b): an event made from the k-th live atom (so that it matches), with a and b
#   choosing among `done`'s names, a state change of the same item (b == 2, aimed at a set latch), a
#   wildcard's extra, or a job for an unbound label. Plain strings are random events.
# - Pick("again", k): the triggers and owner of the k-th successful add so far, to register a copy
#   of a callback whose atoms have already seen events (state-aware catch-up gets exercised).


@dataclass(frozen=True)
class Pick:
    kind: str
    k: int
    a: int = 0
    b: int = 0


@st.composite
def job_setups(draw) -> list:
    """add_job calls for 2 to 5 distinct jobs, often sharing the first one's pgrp, some labelled."""
    ids = draw(st.lists(st.sampled_from(JOB_IDS), min_size=2, max_size=5, unique=True))
    calls = []
    for jobid in ids:
        kwargs = {}
        if jobid != ids[0] and draw(st.integers(0, 3)) > 0:
            kwargs["pgrp"] = ids[0]
        if draw(st.booleans()):
            kwargs["label"] = draw(st.sampled_from(LABELS))
        if draw(st.booleans()):
            kwargs["pid"] = draw(st.sampled_from([*ids, 9]))
        calls.append(("add_job", (jobid,), kwargs))
    return calls


@st.composite
def add_job_ops(draw):
    """One add_job call, now and then with one bad argument."""
    jobid = draw(st.sampled_from(JOB_IDS))
    kwargs = {}
    if draw(st.booleans()):
        kwargs["pgrp"] = draw(st.sampled_from(JOB_IDS))
    if draw(st.booleans()):
        kwargs["label"] = draw(st.sampled_from(LABELS))
    if draw(st.booleans()):
        kwargs["pid"] = draw(st.sampled_from([*JOB_IDS, 9]))
    broken = draw(st.sampled_from([None] * 12 + ["jobid", "pgrp", "pid", "type"]))
    if broken == "type":
        kwargs[draw(st.sampled_from(["pgrp", "pid"]))] = draw(st.sampled_from([True, "1"]))
    elif broken == "jobid":
        jobid = draw(st.sampled_from([-1, 2**31, 2**40]))
    elif broken:
        kwargs[broken] = draw(st.sampled_from([-1, 2**31]))
    return ("add_job", (jobid,), kwargs)


@st.composite
def add_ops(draw):
    owner = Pick("job", draw(st.integers(-1, 6)))
    kwargs = {}
    maximum = draw(st.sampled_from([None] * 14 + [1, 1, 2, 2, 3, 0, -2, True]))
    if maximum is not None:
        kwargs["maximum"] = maximum
    return ("add", (draw(triggers()), owner), kwargs)


@st.composite
def add_many_ops(draw):
    """add_many of 0 to 4 items, each (triggers, owner[, maximum]); now and then a malformed item."""
    items = []
    for _ in range(draw(st.integers(0, 4))):
        owner = Pick("job", draw(st.integers(-1, 6)))
        maximum = draw(st.sampled_from([None] * 8 + [1, 2, 0]))
        shape = draw(st.sampled_from(["pair"] * 6 + ["triple"] * 2 + ["bad"]))
        if shape == "bad":
            items.append(draw(st.sampled_from(["x-job-1", ("x-job-1",), None])))
        else:
            items.append((draw(triggers()), owner) + ((maximum,) if shape == "triple" else ()))
    return ("add_many", (items,), {})


handle_specs = st.builds(Pick, st.just("handle"), st.integers(-3, 12))
job_specs = st.builds(Pick, st.just("job"), st.integers(-1, 6))
targeted_events = st.builds(Pick, st.just("event"), st.integers(0, 30), st.integers(0, 5), st.integers(0, 3))
# Clock steps: often small multiples of 5, so that the clock lands on the moments of TIMES.
clock_steps = st.one_of(st.sampled_from([0, 1, 5, 25, 30, 60]), st.integers(-2, 120))
event_specs = st.one_of(targeted_events, targeted_events, event_texts())


def _op(method: str, *args) -> st.SearchStrategy:
    return st.tuples(st.just(method), st.tuples(*args), st.just({}))


next_due_ops = st.tuples(st.just("next_due"), st.just(()), st.sampled_from([{}, {"repeats": False}]))


operations = st.one_of(
    add_ops(),
    add_ops(),
    add_many_ops(),
    add_job_ops(),
    _op("feed", event_specs),
    _op("feed", event_specs),
    _op("feed", event_specs),
    _op("feed_many", st.lists(event_specs, max_size=6)),
    _op("advance", clock_steps),
    _op("advance_many", clock_steps),
    next_due_ops,
    next_due_ops,
    st.tuples(st.just("add"), st.tuples(st.builds(Pick, st.just("again"), st.integers(0, 9))), st.just({})),
    _op("remove", handle_specs),
    _op("remove_job", job_specs),
    _op("drain_catch_up"),
    _op("drain_catch_up_events"),
    _op("count", handle_specs),
    _op("owner", handle_specs),
    _op("why_not", handle_specs),
)

STATE_CHANGES = ["running", "complete", "failed", "pending", "killed", "blocked"]
WILDCARD_EXTRAS = {"work": WORK_EXTRAS, "subjob": SUBJOB_EXTRAS, "host": HOST_EXTRAS}


def resolve_event(pick: Pick, ref: oracle.Network) -> str:
    live = [(cb.owner, atom) for _, cb in sorted(ref._callbacks.items()) for atom in cb.atoms]
    if pick.b == 2:  # a state change: aim at a latch that is set, to exercise retraction
        live = [
            (cb.owner, atom)
            for _, cb in sorted(ref._callbacks.items())
            for atom, on in zip(cb.atoms, cb.latches)
            if on
        ] or live
    if not live:
        return "complete-job-1"
    owner, atom = live[pick.k % len(live)]
    name = atom.name
    if name == "done":
        name = ["complete", "failed", "killed"][pick.a % 3]
    if pick.b == 2:  # the same item, another state: retracts, or a near miss
        name = STATE_CHANGES[pick.a]
    if atom.context == "global":
        if atom.extra is None:  # name-global
            return f"{name}-{atom.type}"
        if name == "dummy" and pick.b == 1:  # the two-field spelling of a clock event
            return f"{atom.type}-{atom.extra}"
        return f"{name}-{atom.type}-{atom.extra}"
    jobid = ref._resolve(atom, owner)
    if jobid is None:
        jobid = EVENT_JOBS[pick.a]
    extra = atom.extra
    if extra == "*":
        extra = WILDCARD_EXTRAS[atom.type][pick.b % len(WILDCARD_EXTRAS[atom.type])]
    return f"{name}-{atom.type}-{jobid}" + ("" if extra is None else f"-{extra}")


def resolve_handle(pick: Pick, ref: oracle.Network, issued: int) -> int:
    live = sorted(ref._callbacks)
    if pick.k >= 0 and live:
        return live[pick.k % len(live)]
    gone = [h for h in range(1, issued + 1) if h not in ref._callbacks]
    return {-1: 0, -2: issued + 1}.get(pick.k, gone[0] if gone else issued + 1)


def resolve_job(pick: Pick, ref: oracle.Network) -> int:
    jobs = sorted(ref._jobs)
    return jobs[pick.k % len(jobs)] if pick.k >= 0 and jobs else 8


def resolve(value, ref: oracle.Network, issued: int):
    if isinstance(value, list):
        return [resolve(item, ref, issued) for item in value]
    if isinstance(value, tuple):  # an add_many item
        return tuple(resolve(item, ref, issued) for item in value)
    if not isinstance(value, Pick):
        return value
    if value.kind == "event":
        return resolve_event(value, ref)
    if value.kind == "handle":
        return resolve_handle(value, ref, issued)
    return resolve_job(value, ref)


def concrete(op, ref: oracle.Network, issued: int, added: list):
    """The call an operation stands for: placeholders resolved, advance deltas made absolute."""
    method, args, kwargs = op
    if method in ("advance", "advance_many"):
        return method, (ref.clock + args[0],), kwargs
    if method == "add" and isinstance(args[0], Pick) and args[0].kind == "again":
        return method, added[args[0].k % len(added)] if added else ("complete-job-self", 1), kwargs
    return method, tuple(resolve(arg, ref, issued) for arg in args), kwargs


# --------------------------------------------------------------------------- running both sides


def note(text: str) -> None:
    """hypothesis's note, and nothing outside a hypothesis test (the pinned cases use run_both too)."""
    try:
        _hypothesis_note(text)
    except InvalidArgument:
        pass


def outcome(call):
    """What a call did, in a comparable form."""
    try:
        return ("ok", call())
    except TypeError:
        return ("error", "TypeError")  # messages of TypeError are not pinned by the semantics
    except TriggerSyntaxError as exc:
        return ("error", "TriggerSyntaxError", str(exc), exc.expression, exc.column, exc.message)
    except (ValueError, KeyError) as exc:
        return ("error", type(exc).__name__, str(exc))


def call_text(method, args, kwargs) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"net.{method}({', '.join(parts)})"


def observe(net, issued: int) -> tuple:
    """Everything a user can see of a network, to compare after each call."""
    stats = net.stats()
    per_handle = tuple(
        (
            h in net,
            outcome(partial(net.count, h)),
            outcome(partial(net.owner, h)),
            outcome(partial(net.why_not, h)),
        )
        for h in range(0, issued + 2)
    )
    return (len(net), net.clock, stats["callbacks"], stats["atoms"], stats["jobs"], per_handle)


def run_both(impl, state_aware: bool, ops: list) -> list:
    """Play ``ops`` on the oracle and on ``impl``, asserting identical outcomes; returns them."""
    ref = oracle.Network(state_aware=state_aware)
    net = impl(state_aware=state_aware)
    note(f"net = Network(state_aware={state_aware})")
    issued = 0
    added: list = []  # (triggers, owner) of every successful add
    outcomes = []
    for op in ops:
        method, args, kwargs = concrete(op, ref, issued, added)
        text = call_text(method, args, kwargs)
        note(text)
        expected = outcome(partial(getattr(ref, method), *args, **kwargs))
        actual = outcome(partial(getattr(net, method), *args, **kwargs))
        assert actual == expected, f"{text}: twin gave {actual}, oracle {expected}"
        if method == "add" and expected[0] == "ok":
            issued = expected[1]
            added.append(args)
        if method == "add_many" and expected[0] == "ok" and expected[1]:
            issued = expected[1][-1]
            added.extend(item[:2] for item in args[0])
        assert observe(net, issued) == observe(ref, issued), f"state differs after {text}"
        outcomes.append((method, expected))
    return outcomes


# --------------------------------------------------------------------------- the properties


@given(
    jobs=job_setups(),
    callbacks=st.lists(add_ops(), min_size=1, max_size=5),
    ops=st.lists(operations, min_size=10, max_size=50),
    state_aware=st.booleans(),
)
def test_random_operation_sequences_match_the_oracle(impl, jobs, callbacks, ops, state_aware):
    run_both(impl, state_aware, jobs + callbacks + ops)


@given(
    jobs=job_setups(),
    callbacks=st.lists(add_ops(), min_size=1, max_size=8),
    stream=st.lists(st.one_of(event_specs, event_specs, clock_steps), min_size=5, max_size=40),
    state_aware=st.booleans(),
)
def test_random_event_streams_match_the_oracle(impl, jobs, callbacks, stream, state_aware):
    """Registration first, then a long stream of events and clock steps: the firing engine at work.
    Before each clock step, the next moment due is asked for."""
    steps = []
    for e in stream:
        if isinstance(e, int):
            steps += [("next_due", (), {}), ("next_due", (), {"repeats": False}), ("advance_many", (e,), {})]
        else:
            steps.append(("feed", (e,), {}))
    run_both(impl, state_aware, jobs + callbacks + steps)


@given(jobs=job_setups(), owner=st.sampled_from(JOB_IDS), text=expressions)
def test_add_agrees_with_the_oracle_on_every_expression(impl, jobs, owner, text):
    """Valid or broken, one expression at a time: same handle and why_not, or the same error."""
    run_both(impl, False, [*jobs, ("add", (text, owner), {}), ("why_not", (Pick("handle", 0),), {})])


@given(
    jobs=job_setups(),
    texts=st.lists(expressions, min_size=1, max_size=5),
    events=st.lists(event_specs, min_size=1, max_size=12),
    bad_at=st.integers(0, 11),
    state_aware=st.booleans(),
)
def test_feed_many_with_a_bad_event_changes_nothing(impl, jobs, texts, events, bad_at, state_aware):
    """A malformed event anywhere in feed_many: same error naming its index, and no latch moves."""
    bad_at = min(bad_at, len(events))
    batch = events[:bad_at] + ["complete-work-1"] + events[bad_at:]
    adds = [("add", (text, JOB_IDS[i % len(JOB_IDS)]), {}) for i, text in enumerate(texts)]
    run_both(impl, state_aware, [*jobs, *adds, ("feed_many", (batch,), {}), ("feed_many", (events,), {})])


# --------------------------------------------------------------------------- state-aware focus
#
# A small world of items (job, work 1, subjob 0 of jobs 1-3) in state-aware networks: conjunctions
# over those items and streams of state changes, so that catch-up, retraction and `done` are
# exercised far more often than the general generator manages.

ITEM_SHAPES = [("job", None), ("work", "1"), ("subjob", "0"), ("job", None), ("work", "*")]


@st.composite
def state_atoms(draw) -> str:
    name = draw(st.sampled_from(["done", "complete", "running", "done", "failed", "pending"]))
    type_, extra = draw(st.sampled_from(ITEM_SHAPES))
    context = draw(st.sampled_from(["self", "1", "2", "a", "parent", "b"]))
    return f"{name}-{type_}-{context}" + ("" if extra is None else f"-{extra}")


state_expressions = st.lists(state_atoms(), min_size=1, max_size=3).flatmap(
    lambda atoms: st.sampled_from([" && ", " || "]).map(lambda op: op.join(atoms))
)


@st.composite
def state_events(draw) -> str:
    name = draw(st.sampled_from(["complete", "running", "failed", "pending", "killed", "blocked", "submit"]))
    type_, extra = draw(st.sampled_from(ITEM_SHAPES[:3]))
    jobid = draw(st.sampled_from(JOB_IDS))
    return f"{name}-{type_}-{jobid}" + ("" if extra is None else f"-{extra}")


state_operations = st.one_of(
    st.tuples(st.just("add"), st.tuples(state_expressions, job_specs), st.just({})),
    st.tuples(st.just("add"), st.tuples(st.builds(Pick, st.just("again"), st.integers(0, 9))), st.just({})),
    _op("feed", state_events()),
    _op("feed", targeted_events),
    _op("feed", targeted_events),
    _op("feed", targeted_events),
    _op("feed_many", st.lists(st.one_of(state_events(), targeted_events), max_size=5)),
    _op("advance", clock_steps),
    next_due_ops,
    _op("drain_catch_up"),
    _op("drain_catch_up_events"),
    _op("drain_catch_up_events"),
    _op("remove_job", job_specs),
    add_job_ops(),
)


@given(jobs=job_setups(), ops=st.lists(state_operations, min_size=10, max_size=40))
def test_state_aware_streams_match_the_oracle(impl, jobs, ops):
    run_both(impl, True, jobs + ops)


# --------------------------------------------------------------------------- twin against twin
#
# The oracle's TypeError texts are placeholders, so the twins are compared with each other
# directly for bad arguments: same exception type and the same str().

BAD_ARGUMENT_CALLS = [
    ("add_job", (True,), {}),
    ("add_job", ("1",), {}),
    ("add_job", (3,), {"pgrp": 1.0}),
    ("add_job", (3,), {"label": 5}),
    ("add_job", (3,), {"pid": False}),
    ("add_job", (-1,), {}),
    ("add_job", (3,), {"pgrp": 2**31}),
    ("add_job", (3,), {"pid": -5}),
    ("remove_job", ("1",), {}),
    ("remove_job", (-1,), {}),
    ("remove_job", (2**40,), {}),
    ("add", (5, 1), {}),
    ("add", (["a-job-1", 5], 1), {}),
    ("add", ({"a-job-1"}, 1), {}),
    ("add", ("a-job-1", "1"), {}),
    ("add", ("a-job-1", True), {}),
    ("add", ("a-job-1", -1), {}),
    ("add", ("a-job-1", 2**40), {}),
    ("add", ("a-job-1", 1), {"maximum": True}),
    ("add", ("a-job-1", 1), {"maximum": 1.5}),
    ("add", ("a-job-1", 1), {"maximum": -(2**70)}),
    ("remove", ("1",), {}),
    ("remove", (True,), {}),
    ("remove", (-1,), {}),
    ("remove", (2**70,), {}),
    ("count", (None,), {}),
    ("owner", (2.0,), {}),
    ("why_not", ("x",), {}),
    ("feed", (5,), {}),
    ("feed", (b"a-job-1",), {}),
    ("feed_many", ("a-job-1",), {}),
    ("feed_many", ([5],), {}),
    ("feed_many", (["a-job-1", None],), {}),
    ("feed_many", (5,), {}),
    ("advance", (True,), {}),
    ("advance", (1.0,), {}),
    ("advance", (-1,), {}),
    ("advance", (2**62 + 1,), {}),
    ("advance", (2**64,), {}),
    ("advance_many", ("5",), {}),
    ("add_many", ("a-job-1",), {}),
    ("add_many", (5,), {}),
    ("add_many", ([("a-job-1",)],), {}),
    ("add_many", ([("a-job-1", 1), ["a-job-1", 1]],), {}),
    ("add_many", ([("a-job-1", "1")],), {}),
    ("add_many", ([("a-job-1", 1), (5, 1)],), {}),
    ("add_many", ([("a-job-1", 1, 0)],), {}),
    ("add_many", ([("a-job-1", 1), ("a-job-1", 7)],), {}),
]


@pytest.mark.skipif(PURE_ONLY, reason="needs both twins (QBTRIGGER_PURE_PYTHON=1 is set)")
def test_twins_raise_identical_errors_for_bad_arguments():
    twins = [load_network_class("c"), load_network_class("py")]
    for method, args, kwargs in BAD_ARGUMENT_CALLS:
        results = []
        for cls in twins:
            net = cls()
            net.add_job(1)
            net.add("a-job-1", owner=1)
            try:
                getattr(net, method)(*args, **kwargs)
                results.append(("no error",))
            except Exception as exc:  # the comparison is the point
                results.append((type(exc).__name__, str(exc)))
            results[-1] += (len(net), net.clock, net.stats()["jobs"])
        text = call_text(method, args, kwargs)
        assert results[0] == results[1], f"{text}: c gave {results[0]}, py {results[1]}"
        assert results[0][0] != "no error", f"{text} was accepted"


# --------------------------------------------------------------------------- pinned cases (issue 13)


def test_an_empty_label_is_released_with_its_job(impl):
    """'' is a label like any other: held by its job in its pgrp, released when the job goes."""
    run_both(
        impl,
        False,
        [
            ("add_job", (5,), {"label": ""}),
            ("remove_job", (5,), {}),
            ("add_job", (6,), {"pgrp": 5, "label": ""}),
            ("add_job", (7,), {"pgrp": 5, "label": ""}),  # held by 6 now: a DuplicateError
            ("remove_job", (6,), {}),
            ("add_job", (7,), {"pgrp": 5, "label": ""}),
        ],
    )


@pytest.mark.parametrize("state_aware", [False, True])
def test_numbers_past_the_int_digit_limit_read_alike(impl, state_aware):
    """Zero padding of any length is a small value; more than the maximum is out of range, however
    it is written: in expressions (job ids, subjob ids, times, repeats) and in events."""
    zeros = "0" * 5000
    run_both(
        impl,
        state_aware,
        [
            ("add_job", (1,), {}),
            ("add", (f"complete-job-{zeros}2 && done-work-{zeros}2-3", 1), {}),
            ("add", (f"x-time-self-{zeros}40 || y-globaltime-{zeros}50", 1), {}),
            ("add", (f"z-repeat-self-{zeros}5-{zeros}20", 1), {}),
            ("add", (f"a-subjob-self-{zeros}7", 1), {}),
            ("add", ("complete-job-" + "9" * 5000, 1), {}),
            ("add", (f"complete-job-{zeros}2147483648", 1), {}),
            ("add", ("a-subjob-self-" + "9" * 5000, 1), {}),
            ("add", ("a-subjob-self-2147483648", 1), {}),
            ("add", ("x-time-self-" + "9" * 5000, 1), {}),
            ("add", (f"x-repeat-self-1-{zeros}", 1), {}),
            ("feed", (f"complete-job-{zeros}2",), {}),
            ("feed", (f"failed-work-{zeros}{zeros}2-3",), {}),
            ("feed", ("complete-job-" + "9" * 5000,), {}),
            ("feed_many", ([f"complete-job-{zeros}2", "complete-job-" + "9" * 5000],), {}),
            ("feed", (f"dummy-globaltime-{zeros}50",), {}),
            ("advance_many", (100,), {}),
            ("why_not", (1,), {}),
        ],
    )
