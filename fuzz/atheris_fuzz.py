"""Coverage-guided fuzzing (atheris, libFuzzer) of the C parser and event parser against the pure twin.

    python fuzz/atheris_fuzz.py [CORPUS_DIR ...] -dict=fuzz/trigger.dict -max_total_time=60

Inputs are up to DEFAULT_MAX_LEN bytes unless -max_len says otherwise: long enough for numbers past
int()'s 4,300-digit limit (fuzz/corpus/long_numbers.txt seeds them).

Each input is decoded as UTF-8 with 'surrogateescape' (bad bytes become lone surrogates, which
both twins must take like any other character) and run through fuzz/harness.py. The C core
is compiled by gcc without libFuzzer's coverage hooks, so coverage comes from the Python side:
``qbtrigger._common`` (the parsers the C parser is a port of) and ``qbtrigger._pure`` are
instrumented, and inputs that take new paths through them are kept; the C parser, which must take
the same decisions, is driven through the same paths. A difference or an unexpected exception is
reported by atheris as a crash, with the input saved under ``-artifact_prefix``.
tests/test_fuzz.py runs this for a few seconds with fuzz/corpus/ as seeds.
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports(include=["qbtrigger", "harness"]):
    import importlib

    import harness
    from qbtrigger._pure import Network as Pure

    # QBTRIGGER_FUZZ_NATIVE=qbtrigger._pure fuzzes the twin against itself (a self-test of the driver)
    Native = importlib.import_module(os.environ.get("QBTRIGGER_FUZZ_NATIVE", "qbtrigger._native")).Network

COUNTERS = harness.Counters()


def test_one_input(data: bytes) -> None:
    harness.check_input(data.decode("utf-8", "surrogateescape"), Native, Pure, COUNTERS)
    if COUNTERS.inputs % 20_000 == 0:  # libFuzzer ends the process with exit(): report as we go
        print(f"atheris fuzz: {COUNTERS}", flush=True)


#: libFuzzer's default -max_len is 4096 bytes, too short for a number past int()'s 4,300-digit limit
#: (the C and Python number rules once differed there: docs/semantics.md, "Numbers").
DEFAULT_MAX_LEN = 12288


def main() -> None:
    argv = list(sys.argv)
    if not any(arg.startswith("-max_len=") for arg in argv):
        argv.append(f"-max_len={DEFAULT_MAX_LEN}")
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
