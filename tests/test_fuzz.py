"""A brief fuzz of the C parser and event parser (through ``qbtrigger._native``) against the pure twin.

fuzz/harness.py is the check: every ``add``/``feed``/``feed_many``/``advance`` either succeeds or
raises TriggerSyntaxError, ValueError or TypeError, and both twins agree on the result, the
exception type and its text, ``why_not`` and the ``stats()`` counters. Two drivers feed it, each in
a subprocess (a crash of the C core must not take pytest down with it, and under .ci/run's
sanitizer build that is exactly where ASan reports):

- fuzz/random_fuzz.py: seeded, grammar-aware random inputs and mutations;
- fuzz/atheris_fuzz.py: coverage-guided (libFuzzer) from fuzz/corpus/ with fuzz/trigger.dict,
  when ``atheris`` is installed (the ``test`` extra installs it on x86_64 Linux).

Budget: ``QBTRIGGER_FUZZ_SECONDS`` (default 25) in all, split 10/15 between the two drivers when
atheris is there, all for the random driver otherwise (and under an LD_PRELOADed ASan, which
blinds atheris's coverage). ``QBTRIGGER_FUZZ_ENGINE=random`` or
``atheris`` picks one; ``QBTRIGGER_FUZZ_SEED`` seeds the random driver (default 0). With
``QBTRIGGER_PURE_PYTHON=1`` there is no C core to fuzz and the fuzz tests skip.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
sys.path.insert(0, str(FUZZ))

from harness import FuzzFailure, check_input  # noqa: E402

from qbtrigger._pure import Network as Pure  # noqa: E402


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


PURE_ONLY = _flag("QBTRIGGER_PURE_PYTHON")
BUDGET = float(os.environ.get("QBTRIGGER_FUZZ_SECONDS", "25"))
ENGINE = os.environ.get("QBTRIGGER_FUZZ_ENGINE", "auto")
SEED = int(os.environ.get("QBTRIGGER_FUZZ_SEED", "0"))
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None
# Under gcc's ASan runtime (LD_PRELOAD, as .ci/run's sanitizer step does) libasan answers the
# coverage hooks instead of atheris's libFuzzer, so atheris would mutate blind: the grammar-aware
# random driver gets the whole budget there.
SANITIZED = "libasan" in os.environ.get("LD_PRELOAD", "")
USE_ATHERIS = ENGINE == "atheris" or (ENGINE == "auto" and HAVE_ATHERIS and not SANITIZED)
USE_RANDOM = ENGINE in ("auto", "random")
RANDOM_SECONDS = BUDGET * 0.4 if USE_ATHERIS and USE_RANDOM else BUDGET
ATHERIS_SECONDS = BUDGET - RANDOM_SECONDS if USE_RANDOM else BUDGET

needs_native = pytest.mark.skipif(PURE_ONLY, reason="QBTRIGGER_PURE_PYTHON=1: no C core to fuzz")


@pytest.fixture(scope="module")
def native():
    try:
        from qbtrigger._native import Network
    except ImportError as exc:
        reason = f"qbtrigger._native cannot be imported: {exc}"
        if _flag("QBTRIGGER_ALLOW_NO_NATIVE"):
            pytest.skip(reason)
        pytest.fail(reason)
    return Network


def _run(argv: list, seconds: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=seconds + 180,
        stdin=subprocess.DEVNULL,
    )


def _report(proc: subprocess.CompletedProcess) -> str:
    """The end of the driver's output, without libFuzzer's progress lines (#123 NEW cov: ...)."""
    lines = [
        line
        for line in (proc.stdout + "\n" + proc.stderr).splitlines()
        if line.strip() and not re.match(r"#\d+\s", line)
    ]
    return f"exit status {proc.returncode}\n" + "\n".join(lines[-80:])


# --------------------------------------------------------------------------- the check itself


def test_harness_catches_a_disagreement():
    class Liar(Pure):
        def add(self, triggers, owner, maximum=None):
            if "&&" in triggers:
                raise ValueError("nope")
            return super().add(triggers, owner, maximum)

    check_input("complete-job-1 || complete-job-2\ncomplete-job-2", Liar, Pure)
    with pytest.raises(FuzzFailure, match="disagree"):
        check_input("complete-job-1 && complete-job-2", Liar, Pure)


def test_harness_catches_an_unexpected_exception():
    class Crashy(Pure):
        def feed(self, event):
            raise RuntimeError("boom")

    with pytest.raises(FuzzFailure, match="RuntimeError..boom"):
        check_input("complete-job-1\ncomplete-job-1", Crashy, Pure)


def test_harness_skips_endless_repeats():
    # a one-atom repeat every second, advanced to 2**62: correct, endless; the harness skips it
    check_input(f"tick-globalrepeat-0-1\n@{2**62}\n@5", Pure, Pure)


# --------------------------------------------------------------------------- the C core


@needs_native
@pytest.mark.parametrize("path", sorted((FUZZ / "corpus").iterdir()), ids=lambda p: p.name)
def test_seed_corpus_agrees(native, path):
    check_input(path.read_bytes().decode("utf-8", "surrogateescape"), native, Pure)


@needs_native
@pytest.mark.skipif(not USE_RANDOM, reason=f"QBTRIGGER_FUZZ_ENGINE={ENGINE}")
def test_random_fuzz(native):
    proc = _run([str(FUZZ / "random_fuzz.py"), "--seconds", f"{RANDOM_SECONDS:g}", "--seed", str(SEED)], RANDOM_SECONDS)
    assert proc.returncode == 0, _report(proc)
    assert "inputs:" in proc.stdout, _report(proc)


@needs_native
@pytest.mark.skipif(
    not USE_ATHERIS,
    reason="ASan is preloaded (atheris would run without coverage)"
    if SANITIZED and HAVE_ATHERIS
    else f"QBTRIGGER_FUZZ_ENGINE={ENGINE}"
    if HAVE_ATHERIS
    else "atheris is not installed (pip install '.[test]' on x86_64 Linux)",
)
def test_atheris_fuzz(native, tmp_path):
    corpus = tmp_path / "corpus"  # libFuzzer writes what it finds into the first corpus directory
    corpus.mkdir()
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    proc = _run(
        [
            str(FUZZ / "atheris_fuzz.py"),
            str(corpus),
            str(FUZZ / "corpus"),
            f"-dict={FUZZ / 'trigger.dict'}",
            f"-max_total_time={max(1, round(ATHERIS_SECONDS))}",
            "-timeout=30",
            "-rss_limit_mb=4096",
            "-max_len=12288",  # numbers past int()'s 4,300 digits (fuzz/corpus/long_numbers.txt)
            f"-artifact_prefix={artifacts}{os.sep}",
            "-print_final_stats=1",
        ],
        ATHERIS_SECONDS,
    )
    found = [f"{p}: {p.read_bytes()[:300]!r}" for p in sorted(artifacts.iterdir())]
    assert proc.returncode == 0 and not found, _report(proc) + "\nartifacts:\n" + "\n".join(found)
    assert "Done " in proc.stderr, _report(proc)
