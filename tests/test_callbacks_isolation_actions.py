"""Actions a worker sends ahead arrive as in-process ones would (issue 13, the channel's fast path).

The worker writes the usual actions (string and int arguments) as JSON text itself and sends
them with the firing's ``done``; these tests hold that to the in-process mode: the same actions,
in the same order, with the same values (non-ASCII and odd job-id spellings included), errors
raised at the call site, arguments taken as they were at the call, and a broken message treated
as a protocol fault."""

from __future__ import annotations

import os
import textwrap

import pytest

from farmhost import FarmHost

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")

AGENDA = ["1", "2", "é", "x:y", "\U0001f600"]


def run_both(code: str, agenda=AGENDA) -> tuple:
    """``(isolated farm, in-process farm, job id)`` after one firing of ``code`` in each."""
    farms = []
    for in_process in (False, True):
        farm = FarmHost(language_flags="qube,python", in_process_python=in_process)
        (a,) = farm.submit([{"label": "a", "agenda": list(agenda), "callbacks": [
            {"triggers": "complete-job-self", "language": "python", "code": textwrap.dedent(code)}]}])
        farm.engine.feed(f"complete-job-{a}")
        farm.engine.close()
        farms.append(farm)
    return farms[0], farms[1], a


def test_actions_sent_ahead_arrive_in_order_with_the_same_values_as_in_process():
    isolated, in_process, a = run_both("""\
        j = qb.jobid()
        qb.blockwork('%d:1' % j, '%d:é' % j)
        qb.unblockwork('%d:x:y' % j)
        qb.blockwork('%d:\U0001f600' % j)
        qb.unblockwork((j, '2'), [str(j), '1'])
        qb.modify({'note': 'ünï', 'n': [1, {'deep': None}]}, j)
        qb.block(j)
        qb.unblock(str(j), ' %d ' % j)
        qb.blockwork('00%d:2' % j)
        print('sent')
    """)
    assert isolated.logs[a] == in_process.logs[a] == ["sent\n"]
    assert isolated.actions == in_process.actions
    assert len(isolated.actions) == 10
    assert isolated.jobs[a]["note"] == "ünï" and isolated.jobs[a]["n"] == [1, {"deep": None}]


def test_an_argument_that_is_not_plain_data_is_refused_at_the_call_site():
    isolated, _, a = run_both("""\
        try:
            qb.modify({'when': {1, 2}}, qb.jobid())
        except TypeError as error:
            print('refused:', 'plain data' in str(error))
        qb.blockwork('%d:1' % qb.jobid())
    """)
    assert isolated.logs[a] == ["refused: True\n"]
    assert isolated.actions == [("block", a, "1")]


def test_arguments_are_taken_as_they_were_when_the_action_was_made():
    isolated, in_process, a = run_both("""\
        fields = {'note': 'first'}
        qb.modify(fields, qb.jobid())
        fields['note'] = 'changed later'
    """)
    assert isolated.jobs[a]["note"] == in_process.jobs[a]["note"] == "first"


def test_an_action_sent_ahead_that_fails_is_logged_with_its_line_and_stops_the_rest():
    isolated, _, a = run_both("""\
        j = qb.jobid()
        qb.blockwork('%d:1' % j)
        qb.blockwork('%d:nosuch' % j)
        qb.blockwork('%d:2' % j)
    """)
    assert isolated.actions == [("block", a, "1"), ("block", a, "nosuch")]
    [log] = isolated.logs[a]
    assert f"qb.blockwork('{a}:nosuch') at line 3 failed: KeyError" in log


def test_the_line_of_an_action_is_the_callbacks_whatever_the_form_of_the_call():
    """Actions on one's own job by an int id or a 'jobid:workname' text take the worker's shortest
    path: they give the same actions as in-process, and a failing one made inside a helper
    function of the callback is reported at its line in the callback's code (the helper's)."""
    isolated, in_process, a = run_both("""\
        j = qb.jobid()
        def helper(ref):
            qb.unblockwork(ref)
        helper(' %d :1' % j)
        qb.block(j)
        qb.unblock(j)
        helper('%d:nosuch' % j)
    """)
    assert isolated.actions == in_process.actions
    assert isolated.actions[:3] == [("unblock", a, "1"), ("block", a, None), ("unblock", a, None)]
    [log] = isolated.logs[a]
    assert f"qb.unblockwork('{a}:nosuch') at line 3 failed: KeyError" in log


def test_digits_that_are_not_ascii_are_refused_at_the_call_site_as_in_process():
    isolated, in_process, a = run_both("""\
        try:
            qb.blockwork('١٢٣:1')
        except Exception as error:
            print(type(error).__name__)
    """)
    assert isolated.logs[a] == in_process.logs[a] == ["TypeError\n"]
    assert isolated.actions == in_process.actions == []


def test_a_done_message_that_is_not_json_is_a_protocol_fault():
    farm = FarmHost(language_flags="qube,python")
    (a,) = farm.submit([{"label": "a", "agenda": ["1"], "callbacks": [
        {"triggers": "modified-job-self", "language": "python", "code": textwrap.dedent("""\
            import gc
            [worker] = [o for o in gc.get_objects() if type(o).__name__ == 'Worker']
            worker._write('["done", [], "unterminated')
            import time
            time.sleep(60)
        """)}]}])
    farm.engine.feed(f"modified-job-{a}")
    farm.engine.close()
    [log] = farm.logs[a]
    assert "the firing failed: the worker broke the channel's protocol (an unreadable message" in log
