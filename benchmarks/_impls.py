"""What the benchmark tests and compare.py share: the implementations by id, sizes, workloads."""

from __future__ import annotations

import functools
import os

from qbtrigger.workload import Workload, farm_workload, parse_size, two_atom_workload

#: Implementation ids, as in the tests' fixture: the C core, the pure twin, the plain reference.
IMPL_IDS = ("c", "py", "ref")
IMPL_NAMES = {"c": "native (C core)", "py": "pure twin", "ref": "reference"}
SIZES = ("1k", "10k", "100k", "1M")
#: Rounds per pytest-benchmark test.
ROUNDS = int(os.environ.get("QBTRIGGER_BENCH_ROUNDS", "3"))


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def network_class(impl_id: str):
    """The Network class of an implementation id; ImportError when the C core is not built."""
    if impl_id == "c":
        from qbtrigger._native import Network

        return Network
    if impl_id == "py":
        from qbtrigger._pure import Network

        return Network
    if impl_id == "ref":
        from qbtrigger.bench.reference import ReferenceNetwork

        return ReferenceNetwork
    raise ValueError(f"unknown implementation id {impl_id!r}: expected one of {', '.join(IMPL_IDS)}")


@functools.lru_cache(maxsize=4)
def farm(size: str):
    return farm_workload(parse_size(size), seed=0)


@functools.lru_cache(maxsize=2)
def two_atom(size: str):
    return two_atom_workload(parse_size(size), seed=0)


#: Qube time of the first timer of time_workload (any moment after 2000-01-01 will do).
TIME_START = 800_000_000


@functools.lru_cache(maxsize=2)
def timers(size: str):
    """``size`` callbacks ``dummy-time-self-T`` (the documented way to delay a job), owners of 1000
    callbacks each, T spread over one hour: what ``advance`` walks through."""
    n = parse_size(size)
    owners = max(1, -(-n // 1000))
    jobs = [(1000 + j, 1000 + j, None, None) for j in range(owners)]
    callbacks = [(f"dummy-time-self-{TIME_START + i % 3600}", 1000 + i // 1000) for i in range(n)]
    return Workload(jobs, callbacks, [], {"kind": "timers", "n_callbacks": n, "seed": 0})
