"""The python worker's loop and the ``qb`` object callback code sees there (standard library only).

Runs in a process the warden (:mod:`.warden`) forked: it holds no engine, host or store, only
the two pipes of its channel (:mod:`.channel`). ``qb.jobid()``, ``qb.event()``, ``qb.count()``
and ``qb.firingid()`` answer from the firing message. Queries, and actions the supervisor may
refuse (on another user's job), wait for the supervisor's answer. Actions that cannot be refused
for permission (on the callback's own job, or any action of an administrator's callback) are sent
ahead with the next message: they take effect in the order they were made, before anything the
callback asks next, and an error one of them meets (an unknown work item, say) is raised by the
callback's next waiting ``qb`` call (``qb.sync()`` waits on purpose), or logged when it ends.
"""

from __future__ import annotations

import builtins
import io
import json
import marshal
import os
import resource
import sys
import traceback
from typing import Any, Dict, List, Optional, Tuple

import channel  # type: ignore[import-not-found]  # siblings, imported by file in the worker
import reaper  # type: ignore[import-not-found]

_FILENAME = "<callback>"
#: The fields of ``qb.event()``, in the order the firing message carries them.
_EVENT_KEYS = ("name", "type", "jobid", "extra", "pgrp", "label", "text")
#: JSON text of a str (the C encoder; non-ASCII kept, as ``json.dumps(ensure_ascii=False)``).
_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
_HEADER = channel._HEADER
#: The callback's output kept for the log; beyond this it is cut (a runaway print loop).
OUTPUT_LIMIT = 1 << 20
#: Actions sent ahead are flushed after this many, so a loop of them cannot fill the memory.
_MAX_PENDING = 512


class QbPermissionError(builtins.PermissionError):
    """``qb.PermissionError``: the supervisor refused an action on another user's job."""


QbPermissionError.__name__ = QbPermissionError.__qualname__ = "PermissionError"
_BASES = {"PermissionError": QbPermissionError, "TypeError": TypeError, "ValueError": ValueError,
          "AttributeError": AttributeError, "RuntimeError": RuntimeError}
_ERRORS: Dict[str, type] = {}


def _error(kind: str, message: str) -> BaseException:
    """The exception to raise for the supervisor's error ``kind`` (a class name there)."""
    if kind in _BASES:
        return _BASES[kind](message)
    cls = _ERRORS.get(kind)
    if cls is None:
        base = KeyError if kind.endswith(("KeyError", "JobError", "ItemError", "CallbackError")) else ValueError
        cls = _ERRORS[kind] = type(kind, (base,), {})
    return cls(message)


def _output_text(out: io.StringIO) -> str:
    """The firing's output, cut at :data:`OUTPUT_LIMIT` characters (the memory limit bounds what
    a runaway print loop can gather before that)."""
    text = out.getvalue()
    if len(text) > OUTPUT_LIMIT:
        text = text[:OUTPUT_LIMIT] + f"\n[output cut at {OUTPUT_LIMIT} characters]\n"
    return text


def _job_id(value: Any) -> Optional[int]:
    """The job id ``value`` names, or None when only the supervisor can say what is wrong."""
    kind = type(value)
    if kind is str:
        value = value.strip()
        if value.isdigit() and value.isascii():  # ASCII digits only, as the supervisor reads them
            return int(value)
        return None
    if kind is int:
        return value  # type: ignore[no-any-return]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _work_job(value: Any) -> Optional[int]:
    if type(value) is str:  # the usual 'jobid:workname'
        job, _, name = value.partition(":")
        return _job_id(job) if name else None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return _job_id(value[0])
    if isinstance(value, str) and ":" in value:
        job, _, name = value.partition(":")
        return _job_id(job) if name else None
    return None


def _action_text(head: str, args: str, line: int) -> str:
    """An action sent ahead, as JSON text: ``head`` is ``'["NAME",['`` and ``args`` the JSON of its
    arguments without the brackets (no keywords)."""
    return f"{head}{args}],{{}},{line}]"


def _caller_line() -> int:
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename != _FILENAME:
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_lineno if frame is not None else 0


class Worker:
    """One worker's state and its ``qb``: the channel, the code cache, the running firing."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.reader = channel.FrameReader(read_fd)
        self.write_fd = write_fd
        self.pid = os.getpid()
        self.codes: Dict[int, Any] = {}
        self.pending: List[str] = []
        self.jobid = 0
        self.count = 0
        self.event: Optional[Dict[str, Any]] = None
        self.firing_id: Any = None
        self.admin = False
        self._builders = self._make_qb()
        self.qb: Any = None

    # ------------------------------------------------------------------ the channel
    def _write(self, text: str) -> None:
        """One frame, in one ``write`` when the pipe takes it whole (a small one always does)."""
        payload = text.encode("utf-8", "surrogatepass")
        data = _HEADER.pack(len(payload)) + payload
        written = os.write(self.write_fd, data)
        if written != len(data):
            channel.write_all(self.write_fd, data[written:])

    def _send(self, text: str) -> None:
        if os.getpid() != self.pid:  # a forked copy of the worker: never speak on its channel
            raise RuntimeError("qb is not available in a process the callback forked")
        self._write(text)

    def _flush_text(self) -> str:
        text = ",".join(self.pending)
        self.pending.clear()
        return text

    def call(self, name: Optional[str], args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        """Ask the supervisor (after the actions sent ahead) and wait for its answer."""
        try:
            request = json.dumps([name, list(args), kwargs], ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TypeError(f"qb.{name}: arguments must be plain data (str, int, list, dict...): {error}") from None
        self._send(f'["call",[{self._flush_text()}],{request}]')
        reply = marshal.loads(self.reader.read())
        if reply[0] != "reply":
            raise RuntimeError(f"unexpected message from the supervisor: {reply[0]!r}")
        if reply[1]:
            return reply[2]
        raise _error(*reply[2])

    def send_ahead(self, name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        """Queue action ``name`` for the next message, as JSON text made now (later changes to
        its arguments do not travel). Strings and ints, the usual arguments, are written here
        directly; anything else goes through ``json.dumps``, which refuses what is not plain."""
        line = _caller_line()
        parts: Optional[List[str]] = []
        for arg in args:
            kind = type(arg)
            if kind is str:
                parts.append(_quote(arg))  # type: ignore[union-attr]
            elif kind is int:
                parts.append(int.__repr__(arg))  # type: ignore[union-attr]
            else:
                parts = None
                break
        if parts is not None and not kwargs and type(name) is str and name.isidentifier():
            text = _action_text(f'["{name}",[', ",".join(parts), line)
        else:
            try:
                text = json.dumps([name, list(args), kwargs, line], ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise TypeError(f"qb.{name}: arguments must be plain data (str, int, list, dict...): {error}") from None
        self.queue(text)

    def queue(self, text: str) -> None:
        """Add an action's JSON text to those sent ahead (flushed once there are many)."""
        pending = self.pending
        pending.append(text)
        if len(pending) >= _MAX_PENDING:
            self.call(None, (), {})

    # ------------------------------------------------------------------ qb
    def _make_qb(self) -> Any:
        worker = self
        functions: Dict[str, Any] = {}

        def own(target: Optional[int]) -> bool:
            return target is not None and (worker.admin or target == worker.jobid)

        def job_action(name: str):
            head = f'["{name}",['

            def action(jobid: Any, *more: Any) -> None:
                targets = (jobid, *more)
                if own(_job_id(jobid)) if not more else all(own(_job_id(t)) for t in targets):
                    if not more and type(jobid) is int:  # the usual call: send_ahead's text, made here
                        worker.queue(_action_text(head, int.__repr__(jobid), _caller_line()))
                    else:
                        worker.send_ahead(name, targets, {})
                else:
                    worker.call(name, targets, {})
            action.__name__ = name
            action.__doc__ = f"qb.{name}(jobid, *more)"
            return action

        def work_action(name: str):
            head = f'["{name}",['

            def action(work: Any, *more: Any) -> None:
                refs = (work, *more)
                if own(_work_job(work)) if not more else all(own(_work_job(r)) for r in refs):
                    if not more and type(work) is str:  # the usual 'jobid:workname': send_ahead's text
                        worker.queue(_action_text(head, _quote(work), _caller_line()))
                    else:
                        worker.send_ahead(name, refs, {})
                else:
                    worker.call(name, refs, {})
            action.__name__ = name
            action.__doc__ = f"qb.{name}('jobid:workname', *more)"
            return action

        def modify(fields: Any, jobid: Any, *more: Any) -> None:
            targets = (jobid, *more)
            if isinstance(fields, dict) and all(own(_job_id(t)) for t in targets):
                worker.send_ahead("modify", (fields, *targets), {})
            else:
                worker.call("modify", (fields, *targets), {})

        def jobinfo(*args: Any, **criteria: Any) -> List[Dict[str, Any]]:
            return worker.call("jobinfo", args, criteria)  # type: ignore[no-any-return]

        def sync() -> None:
            """Wait until every action sent so far has taken effect (raising the first error)."""
            worker.call(None, (), {})

        functions.update(
            jobid=lambda: worker.jobid, count=lambda: worker.count, firingid=lambda: worker.firing_id,
            event=lambda: None if worker.event is None else dict(zip(_EVENT_KEYS, worker.event)),
            jobinfo=jobinfo, modify=modify, sync=sync,
        )
        return functions, job_action, work_action

    def install_api(self, all_functions: List[str], job_functions: List[str], work_functions: List[str]) -> None:
        functions, job_action, work_action = self._builders
        for name in job_functions:
            functions[name] = job_action(name)
        for name in work_functions:
            functions[name] = work_action(name)
        for name in all_functions:
            if name not in functions:  # any other function of the API: asked, and waited for
                functions[name] = self._query(name)
        module = type(sys)("qb", "The qbtrigger callback API (this worker's end of the channel).")
        for name, function in functions.items():
            setattr(module, name, function)
        module.PermissionError = QbPermissionError  # type: ignore[attr-defined]
        self.qb = module

    def _query(self, name: str) -> Any:
        def query(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, args, kwargs)

        query.__name__ = name
        return query

    # ------------------------------------------------------------------ one firing
    def run(self, message: Tuple[Any, ...]) -> None:
        _, code_id, code, self.jobid, self.count, self.event, self.firing_id, self.admin = message
        compiled = self.codes.get(code_id)
        if compiled is None:
            compiled = self.codes[code_id] = builtins.compile(code, _FILENAME, "exec")
        out = io.StringIO()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        modules = sys.modules
        modules["qb"] = self.qb
        try:
            exec(compiled, {"qb": self.qb, "__name__": "__callback__", "__builtins__": builtins})
        except BaseException:  # noqa: B036 - SystemExit too: the callback's end, not the worker's
            kind, value, tb = sys.exc_info()
            traceback.print_exception(kind, value, tb.tb_next if tb else None, file=out)
        if os.getpid() != self.pid:  # the callback forked, and this is the copy: it ends here
            os._exit(0)
        sys.stdout, sys.stderr = saved
        # What the callback started does not outlive its firing: killed before the answer, so that
        # nothing of it can touch this worker once the engine has moved on (one waitpid if none).
        try:
            reaper.kill_all_children()
        except OSError:
            pass  # one it may not signal (a set-uid program): the warden cannot either
        text = out.getvalue()
        output = _quote(_output_text(out) if len(text) > OUTPUT_LIMIT else text) if text else '""'
        self._write(f'["done",[{self._flush_text()}],{output}]')  # the pid was checked above
        modules.pop("qb", None)  # after the answer: the engine applies the actions meanwhile

    def serve(self) -> None:
        while True:
            try:
                message = marshal.loads(self.reader.read())
            except channel.ChannelClosed:
                return
            if message[0] == "run":
                self.run(message)
            elif message[0] == "exit":
                return


def main(read_fd: int, write_fd: int) -> None:
    """The worker process: apply the configuration frame, say ready, then serve firings."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    reaper.become_subreaper()
    worker = Worker(read_fd, write_fd)
    config = marshal.loads(worker.reader.read())
    worker.install_api(config["functions"], config["job_functions"], config["work_functions"])
    memory = config.get("memory")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    channel.write_all(write_fd, channel.frame(json.dumps(["ready", os.getpid()]).encode()))
    worker.serve()
