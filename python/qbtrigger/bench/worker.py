"""One pass of one contender over one workload size, in this process or in a worker process.

``python -m qbtrigger.bench.worker JSON`` (JSON: the arguments of :func:`one_pass`) prints
progress lines ``{"step": ...}`` as it goes and one ``{"result": ...}`` line at the end, so when
the parent has to kill a pass that does not finish, the last step line says where it hung.

A pass: build the farm workload (seeded, so every process builds the same one), register it
(timed; RSS growth measured), feed the whole stream in one mode (timed). A *check* pass collects
the firings and compares them with the expected ones (computed by the ``expected`` pass, the
reference matcher, and stored as a pickle); a timed pass only counts them.

A timed pass is preceded, in its process, by one untimed warm-up pass (register and feed, then
dropped). A supervisor runs for weeks: its allocator's pages are mapped and its code is warm, and
that is what the figures should describe, for every contender alike. A first pass in a new process
also pays the kernel for every fresh page its results land on (about 1.3 µs a page on the project
machine: ~50 ns an event for qbtrigger's result tuples at 10k callbacks), which says more about the
process than about the engine. One timed pass per process, not several: durable_rules
slows down over repeated passes in one process (at 10k callbacks its feed went from 83-94 µs an
event in the first two passes to 154-162 µs in the third, even with its rulesets deleted between
passes), which would flatter qbtrigger. Memory per callback comes from the check pass, whose
registration is the first in its process.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import resource
import sys
import time
from typing import Any, Callable, List, Optional, Tuple

from qbtrigger.bench.check import first_difference
from qbtrigger.bench.contenders import load_contender
from qbtrigger.bench.system import current_rss
from qbtrigger.workload import farm_workload

__all__ = ["one_pass", "write_expected", "main"]


def _quiet(step: str) -> None:
    pass


def write_expected(n: int, path: str, progress: Callable[[str], None] = _quiet) -> dict:
    """Run the reference matcher over the workload of size ``n`` and pickle its firings to ``path``."""
    from qbtrigger.bench.reference import ReferenceNetwork

    progress("workload")
    workload = farm_workload(n)
    progress("reference")
    net = workload.network(ReferenceNetwork)
    firings = [(i, h - 1) for i, h in net.feed_many(workload.events)]
    with open(path, "wb") as f:
        pickle.dump(firings, f, protocol=pickle.HIGHEST_PROTOCOL)
    return {"fired": len(firings), "events": len(workload.events)}


def one_pass(
    contender: str,
    n: int,
    mode: str,
    check: bool,
    expected_path: Optional[str] = None,
    progress: Callable[[str], None] = _quiet,
) -> dict:
    """Register and feed once; with ``check``, compare the firings with ``expected_path``'s,
    without, after an untimed warm-up pass."""
    c = load_contender(contender)
    missing = c.unavailable()
    if missing:
        return {"status": "unavailable", "note": missing}
    progress("workload")
    workload = farm_workload(n)
    events = workload.events
    expected: List[Tuple[int, int]] = []  # the reference's (event index, handle) firings
    if check:
        with open(str(expected_path), "rb") as f:
            expected = pickle.load(f)
    warmup_s = 0.0
    if not check:
        progress("warm-up")
        t0 = time.perf_counter_ns()
        warm = c.register(workload)
        c.feed(warm, events, mode, False)
        c.release(warm)
        del warm
        warmup_s = (time.perf_counter_ns() - t0) / 1e9
    progress("register")
    gc.collect()
    rss0 = current_rss()
    t0 = time.perf_counter_ns()
    net = c.register(workload)
    register_ns = time.perf_counter_ns() - t0
    rss1 = current_rss()
    stats_bytes = c.stats_bytes(net)
    progress(f"feed ({mode})")
    gc.collect()
    t0 = time.perf_counter_ns()
    fired: Any = c.feed(net, events, mode, check)
    feed_ns = time.perf_counter_ns() - t0
    result = {
        "status": "ok",
        "warmup_s": warmup_s,
        "register_s": register_ns / 1e9,
        "ns_per_event": feed_ns / max(len(events), 1),
        "events": len(events),
        "rss_bytes_per_callback": None if rss0 is None or rss1 is None else (rss1 - rss0) / max(n, 1),
        "stats_bytes_per_callback": None if stats_bytes is None else stats_bytes / max(n, 1),
    }
    if check:
        result["fired"] = len(fired)
        problem = first_difference(fired, expected, c.ordered, events)
        if problem:
            result.update(status="refused", note=problem)
    return result


def _cap_memory(limit: Optional[int]) -> None:
    # A peer that grows without bound must fail in its own process, not take the machine down.
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: Optional[list] = None) -> int:
    args = json.loads((sys.argv[1:] if argv is None else argv)[0])

    def progress(step: str) -> None:
        print(json.dumps({"step": step}), flush=True)

    _cap_memory(args.pop("memory_limit", None))
    kind = args.pop("kind")
    try:
        if kind == "expected":
            result = write_expected(args["n"], args["path"], progress)
        else:
            result = one_pass(progress=progress, **args)
    except MemoryError:
        result = {"status": "stopped", "note": "ran out of memory under the bench's memory cap"}
    except Exception as exc:  # a peer's failure is a finding to report, not a crash of the bench
        result = {"status": "failed", "note": f"{type(exc).__name__}: {exc}"}
    print(json.dumps({"result": result}), flush=True)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: freeing a 1M-rule network can take longer than the pass


if __name__ == "__main__":
    sys.exit(main())
