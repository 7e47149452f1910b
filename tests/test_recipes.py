"""The "where to make a change" recipes of docs/architecture.md, followed for real.

Three of them are edits of the package: each test copies the installed package to a temporary
folder, makes exactly the edits its recipe names, and runs a small farm on the copy in a child
process. The store recipe needs no edit of the package at all: a backend is a class of the
caller's, passed as ``Supervisor(db=...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import qbtrigger
from qbtrigger.supervisor import Batch, Simulator, Store, Supervisor
from qbtrigger.supervisor.store import JOURNAL_KINDS, SCHEMA_VERSION


def copy_package(tmp_path: Path) -> Path:
    source = Path(qbtrigger.__file__).parent
    shutil.copytree(source, tmp_path / "qbtrigger", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "qbtrigger"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"the recipe's anchor is not (once) in {path.name}: {old!r}"
    path.write_text(text.replace(old, new))


def run_on_copy(tmp_path: Path, script: str) -> Dict[str, Any]:
    """Run ``script`` against the copy; it prints one JSON line, returned here."""
    prelude = f"import qbtrigger\nassert qbtrigger.__file__.startswith({str(tmp_path)!r}), qbtrigger.__file__\n"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result: Dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_recipe_new_event_name(tmp_path):
    package = copy_package(tmp_path)
    edit(package / "vocabulary.py",
         "EDGE_EVENT_NAMES: Tuple[str, ...] = (SUBMIT, ASSIGNED, MODIFIED, REMOVED, TIMEOUT, DUMMY)",
         'RETRIED = "retried"\n'
         "EDGE_EVENT_NAMES: Tuple[str, ...] = (SUBMIT, ASSIGNED, MODIFIED, REMOVED, TIMEOUT, DUMMY, RETRIED)")
    farm = package / "supervisor" / "farm.py"
    edit(farm, "    REMOVED,\n", "    REMOVED,\n    RETRIED,\n")
    edit(farm,
         "                self._set(j, idx, WAITING if j.retry_delay else PENDING, out)\n",
         "                self._set(j, idx, WAITING if j.retry_delay else PENDING, out)\n"
         "                out.append(f\"{RETRIED}-work-{j.id}-{j.names[idx]}\")\n")
    result = run_on_copy(tmp_path, """
        import json
        from qbtrigger.supervisor import Supervisor
        sup = Supervisor(clock=0)
        render, notify = sup.submit([
            {"label": "render", "agenda": ["1"], "retrywork": 1},
            {"label": "notify", "status": "blocked",
             "callbacks": [{"triggers": "retried-work-render-1", "code": "unblock-self"}]},
        ])
        sup.start(render["id"], "1")
        sup.finish(render["id"], "1", failed=True)
        print(json.dumps({"events": sup.events(render["id"]), "notify": sup.job(notify["id"])["status"]}))
    """)
    assert "retried-work-1-1" in result["events"]
    assert result["notify"] == "pending"


def test_recipe_new_callback_language(tmp_path):
    package = copy_package(tmp_path)
    (package / "callbacks" / "languages" / "shout.py").write_text(textwrap.dedent('''
        """A language made by the recipe: its code is written to the log in capitals."""
        from . import Invocation, Language, LanguageContext, Runner


        class ShoutLanguage(Language):
            name = "shout"
            flag = "shout"
            extensions = (".shout",)

            def compile(self, code: str) -> Runner:
                text = code.strip().upper()

                def run(inv: Invocation) -> None:
                    inv.log(text + "\\n")

                return run


        def create(context: LanguageContext) -> ShoutLanguage:
            return ShoutLanguage()
    '''))
    edit(package / "vocabulary.py", 'LANGUAGES: Tuple[str, ...] = ("qube", "python", "perl", "mail")',
         'LANGUAGES: Tuple[str, ...] = ("qube", "python", "perl", "mail", "shout")')
    universal = tmp_path / "universal"
    universal.mkdir()
    (universal / "callbacks.conf").write_text("hello.shout = submit-job-self\n")
    (universal / "hello.shout").write_text("a job came in")
    result = run_on_copy(tmp_path, f"""
        import json
        from qbtrigger.supervisor import Simulator, Supervisor
        sup = Supervisor(clock=0, language_flags="qube,shout", universal={str(universal)!r})
        [job] = sup.submit([{{"label": "render", "agenda": ["1"],
                             "callbacks": [{{"triggers": "complete-job-self", "language": "shout",
                                            "code": "render is done"}}]}}])
        Simulator(sup, workers=1, seed=1).run()
        print(json.dumps({{"log": sup.callback_log(job["id"])}}))
    """)
    assert result["log"] == ["A JOB CAME IN\n", "RENDER IS DONE\n"]


def test_recipe_new_qb_function(tmp_path):
    package = copy_package(tmp_path)
    qbapi = package / "callbacks" / "qbapi.py"
    edit(qbapi, '["jobid", "event", "count", "firingid", "jobinfo", "modify"]', '["jobid", "event", "count", "firingid", "jobinfo", "modify", "greet"]')
    edit(qbapi, "    # ----------------------------------------------------------------- queries\n",
         "    def greet(self, whom: str) -> str:\n"
         "        return f'hello {whom} from job {self.jobid()}'\n\n"
         "    # ----------------------------------------------------------------- queries\n")
    perl = shutil.which("perl") is not None
    result = run_on_copy(tmp_path, f"""
        import json
        from qbtrigger.supervisor import Simulator, Supervisor
        callbacks = [{{"triggers": "complete-job-self", "language": "python", "code": "print(qb.greet('python'))"}}]
        if {perl!r}:
            callbacks.append({{"triggers": "complete-job-self", "language": "perl",
                              "code": 'print qb::greet("perl"), "\\\\n";'}})
        sup = Supervisor(clock=0, language_flags="qube,python,perl")
        [job] = sup.submit([{{"label": "render", "agenda": ["1"], "callbacks": callbacks}}])
        Simulator(sup, workers=1, seed=1).run()
        print(json.dumps({{"log": sup.callback_log(job["id"]), "id": job["id"]}}))
    """)
    log = "".join(result["log"])
    assert f"hello python from job {result['id']}" in log
    if perl:
        assert f"hello perl from job {result['id']}" in log


class DictStore(Store):
    """The store recipe: a backend that keeps everything in plain Python containers."""

    def __init__(self) -> None:
        self.name = "dict store"
        self.meta: Dict[str, Any] = {"schema": SCHEMA_VERSION}
        self.job_rows: Dict[int, list] = {}
        self.work_rows: Dict[Tuple[int, int], list] = {}
        self.subjob_rows: Dict[Tuple[int, int], list] = {}
        self.lines: List[str] = []
        self.log_rows: List[Tuple[int, str]] = []
        self.closed = False

    def write(self, batch: Batch) -> None:
        if not batch:
            return
        for jobid, pgrp, label, status, hold, data in batch.new_jobs:
            self.job_rows[jobid] = [jobid, pgrp, label, status, hold, 0, 0, [], json.loads(data)]
        for jobid, idx, name, status, retries in batch.new_work:
            self.work_rows[(jobid, idx)] = [jobid, idx, name, status, retries]
        for jobid, idx, status, held in batch.new_subjobs:
            self.subjob_rows[(jobid, idx)] = [jobid, idx, status, held]
        for handles, jobid in batch.handles:
            self.job_rows[jobid][7] = json.loads(handles)
        for status, hold, removed, fired, data, jobid in batch.jobs:
            row = self.job_rows[jobid]
            row[3:7] = [status, hold, removed, fired]
            if data is not None:
                row[8] = json.loads(data)
        for status, retries, jobid, idx in batch.work:
            self.work_rows[(jobid, idx)][3:5] = [status, retries]
        for status, held, jobid, idx in batch.subjobs:
            self.subjob_rows[(jobid, idx)][2:4] = [status, held]
        self.lines += batch.journal
        self.log_rows += batch.logs
        self.meta.update(json.loads(json.dumps(batch.meta)))
        batch.written()

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self.meta.get(key, default)

    def jobs(self) -> List[tuple]:
        return [tuple(row[:8]) + (json.loads(json.dumps(row[8])),) for _, row in sorted(self.job_rows.items())]

    def work(self) -> List[tuple]:
        return [tuple(row) for _, row in sorted(self.work_rows.items())]

    def subjobs(self) -> List[tuple]:
        return [tuple(row) for _, row in sorted(self.subjob_rows.items())]

    def journal(self) -> Iterator[Tuple[int, int, str]]:
        for number, line in enumerate(self.lines, 1):
            if line.startswith("#"):
                word, _, text = line.partition(" ")
                yield number, JOURNAL_KINDS[word], text
            else:
                yield number, 0, line

    def journal_length(self) -> int:
        return len(self.lines)

    def logs(self) -> List[Tuple[int, str]]:
        return list(self.log_rows)

    def close(self) -> None:
        self.closed = True


def submission() -> List[Dict[str, Any]]:
    return [
        {"label": "render", "agenda": [str(f) for f in range(1, 6)]},
        {"label": "comp", "agenda": [str(f) for f in range(1, 6)], "dependency": "link-complete-work-render"},
    ]


def run_to_end(sup: Supervisor, max_steps: Optional[int] = None) -> None:
    Simulator(sup, workers=2, seed=3).run(max_steps=max_steps)


def test_recipe_new_store_backend():
    store = DictStore()
    sup = Supervisor(db=store, clock=0)
    sup.submit(submission())
    run_to_end(sup, max_steps=7)
    sup.close()
    assert store.closed and store.lines

    resumed = Supervisor(db=store)
    run_to_end(resumed)
    reference = Supervisor(clock=0)  # the embedded SQLite store, one uninterrupted run
    reference.submit(submission())
    run_to_end(reference, max_steps=7)
    run_to_end(reference)
    assert [resumed.job(i)["status"] for i in resumed.job_ids()] == ["complete", "complete"]
    assert resumed.events() == reference.events()
    assert [resumed.fired(i) for i in resumed.job_ids()] == [reference.fired(i) for i in reference.job_ids()]


def test_recipe_new_submission_rule(tmp_path):
    package = copy_package(tmp_path)
    edit(package / "callbacks" / "validation.py",
         "    label = job.get(\"label\")\n    if isinstance(label, str) and isinstance(job.get(\"pgrp\"), int):\n",
         "    if isinstance(job.get(\"name\"), str) and len(job[\"name\"]) > 20:\n"
         "        problems.append(\"'name' holds at most 20 characters\")\n"
         "    label = job.get(\"label\")\n    if isinstance(label, str) and isinstance(job.get(\"pgrp\"), int):\n")
    result = run_on_copy(tmp_path, """
        import json
        from qbtrigger.callbacks import SubmissionError
        from qbtrigger.callbacks.checks import check_submission
        from qbtrigger.supervisor import Supervisor
        jobs = [{"label": "render", "name": "x" * 30}]
        try:
            Supervisor(clock=0).submit(jobs)
            refused = []
        except SubmissionError as error:
            refused = [str(p) for p in error.problems]
        print(json.dumps({"refused": refused, "found": [str(f) for f in check_submission(jobs)]}))
    """)
    assert result["refused"] == result["found"] == ["job 'render': 'name' holds at most 20 characters"]
