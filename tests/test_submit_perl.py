"""Perl submit scripts, run by the system perl with the Perl ``qb`` stand-in over the perl bridge."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from qbtrigger.cli import main
from qbtrigger.submit import QBDIR, CheckTarget, SubmitScriptError, load_submissions

pytestmark = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_perl_example_checks_and_simulates(capsys):
    example = str(EXAMPLES / "render_then_comp.pl")
    assert main(["check", example]) == 0
    assert capsys.readouterr().out == f"{example}: 2 jobs in 1 submission checked, no findings\n"
    assert main(["simulate", example, "--", "1-4"]) == 0
    out = capsys.readouterr().out
    assert "submitted render: job 1\nsubmitted comp: job 2\n" in out
    assert "work: complete 4;  callbacks fired: 1" in out and "comp released" in out and "every job finished" in out


def test_hashes_go_as_the_perl_api_takes_them(tmp_path):
    script = write(tmp_path, "jobs.pl", """\
        use lib "$ENV{QBDIR}/api/perl";
        use qb;
        my $frames = qb::genframes("1-3");
        $_->{status} = "blocked" for @{$frames};
        my $first = {name => "first job", label => "first", cpus => "5", priority => 10, agenda => qb::genframes("1-3")};
        my $second = {name => "second job", label => "second", cpus => "10", status => "blocked", agenda => $frames,
                      callbacks => [map { {triggers => "complete-work-first-$_->{name}", language => "perl",
                                           code => "qb::workunblock(\\$qb::jobid.':$_->{name}');"} } @{$frames}]};
        my @jobs = qb::submit($first, $second);
        print scalar(@jobs), " jobs, first id $jobs[0]{id}\\n";
    """)
    target = CheckTarget()
    (batch,) = load_submissions(str(script), target)
    first, second = batch
    assert first["cpus"] == "5" and first["priority"] == 10 and first["name"] == "first job"
    assert [w["name"] for w in first["agenda"]] == ["1", "2", "3"]
    assert [w["status"] for w in second["agenda"]] == ["blocked"] * 3
    assert second["callbacks"][2] == {"triggers": "complete-work-first-3", "language": "perl",
                                      "code": "qb::workunblock($qb::jobid.':3');"}
    assert first["id"] == 2_000_000_000 and second["pgrp"] == 2_000_000_000


def test_job_objects_accessors_and_archives(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = write(tmp_path, "maya.pl", """\
        use qb;
        use qb::Job;
        my $job = qb::Job->new();
        $job->agenda(qb::genframes("1-4"));
        $job->prototype("maya");
        $job->timeout(600);
        $job->{callbacks} = [{triggers => "timeout-subjob-self-*", language => "qube", code => "kill-subjob-self"}];
        for my $key (qw(name priority)) { $job->$key($key eq 'name' ? 'shot10' : 50); }
        $job->package("scenefile", "/shots/10.ma");
        $job->package("renderer", "sw");
        $job->flagsstring("auto_wrangling");
        qb::archivejob("maya.qja", $job);
        qb::_qb_archivejob("old.qja", $job);
        my ($submitted) = qb::submit($job);
        print "id ", $submitted->id, " name ", $submitted->name, " scene ", $submitted->package("scenefile"), "\\n";
    """)
    assert main(["simulate", str(script)]) == 0
    out = capsys.readouterr().out
    assert "id 1 name shot10 scene /shots/10.ma" in out
    (archived,) = json.loads((tmp_path / "maya.qja").read_text())
    assert archived["timeout"] == 600 and archived["priority"] == 50 and archived["prototype"] == "maya"
    assert archived["package"] == {"scenefile": "/shots/10.ma", "renderer": "sw"}
    assert json.loads((tmp_path / "old.qja").read_text()) == [archived]
    assert main(["check", "maya.qja"]) == 0


def test_queries_and_ranges_from_perl(tmp_path, capsys):
    script = write(tmp_path, "query.pl", """\
        use qb;
        my @frames = qb::rangesplit("1-5x2");
        my $chunks = qb::genchunks(2, "1-5");
        print "frames @frames chunks ", join(",", map { $_->{name} } @$chunks), "\\n";
        my ($job) = qb::submit({name => "a", label => "a", agenda => qb::genframes("1-2")});
        my @found = qb::jobinfo(-id => $job->{id}, -agenda => 1);
        my $same = qb::jobinfo(id => $job->{id});
        print "found ", scalar(@found), " ", $found[0]{label}, " agenda ", scalar(@{$found[0]{agenda}}),
              " again ", $same->[0]{label}, "\\n";
        my @hosts = qb::hostinfo();
        my @one = qb::hostinfo(name => $hosts[0]{name});
        print "hosts ", scalar(@hosts), " one ", scalar(@one), "\\n";
        print "time ", (qb::currenttime() > 946702800 ? "ok" : "bad"), "\\n";
        qb::block($job->{id});
        print "status ", (qb::jobinfo(-id => $job->{id}))[0]{status}, "\\n";
        qb::unblock($job->{id});
    """)
    assert main(["simulate", str(script), "--workers", "3"]) == 0
    out = capsys.readouterr().out
    assert "frames 1 3 5 chunks 1-2,3-4,5-5" in out
    assert "found 1 a agenda 2 again a" in out and "hosts 3 one 1" in out and "time ok" in out
    assert "status blocked" in out and "every job finished" in out


def test_arguments_after_dashes_are_perls_argv(tmp_path, capsys):
    script = write(tmp_path, "args.pl", """\
        use Getopt::Long;
        use qb;
        my $cpus = 1;
        GetOptions("cpus=i" => \\$cpus) or die "bad options\\n";
        my @jobs = qb::submit({name => "@ARGV", cpus => $cpus, prototype => "cmdline", package => {cmdline => "@ARGV"}});
        print "cpus $jobs[0]{cpus} cmd $jobs[0]{package}{cmdline}\\n";
    """)
    # the first -- ends qbtrigger's options; a second one reaches the script's own option parser
    assert main(["simulate", str(script), "--", "--cpus", "3", "--", "ls", "-l"]) == 0
    assert "cpus 3 cmd ls -l" in capsys.readouterr().out


def test_a_refusal_the_script_does_not_catch_names_its_line(tmp_path, capsys):
    script = write(tmp_path, "bad.pl", """\
        use qb;

        my $frames = qb::genframes("1-10x0");
    """)
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert f"{script}:3: qb.genframes: bad frame range '1-10x0': the step after 'x' must be 1 or more" in err


def test_a_refusal_can_be_caught_with_eval(tmp_path, capsys):
    script = write(tmp_path, "careful.pl", """\
        use qb;
        my $frames = eval { qb::genframes("1-10x0") };
        if ($@ && $@->isa('qb::ValueError')) { print "fallback\\n"; $frames = qb::genframes("1-10"); }
        qb::submit({name => "x", agenda => $frames});
    """)
    assert main(["simulate", str(script)]) == 0
    out = capsys.readouterr().out
    assert "fallback" in out and "work: complete 10" in out


def test_global_callbacks_need_an_administrator(tmp_path, capsys):
    script = write(tmp_path, "global.pl", """\
        use qb;
        my @result = qb::submitcallback({triggers => "complete-job-1", language => "qube", code => "mail-status"});
        print "submitted: ", scalar(@result), "\\n";
    """)
    assert main(["check", str(script), "--user", "alice"]) == 1
    assert f"{script}:2: qb.submitcallback: global callbacks need a Qube administrator; the script runs as 'alice'" \
        in capsys.readouterr().err
    assert main(["check", str(script), "--user", "admin"]) == 0
    assert capsys.readouterr().out.endswith("0 jobs in 0 submissions and 1 global callback checked, no findings\n")


def test_a_rejected_submission_is_the_farms_message(tmp_path, capsys):
    script = write(tmp_path, "rejected.pl", """\
        use qb;
        qb::submit({label => "x", callbacks => [{triggers => "complete-job-self &&", code => "unblock-self"}]});
    """)
    assert main(["simulate", str(script)]) == 1
    err = capsys.readouterr().err
    assert f"{script}: submission rejected: 1 problem" in err and "job 'x', callback 0: bad trigger" in err


def test_a_perl_syntax_error(tmp_path, capsys):
    script = write(tmp_path, "syntax.pl", "use qb;\nmy $x = ;\nqb::submit({name => 'x'});\n")
    assert main(["check", str(script)]) == 1
    err = capsys.readouterr().err
    assert f"{script}: the perl script exited with status 255:" in err and "syntax error at" in err
    assert "line 2" in err and "Traceback" not in err


def test_the_stand_in_wins_over_a_real_qbdir(tmp_path, capsys, monkeypatch):
    real = tmp_path / "qube" / "api" / "perl"
    real.mkdir(parents=True)
    (real / "qb.pm").write_text('die "the real qb.pm was loaded\\n";\n')
    monkeypatch.setenv("QBDIR", str(tmp_path / "qube"))
    script = write(tmp_path, "s.pl", 'use lib "$ENV{QBDIR}/api/perl";\nuse qb;\nprint "QBDIR $ENV{QBDIR}\\n";\n'
                                     'qb::submit({name => "x"});\n')
    assert main(["simulate", str(script)]) == 0
    assert f"QBDIR {tmp_path / 'qube'}" in capsys.readouterr().out


def test_qbdir_is_set_for_perl(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QBDIR", raising=False)
    script = write(tmp_path, "s.pl", 'use lib "$ENV{QBDIR}/api/perl";\nuse qb;\nprint "QBDIR $ENV{QBDIR}\\n";\n'
                                     'qb::submit({name => "x"});\n')
    assert main(["simulate", str(script)]) == 0
    assert f"QBDIR {QBDIR}" in capsys.readouterr().out


def test_script_that_submits_nothing(tmp_path, capsys):
    script = write(tmp_path, "help.pl", 'print "usage: help.pl FILE\\n";\nexit(0);\n')
    assert main(["check", str(script)]) == 1
    assert "the script submitted no jobs (no qb.submit call ran)" in capsys.readouterr().err


def test_the_perl_module_refuses_to_run_outside_qbtrigger():
    proc = subprocess.run(["perl", f"-I{os.path.join(QBDIR, 'api', 'perl')}", "-e", "use qb;"],
                          capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                if not k.startswith("QBTRIGGER_")})
    assert proc.returncode != 0
    assert "works only inside `qbtrigger check|simulate|explain SCRIPT.pl`" in proc.stderr


def test_without_perl_the_error_says_so(tmp_path, monkeypatch):
    script = write(tmp_path, "s.pl", "use qb;\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SubmitScriptError, match="perl is not installed"):
        load_submissions(str(script), CheckTarget())


def test_a_pm_file_is_perl_too(tmp_path, capsys):
    script = write(tmp_path, "submit.pm", 'use qb;\nqb::submit({name => "x", agenda => qb::genframes("1")});\n1;\n')
    assert main(["check", str(script)]) == 0
