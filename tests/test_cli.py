"""The ``qbtrigger`` command: ``check`` and ``match``, through main() and as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qbtrigger
from qbtrigger import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TRIGGERS = """\
# composite job 30 waits on frames of jobs 10 and 11
30: complete-work-10-1 && complete-work-11-1
30: (complete-work-10-2 && complete-work-11-2) || complete-work-12-2

done-job-10
"""

EVENTS = """\
complete-work-10-1
# a comment
complete-work-11-1
complete-work-12-2
failed-job-10
"""

MATCH_HEADER = "# line  event  ->  callback  expression"  # says what the columns are
EXPECTED_MATCH = [
    MATCH_HEADER,
    "3  complete-work-11-1  ->  1  complete-work-10-1 && complete-work-11-1",
    "4  complete-work-12-2  ->  2  (complete-work-10-2 && complete-work-11-2) || complete-work-12-2",
    "5  failed-job-10  ->  3  done-job-10",
]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def run_main(capsys, *argv: str) -> tuple:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_module(*argv: str, stdin: str | None = None, env_extra: dict | None = None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "qbtrigger", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


# --------------------------------------------------------------------------- check


def test_check_clean_file(tmp_path, capsys):
    path = write(tmp_path, "t.txt", TRIGGERS)
    status, out, err = run_main(capsys, "check", path)
    assert status == 0
    assert out == f"{path}: 3 expressions checked, no errors\n"
    assert err == ""


def test_check_reports_every_error_with_position_and_caret(tmp_path, capsys):
    path = write(
        tmp_path,
        "bad.txt",
        """\
        complete-job-1
        30: complete-work-10-2 & complete-work-11-2
          complete-frame-10-4
        not complete-job-3
        """,
    )
    status, out, err = run_main(capsys, "check", path)
    assert status == 1
    assert err == ""
    assert out.splitlines() == [
        f"{path}:2:24: single '&': write '&&' or 'and'",
        "    complete-work-10-2 & complete-work-11-2",
        "                       ^",
        f"{path}:3:12: unknown type 'frame': expected job, subjob, work, host, time, repeat, global, globaltime or globalrepeat",
        "    complete-frame-10-4",
        "             ^",
        f"{path}:4:1: there is no NOT: events are edges, and 'did not happen' has no moment to fire at",
        "    not complete-job-3",
        "    ^",
        f"{path}: 4 expressions checked, 3 errors",
    ]


def test_check_error_column_matches_the_syntax_error(tmp_path, capsys):
    expression = "(complete-job-1 || complete-job-2"
    path = write(tmp_path, "t.txt", f"7:   {expression}\n")
    with pytest.raises(qbtrigger.TriggerSyntaxError) as info:
        qbtrigger.parse(expression)
    status, out, _ = run_main(capsys, "check", path)
    assert status == 1
    # the expression starts at 0-based column 5 of the line
    assert out.splitlines()[0] == f"{path}:1:{5 + info.value.column + 1}: {info.value.message}"
    assert out.splitlines()[1:3] == str(info.value).splitlines()[1:]


def test_check_examples_are_clean_and_bad_example_is_not(capsys):
    status, out, _ = run_main(capsys, "check", str(EXAMPLES / "triggers.txt"))
    assert status == 0, out
    status, out, _ = run_main(capsys, "check", str(EXAMPLES / "bad-triggers.txt"))
    assert status == 1
    assert out.rstrip().endswith("2 errors")


def test_check_empty_file(tmp_path, capsys):
    path = write(tmp_path, "empty.txt", "# nothing\n\n")
    status, out, _ = run_main(capsys, "check", path)
    assert status == 0
    assert out == f"{path}: 0 expressions checked, no errors\n"


def test_check_missing_file_is_one_line(tmp_path, capsys):
    path = str(tmp_path / "nope.txt")
    status, out, err = run_main(capsys, "check", path)
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1 and "cannot read" in err and "nope.txt" in err
    assert "Traceback" not in err


def test_check_not_utf8_is_one_line(tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"complete-work-10-caf\xe9\n")
    status, _, err = run_main(capsys, "check", str(path))
    assert status == 1
    assert err.count("\n") == 1 and "not UTF-8" in err


# --------------------------------------------------------------------------- match


def test_match_prints_every_firing(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    events = write(tmp_path, "e.txt", EVENTS)
    status, out, err = run_main(capsys, "match", triggers, events)
    assert status == 0, err
    assert out.splitlines() == EXPECTED_MATCH
    assert err == ""


def test_match_bad_event_is_one_line_error(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    events = write(tmp_path, "e.txt", "complete-work-10-1\n\ncomplete-wrk-10-1\ncomplete-work-11-1\n")
    status, out, err = run_main(capsys, "match", triggers, events)
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert f"{events}:3: bad event 'complete-wrk-10-1': unknown type 'wrk'" in err


def test_match_bad_trigger_reports_syntax_and_matches_nothing(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", "complete-job-10\n5: complete-job-10 ||\n")
    events = write(tmp_path, "e.txt", "complete-job-10\n")
    status, out, err = run_main(capsys, "match", triggers, events)
    assert status == 1
    assert out.splitlines()[0].startswith(f"{triggers}:2:") and "expression ends" in out
    assert "->" not in out
    assert err.count("\n") == 1 and "1 bad trigger expression" in err


def test_match_owner_out_of_range_is_one_line_error(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", "99999999999: complete-job-10\n")
    events = write(tmp_path, "e.txt", "complete-job-10\n")
    status, _, err = run_main(capsys, "match", triggers, events)
    assert status == 1
    assert err.count("\n") == 1 and f"{triggers}:1:" in err


def test_match_missing_events_file(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    status, _, err = run_main(capsys, "match", triggers, str(tmp_path / "missing.txt"))
    assert status == 1
    assert err.count("\n") == 1 and "cannot read" in err


def test_match_self_and_default_owner(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", "complete-work-self-5\n2: complete-work-self-5\n")
    events = write(tmp_path, "e.txt", "complete-work-2-5\ncomplete-work-1-5\n")
    status, out, _ = run_main(capsys, "match", triggers, events)
    assert status == 0
    assert out.splitlines() == [
        MATCH_HEADER,
        "1  complete-work-2-5  ->  2  complete-work-self-5",
        "2  complete-work-1-5  ->  1  complete-work-self-5",
    ]


def test_match_state_aware_retracts(tmp_path, capsys):
    # frame 1 of job 10 completes, is retried (running again), then job 11's frame 1 completes:
    # bare Qube edges fire, the state-aware network has retracted job 10's latch.
    triggers = write(tmp_path, "t.txt", "30: complete-work-10-1 && complete-work-11-1\n")
    events = write(tmp_path, "e.txt", "complete-work-10-1\nrunning-work-10-1\ncomplete-work-11-1\n")
    status, out, _ = run_main(capsys, "match", triggers, events)
    assert status == 0
    assert out.splitlines() == [MATCH_HEADER, "3  complete-work-11-1  ->  1  complete-work-10-1 && complete-work-11-1"]
    status, out, _ = run_main(capsys, "match", "--state-aware", triggers, events)
    assert status == 0
    assert out == ""


def test_match_verbose_names_the_implementation(tmp_path, capsys):
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    events = write(tmp_path, "e.txt", EVENTS)
    status, out, err = run_main(capsys, "match", "--verbose", triggers, events)
    assert status == 0
    assert out.splitlines() == EXPECTED_MATCH
    assert f"{qbtrigger.implementation} matcher" in err.splitlines()[0]
    assert err.splitlines()[-1] == "3 callbacks, 4 events, 3 firings"


def test_match_examples(capsys):
    status, out, err = run_main(capsys, "match", str(EXAMPLES / "triggers.txt"), str(EXAMPLES / "events.txt"))
    assert status == 0, err
    lines = out.splitlines()
    assert lines and all("  ->  " in line for line in lines)


# --------------------------------------------------------------------------- as a program


def test_module_match_from_stdin(tmp_path):
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    proc = run_module("match", triggers, "-", stdin=EVENTS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == EXPECTED_MATCH


def test_module_errors_have_no_traceback(tmp_path):
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    proc = run_module("match", triggers, "-", stdin="complete-work-10\n")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "qbtrigger match: error: -:1: bad event 'complete-work-10': a work event needs an extra after the job id"
    ]


def test_module_check_and_verbose():
    proc = run_module("check", "--verbose", str(EXAMPLES / "bad-triggers.txt"))
    assert proc.returncode == 1
    assert "bad-triggers.txt:" in proc.stdout
    assert "matcher" in proc.stderr


@pytest.mark.parametrize("pure", ["0", "1"])
def test_module_verbose_reports_forced_twin(pure):
    proc = run_module("check", "-v", str(EXAMPLES / "triggers.txt"), env_extra={"QBTRIGGER_PURE_PYTHON": pure})
    assert proc.returncode == 0, proc.stderr
    if pure == "1":
        assert "pure matcher" in proc.stderr


def test_module_usage_errors():
    proc = run_module()
    assert proc.returncode == 2
    assert "usage:" in proc.stderr
    proc = run_module("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"qbtrigger {qbtrigger.__version__}"


def test_console_script_if_installed(tmp_path):
    script = shutil.which("qbtrigger")
    if script is None or not Path(script).resolve().is_relative_to(Path(sys.prefix).resolve()):
        pytest.skip("the qbtrigger console script of this interpreter is not installed")
    triggers = write(tmp_path, "t.txt", TRIGGERS)
    events = write(tmp_path, "e.txt", EVENTS)
    proc = subprocess.run([script, "match", triggers, events], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == EXPECTED_MATCH


# --------------------------------------------------------------------------- parser structure


def test_adding_a_subcommand_is_one_function(capsys):
    before = list(cli._COMMANDS)
    try:

        @cli.command("hello", "say hello", cli.arg("name"), cli.arg("--shout", action="store_true"))
        def _hello(args, out):
            print(f"hello {args.name.upper() if args.shout else args.name}", file=out)
            return 3

        status, out, _ = run_main(capsys, "hello", "--shout", "farm")
        assert status == 3
        assert out == "hello FARM\n"
    finally:
        cli._COMMANDS[:] = before
