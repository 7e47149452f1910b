"""Seeded synthetic workloads, shared by the tests, the benchmarks and ``benchmarks/compare.py``.

``farm_workload(n)`` is the shape of a compositing farm: J submissions, each a composite job (the
first job, so its id is the pgrp) and three upstream render jobs labelled ``A``, ``B`` and ``C`` in
the same pgrp, each with the same F frames. The composite owns, for every frame f,

    complete-work-A-f && complete-work-B-f
    (complete-work-A-f && complete-work-B-f) || complete-work-C-f

plus about 1% others: one ``complete-work-C-*`` per submission, then alternately a ``done`` frame
trigger and a job-level one. The events are every upstream frame completion, shuffled with the seed.
J and F are picked so that the callback count is exactly ``n`` with F near 500 (n // 1000
submissions; a small n gives one submission with fewer frames).

``two_atom_workload(n)`` gives n callbacks, each a two-atom AND of atoms no other callback uses,
for the memory-per-callback measurement.

Both return a :class:`Workload`; ``register(net)`` adds its jobs and callbacks to a network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["Workload", "describe", "farm_workload", "parse_size", "two_atom_workload"]

#: First job id handed out; ids go up by one from there.
FIRST_JOB = 1000
#: Callbacks per submission in farm_workload (2 per frame plus about 1%).
PER_SUBMISSION = 1000


@dataclass
class Workload:
    """Jobs, callbacks and events of one synthetic run.

    ``jobs``: ``(jobid, pgrp, label, pid)`` tuples in the order to add them;
    ``callbacks``: ``(triggers, owner)`` tuples in registration order (handle i+1 is callbacks[i]
    on a fresh network); ``events``: event strings in feeding order.
    """

    jobs: list
    callbacks: list
    events: list
    params: dict = field(default_factory=dict)

    def register(self, net: Any) -> list:
        """Add every job then every callback to ``net``; returns the handles."""
        add_job = net.add_job
        for jobid, pgrp, label, pid in self.jobs:
            add_job(jobid, pgrp, label, pid)
        add = net.add
        return [add(triggers, owner) for triggers, owner in self.callbacks]

    def network(self, network_class: Any, **options: Any) -> Any:
        """A new ``network_class(**options)`` with the workload registered."""
        net = network_class(**options)
        self.register(net)
        return net

    def keys(self) -> list:
        """The distinct event texts the workload's callbacks wait on exactly (not through ``*``),
        in first-seen order of the events: the key table of the C floor benchmark."""
        return list(dict.fromkeys(self.events))


def parse_size(text: str) -> int:
    """``"10k"`` -> 10000, ``"1M"`` -> 1000000, ``"2500"`` -> 2500."""
    t = text.strip()
    scale = {"k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}.get(t[-1:], 1)
    number = t[:-1] if scale != 1 else t
    value = float(number) * scale
    if value < 0 or value != int(value):
        raise ValueError(f"bad size {text!r}: expected a count such as 1000, 10k or 1M")
    return int(value)


def _split_budget(budget: int) -> tuple:
    """(frames, extras) for one submission: 2 * frames + extras == budget, extras about 1%."""
    if budget < 3:
        return 0, budget
    extras = max(1, budget // 100)
    frames = (budget - extras) // 2
    return frames, budget - 2 * frames


def _extra_trigger(k: int, frames: int) -> str:
    if k == 0:
        return "complete-work-C-*"
    if k % 2:
        return f"done-work-{'AB'[(k // 2) % 2]}-{(k * 37) % max(frames, 1) + 1}"
    return "complete-job-A && complete-job-B" if k % 4 == 2 else "done-job-C"


def farm_workload(n_callbacks: int, seed: int = 0) -> Workload:
    """The compositing-farm workload with exactly ``n_callbacks`` callbacks (see module doc)."""
    if n_callbacks < 0:
        raise ValueError("n_callbacks must be at least 0")
    submissions = max(1, n_callbacks // PER_SUBMISSION)
    base, spare = divmod(n_callbacks, submissions)
    jobs: list = []
    callbacks: list = []
    events: list = []
    frame_counts = []
    for j in range(submissions):
        comp = FIRST_JOB + 4 * j
        up_a, up_b, up_c = comp + 1, comp + 2, comp + 3
        jobs.append((comp, comp, "comp", None))
        jobs.append((up_a, comp, "A", comp))
        jobs.append((up_b, comp, "B", comp))
        jobs.append((up_c, comp, "C", comp))
        frames, extras = _split_budget(base + (1 if j < spare else 0))
        frame_counts.append(frames)
        names = [str(f) for f in range(1, frames + 1)]
        for f in names:
            both = f"complete-work-A-{f} && complete-work-B-{f}"
            callbacks.append((both, comp))
            callbacks.append((f"({both}) || complete-work-C-{f}", comp))
        callbacks.extend((_extra_trigger(k, frames), comp) for k in range(extras))
        for up in (up_a, up_b, up_c):
            prefix = f"complete-work-{up}-"
            events.extend([prefix + f for f in names])
    random.Random(seed).shuffle(events)
    params = {
        "kind": "farm",
        "n_callbacks": n_callbacks,
        "seed": seed,
        "submissions": submissions,
        "frames": (min(frame_counts), max(frame_counts)),
    }
    return Workload(jobs, callbacks, events, params)


def two_atom_workload(n: int, seed: int = 0, per_job: int = 1000) -> Workload:
    """``n`` callbacks ``complete-work-U-x && complete-work-U-y``, no atom shared between two
    callbacks; owners are jobs of ``per_job`` callbacks each, U an upstream job per owner. The
    events complete every frame named, shuffled with the seed."""
    if n < 0:
        raise ValueError("n must be at least 0")
    owners = max(1, -(-n // per_job))
    jobs: list = []
    callbacks: list = []
    events: list = []
    for j in range(owners):
        owner = FIRST_JOB + 2 * j
        upstream = owner + 1
        jobs.append((owner, owner, None, None))
        jobs.append((upstream, owner, None, None))
        count = min(per_job, n - j * per_job)
        prefix = f"complete-work-{upstream}-"
        callbacks.extend((f"{prefix}{2 * i} && {prefix}{2 * i + 1}", owner) for i in range(count))
        events.extend([prefix + str(i) for i in range(2 * count)])
    random.Random(seed).shuffle(events)
    return Workload(jobs, callbacks, events, {"kind": "two_atom", "n_callbacks": n, "seed": seed})


def describe(workload: Workload) -> str:
    """One line about a workload, for benchmark output."""
    p = workload.params
    extra: Optional[str] = None
    if p.get("kind") == "farm":
        lo, hi = p["frames"]
        extra = f"{p['submissions']} submissions x {lo if lo == hi else f'{lo}-{hi}'} frames"
    parts = [f"{len(workload.callbacks)} callbacks", f"{len(workload.events)} events", f"{len(workload.jobs)} jobs"]
    if extra:
        parts.append(extra)
    return f"{p.get('kind', '?')}: " + ", ".join(parts)
