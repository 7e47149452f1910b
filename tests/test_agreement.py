"""`check` and `simulate` agree (issue 12): every example in examples/ and every submission the
test suite writes out (a list of job dicts, or a submit script, literally in a test module) goes
through both, with no failure injected:

- simulate refuses it  =>  check reports an error;
- check is clean (no error, no warning)  =>  simulate accepts it and ends with nothing stuck.

The submissions are collected by reading the test modules (a list literal of job dicts, with the
module's own simple constants such as ``FRAMES`` filled in; a string holding ``qb.submit`` or
``qb::submit``), so a test written tomorrow is held to the same rule without being registered.
"""

from __future__ import annotations

import ast
import contextlib
import io
import pathlib
import shutil
from typing import Any, Dict, List, Tuple

import pytest

from qbtrigger.callbacks import SubmissionError
from qbtrigger.callbacks.checks import check_submission
from qbtrigger.cli import main
from qbtrigger.supervisor import Simulator, Supervisor

ALL = "qube,python,perl,mail,dependency"
HERE = pathlib.Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
#: Fields that make a dict a job (a callback dict has "triggers" and is not one).
_JOB_KEYS = {"label", "agenda", "callbacks", "dependency", "status", "cpus", "name"}
#: What a module constant may be built with, to be filled into the lists that name it.
_SAFE = {"range": range, "str": str, "dict": dict, "list": list, "int": int, "len": len}
#: Submissions that run for long on purpose (callbacks that never end, a time limit to reach).
_SLOW = ("while True", "time.sleep", "os._exit", "os.fork", "signal.", "ctypes")


def _constants(tree: ast.Module) -> Dict[str, Any]:
    names: Dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                names[node.targets[0].id] = eval(compile(ast.Expression(node.value), "<test>", "eval"),  # noqa: S307
                                                 {"__builtins__": _SAFE}, dict(names))
            except Exception:  # noqa: BLE001 - not a simple constant: lists naming it are skipped
                continue
    return names


def _is_submission(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(d, dict) and d and set(map(str, d)) & _JOB_KEYS and "triggers" not in d for d in value))


def collect() -> Tuple[List[Any], List[Any]]:
    """``(job lists, scripts)`` of the test suite, as pytest params with ids ``module:line``."""
    lists, scripts = [], []
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == "test_agreement.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _constants(tree)
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.List) and node.elts and all(isinstance(e, ast.Dict) for e in node.elts):
                try:
                    value = eval(compile(ast.Expression(node), "<test>", "eval"),  # noqa: S307
                                 {"__builtins__": _SAFE}, dict(names))
                except Exception:  # noqa: BLE001 - names something computed in the test: skipped
                    continue
                if _is_submission(value) and not any(s in repr(value) for s in _SLOW):
                    lists.append(pytest.param(value, id=where))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if ("qb.submit" in text or "qb::submit" in text) and "\n" in text and not any(s in text for s in _SLOW):
                    suffix = ".pl" if "qb::submit" in text else ".py"
                    scripts.append(pytest.param(text, suffix, id=where))
    return lists, scripts


LISTS, SCRIPTS = collect()


def test_the_suite_has_submissions_to_hold():
    assert len(LISTS) > 100 and len(SCRIPTS) > 25  # the collector still finds what the suite writes


def _check(jobs: Any) -> Tuple[List[str], List[str]]:
    found = check_submission(jobs, language_flags=ALL)
    return ([str(f) for f in found if f.level == "error"], [str(f) for f in found if f.level == "warning"])


def _simulate(jobs: Any) -> Tuple[bool, List[str]]:
    """``(accepted, what is stuck)``."""
    supervisor = Supervisor(language_flags=ALL, clock=1_000_000)
    try:
        supervisor.submit(jobs)
    except SubmissionError:
        return False, []
    report = Simulator(supervisor, workers=4, seed=1).run()
    supervisor.close()
    return True, [s.title for s in report.stuck]


@pytest.mark.parametrize("jobs", LISTS)
def test_check_and_simulate_agree_on_the_suites_job_lists(jobs):
    errors, warnings = _check(jobs)
    accepted, stuck = _simulate(jobs)
    if not accepted:
        assert errors, "simulate refuses this submission, check reports no error"
    if not errors and not warnings:
        assert accepted and not stuck, f"check is clean, simulate ends with {stuck} stuck"


def _run(args: List[str]) -> Tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(args)
    return status, out.getvalue() + err.getvalue()


def _agree(path: pathlib.Path) -> None:
    check_status, check_out = _run(["check", str(path), "--languages", ALL])
    sim_status, sim_out = _run(["simulate", str(path), "--languages", ALL])
    clean = check_status == 0 and check_out.rstrip().endswith("no findings")
    if sim_status == 1:  # refused: the submission, or the script itself
        assert check_status == 1, f"simulate refuses it:\n{sim_out}\ncheck says:\n{check_out}"
    if clean:
        assert sim_status in (0, 3), f"check is clean, simulate ends stuck:\n{sim_out}"  # 3: a job failed


@pytest.mark.parametrize("text, suffix", SCRIPTS)
def test_check_and_simulate_agree_on_the_suites_scripts(tmp_path, monkeypatch, text, suffix):
    if suffix == ".pl" and shutil.which("perl") is None:
        pytest.skip("no perl")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"submit{suffix}"
    path.write_text(text)
    _agree(path)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".pl", ".json")))
def test_check_and_simulate_agree_on_the_examples(monkeypatch, name):
    if name.endswith(".pl") and shutil.which("perl") is None:
        pytest.skip("no perl")
    monkeypatch.chdir(EXAMPLES)
    _agree(EXAMPLES / name)
