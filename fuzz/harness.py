"""The differential check behind every fuzz run: one input, both twins, the same outcome.

An input is text. Its first line holds the trigger expression (``\\x1f`` splits it into a list of
expressions); each further line (at most ``MAX_STEPS``) is one step:

- ``@T``: ``advance(T)`` (skipped when it would pass more than ``MAX_OCCURRENCES`` occurrences
  of the expression's repeat atoms);
- ``!rm N``: ``remove_job(N)``;  ``!add N [LABEL]``: ``add_job(N, pgrp=1, label=LABEL)``;
- ``!many``: ``feed_many`` of every event line after it (and stop);
- anything else: ``feed`` of that line as an event.

Before the expression is added, each network holds jobs 1 (``comp``, pid 7), 2 (``A``), 3 (``B``)
in pgrp 1 and 4 (``solo``, no pid, pgrp 4). The owner is job 1, or job 4 when the expression's
length is a multiple of 3; the network is state-aware when that length is odd.

Every call must either return or raise TriggerSyntaxError, ValueError or TypeError (KeyError too
for the job steps, as documented); anything else, or any difference between the twins in result,
exception type or message, ``why_not``, ``len`` or the counters of ``stats()``, raises
:class:`FuzzFailure` naming the input. A crash of the C core kills the process: the fuzz drivers
run in a subprocess and say how to replay.
"""

from __future__ import annotations

import re

from qbtrigger import TriggerSyntaxError, parse
from qbtrigger._common import atoms_of, repeat_value

MAX_STEPS = 12
#: An ``@T`` step that would fire a repeat atom more often than this is skipped: firing a
#: one-atom ``repeat`` every second up to 2**62 is correct and would never finish, in either twin.
MAX_OCCURRENCES = 10_000
ALLOWED = (TriggerSyntaxError, ValueError, TypeError)
ALLOWED_JOB_STEP = (*ALLOWED, KeyError)
#: stats() counters that both twins define exactly (bytes is an estimate in the pure twin).
STATS_KEYS = ("callbacks", "atoms", "alpha_entries", "jobs")


_INT = re.compile(r"-?[0-9]{1,40}", re.ASCII)


class FuzzFailure(AssertionError):
    pass


class Counters:
    """What a run did, so a driver can show that it exercised something."""

    def __init__(self) -> None:
        self.inputs = self.accepted = self.rejected = self.steps = self.fired = 0

    def __str__(self) -> str:
        return (
            f"{self.inputs} inputs: {self.accepted} expressions accepted, {self.rejected} rejected; "
            f"{self.steps} steps, {self.fired} firings"
        )


def _describe(exc: BaseException) -> tuple:
    if isinstance(exc, TriggerSyntaxError):
        return ("TriggerSyntaxError", exc.expression, exc.column, exc.message, str(exc))
    return (type(exc).__name__, str(exc))


def _call(side: str, text: str, allowed: tuple, fn, *args) -> tuple:
    try:
        result = fn(*args)
    except allowed as exc:
        return ("raised", _describe(exc))
    except Exception as exc:
        raise FuzzFailure(
            f"{side}: {getattr(fn, '__name__', fn)}{args!r} raised {exc!r}\ninput: {text!r}"
        ) from exc
    return ("ok", result)


def _same(what: str, text: str, native, pure) -> None:
    if native != pure:
        raise FuzzFailure(f"the twins disagree on {what}:\n  native: {native!r}\n  pure:   {pure!r}\ninput: {text!r}")


def _network(cls, state_aware: bool):
    net = cls(state_aware=state_aware)
    net.add_job(1, pgrp=1, label="comp", pid=7)
    net.add_job(2, pgrp=1, label="A")
    net.add_job(3, pgrp=1, label="B")
    net.add_job(4, label="solo")
    return net


def _snapshot(net, handle) -> tuple:
    stats = net.stats()
    live = handle in net
    return (
        len(net),
        live,
        tuple(stats[k] for k in STATS_KEYS),
        tuple(net.why_not(handle)) if live else None,
        net.count(handle) if live else None,
    )


def _int(text: str):
    """The step's argument: an int when it is one (ASCII digits, optional '-'), else the text."""
    text = text.strip()
    return int(text) if _INT.fullmatch(text) else text


def _repeats(triggers) -> list:
    """(start, interval) of every repeat atom of the (valid) triggers."""
    out = []
    for expression in [triggers] if isinstance(triggers, str) else triggers:
        for atom in atoms_of(parse(expression)):
            if atom.type in ("repeat", "globalrepeat"):
                out.append(repeat_value(atom.extra))  # zero padding may pass int()'s digit limit
    return out


def _too_many_occurrences(repeats: list, clock: int, now) -> bool:
    if not isinstance(now, int):
        return False
    total = 0
    for start, interval in repeats:
        first = max(start, clock + 1)
        if now >= first:
            total += (now - first) // interval + 1
    return total > MAX_OCCURRENCES


def check_input(text: str, native_cls, pure_cls, counters: Counters | None = None) -> None:
    """Run one input through both twins; raise FuzzFailure on any difference or bad exception."""
    counters = counters if counters is not None else Counters()
    counters.inputs += 1
    first, _, rest = text.partition("\n")
    triggers = first.split("\x1f") if "\x1f" in first else first
    owner = 4 if len(first) % 3 == 0 else 1
    state_aware = len(first) % 2 == 1
    nets = (_network(native_cls, state_aware), _network(pure_cls, state_aware))

    added = [_call(side, text, ALLOWED, net.add, triggers, owner) for side, net in zip(("native", "pure"), nets)]
    _same(f"add({triggers!r}, owner={owner})", text, *added)
    if added[0][0] != "ok":
        counters.rejected += 1
        return
    counters.accepted += 1
    handle = added[0][1]
    if state_aware:
        _same("drain_catch_up()", text, *(net.drain_catch_up() for net in nets))
    _same("the network after add", text, *(_snapshot(net, handle) for net in nets))

    repeats = _repeats(triggers)
    lines = rest.split("\n")[:MAX_STEPS] if rest else []
    for i, line in enumerate(lines):
        allowed = ALLOWED
        if line.startswith("@"):
            now = _int(line[1:])
            if _too_many_occurrences(repeats, nets[1].clock, now):
                continue
            name, calls = "advance", [(net.advance, now) for net in nets]
        elif line.startswith("!rm"):
            allowed = ALLOWED_JOB_STEP
            name, calls = "remove_job", [(net.remove_job, _int(line[3:])) for net in nets]
        elif line.startswith("!add"):
            allowed = ALLOWED_JOB_STEP
            jobid, _, label = line[4:].strip().partition(" ")
            job_args = (_int(jobid), 1, label or None)
            name, calls = "add_job", [(net.add_job, job_args) for net in nets]
        elif line == "!many":
            name, calls = "feed_many", [(net.feed_many, lines[i + 1 :]) for net in nets]
        else:
            name, calls = "feed", [(net.feed, line) for net in nets]
        counters.steps += 1
        results = [
            _call(side, text, allowed, fn, *(arg if name == "add_job" else (arg,)))
            for side, (fn, arg) in zip(("native", "pure"), calls)
        ]
        _same(f"step {i + 1}, {name}({line!r})", text, *results)
        if results[0][0] == "ok" and isinstance(results[0][1], list):
            counters.fired += len(results[0][1])
        _same(f"the network after step {i + 1} ({line!r})", text, *(_snapshot(net, handle) for net in nets))
        if name == "feed_many":
            break
