"""The HTML page of a large run: simulate_bench's chain (jobs x frames, linked frame by frame)
simulated with a :class:`RunRecorder`, then the page written, and optionally opened in Chromium.

    python -m benchmarks.page_bench --jobs 1000 --frames 1000 [--out PAGE.html] [--browser]

Prints one JSON line: the run's wall time with the recorder, the page's write time and size, and
with ``--browser`` the seconds until the page's load event and until plotly has drawn every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from typing import Any, Dict

from qbtrigger.page import RunRecorder, write_simulation_page
from qbtrigger.supervisor import Simulator, Supervisor

from .simulate_bench import chain


def run(jobs: int, frames: int, out: str, workers: int = 4, browser: bool = False) -> Dict[str, Any]:
    sup = Supervisor(None, clock=0)
    sup.submit(chain(jobs, frames))
    simulator = Simulator(sup, workers=workers, seed=0, frame_time=(10.0, 2.0), commit_every=20000)
    recorder = RunRecorder(simulator)
    t0 = time.perf_counter()
    report = simulator.run()
    t1 = time.perf_counter()
    size = write_simulation_page(out, report, sup, recorder, f"chain {jobs} x {frames}")
    t2 = time.perf_counter()
    result: Dict[str, Any] = {
        "jobs": jobs, "frames": frames, "workers": workers, "events": report.events,
        "run_with_recorder_s": round(t1 - t0, 2), "page_write_s": round(t2 - t1, 2),
        "page_mb": round(size / 1e6, 2), "detailed": recorder.detailed,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    sup.close()
    if browser:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
        from chromium import Chromium  # tests/chromium.py

        with Chromium() as chromium:
            started = time.monotonic()
            result["browser_load_s"] = round(chromium.open(out), 2)
            chromium.evaluate("new Promise(r => { const f = () => [...document.querySelectorAll('.js-plotly-plot')]"
                              ".every(p => p._fullLayout) ? r(0) : setTimeout(f, 50); f(); })")
            result["browser_drawn_s"] = round(time.monotonic() - started, 2)
            result["browser_errors"] = chromium.errors
    return result


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.page_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "qbtrigger-page-bench.html"))
    parser.add_argument("--browser", action="store_true", help="open the page in headless Chromium and time it")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.jobs, args.frames, args.out, args.workers, args.browser)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
