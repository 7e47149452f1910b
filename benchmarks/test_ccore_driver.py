"""Smoke tests of the C drivers of ``benchmarks/ccore``: drive.c (with native/*.c and the C floor)
builds, fires what the Python binding fires on the same workload, and times the floor in the same
process; threads.c builds and runs a round. Nothing here asserts a speed."""

from __future__ import annotations

import json
import shutil
import subprocess
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


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")
def test_threads_driver_agrees_and_reports(tmp_path: Path) -> None:
    """benchmarks/ccore/threads.c (benchmarks.threads' C core row): one round on a small workload;
    it exits non-zero if one thread and two fire differently."""
    write_workload(300, tmp_path / "300")
    exe = build(tmp_path, name="threads", program="threads")
    out = subprocess.run([str(exe), str(tmp_path / "300"), "1"], check=True, capture_output=True, text=True).stdout
    rounds = [json.loads(line) for line in out.splitlines()]
    assert len(rounds) == 2 and rounds[-1]["rounds"] == 1
    assert rounds[0]["one_ms"] > 0 and rounds[0]["two_ms"] > 0 and rounds[-1]["speedup"] > 0
