"""The ``perl`` callback language (SPEC §7.3), run by the real system perl.

The engine is a stand-in (a namespace with a fake host and a real :class:`QbApi`): these tests are
about the perl bridge, not about when callbacks fire.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import types
from typing import Any, Dict, List, Optional

import pytest

from qbtrigger import Event
from qbtrigger.callbacks.errors import CodeError
from qbtrigger.callbacks.host import Host
from qbtrigger.callbacks.languages import Callback, Invocation
from qbtrigger.callbacks.languages.perl import PerlLanguage
from qbtrigger.callbacks.qbapi import QbApi

pytestmark = pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")


class FakeHost(Host):
    def __init__(self, jobs: List[Dict[str, Any]]) -> None:
        self.jobs = {job["id"]: job for job in jobs}
        self.actions: List[tuple] = []
        self.modified: List[tuple] = []
        self.logs: List[tuple] = []

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return [
            dict(job)
            for _, job in sorted(self.jobs.items())
            if all(job.get(k) == v for k, v in criteria.items())
        ]

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        if jobid not in self.jobs:
            raise KeyError(f"unknown job {jobid}")
        self.actions.append((verb, jobid) + ((work,) if work is not None else ()))

    def modify(self, jobid: int, fields: Dict[str, Any]) -> None:
        self.modified.append((jobid, dict(fields)))

    def log(self, jobid: int, text: str) -> None:
        self.logs.append((jobid, text))

    def log_text(self) -> str:
        return "".join(text for _, text in self.logs)


JOBS = [
    {
        "id": 1234,
        "pgrp": 1234,
        "label": "render",
        "user": "alice",
        "status": "blocked",
        "pid": None,
        "agenda": [{"name": "5", "status": "pending"}],
    },
    {
        "id": 1235,
        "pgrp": 1234,
        "label": "comp",
        "user": "alice",
        "status": "blocked",
        "pid": None,
        "agenda": [],
    },
    {
        "id": 2000,
        "pgrp": 2000,
        "label": "other",
        "user": "bob",
        "status": "running",
        "pid": None,
        "agenda": [],
    },
]


@pytest.fixture
def host() -> FakeHost:
    return FakeHost([dict(job) for job in JOBS])


@pytest.fixture
def engine(host: FakeHost) -> types.SimpleNamespace:
    engine = types.SimpleNamespace(host=host)
    engine.qb = QbApi(host)
    return engine


@pytest.fixture
def perl(engine: types.SimpleNamespace) -> PerlLanguage:
    return PerlLanguage(engine.qb, timeout=10.0)


def fire(
    engine,
    language: PerlLanguage,
    code: str,
    *,
    jobid: int = 1234,
    event: Optional[Event] = None,
    count: int = 1,
    admin: bool = False,
) -> None:
    runner = language.compile(code)
    callback = Callback(
        jobid=jobid,
        index=0,
        origin="job",
        triggers="complete-work-self-5",
        language="perl",
        code=code,
        maximum=None,
        runner=runner,
        admin=admin,
        count=count,
    )
    runner(Invocation(host=engine.host, qb=engine.qb, callback=callback, event=event))


def open_fds() -> set:
    return set(os.listdir("/proc/self/fd"))


def test_unblock_own_job(engine, host, perl):
    fire(engine, perl, "qb::unblock(qb::jobid());\n")
    assert host.actions == [("unblock", 1234)]
    assert host.logs == []  # nothing printed, exit status 0: nothing to log


def test_jobid_count_event(engine, host, perl):
    code = (
        "my $ev = qb::event();\n"
        "print join(',', $qb::jobid, qb::jobid(), qb::count(), @$ev{qw(name type jobid extra label)}), \"\\n\";\n"
    )
    fire(engine, perl, code, count=3, event=Event("complete", "work", 1234, "5"))
    assert host.log_text() == "1234,1234,3,complete,work,1234,5,render\n"


def test_event_is_undef_without_event(engine, host, perl):
    fire(engine, perl, "print defined(qb::event()) ? 'defined' : 'undef';")
    assert host.log_text().startswith("undef")


def test_jobinfo_round_trips(engine, host, perl):
    code = (
        "my @jobs = qb::jobinfo('-id', 1235);\n"
        "my $one = $jobs[0];\n"
        'print scalar(@jobs), " $one->{label} $one->{user} $one->{pgrp}\\n";\n'
        "my $ref = qb::jobinfo(pgrp => 1234);\n"  # python's keyword spelling, scalar context
        "print join(',', map { $_->{id} } @$ref), \"\\n\";\n"
        "print join(',', map { $_->{id} } qb::jobinfo({id => [1234, 2000]})), \"\\n\";\n"
        "qb::modify({label => 'renamed', priority => 10}, 1235);\n"
    )
    fire(engine, perl, code)
    assert host.log_text() == "1 comp alice 1234\n1234,1235\n1234,2000\n"
    assert host.modified == [(1235, {"label": "renamed", "priority": 10})]


def test_permission_error_caught_by_eval(engine, host, perl):
    code = (
        "eval { qb::block(2000) };\n"
        "print ref($@), ' ', ($@->isa('qb::Error') ? 'isa' : 'not'), \"\\n\";\n"
        'print "$@";\n'
        "qb::unblock(1234);\n"  # the callback goes on after catching it
    )
    fire(engine, perl, code)
    text = host.log_text()
    lines = text.splitlines()
    assert lines[0] == "qb::PermissionError isa"
    assert lines[1].startswith("qb::block: PermissionError: job 1234 (user 'alice') may not act on job 2000")
    assert lines[1].endswith("at callback line 1.")
    assert host.actions == [("unblock", 1234)]


def test_admin_may_act_on_anyone(engine, host, perl):
    fire(engine, perl, "qb::block(2000);", admin=True)
    assert host.actions == [("block", 2000)]


def test_uncaught_qb_error_dies_with_line(engine, host, perl):
    fire(engine, perl, 'print "before\\n";\nqb::kill(99999);\nprint "after\\n";\n')
    text = host.log_text()
    assert "before\n" in text and "after" not in text
    assert text.startswith("before\nqb::kill: KeyError: unknown job 99999 at callback line 2.\n")
    assert "perl exited with status 255" in text


def test_bad_arguments_die_in_perl(engine, host, perl):
    code = (
        "eval { qb::blockwork('no-colon') }; print \"1 $@\";\n"
        "eval { qb::jobinfo('-nosuchfield', 1) }; print \"2 $@\";\n"
        'eval { qb::block(sub { 1 }) }; print "3 $@";\n'
    )
    fire(engine, perl, code)
    text = host.log_text()
    assert "1 qb::blockwork: ValueError: a work item is 'jobid:workname'" in text
    assert "2 qb::jobinfo: ValueError: qb.jobinfo: unknown field 'nosuchfield'" in text
    assert "3 qb::block: TypeError: cannot pass these arguments" in text
    assert host.actions == []


def test_work_actions_and_aliases(engine, host, perl):
    fire(engine, perl, 'qb::completework("1234:5");\nqb::workretry("1234:5", "1235:Initialize");\n')
    assert host.actions == [("complete", 1234, "5"), ("retry", 1234, "5"), ("retry", 1235, "Initialize")]


def test_syntax_error_at_registration_with_line(perl):
    with pytest.raises(CodeError) as info:
        perl.compile("my $x = 1;\nprint 'ok';\nmy $y = ;\nprint 3;\n")
    assert info.value.line == 3
    assert "syntax error at callback line 3" in info.value.message
    assert "had compilation errors" not in info.value.message


def test_missing_module_at_registration(perl):
    with pytest.raises(CodeError) as info:
        perl.compile("print 1;\nuse No::Such::Module::Here;\n")
    assert info.value.line == 2
    assert "No/Such/Module/Here.pm" in info.value.message


def test_compile_is_cached(perl, monkeypatch):
    code = "print 'cached';"
    first = perl.compile(code)
    # A second compile must not run perl again.
    monkeypatch.setattr(perl, "_check", lambda script: pytest.fail("checked twice"))
    assert perl.compile(code) is first


def test_perl_not_installed(engine):
    language = PerlLanguage(engine.qb, perl="no-such-perl-binary-here")
    with pytest.raises(CodeError, match="perl is not installed"):
        language.compile("print 1;")


def test_die_is_logged_and_runner_returns(engine, host, perl):
    fire(engine, perl, 'print "start\\n";\ndie "broken frame\\n";\n')
    text = host.log_text()
    assert text.startswith("start\nbroken frame\n")
    assert "perl callback 0 of job 1234: perl exited with status 255" in text


def test_print_and_exit_status_logged(engine, host, perl):
    fire(engine, perl, 'print "to stdout\\n";\nprint STDERR "to stderr\\n";\nexit 3;\n')
    text = host.log_text()
    assert "to stdout\n" in text and "to stderr\n" in text
    assert "perl exited with status 3" in text


def test_timeout_kills_process_group(engine, host):
    language = PerlLanguage(engine.qb, timeout=1.0)
    marker = f"/tmp/qbtrigger-perl-test-{os.getpid()}"
    # The child started by system() is in perl's process group: the kill must reach it too.
    code = f"$| = 1; print \"looping\\n\"; system('sleep 30 && touch {marker} &'); 1 while 1;\n"
    before = open_fds()
    start = time.monotonic()
    fire(engine, language, code)
    assert time.monotonic() - start < 5
    text = host.log_text()
    assert "looping\n" in text
    assert "killed after 1 s (time limit)" in text
    assert open_fds() == before
    deadline = time.monotonic() + 2
    while processes_mentioning(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(marker) == []


def processes_mentioning(text: str) -> List[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def test_no_fds_or_zombies_left(engine, host, perl):
    children = f"/proc/{os.getpid()}/task/{os.getpid()}/children"  # needs CONFIG_PROC_CHILDREN

    def child_pids():
        with open(children) as f:
            return set(f.read().split())

    # Python workers of engines that earlier tests left open are children too: only new ones count.
    earlier = child_pids() if os.path.exists(children) else set()
    before = open_fds()
    for _ in range(3):
        fire(engine, perl, "qb::unblock(1234); print 'x';")
    assert open_fds() == before
    if os.path.exists(children):
        assert child_pids() - earlier == set()  # every perl was reaped


def test_large_output_and_replies(engine, host, perl):
    # Bigger than a pipe buffer in both directions: the select loop must not deadlock.
    host.jobs[1234]["agenda"] = [{"name": str(i), "status": "pending"} for i in range(20000)]
    code = (
        "my ($job) = qb::jobinfo(-id => 1234);\n"
        'print scalar(@{$job->{agenda}}), "\\n";\n'
        "print 'y' x 200000, \"\\n\";\n"
    )
    fire(engine, perl, code)
    text = host.log_text()
    assert text.startswith("20000\n")
    assert "y" * 200000 in text


def test_utf8_round_trip(engine, host, perl):
    host.jobs[1235]["label"] = "café"
    code = "my ($j) = qb::jobinfo(-id => 1235);\nprint \"$j->{label}\\n\";\nqb::modify({label => 'naïve'}, 1235);\n"
    fire(engine, perl, code)
    assert host.log_text() == "café\n"
    assert host.modified == [(1235, {"label": "naïve"})]


def test_qb_in_begin_block_at_run_time(engine, host, perl):
    # The prelude sets itself up in BEGIN, so a callback's BEGIN may call qb:: when it runs,
    # but `perl -c` (registration) must not reach the engine.
    fire(engine, perl, "BEGIN { print defined($qb::jobid) ? qb::jobid() : 'no', \"\\n\" }\n")
    assert host.log_text() == "1234\n"


def test_background_program_holding_output_does_not_hang(engine, host, perl):
    # A program the callback leaves running keeps the output pipe open; perl's exit ends the run,
    # and what it left running is killed with it (issue 13).
    marker = f"qbtrigger-bg-{os.getpid()}"
    start = time.monotonic()
    fire(engine, perl, f"system(q{{sh -c 'sleep 20; : {marker}' &}}); print \"left it running\\n\";\n")
    try:
        assert time.monotonic() - start < 3
        assert host.log_text() == "left it running\n"
        assert not processes_mentioning(marker)
    finally:
        for pid in processes_mentioning(marker):
            os.kill(int(pid), signal.SIGKILL)


def test_registration_check_has_a_time_limit(engine):
    # perl -c runs BEGIN blocks: one that never returns must not hang the submission.
    language = PerlLanguage(engine.qb, timeout=1.0)
    before = open_fds()
    with pytest.raises(CodeError, match="did not finish within 1 s"):
        language.compile("BEGIN { 1 while 1 }\n")
    with pytest.raises(CodeError):
        language.compile("my $x = ;\n")
    assert open_fds() == before


def test_qb_calls_die_during_registration_check(perl):
    with pytest.raises(CodeError, match="only available while the callback runs") as info:
        perl.compile("\nBEGIN { qb::unblock(1) }\n")
    assert info.value.line == 2
