"""Fixtures of the benchmarks: the implementation under test and the workload size.

- ``impl``: ``(id, Network class)`` with ids ``c`` (the C core; a missing build fails, unless
  ``QBTRIGGER_ALLOW_NO_NATIVE=1`` skips it), ``py`` (the pure twin) and ``ref`` (qbtrigger.bench.reference,
  the plain dict-indexed matcher). ``QBTRIGGER_PURE_PYTHON=1`` leaves ``c`` out.
- ``size``: ``1k``, ``10k``, ``100k``, ``1M``. ``1M`` runs only with ``QBTRIGGER_BENCH_FULL=1``;
  ``100k`` and up run for ``c`` always and for ``py``/``ref`` only with ``QBTRIGGER_BENCH_FULL=1``.
- ``QBTRIGGER_BENCH_ROUNDS`` (default 3): rounds per benchmark.

CI smoke-runs everything once: ``python -m pytest benchmarks -q --benchmark-disable``.
"""

from __future__ import annotations

import pytest

from benchmarks._impls import IMPL_IDS, SIZES, env_flag, network_class
from qbtrigger.workload import parse_size

FULL = env_flag("QBTRIGGER_BENCH_FULL")
ACTIVE_IDS = [i for i in IMPL_IDS if not (i == "c" and env_flag("QBTRIGGER_PURE_PYTHON"))]


class Impl:
    def __init__(self, impl_id: str, cls) -> None:
        self.id = impl_id
        self.cls = cls

    def __repr__(self) -> str:
        return f"Impl({self.id})"


@pytest.fixture(scope="session", params=ACTIVE_IDS)
def impl(request) -> Impl:
    try:
        return Impl(request.param, network_class(request.param))
    except ImportError as exc:
        reason = f"qbtrigger._native cannot be imported: {exc}"
        if env_flag("QBTRIGGER_ALLOW_NO_NATIVE"):
            pytest.skip(reason)
        pytest.fail(reason + " (QBTRIGGER_ALLOW_NO_NATIVE=1 skips, QBTRIGGER_PURE_PYTHON=1 leaves c out)")


@pytest.fixture(params=SIZES)
def size(request, impl) -> str:
    n = parse_size(request.param)
    if n >= 1_000_000 and not FULL:
        pytest.skip("1M callbacks: set QBTRIGGER_BENCH_FULL=1")
    if n >= 100_000 and impl.id != "c" and not FULL:
        pytest.skip(f"{request.param} callbacks on {impl.id}: set QBTRIGGER_BENCH_FULL=1")
    return request.param
