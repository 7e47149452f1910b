"""The Store interface, on each backend (SQLite and PostgreSQL): one Batch is one transaction,
what is written reads back the same, a failed write leaves nothing behind, the schema is versioned."""

from __future__ import annotations

import json

import pytest

from qbtrigger.supervisor import Batch, open_store
from qbtrigger.supervisor.store import ADVANCE, CALLBACK, EVENT, REGISTER, REMOVE, SCHEMA_VERSION, UNREADABLE


def filled_batch() -> Batch:
    batch = Batch()
    batch.new_jobs += [(1, 1, "render", "pending", None, json.dumps({"user": "ann", "priority": 5})),
                       (2, 1, None, "blocked", "blocked", json.dumps({"user": "ann"}))]
    batch.new_work += [(1, 0, "1", "pending", 0), (1, 1, "2", "pending", 0), (2, 0, None, "blocked", 0)]
    batch.new_subjobs += [(1, 0, "pending", 0), (2, 0, "blocked", 1)]
    batch.handles += [("[7, 8]", 1)]
    batch.journal += ["#register 1,2", "submit-job-1", "submit-job-2", "#advance 1005"]
    batch.logs += [(1, "first\n"), (0, "global\n")]
    batch.meta.update(next_id=3, clock=1005, nested={"a": [1, 2.5, None]})
    return batch


def test_a_batch_reads_back_as_written(store_db):
    store = open_store(store_db)
    batch = filled_batch()
    store.write(batch)
    assert not batch and batch.journal_first == 5  # emptied; the numbering goes on
    batch.jobs.append(("running", None, 0, 3, json.dumps({"user": "ann", "priority": 9}), 1))
    batch.jobs.append(("complete", None, 1, 0, None, 2))  # data None: the stored data stays
    batch.work += [("running", 0, 1, 0), ("complete", 0, 1, 0), ("failed", 2, 1, 1)]  # the last wins
    batch.subjobs.append(("running", 1, 2, 0))
    batch.journal += ["running-work-1-1", "#remove 2", '#callback {"triggers": "x"}']
    batch.logs.append((1, "second\n"))
    store.write(batch)
    store.close()

    store = open_store(store_db)
    assert store.jobs() == [
        (1, 1, "render", "running", None, 0, 3, [7, 8], {"user": "ann", "priority": 9}),
        (2, 1, None, "complete", None, 1, 0, [], {"user": "ann"}),
    ]
    assert store.work() == [(1, 0, "1", "complete", 0), (1, 1, "2", "failed", 2), (2, 0, None, "blocked", 0)]
    assert store.subjobs() == [(1, 0, "pending", 0), (2, 0, "running", 1)]
    assert list(store.journal()) == [
        (1, REGISTER, "1,2"), (2, EVENT, "submit-job-1"), (3, EVENT, "submit-job-2"), (4, ADVANCE, "1005"),
        (5, EVENT, "running-work-1-1"), (6, REMOVE, "2"), (7, CALLBACK, '{"triggers": "x"}'),
    ]
    assert store.journal_length() == 7
    assert store.logs() == [(1, "first\n"), (0, "global\n"), (1, "second\n")]
    assert store.get_meta("next_id") == 3 and store.get_meta("nested") == {"a": [1, 2.5, None]}
    assert store.get_meta("schema") == SCHEMA_VERSION
    assert store.get_meta("absent", "default") == "default"
    store.close()


def test_a_long_journal_reads_back_whole_and_in_order(store_db):
    store = open_store(store_db)
    batch = Batch()
    for commit in range(300):  # more chunks than one page of the PostgreSQL reader
        batch.journal += [f"complete-work-1-{commit}", f"#advance {commit}"]
        store.write(batch)
    lines = list(store.journal())
    assert len(lines) == store.journal_length() == 600
    assert [n for n, _, _ in lines] == list(range(1, 601))
    assert lines[-2:] == [(599, EVENT, "complete-work-1-299"), (600, ADVANCE, "299")]
    store.close()


def test_a_failed_write_leaves_nothing_and_keeps_the_batch(store_db):
    store = open_store(store_db)
    store.write(filled_batch())
    batch = Batch()
    batch.journal.append("running-work-1-0")
    batch.meta["clock"] = 2000
    batch.new_jobs.append((1, 1, "again", "pending", None, "{}"))  # id 1 exists: the write fails
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        store.write(batch)
    assert batch.journal == ["running-work-1-0"] and batch.new_jobs and batch.journal_first == 1
    assert store.journal_length() == 4 and store.get_meta("clock") == 1005 and len(store.jobs()) == 2
    store.close()


def test_an_empty_batch_writes_nothing(store_db):
    store = open_store(store_db)
    store.write(Batch())
    assert store.journal_length() == 0 and store.jobs() == [] and store.get_meta("clock") is None
    store.close()


def test_a_store_of_another_schema_version_is_refused_naming_it(store_db):
    store = open_store(store_db)
    batch = Batch()
    batch.meta["schema"] = SCHEMA_VERSION + 1
    store.write(batch)
    name = store.name
    store.close()
    with pytest.raises(Exception, match=f"schema {SCHEMA_VERSION + 1}, this qbtrigger reads {SCHEMA_VERSION}") as caught:
        open_store(store_db)
    assert name in str(caught.value)


def test_data_that_cannot_be_decoded_reads_back_marked_never_raising(store_db):
    store = open_store(store_db)
    batch = Batch()
    batch.new_jobs.append((1, 1, None, "pending", None, '{"frames": ' + "9" * 5000 + "}"))  # past int()'s digit limit
    store.write(batch)
    [row] = store.jobs()
    assert set(row[8]) == {UNREADABLE} and "ValueError" in row[8][UNREADABLE]
    store.close()


@pytest.mark.parametrize("when", ["before", "after"])
def test_an_interrupt_around_the_commit_leaves_the_batch_as_the_store_has_it(store_db, monkeypatch, when):
    """Ctrl-C landing inside a write: before the COMMIT nothing is written and the batch stays;
    just after it, the batch is emptied as on success (a retry must not write it twice)."""
    store = open_store(store_db)
    batch = Batch(journal=["submit-job-1"])
    if hasattr(store, "_apply"):  # PostgreSQL: the transaction is _apply
        real = store._apply

        def interrupted(rows):
            if when == "after":
                real(rows)
            raise KeyboardInterrupt

        monkeypatch.setattr(store, "_apply", interrupted)
    else:  # SQLite: the transaction is statements on store.db
        real_db = store.db

        class Interrupting:
            def __getattr__(self, name):
                return getattr(real_db, name)

            def execute(self, sql, *args):
                if sql == "COMMIT" and when == "before":
                    raise KeyboardInterrupt
                result = real_db.execute(sql, *args)
                if sql == "COMMIT":
                    raise KeyboardInterrupt
                return result

        store.db = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        store.write(batch)
    monkeypatch.undo()
    if not hasattr(store, "_apply"):
        store.db = real_db
    written = when == "after"
    assert (not batch) == written and batch.journal_first == (2 if written else 1)
    assert store.journal_length() == (1 if written else 0)
    store.close()
