"""The stand-in ``qb`` module a submit script sees, called directly: objects, submit, jobinfo,
hostinfo, actions, global callbacks, archives; against the reference supervisor and against fakes."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional

import pytest

from qbtrigger.callbacks.errors import SubmissionError
from qbtrigger.callbacks.qbapi import QbPermissionError
from qbtrigger.submit import (
    QB_API_BINARY,
    QB_API_XML,
    QB_TIME_EPOCH_OFFSET,
    Callback,
    CheckTarget,
    Host,
    Job,
    QbError,
    StandIn,
    Subjob,
    SupervisorTarget,
    Work,
)
from qbtrigger.supervisor import Simulator, Supervisor


class FakeFarm:
    """A Target that records everything: hosts and global callbacks as the brief's signatures say."""

    knows_every_job = True

    def __init__(self, admins=("admin",)) -> None:
        self.jobs: Dict[int, Dict[str, Any]] = {}
        self.acts: List[tuple] = []
        self.modified: List[tuple] = []
        self.callbacks: List[tuple] = []
        self.admins = set(admins)
        self.next_id = 10

    def submit(self, jobs):
        out = []
        first = self.next_id
        for job in jobs:
            job = dict(job, id=self.next_id, pgrp=first, status=job.get("status", "pending"))
            job.setdefault("user", "alice")
            job["subjobs"] = [{"id": i, "status": "pending"} for i in range(int(job.get("cpus", 1)))]
            self.jobs[self.next_id] = job
            self.next_id += 1
            out.append(dict(job))
        return out

    def jobinfo(self, **criteria):
        return [dict(j) for i, j in sorted(self.jobs.items()) if all(j.get(k) == v for k, v in criteria.items())]

    def hostinfo(self):
        return [{"name": "h1", "state": "active", "subjobs": [{"id": 10}]}, {"name": "h2", "state": "down"}]

    def act(self, verb, jobid, *, work=None, subjob=None):
        job = self.jobs[jobid]
        if work is not None and work not in [w["name"] for w in job.get("agenda", [])]:
            raise KeyError(f"job {jobid} has no work item {work!r}")
        self.acts.append((verb, jobid, work, subjob))

    def modify(self, jobid, fields):
        if "agenda" in fields:
            raise ValueError(f"job {jobid}: field(s) agenda may not be modified")
        self.modified.append((jobid, dict(fields)))

    def submit_callback(self, spec, *, user=None):
        self.callbacks.append((spec, user))
        return dict(spec, handle=len(self.callbacks))

    def is_admin(self, user):
        return user in self.admins

    @property
    def now(self):
        return 1000


@pytest.fixture
def farm():
    return FakeFarm()


@pytest.fixture
def qb(farm):
    notes: List[str] = []
    stand_in = StandIn(farm, user="alice", note=notes.append)
    module = stand_in.module()
    module.notes = notes
    module.stand_in = stand_in
    return module


# ----------------------------------------------------------------------------- objects


def test_job_has_qubes_defaults_and_wraps_its_lists():
    job = Job()
    assert job == {"name": "", "prototype": "", "package": {}}
    job = Job({"name": "x", "agenda": [{"name": "1"}], "callbacks": [{"triggers": "done-job-self"}],
               "subjobs": [{"id": 0}]}, prototype="cmdrange", package={"cmdline": "set"}, label="render")
    assert job["prototype"] == "cmdrange" and job["package"] == {"cmdline": "set"} and job["label"] == "render"
    assert isinstance(job["agenda"][0], Work) and isinstance(job["callbacks"][0], Callback)
    assert isinstance(job["subjobs"][0], Subjob)


def test_accessor_methods_read_and_set_fields():
    job = Job(name="a")
    assert job.name() == "a"
    assert job.name("b") == "b" and job["name"] == "b"
    job.agendatimeout(30)  # Qube's older spelling, stored as agenda_timeout
    assert job["agenda_timeout"] == 30 and job.agenda_timeout() == 30
    assert job.agenda() == [] and job.callbacks() == []  # lists read as [] when unset, as in Qube
    with pytest.raises(KeyError, match="qb.Job has no 'id' yet"):
        job.id()
    job["prod_show"] = "ep1"
    assert job.prod_show() == "ep1"  # any key the dict holds
    work = Work({"name": "3"})
    work.package({"outputPath": "/tmp/x"})
    assert work == {"name": "3", "package": {"outputPath": "/tmp/x"}} and work.name() == "3"
    host = Host({"name": "h", "state": "active"})
    assert host.state() == "active"


def test_attribute_assignment_sets_the_field_and_unknown_names_say_so():
    job = Job()
    job.priority = 10
    assert job["priority"] == 10
    with pytest.raises(AttributeError, match=r"qb.Job has no field or method 'colour' \(fields are dict keys: job\['colour'\]\)"):
        job.colour()
    assert json.loads(json.dumps(job))["priority"] == 10


# ----------------------------------------------------------------------------- submit


def test_submit_takes_jobs_and_lists_of_jobs_as_one_submission(qb, farm):
    a, b, c = Job(name="a"), {"name": "b"}, Job(name="c")
    out = qb.submit(a, [b, c], deferTableCreation=False)
    assert [j["name"] for j in out] == ["a", "b", "c"]
    assert [j.id() for j in out] == [10, 11, 12] and {j["pgrp"] for j in out} == {10}
    assert isinstance(out[0], Job)
    assert "id" not in a and "id" not in b  # the script's own dicts are left alone
    assert len(qb.stand_in.batches) == 1 and len(qb.stand_in.batches[0]) == 3


def test_submit_passes_values_as_given(qb, farm):
    qb.submit({"name": "x", "cpus": "5", "timelimit": 60, "agenda": (Work(name="1"),)})
    job = farm.jobs[10]
    assert job["cpus"] == "5" and job["timelimit"] == 60 and job["agenda"] == [{"name": "1"}]
    assert "callbacks" not in job and "timeout" not in job  # rewrites are the supervisor's


@pytest.mark.parametrize("call, message", [
    (lambda qb: qb.submit(), "qb.submit: nothing to submit"),
    (lambda qb: qb.submit([]), "qb.submit: nothing to submit"),
    (lambda qb: qb.submit("render"), "qb.submit: argument 1 is a str, not a job"),
    (lambda qb: qb.submit({"name": "a"}, 5), "qb.submit: argument 2 is a int, not a job"),
    (lambda qb: qb.submit([{"name": "a"}, None]), "qb.submit: item 1 of argument 1 is a None, not a job"),
    (lambda qb: qb.submit({"name": "a"}, priority=1), "qb.submit: unknown keyword argument 'priority' (accepted: deferTableCreation)"),
    (lambda qb: qb.submit({"label": "r", "package": {"frames": {1, 2}}}),
     "qb.submit: job 'r': field 'package'.frames is a set, which Qube cannot store"),
    (lambda qb: qb.submit({"name": "n", "priority": float("nan")}), "qb.submit: job #0 ('n'): field 'priority' is nan"),
    (lambda qb: qb.submit({"agenda": [{"name": object()}]}), "qb.submit: job #0: field 'agenda'[0].name is a object"),
])
def test_bad_submissions_are_one_clear_error(qb, farm, call, message):
    with pytest.raises(QbError) as info:
        call(qb)
    assert message in str(info.value)
    assert not farm.jobs


# ----------------------------------------------------------------------------- jobinfo


@pytest.fixture
def sup():
    supervisor = Supervisor(language_flags="qube,python,mail,dependency", clock=100_000, default_user="alice")
    yield supervisor
    supervisor.close()


@pytest.fixture
def sqb(sup):
    stand_in = StandIn(SupervisorTarget(sup), user="alice", note=lambda text: None)
    module = stand_in.module()
    module.sup = sup
    return module


def _two_jobs(qb):
    render = Job(name="render", label="render", priority=5, agenda=qb.genframes("1-3"))
    comp = Job(name="comp", label="comp", agenda=qb.genframes("1-3"), dependency="link-complete-work-render",
               callbacks=[{"triggers": "done-job-self", "language": "qube", "code": "mail-status"}])
    return qb.submit([render, comp])


def test_jobinfo_answers_from_the_farm_with_qubes_options(sqb):
    render, comp = _two_jobs(sqb)
    assert [j.id() for j in sqb.jobinfo()] == [render["id"], comp["id"]]
    only = sqb.jobinfo(id=comp["id"])
    assert [j["label"] for j in only] == ["comp"]
    assert "agenda" not in only[0] and "callbacks" not in only[0] and "subjobs" not in only[0]
    assert only[0]["todo"] == 3
    full = sqb.jobinfo(id=comp["id"], agenda=True, subjobs=True, callbacks=True)[0]
    assert [w["name"] for w in full["agenda"]] == ["1", "2", "3"] and isinstance(full["agenda"][0], Work)
    assert full["callbacks"][0]["code"] == "mail-status" and full["subjobs"]
    assert sqb.jobinfo(fields=["agenda"], filters={"id": comp["id"]})[0]["agenda"]
    assert [j["label"] for j in sqb.jobinfo(id=[render["id"], comp["id"]])] == ["render", "comp"]
    assert [j["label"] for j in sqb.jobinfo(id=[str(comp["id"])])] == ["comp"]
    assert [j["label"] for j in sqb.jobinfo(status=["pending", "running"])] == ["render", "comp"]
    assert sqb.jobinfo(status="complete") == []
    assert [j["label"] for j in sqb.jobinfo(filters={"name": "render", "priority": "5"})] == ["render"]
    assert [j["label"] for j in sqb.jobinfo("-pgrp", render["pgrp"])] == ["render", "comp"]
    assert [j["label"] for j in sqb.jobinfo("-id", comp["id"], "-agenda", 1)] == ["comp"]
    assert sqb.jobinfo("-id", comp["id"], "-agenda", 1)[0]["agenda"]
    assert [j["label"] for j in sqb.jobinfo({"label": "comp"})] == ["comp"]  # Qube's older (filters) order
    assert [j["label"] for j in sqb.jobinfo(minid=comp["id"])] == ["comp"]
    assert [j["label"] for j in sqb.jobinfo(maxid=render["id"])] == ["render"]
    assert [j["label"] for j in sqb.jobinfo(orderby="id DESC", limit=1)] == ["comp"]
    assert sqb.jobinfo(id=999) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(filters={"colour": "red"}), "qb.jobinfo: unknown filter 'colour' (accepted: id, name, user, status"),
    (dict(status="completed"), "qb.jobinfo: unknown status 'completed' (states: pending, blocked"),
    (dict(fields=["agenda", "hosts"]), "qb.jobinfo: unknown field 'hosts' in fields (accepted: agenda, subjobs, callbacks)"),
    (dict(fields="agendas"), "unknown field 'agendas'"),
    (dict(filters=[1]), "qb.jobinfo: filters must be a dict such as {'id': 1234}, not list"),
    (dict(id="first"), "qb.jobinfo: id must be an int (or a list of ints), not 'first'"),
    (dict(updatedAfter=1530680480), "qb.jobinfo: updatedAfter is not supported by qbtrigger's stand-in"),
    (dict(orderby="id sideways"), "qb.jobinfo: orderby is 'FIELD' or 'FIELD ASC|DESC'"),
    (dict(limit=-1), "qb.jobinfo: limit must be 0 or more"),
    (dict(agendas=True), "qb.jobinfo: unknown keyword argument 'agendas' (accepted: fields, filters, id, status"),
])
def test_jobinfo_refuses_what_it_would_otherwise_silently_ignore(sqb, kwargs, message):
    _two_jobs(sqb)
    with pytest.raises(QbError) as info:
        sqb.jobinfo(**kwargs)
    assert message in str(info.value)


def test_jobinfo_pair_form_errors(sqb):
    with pytest.raises(QbError, match="come in twos"):
        sqb.jobinfo("-id", 1, "-pgrp")
    with pytest.raises(QbError, match="at most 2 positional arguments"):
        sqb.jobinfo([], {}, 3)


# ----------------------------------------------------------------------------- hostinfo


def test_hostinfo_from_the_target(qb):
    hosts = qb.hostinfo()
    assert [h["name"] for h in hosts] == ["h1", "h2"] and isinstance(hosts[0], Host)
    assert "subjobs" not in hosts[0] and hosts[0]["groups"] == "" and hosts[0]["cluster"] == "/"
    assert hosts[0].state() == "active"
    assert [h["name"] for h in qb.hostinfo(state="down")] == ["h2"]
    assert [h["name"] for h in qb.hostinfo(name=["h1", "h3"])] == ["h1"]
    assert [h["name"] for h in qb.hostinfo(filters={"name": "h2"})] == ["h2"]
    assert qb.hostinfo(subjobs=True)[0]["subjobs"] == [{"id": 10}]
    assert qb.hostinfo(fields=["subjobs"])[0]["subjobs"] == [{"id": 10}]
    assert qb.hostinfo("-name", "h1")[0]["name"] == "h1"
    with pytest.raises(QbError, match="qb.hostinfo: unknown host state 'up'"):
        qb.hostinfo(state="up")
    with pytest.raises(QbError, match="qb.hostinfo: unknown filter 'os'"):
        qb.hostinfo(filters={"os": "linux"})


def test_hostinfo_of_the_simulated_farm(sup, sqb):
    Simulator(sup, workers=3)  # the simulator's virtual hosts exist before a script runs
    hosts = sqb.hostinfo()
    assert len(hosts) == 3 and all(h["state"] == "active" and h["name"] for h in hosts)


def test_hostinfo_at_check_time():
    qb = StandIn(CheckTarget(), user="alice").module()
    assert [h["name"] for h in qb.hostinfo()] == ["host01", "host02", "host03", "host04"]


# ----------------------------------------------------------------------------- actions


def test_actions_act_on_the_supervisor(sqb):
    render, comp = _two_jobs(sqb)
    sup = sqb.sup
    assert sqb.block(render["id"]) == [f"{render['id']}.0"]
    assert sup.job(render["id"])["status"] == "blocked"
    sqb.unblock(str(render["id"]))
    assert sup.job(render["id"])["status"] == "pending"
    assert sqb.unblockwork(f"{comp['id']}:2") == [f"{comp['id']}:2"]
    assert [w["status"] for w in sup.job(comp["id"])["agenda"]] == ["blocked", "pending", "blocked"]
    sqb.workblock(f"{comp['id']}:2")  # the older spelling
    assert sup.job(comp["id"])["agenda"][1]["status"] == "blocked"
    assert sqb.modify({"priority": 3}, render["id"]) == [render["id"]]
    assert sup.job(render["id"])["priority"] == 3
    sqb.kill(render["id"])
    assert sup.job(render["id"])["status"] == "killed"
    sqb.retry(render["id"])
    assert sup.job(render["id"])["status"] == "pending"
    assert sqb.remove(comp["id"]) == [comp["id"]]
    assert sup.job(comp["id"]) is None


def test_subjob_form_and_actions_by_list(qb, farm):
    (job,) = qb.submit({"name": "x", "cpus": 2, "agenda": [{"name": "1"}]})
    assert qb.kill(f"{job['id']}.1") == [f"{job['id']}.1"]
    assert farm.acts[-1] == ("kill", job["id"], None, 1)
    assert qb.block(job["id"]) == [f"{job['id']}.0", f"{job['id']}.1"]


@pytest.mark.parametrize("call, error, message", [
    (lambda qb, j: qb.kill(999), QbError, "qb.kill: there is no job 999 on the farm"),
    (lambda qb, j: qb.kill([j]), QbError, "qb.kill: expected a job id (int) or 'jobid.subjobid', not ["),
    (lambda qb, j: qb.remove(f"{j}.0"), QbError, "qb.remove: '{j}.0' names a subjob; remove acts on whole jobs"),
    (lambda qb, j: qb.killwork(str(j)), QbError, "qb.killwork: a work item is 'jobid:workname' (e.g. '1234:5'), not"),
    (lambda qb, j: qb.killwork(f"{j}:99"), QbError, "qb.killwork: job {j} has no work item '99'"),
    (lambda qb, j: qb.modify(j, {"priority": 1}), QbError, "qb.modify: the first argument is the fields to set"),
    (lambda qb, j: qb.modify({"agenda": []}, j), QbError, "qb.modify: job {j}: field(s) agenda may not be modified"),
    (lambda qb, j: qb.stdout(f"{j}.0"), AttributeError, "qbtrigger's stand-in qb has no 'stdout'"),
])
def test_bad_actions_are_one_clear_error(qb, farm, call, error, message):
    (job,) = qb.submit({"name": "x", "agenda": [{"name": "1"}]})
    with pytest.raises(error) as info:
        call(qb, job["id"])
    assert message.format(j=job["id"]) in str(info.value)


def test_acting_on_another_users_job_needs_an_administrator(farm):
    (job,) = StandIn(farm, user="bob").module().submit({"name": "x", "user": "bob"})
    alice = StandIn(farm, user="alice").module()
    with pytest.raises(QbPermissionError, match=r"qb.kill: job 10 belongs to user 'bob'; the script runs as 'alice'"):
        alice.kill(job["id"])
    assert not farm.acts
    StandIn(farm, user="admin").module().kill(job["id"])
    assert farm.acts == [("kill", job["id"], None, None)]
    assert alice.isadmin() is False and alice.isadmin("admin") is True


# ----------------------------------------------------------------------------- global callbacks


def test_submitcallback_is_for_administrators(farm):
    spec = {"triggers": "globaltime-10000", "language": "perl", "code": "print 1"}
    with pytest.raises(QbPermissionError, match="qb.submitcallback: global callbacks need a Qube administrator; "
                                                "the script runs as 'alice'"):
        StandIn(farm, user="alice").module().submitcallback(spec)
    assert not farm.callbacks
    admin = StandIn(farm, user="admin")
    out = admin.module().submitcallback(spec, Callback(triggers="dummy-time-self-5", code="unblock-self"))
    assert [c["triggers"] for c in out] == ["globaltime-10000", "dummy-time-self-5"]
    assert isinstance(out[0], Callback) and out[0]["handle"] == out[0].id() == 1
    assert farm.callbacks[0] == (spec, "admin") and len(admin.callbacks) == 2
    with pytest.raises(QbError, match="qb.submitcallback: argument 1 is a str, not a callback"):
        admin.module().submitcallback("globaltime-10000")


def test_submitcallback_at_check_time_is_checked():
    target = CheckTarget(language_flags="qube,mail,dependency")
    qb = StandIn(target, user="admin").module()
    qb.submitcallback({"triggers": "complete-job-5 &&", "language": "qube", "code": "unblock-self"})
    qb.submitcallback({"triggers": "complete-job-5", "language": "python", "code": "print(1)"})
    qb.submitcallback({"triggers": "complete-job-5", "language": "qube", "code": "mail-status"})
    assert len(target.callbacks) == 3
    texts = [str(f) for f in target.findings]
    assert len(texts) == 2
    assert texts[0].startswith("global callback 0: bad trigger:") and "complete-job-5 &&" in texts[0]
    assert "global callback 1" in texts[1] and "language 'python' is disabled" in texts[1]


# ----------------------------------------------------------------------------- check-time notes


def test_actions_at_check_time_are_noted_not_run():
    target = CheckTarget()
    qb = StandIn(target, user="alice").module()
    (job,) = qb.submit(Job(label="render", agenda=qb.genframes("1-2")))
    qb.block(job["id"])
    qb.unblockwork(f"{job['id']}:2")
    qb.modify({"priority": 1}, job["id"])
    qb.kill(1234)  # not this script's job: check cannot see the farm, so it is noted too
    assert target.notes == [
        "the script would block job 'render' (check does not run it)",
        "the script would unblock work '2' of job 'render' (check does not run it)",
        "the script would modify priority of job 'render' (check does not run it)",
        "the script would kill job 1234 (not submitted by this script) (check does not run it)",
    ]
    with pytest.raises(QbError, match="has no work item '7'"):
        qb.killwork(f"{job['id']}:7")
    assert qb.jobinfo(filters={"label": "render"})[0]["status"] == "pending"


# ----------------------------------------------------------------------------- the rest


def test_archivejob_writes_json_a_job_list_reads_back(qb, tmp_path):
    job = Job(name="x", agenda=qb.genframes("1-2"))
    path = tmp_path / "job.qja"
    size = qb.archivejob(str(path), job)
    assert size == path.stat().st_size
    assert json.loads(path.read_text()) == [{"name": "x", "prototype": "", "package": {}, "agenda": [{"name": "1"}, {"name": "2"}]}]
    assert qb.archivejob(tmp_path / "b.qja", job, QB_API_BINARY) > 0
    assert qb.recoverjob(str(path))["agenda"][1]["name"] == "2"
    assert qb.stand_in.archived == [str(path), str(tmp_path / "b.qja")]
    with pytest.raises(QbError, match=r"qb.archivejob: format must be qb.QB_API_XML \(2\) or qb.QB_API_BINARY \(1\), not 'xml'"):
        qb.archivejob(str(path), job, "xml")
    with pytest.raises(QbError, match="qb.archivejob: the job must be a qb.Job or dict, not list"):
        qb.archivejob(str(path), [job])
    with pytest.raises(QbError, match="qb.archivejob: cannot write"):
        qb.archivejob(str(tmp_path / "missing" / "x.qja"), job)
    assert QB_API_XML == qb.QB_API_XML == 2


def test_waitfor_currenttime_and_constants(qb):
    assert qb.waitfor("complete-job-10", 30) is None
    assert qb.notes and "qb.waitfor returns at once: no farm time passes while a submit script runs" in qb.notes[0]
    assert qb.currenttime() == 1000 + QB_TIME_EPOCH_OFFSET
    assert qb.QB_TIME_EPOCH_OFFSET == 946702800 and qb.QB_API_BINARY == 1
    assert qb.ping() and qb.ping(asDict=True)["address"] == "127.0.0.1" and qb.error() == ""


def test_a_supervisor_refusal_passes_through(sqb):
    with pytest.raises(SubmissionError, match="submission rejected"):
        sqb.submit({"label": "x", "callbacks": [{"triggers": "complete-job-self &&", "code": "unblock-self"}]})


class _Minimal:
    """The least a target needs for the read-only calls: the Target protocol, structurally."""

    knows_every_job = False
    now = 0

    def submit(self, jobs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [dict(job, id=i + 1, pgrp=1) for i, job in enumerate(jobs)]

    def jobinfo(self, **criteria: Any) -> List[Dict[str, Any]]:
        return []

    def hostinfo(self) -> List[Dict[str, Any]]:
        return []

    def act(self, verb: str, jobid: int, *, work: Optional[str] = None, subjob: Optional[int] = None) -> None:
        self.acted = (verb, jobid)

    def modify(self, jobid: int, fields: Mapping[str, Any]) -> None:
        raise KeyError(f"unknown job {jobid}")

    def submit_callback(self, spec: Dict[str, Any], *, user: Optional[str] = None) -> Dict[str, Any]:
        return dict(spec)

    def is_admin(self, user: Optional[str]) -> bool:
        return False


def test_any_object_with_the_target_methods_will_do():
    target = _Minimal()
    qb = StandIn(target, user="u").module()
    assert [j.id() for j in qb.submit({"name": "a"}, {"name": "b"})] == [1, 2]
    assert qb.kill(77) == [] and target.acted == ("kill", 77)  # a job it cannot see: the target decides
    with pytest.raises(QbError, match="qb.modify: unknown job 77"):
        qb.modify({"priority": 1}, 77)


def test_requeue_and_copies(sqb):
    import copy

    (job,) = sqb.submit(Job(name="r", label="r", agenda=sqb.genframes("1-2")))
    sqb.kill(job["id"])
    sqb.requeue(job["id"])
    assert sqb.sup.job(job["id"])["status"] != "killed"
    template = Job(name="t", agenda=[Work(name="1")])
    clone = copy.deepcopy(template)
    assert clone == template and isinstance(clone, Job) and isinstance(clone["agenda"][0], Work)
    assert not hasattr(sqb, "__path__")  # the module's own error message is for names, not dunders
