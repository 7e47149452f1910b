"""Shared fixtures: the implementation under test, and hypothesis profiles.

Every matcher test takes the ``impl`` fixture, the ``Network`` class of one twin:

- ``c``: ``qbtrigger._native`` (the C core behind Cython). It must be importable: a missing or
  broken build FAILS these tests, unless ``QBTRIGGER_ALLOW_NO_NATIVE=1`` (then they are skipped,
  which is handy while the C core is being written);
- ``py``: ``qbtrigger._pure``, the pure-Python twin.

With ``QBTRIGGER_PURE_PYTHON=1`` only ``py`` is collected (as CI does in its second run).

Hypothesis profiles: ``dev`` (the default, small and quick) and ``ci`` (loaded when ``CI`` is set,
or pick one with ``--hypothesis-profile=NAME`` / ``HYPOTHESIS_PROFILE=NAME``).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


PURE_ONLY = _env_flag("QBTRIGGER_PURE_PYTHON")
ALLOW_NO_NATIVE = _env_flag("QBTRIGGER_ALLOW_NO_NATIVE")
IMPL_IDS = ["py"] if PURE_ONLY else ["c", "py"]
#: For the semantic tests, which also check the referee (tests/oracle.py) against hand-made cases.
IMPL_IDS_AND_ORACLE = [*IMPL_IDS, "oracle"]

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("ci", max_examples=300, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _env_flag("CI") else "dev"))


def load_network_class(impl_id: str):
    """The Network class of ``c``, ``py`` or ``oracle``; ``c`` fails (or skips, if allowed) when not built."""
    if impl_id == "py":
        from qbtrigger._pure import Network

        return Network
    if impl_id == "oracle":
        from oracle import Network

        return Network
    try:
        from qbtrigger._native import Network
    except ImportError as exc:
        reason = f"qbtrigger._native cannot be imported: {exc}"
        if ALLOW_NO_NATIVE:
            pytest.skip(reason + " (QBTRIGGER_ALLOW_NO_NATIVE=1)")
        pytest.fail(
            reason + " (set QBTRIGGER_ALLOW_NO_NATIVE=1 to skip, QBTRIGGER_PURE_PYTHON=1 for py only)"
        )
    return Network


@pytest.fixture(scope="session", params=IMPL_IDS)
def impl(request):
    """The ``Network`` class of the twin under test (ids ``c`` and ``py``)."""
    return load_network_class(request.param)
