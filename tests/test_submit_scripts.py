"""Python submit scripts run as ``python script.py ARG...`` would, through the three commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from qbtrigger.cli import main
from qbtrigger.submit import QBDIR, CheckTarget, SubmitScriptError, load_submissions


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_script_sees_main_argv_and_its_own_folder(tmp_path, capsys):
    write(tmp_path, "shots.py", "FRAMES = '1-4'\n")
    script = write(tmp_path, "submit.py", """\
        import argparse, sys
        import qb
        from shots import FRAMES
        parser = argparse.ArgumentParser()
        parser.add_argument('--label')
        parser.add_argument('--cpus')
        args = parser.parse_args()
        if __name__ == '__main__':
            print('main', sys.argv[0].endswith('submit.py'), __file__ == %r)
            job = qb.Job(label=args.label, cpus=args.cpus or 1, agenda=qb.genframes(FRAMES))
            print('submitted', [j['id'] for j in qb.submit(job)])
    """ % str(tmp_path / "submit.py"))
    path_before = list(sys.path)
    assert main(["simulate", str(script), "--", "--label", "render", "--cpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "main True True" in out and "submitted [1]" in out and "every job finished" in out
    assert sys.path == path_before and "shots" not in sys.modules
    assert main(["check", str(script), "--", "--label", "render"]) == 0
    assert capsys.readouterr().out.endswith("1 job in 1 submission checked, no findings\n")
    assert main(["explain", str(script), "--job", "render", "--", "--label", "render"]) == 0
    assert "render" in capsys.readouterr().out


def test_without_its_arguments_the_script_fails_as_it_would(tmp_path, capsys):
    script = write(tmp_path, "needs.py", """\
        import argparse
        parser = argparse.ArgumentParser()
        parser.add_argument('scene')
        parser.parse_args()
    """)
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert "the script exited with status 2" in err and "Traceback" not in err


def test_qbdir_names_a_folder_holding_the_stand_ins(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QBDIR", raising=False)
    script = write(tmp_path, "qbdir.py", """\
        import os, sys
        sys.path.append(os.environ['QBDIR'] + '/api/python')
        import qb
        print('QBDIR', os.environ['QBDIR'])
        qb.submit(qb.Job(name='x', agenda=qb.genframes('1')))
    """)
    assert main(["simulate", str(script)]) == 0
    assert f"QBDIR {QBDIR}" in capsys.readouterr().out
    assert "QBDIR" not in os.environ  # put back
    assert os.path.isfile(os.path.join(QBDIR, "api", "python", "qb.py"))
    assert os.path.isfile(os.path.join(QBDIR, "api", "perl", "qb.pm"))
    monkeypatch.setenv("QBDIR", "/opt/pfx/qube")
    assert main(["simulate", str(script)]) == 0
    assert "QBDIR /opt/pfx/qube" in capsys.readouterr().out  # a real install's QBDIR is left alone


def test_the_stand_in_file_refuses_to_run_outside_qbtrigger(tmp_path):
    env = dict(os.environ, QBDIR=QBDIR)
    proc = subprocess.run(
        [sys.executable, "-c", "import os, sys; sys.path.append(os.environ['QBDIR'] + '/api/python'); import qb"],
        env=env, capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "works only inside `qbtrigger check|simulate|explain SCRIPT.py`" in proc.stderr


def test_qb_without_import_is_provided_with_a_note(tmp_path, capsys):
    script = write(tmp_path, "snippet.py", """\
        render = {'name': 'render', 'label': 'render', 'agenda': qb.genframes('1-2')}
        qb.submit([render])
    """)
    assert main(["check", str(script)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "qbtrigger: note: " in captured.err and "snippet.py uses qb without importing it" in captured.err
    imports = write(tmp_path, "imports.py", "import qb\nqb.submit(qb.Job(name='x'))\n")
    assert main(["check", str(imports)]) == 0
    assert capsys.readouterr().err == ""
    inside = write(tmp_path, "inside.py", "def go():\n    import qb\n    qb.submit(qb.Job(name='x'))\ngo()\n")
    assert main(["check", str(inside)]) == 0
    assert capsys.readouterr().err == ""


def test_a_syntax_error_has_file_line_column_and_caret(tmp_path, capsys):
    script = write(tmp_path, "broken.py", """\
        import qb
        job = qb.Job(name='x'
        qb.submit(job)
    """)
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith(f"qbtrigger check: error: {script}:2:")
    caret_line = lines[-1]
    assert caret_line.strip() == "^"
    column = int(lines[0][len(f"qbtrigger check: error: {script}:2:"):].split(":")[0])
    assert lines[1] == "    job = qb.Job(name='x'" and caret_line == "    " + " " * (column - 1) + "^"


def test_python_2_gets_a_hint(tmp_path, capsys):
    script = write(tmp_path, "old.py", "import qb\nprint 'submitting'\n")
    assert main(["simulate", str(script)]) == 1
    err = capsys.readouterr().err
    assert f"{script}:2:1: Missing parentheses in call to 'print'" in err
    assert "    print 'submitting'\n    ^" in err
    assert "(the script looks like Python 2; qbtrigger runs submit scripts with Python 3)" in err


@pytest.mark.parametrize("content, message", [
    ("import qb\nframes = {}\nframes['all']\n", "the script raised KeyError: 'all' (line 3)"),
    ("import qb\nqb.genframes('1-10x0')\n", ":2: qb.genframes: bad frame range '1-10x0': the step after 'x' must be 1 or more"),
    ("import qb\nqb.submit({'name': 'a'}, 'b')\n", ":2: qb.submit: argument 2 is a str, not a job"),
    ("import qb\nqb.stats('1.0')\n", "the script raised AttributeError: qbtrigger's stand-in qb has no 'stats'"),
    ("import sys\nsys.exit('no scene given')\n", "the script exited: no scene given"),
    ("import sys\nsys.exit(4)\n", "the script exited with status 4"),
    ("import qb\nqb.archivejob('job.qja', qb.Job(name='x'))\n",
     "the script submitted no jobs (no qb.submit call ran); it wrote job.qja with qb.archivejob"),
])
def test_script_failures_are_one_line(tmp_path, capsys, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    script = write(tmp_path, "s.py", content)
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_script_that_submits_from_a_child_process_is_told_so(tmp_path, capsys):
    child = write(tmp_path, "payload.py", "import qb\nqb.submit({'name': 'x'})\n")
    script = write(tmp_path, "launch.py", f"""
        import os, subprocess, sys
        subprocess.run([sys.executable, {str(child)!r}], capture_output=True)  # its qb is not ours: it fails
        os.system("true")
    """)
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert "the script submitted no jobs (no qb.submit call ran); it started 2 processes " in err
    assert f"'{sys.executable} {child}', 'true'" in err
    assert "a job submitted from another process does not reach qbtrigger" in err


def test_a_script_that_starts_processes_and_submits_is_fine(tmp_path, capsys):
    script = write(tmp_path, "ok.py", """
        import subprocess, qb
        subprocess.run(["true"])
        qb.submit({'name': 'x', 'agenda': qb.genframes('1-2')})
    """)
    assert main(["check", str(script)]) == 0
    assert "process" not in capsys.readouterr().err


def test_an_error_raised_in_a_module_of_the_script_names_both_lines(tmp_path, capsys):
    write(tmp_path, "helpers.py", "def frames():\n    return [][0]\n")
    script = write(tmp_path, "s.py", "import qb, helpers\n\nqb.genframes(helpers.frames())\n")
    assert main(["check", str(script)]) == 1
    assert "the script raised IndexError: list index out of range (line 3, raised in helpers.py line 2)" in \
        capsys.readouterr().err


def test_a_module_that_does_not_compile(tmp_path, capsys):
    write(tmp_path, "legacy.py", "print 'x'\n")
    script = write(tmp_path, "s.py", "import qb, legacy\n")
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert "the script imports a file that does not compile" in err and "legacy.py:1:1" in err


def test_a_caught_refusal_is_the_scripts_business(tmp_path, capsys):
    script = write(tmp_path, "s.py", """\
        import qb
        try:
            qb.genframes('1-10x0')
        except ValueError as error:
            print('fallback:', error)
        qb.submit(qb.Job(name='x'))
    """)
    assert main(["simulate", str(script)]) == 0
    assert "fallback: qb.genframes: bad frame range" in capsys.readouterr().out


def test_the_farm_sees_what_the_script_did(tmp_path, capsys):
    script = write(tmp_path, "s.py", """\
        import qb
        first = qb.submit(qb.Job(name='first', label='first', agenda=qb.genframes('1-3')))[0]
        print('hosts', len(qb.hostinfo()))
        qb.block(first.id())
        second = qb.submit(qb.Job(name='second', dependency='link-done-job-%d' % first['id']))[0]
        print('states', [j['status'] for j in qb.jobinfo(id=[first['id'], second['id']])])
        qb.unblock(first['id'])
    """)
    assert main(["simulate", str(script), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "hosts 2" in out and "states ['blocked', 'blocked']" in out and "every job finished" in out


def test_check_notes_the_scripts_actions_and_runs_as_user(tmp_path, capsys):
    script = write(tmp_path, "s.py", """\
        import qb
        (job,) = qb.submit(qb.Job(name='r', label='render', agenda=qb.genframes('1-2')))
        qb.block(job['id'])
        qb.submitcallback({'triggers': 'complete-job-%d' % job['id'], 'language': 'qube', 'code': 'mail-status'})
    """)
    assert main(["check", str(script)]) == 1
    assert "qb.submitcallback: global callbacks need a Qube administrator" in capsys.readouterr().err
    assert main(["check", str(script), "--user", "admin"]) == 0
    out = capsys.readouterr().out
    assert f"{script}: note: the script would block job 'render' (check does not run it)" in out
    assert out.endswith("1 job in 1 submission and 1 global callback checked, no findings\n")


def test_arguments_after_dashes_go_to_scripts_only(tmp_path, capsys):
    jobs = write(tmp_path, "jobs.json", json.dumps([{"name": "a"}]))
    assert main(["check", str(jobs), "--", "x"]) == 1
    assert "a JSON job list takes none" in capsys.readouterr().err
    triggers = write(tmp_path, "t.txt", "complete-job-1\n")
    assert main(["check", str(triggers), "--", "x"]) == 1
    assert "a trigger file takes none" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["match", str(triggers), str(triggers), "--", "x"])
    assert "arguments after -- are for a submit script" in capsys.readouterr().err


def test_check_reads_a_job_archive_as_json(tmp_path, capsys):
    archive = write(tmp_path, "job.qja", json.dumps([{"name": "x", "agenda": [{"name": "1"}]}]))
    assert main(["check", str(archive)]) == 0
    assert capsys.readouterr().out.endswith("1 job in 1 submission checked, no findings\n")


def test_load_submissions_with_a_target(tmp_path):
    script = write(tmp_path, "s.py", "import qb\nqb.submit({'name': 'a'})\nqb.submit({'name': 'b'}, {'name': 'c'})\n")
    target = CheckTarget()
    batches = load_submissions(str(script), target)
    assert [[j["name"] for j in b] for b in batches] == [["a"], ["b", "c"]]
    assert [j["pgrp"] for b in batches for j in b] == [2_000_000_000, 2_000_000_001, 2_000_000_001]
    with pytest.raises(SubmitScriptError, match="no such file"):
        load_submissions(str(tmp_path / "missing.py"), target)


def test_check_lists_warnings_and_ignored_fields_without_failing(tmp_path, capsys):
    script = write(tmp_path, "s.py", "import qb\nqb.submit(qb.Job(name='a', hosts='h1', dependancy='1'))\n")
    assert main(["check", str(script)]) == 0
    out = capsys.readouterr().out
    assert "warning: unknown field 'dependancy'" in out
    assert "ignored: hosts" in out and out.endswith("1 job in 1 submission checked, no errors, 1 warning\n")
