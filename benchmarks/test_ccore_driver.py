"""Smoke test of ``python -m benchmarks.ccore``: its C driver (drive.c with native/*.c and the C
floor) builds, fires what the Python binding fires on the same workload, and times the floor in the
same process. Nothing here asserts a speed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.ccore import build, run_driver, write_workload


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_driver_fires_as_the_binding_and_times_the_floor(tmp_path: Path) -> None:
    workload = write_workload(500, tmp_path / "500")
    result = run_driver(build(tmp_path), tmp_path / "500")
    assert result["events"] == len(workload.events)
    assert result["callbacks"] == len(workload.callbacks)
    native = pytest.importorskip("qbtrigger._native")
    assert result["fired"] == len(workload.network(native.Network).feed_many(workload.events))
    assert result["feed_many_ns_per_event"] > 0
    assert result["floor_ns_per_event"] > 0
