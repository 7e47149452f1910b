"""The callback engine: job dicts in, network entries registered, firings dispatched (SPEC §4, §7, §8).

Submission is two steps, so nothing half-registers: :meth:`CallbackEngine.compile` reads a list of
job dicts (with ids already assigned by the host), checks every callback, dependency and universal
attachment, and raises one :class:`SubmissionError` listing every problem; it changes nothing.
:meth:`CallbackEngine.register` then adds the jobs and their callbacks to the network (jobs first,
so labels inside the submission bind, then each job's callbacks in order: its own, its
dependency's, the universal ones). :meth:`submit` does both.

Events come in through :meth:`feed`. The callbacks an event fires run in registration order;
state changes they make reach the host, whose events come back through ``feed`` while the engine
is dispatching: those are queued and applied after the current event's callbacks have all run
(SPEC §4.3), in the order they were reported.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from .. import Event, Network, TriggerSyntaxError, WhyNot, parse_event
from ..errors import UnknownCallbackError, UnknownJobError
from ..vocabulary import DEFAULT_LANGUAGE, DEFAULT_LANGUAGE_FLAGS, DEPENDENCY_FLAG, DEPENDENCY_LANGUAGE, DUMMY, GLOBAL_TYPES, LANGUAGES
from .dependency import DependencyPlan, compile_dependency, parse_dependency
from .errors import CodeError, Problem, SubmissionError
from .host import Host
from .isolation import CallbackLimits, DeathLedger, WorkerPool
from .jobs import JobView, job_name, read_job
from .languages import (
    Callback,
    Invocation,
    Language,
    LanguageContext,
    create_language,
    Runner,
    parse_language_flags,
)
from .languages.qube import QubeLanguage
from .qbapi import QbApi
from .universal import UniversalCallback, load_universal

__all__ = ["CallbackEngine", "Firing", "JobPlan", "Submission", "GLOBAL_JOB"]

#: The pseudo job that owns global callbacks (Qube's job ids start at 1).
GLOBAL_JOB = 0

#: Named tuples made on the hot path without their generated ``__new__`` (a Python call each):
#: ``_tuple_new(Event, (name, type, jobid, extra))`` is ``Event(name, type, jobid, extra)``.
_tuple_new: Any = tuple.__new__


def _applied_event(text: str) -> Tuple[Event, Optional[str]]:
    """The Event of a text the network has just accepted (so it is well formed), and ``text``
    again when it is already ``str(event)`` (lower case, no zero-padded job id; else None), so
    that no one formats it again. For an item's event (``name-type-jobid[-extra]``, nearly all
    of them) a plain split, several times cheaper than :func:`parse_event`; the global forms
    (``NAME-global``, ``globaltime-T``...) are parsed."""
    parts = text.split("-", 3)
    if len(parts) >= 3 and parts[2].isdigit() and parts[1].lower() not in GLOBAL_TYPES:
        name, kind, digits = parts[0], parts[1], parts[2]
        event: Event = _tuple_new(Event, (name.lower(), kind.lower(), int(digits), parts[3] if len(parts) == 4 else None))
        if event.name == name and event.type == kind and (digits[0] != "0" or digits == "0"):
            return event, text
        return event, None
    return parse_event(text), None


def _global_owner() -> JobView:
    """The job view global callbacks are compiled and registered under (a fresh one: views are
    plain data an engine keeps)."""
    return JobView(index=0, name="global callbacks", id=GLOBAL_JOB, pgrp=GLOBAL_JOB, pid=None, label=None, user=None)


def _check_triggers(validator: Any, triggers: Union[str, List[str]], owner: int) -> Optional[str]:
    """None when ``triggers`` would register for ``owner``; else the problem, worded for the user."""
    try:
        handle = validator.add(triggers, owner=owner)
    except TriggerSyntaxError as error:
        return f"bad trigger: {error}"
    except ValueError as error:  # the size limit
        return str(error)
    validator.remove(handle)
    return None


class Firing(NamedTuple):
    """One callback run: its handle, owning job, the event that fired it and the callback."""

    handle: int
    jobid: int
    event: Optional[str]
    callback: Callback


@dataclass
class JobPlan:
    """One job of a compiled submission: what will be registered for it, and how it starts."""

    job: JobView
    callbacks: List[Callback] = field(default_factory=list)
    dependency: DependencyPlan = field(default_factory=DependencyPlan)

    @property
    def blocked(self) -> bool:
        """Submit the job blocked: its dependency has job entries."""
        return self.dependency.block_job

    @property
    def blocked_work(self) -> bool:
        """Submit the job's work items blocked: its dependency links them frame by frame."""
        return self.dependency.block_work

    @property
    def blocked_subjobs(self) -> bool:
        return self.dependency.block_subjobs


@dataclass
class Submission:
    """A checked submission, ready for :meth:`CallbackEngine.register`."""

    jobs: List[JobPlan]

    def plan(self, jobid: int) -> JobPlan:
        for plan in self.jobs:
            if plan.job.id == jobid:
                return plan
        raise KeyError(f"job {jobid} is not in this submission")


class CallbackEngine:
    """Registers Qube job dicts' callbacks in a :class:`Network` and runs what fires.

    ``host`` is the farm (:class:`Host`). ``language_flags`` enables languages (SPEC §7; default
    ``qube,mail,dependency``). ``state_aware`` switches on SPEC §5 for the network the engine
    makes; pass ``network`` to use one of your own. ``universal`` is a universal-callback folder
    to load now (:meth:`load_universal`). ``perl_timeout`` limits each perl callback (seconds).

    Python callbacks run in worker processes (see :mod:`.isolation`) within ``limits`` (default:
    :class:`CallbackLimits` with ``perl_timeout`` as the time limit); ``death_ledger`` counts
    their workers' deaths for quarantine (a supervisor passes one it stores). ``in_process_python``
    runs them in this process instead, with no limit at all: for trusted code only. Call
    :meth:`close` to stop the workers.
    """

    def __init__(
        self,
        host: Host,
        *,
        language_flags: Union[str, Iterable[str]] = DEFAULT_LANGUAGE_FLAGS,
        state_aware: bool = False,
        network: Optional[Any] = None,
        universal: Optional[str] = None,
        perl_timeout: float = 30.0,
        in_process_python: bool = False,
        limits: Optional[CallbackLimits] = None,
        death_ledger: Optional[DeathLedger] = None,
    ) -> None:
        self.host = host
        self.network = network if network is not None else Network(state_aware=state_aware)
        self.language_flags = parse_language_flags(language_flags)
        self.qb = QbApi(host)
        self.perl_timeout = perl_timeout
        self.limits = limits if limits is not None else CallbackLimits(timeout=perl_timeout)
        #: The python workers; None in in-process mode.
        self.workers: Optional[WorkerPool] = None
        if not in_process_python:
            self.workers = WorkerPool(
                self.qb, self.limits, user_of=self._user_of, job_facts=self._job_facts, ledger=death_ledger
            )
        self._language_context = LanguageContext(qb=self.qb, perl_timeout=perl_timeout, workers=self.workers)
        #: The languages made so far (each on first use), by name.
        self.languages: Dict[str, Language] = {}
        self.universal: List[UniversalCallback] = []
        self._callbacks: Dict[int, Callback] = {}
        self._jobs: Dict[int, JobView] = {}
        self._handles_of_job: Dict[int, List[int]] = {}
        self._queue: Deque[str] = deque()
        self._dispatching = False
        #: The firing whose callback is running now (None between callbacks): a host asked to act
        #: can say which callback, fired by which event, caused the change (reports name causes).
        self.running: Optional[Firing] = None
        #: The running firing was caused by state catch-up at registration, not by a new event.
        self.catching_up = False
        #: How many callbacks have fired so far: the last firing's id (see :attr:`Invocation.firing`).
        self.firings = 0
        #: While True, firings are counted and numbered but no callback's code runs: a host
        #: replaying what it stored (a supervisor's journal) sets it.
        self.muted = False
        if universal is not None:
            self.load_universal(universal)

    def close(self) -> None:
        """Stop the python workers (and what their callbacks left running). The engine may go on
        being used: a later python firing starts a new worker."""
        if self.workers is not None:
            self.workers.close()

    def _user_of(self, jobid: int) -> Optional[str]:
        job = self._jobs.get(jobid)
        if job is not None:
            return job.user
        found = self.host.job(jobid)
        return found.get("user") if found else None

    def _job_facts(self, jobid: int) -> Optional[Tuple[int, Optional[str]]]:
        """``(pgrp, label)`` of a registered job, for ``qb.event()`` in the workers."""
        job = self._jobs.get(jobid)
        return None if job is None else (job.pgrp, job.label)

    # ------------------------------------------------------------------ languages
    def language(self, name: str) -> Optional[Language]:
        """The language called ``name`` (made from its module on first use), or None."""
        found = self.languages.get(name)
        if found is None:
            found = create_language(name, self._language_context)
            if found is not None:
                self.languages[name] = found
        return found

    def _why_disabled(self, name: str) -> Optional[str]:
        """None when ``name`` may be used; else the message saying which flag enables it."""
        if self.language(name) is None:
            return f"unknown language '{name}' (known: {', '.join(sorted(LANGUAGES))})"
        if name not in self.language_flags:
            flags = ",".join(sorted(self.language_flags)) or "(none)"
            return (
                f"language '{name}' is disabled: enable it with the language flag '{name}' "
                f"(language_flags is '{flags}')"
            )
        return None

    def load_universal(self, folder: Union[str, "os.PathLike[str]"]) -> None:
        """Load a universal-callback folder; its callbacks attach to every job submitted from now
        on, replacing the ones loaded before. A bad config changes nothing."""
        self.universal = load_universal(os.fspath(folder), self._all_languages(), self._why_disabled)

    def _all_languages(self) -> Dict[str, Language]:
        for name in LANGUAGES:
            self.language(name)
        return self.languages

    # ------------------------------------------------------------------ submission
    def compile(self, jobs: Sequence[Mapping[str, Any]], *, trusted: bool = False) -> Submission:
        """Check a submission; raise :class:`SubmissionError` with every problem. Changes nothing.
        ``trusted``: the jobs' triggers were checked when they were first submitted (a stored
        job brought back from a checkpoint, :meth:`adopt`): they are not parsed again."""
        if isinstance(jobs, Mapping) or not isinstance(jobs, (list, tuple)):
            raise SubmissionError([Problem("submission", None, "a submission is a list of job dicts")])
        problems: List[Problem] = []
        plans: List[JobPlan] = []
        # Triggers are checked by registering them on a scratch network of the submission's jobs:
        # the matcher's own parser (the C one when native) gives the same errors as parse(), at a
        # fraction of the cost, and also catches the size limit.
        validator = None if trusted else Network()
        seen_ids: Dict[int, str] = {}
        seen_labels: Dict[tuple, str] = {}
        for index, job in enumerate(jobs):
            view, job_problems = read_job(job, index)
            name = job_name(job, index)
            problems += [Problem(name, None, p) for p in job_problems]
            if view is None:
                continue
            if view.id not in seen_ids and validator is not None:
                validator.add_job(view.id, pgrp=view.pgrp, pid=view.pid)
            if view.id in self._jobs:
                problems.append(Problem(name, None, f"job id {view.id} is already registered"))
            elif view.id in seen_ids:
                problems.append(Problem(name, None, f"job id {view.id} is also {seen_ids[view.id]}'s"))
            seen_ids.setdefault(view.id, name)
            if view.label is not None:
                key = (view.pgrp, view.label)
                if key in seen_labels:
                    problems.append(
                        Problem(name, None, f"label '{view.label}' is already used in pgrp {view.pgrp} by {seen_labels[key]}")
                    )
                seen_labels.setdefault(key, name)
            plan = JobPlan(view)
            if validator is None:
                plan.callbacks = self._trusted_callbacks(view)
            for cb_index, spec in enumerate(view.callbacks if validator is not None else ()):
                callback, detail = self._compile_callback(view, cb_index, spec, validator)
                if detail is not None:
                    problems.append(Problem(name, cb_index, detail))
                else:
                    plan.callbacks.append(callback)
            problems += self._compile_dependency(view, plan, validator)
            for entry in self.universal:
                if entry.needs_pid and view.pid is None:
                    continue  # 'parent' has no job to name
                plan.callbacks.append(
                    Callback(
                        jobid=view.id, index=None, origin="universal", triggers=entry.triggers,
                        language=entry.language, code=entry.code, maximum=None, runner=entry.runner,
                        admin=True, source=entry.file,
                    )
                )
            plans.append(plan)
        if problems:
            raise SubmissionError(problems)
        return Submission(plans)

    def _trusted_callbacks(self, job: JobView) -> List[Callback]:
        """A trusted job's own callbacks (see :meth:`compile`): checked when it was submitted, so
        only their languages are looked up again, once per distinct code (a farm job's thousand
        per-frame callbacks share one), which is what makes a checkpoint's rebuild cheap."""
        out: List[Callback] = []
        runners: Dict[Tuple[str, str], Tuple[str, Runner]] = {}
        jobid = job.id
        for index, spec in enumerate(job.callbacks):
            key = (spec.get("language", DEFAULT_LANGUAGE), spec.get("code", ""))
            found = runners.get(key)
            if found is None:
                language = key[0].strip().lower()
                detail = self._why_disabled(language)
                if detail:
                    raise SubmissionError([Problem(job.name, index, detail)])
                try:
                    found = runners[key] = (language, self.languages[language].compile(key[1]))
                except CodeError as error:
                    raise SubmissionError([Problem(job.name, index, f"{language} code: {error}")]) from None
            triggers = spec["triggers"]
            out.append(Callback(jobid, index, "job", list(triggers) if isinstance(triggers, (list, tuple)) else triggers,
                                found[0], key[1], spec.get("maximum"), found[1]))
        return out

    def _compile_callback(self, job: JobView, index: int, spec: Any, validator: Any):
        """``(Callback, None)`` or ``(None, problem text)``."""
        if not isinstance(spec, Mapping):
            return None, f"a callback must be a dict, not {type(spec).__name__}"
        unknown = set(spec) - {"triggers", "language", "code", "maximum", "count"}
        if unknown:
            return None, f"unknown callback field(s): {', '.join(sorted(map(str, unknown)))}"
        triggers = spec.get("triggers")
        if isinstance(triggers, (list, tuple)):
            if not triggers or not all(isinstance(t, str) for t in triggers):
                return None, "'triggers' must be a str or a non-empty list of str"
            triggers = list(triggers)
        elif not isinstance(triggers, str):
            return None, f"'triggers' must be a str or a list of str, not {type(triggers).__name__}"
        detail = None if validator is None else _check_triggers(validator, triggers, job.id)
        if detail is not None:
            return None, detail
        language = spec.get("language", DEFAULT_LANGUAGE)
        if not isinstance(language, str):
            return None, f"'language' must be a str, not {type(language).__name__}"
        language = language.strip().lower()
        why_not = self._why_disabled(language)
        if why_not:
            return None, why_not
        maximum = spec.get("maximum")
        if maximum is not None and (isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1):
            return None, f"'maximum' must be an int >= 1, not {maximum!r}"
        code = spec.get("code", "")
        if not isinstance(code, str):
            return None, f"'code' must be a str, not {type(code).__name__}"
        try:
            runner = self.languages[language].compile(code)
        except CodeError as error:
            return None, f"{language} code: {error}"
        callback = Callback(
            jobid=job.id, index=index, origin="job", triggers=triggers, language=language,
            code=code, maximum=maximum, runner=runner,
        )
        return callback, None

    def _compile_dependency(self, job: JobView, plan: JobPlan, validator: Any) -> List[Problem]:
        if not job.dependency.strip():
            return []
        if DEPENDENCY_FLAG not in self.language_flags:
            return [
                Problem(job.name, None, "the 'dependency' field is disabled: enable it with the language flag 'dependency'")
            ]
        entries, info, problems = parse_dependency(job.dependency)
        compiled, more = compile_dependency(entries, job.work_names, job.cpus)
        problems += more
        compiled.info = info
        plan.dependency = compiled
        qube = self.language(DEPENDENCY_LANGUAGE)
        assert isinstance(qube, QubeLanguage)
        for triggers, keyword, work in compiled.callbacks:
            detail = None if validator is None else _check_triggers(validator, triggers, job.id)
            if detail is not None:
                problems.append(f"bad dependency: {detail}")
                continue
            plan.callbacks.append(
                Callback(
                    jobid=job.id, index=None, origin="dependency", triggers=triggers, language=DEPENDENCY_LANGUAGE,
                    code=keyword, maximum=1,
                    runner=qube.compile(keyword) if work is None else qube.compile_for_work(keyword, work),
                )
            )
        return [Problem(job.name, None, p) for p in problems]

    def add_global(self, spec: Mapping[str, Any]) -> Tuple[Callback, List[Firing]]:
        """:meth:`compile_global` then :meth:`register_global`."""
        callback = self.compile_global(spec)
        return callback, self.register_global(callback)

    def compile_global(self, spec: Mapping[str, Any]) -> Callback:
        """Check a global callback (Qube's ``qb.submitcallback``): attached to no job, owned by
        the pseudo job :data:`GLOBAL_JOB`, run as administrator (who may submit one is the host's
        business). Raises :class:`SubmissionError`; changes nothing."""
        owner = _global_owner()
        validator = Network()
        validator.add_job(GLOBAL_JOB, pgrp=GLOBAL_JOB)
        index = len(self._handles_of_job.get(GLOBAL_JOB, ()))
        callback, detail = self._compile_callback(owner, index, spec, validator)
        if callback is None:
            raise SubmissionError([Problem("global callback", index, detail or "")])
        callback.origin = "global"
        callback.admin = True
        return callback

    def register_global(self, callback: Callback) -> List[Firing]:
        """Register a compiled global callback; returns the firings state catch-up caused
        (already run)."""
        net = self.network
        if GLOBAL_JOB not in self._jobs:
            owner = _global_owner()
            net.add_job(GLOBAL_JOB, pgrp=GLOBAL_JOB)
            self._jobs[GLOBAL_JOB] = owner
            self._handles_of_job[GLOBAL_JOB] = []
        callback.handle = net.add(callback.triggers, owner=GLOBAL_JOB, maximum=callback.maximum)
        callback.count = 0
        self._callbacks[callback.handle] = callback
        self._handles_of_job[GLOBAL_JOB].append(callback.handle)
        firings: List[Firing] = []
        if getattr(net, "state_aware", False):
            caught_up = net.drain_catch_up_events()
            if caught_up:
                firings = self._dispatch_catch_up(caught_up)
        return firings

    def register(self, submission: Submission) -> List[Firing]:
        """Add a compiled submission to the network. Returns the firings of callbacks that state
        catch-up (SPEC §5) fired at registration, already dispatched. On a failure nothing of the
        submission stays registered."""
        net = self.network
        added: List[int] = []
        try:
            for plan in submission.jobs:
                job = plan.job
                if job.id in self._jobs:
                    raise SubmissionError([Problem(job.name, None, f"job id {job.id} is already registered")])
                net.add_job(job.id, pgrp=job.pgrp, label=job.label, pid=job.pid)
                added.append(job.id)
                self._jobs[job.id] = job
                self._handles_of_job[job.id] = []
            for plan in submission.jobs:
                handles = self._handles_of_job[plan.job.id]
                for callback in plan.callbacks:
                    callback.handle = net.add(callback.triggers, owner=callback.jobid, maximum=callback.maximum)
                    callback.count = 0
                    self._callbacks[callback.handle] = callback
                    handles.append(callback.handle)
        except BaseException:
            for jobid in added:
                self._forget_job(jobid)
            if getattr(net, "state_aware", False):
                net.drain_catch_up()
            raise
        if getattr(net, "state_aware", False):
            caught_up = net.drain_catch_up_events()
            if caught_up:
                return self._dispatch_catch_up(caught_up)
        return []

    def adopt(self, submission: Submission, handles: Mapping[int, Sequence[int]]) -> None:
        """Take over a submission whose callbacks the network already holds (it was restored from
        a snapshot taken after they were registered): ``handles[jobid]`` are the handles the
        job's callbacks got, in registration order, spent ones included. Nothing is registered
        or fired; each live callback gets its handle and its count from the network, and the
        spent ones are left out, as :meth:`register` and the firings since would have left them.
        Checked first, so a mismatch (another universal folder, say) changes nothing."""
        net = self.network
        for plan in submission.jobs:
            jobid = plan.job.id
            if jobid in self._jobs:
                raise ValueError(f"job {jobid} is already registered")
            got = handles.get(jobid)
            if got is None or len(got) != len(plan.callbacks):
                raise ValueError(f"job {jobid}: {len(plan.callbacks)} callback(s) compiled, but "
                                 f"{'no' if got is None else len(got)} handle(s) stored")
        for plan in submission.jobs:
            jobid = plan.job.id
            job_handles = list(handles[jobid])
            self._jobs[jobid] = plan.job
            self._handles_of_job[jobid] = job_handles
            for callback, handle in zip(plan.callbacks, job_handles):
                callback.handle = handle
                if handle in net:
                    callback.count = net.count(handle)
                    self._callbacks[handle] = callback
                else:
                    callback.count = callback.maximum or 0

    def adopt_global(self, callback: Callback, handle: int, count: int) -> None:
        """Take over a compiled global callback the restored network holds under ``handle``
        (``count``: its firings, which the network no longer knows once it is spent), in the
        order they were submitted (see :meth:`adopt`)."""
        if GLOBAL_JOB not in self._jobs:
            self._jobs[GLOBAL_JOB] = _global_owner()
            self._handles_of_job[GLOBAL_JOB] = []
        callback.handle = handle
        callback.count = count
        self._handles_of_job[GLOBAL_JOB].append(handle)
        if handle in self.network:
            self._callbacks[handle] = callback

    def submit(self, jobs: Sequence[Mapping[str, Any]]) -> Submission:
        """:meth:`compile` then :meth:`register`."""
        submission = self.compile(jobs)
        self.register(submission)
        return submission

    def remove_job(self, jobid: int) -> None:
        """Forget a job and its callbacks (the job's own, its dependency's, the universal ones)."""
        if jobid not in self._jobs:
            raise UnknownJobError(f"unknown job {jobid}")
        self._forget_job(jobid)

    def _forget_job(self, jobid: int) -> None:
        if self.workers is not None:
            self.workers.forget(jobid)
        for handle in self._handles_of_job.pop(jobid, ()):
            self._callbacks.pop(handle, None)
        self._jobs.pop(jobid, None)
        self.network.remove_job(jobid)

    # ------------------------------------------------------------------ introspection
    def callbacks(self, jobid: int) -> List[Callback]:
        """The live callbacks of a job, in registration order."""
        if jobid not in self._jobs:
            raise UnknownJobError(f"unknown job {jobid}")
        return [self._callbacks[h] for h in self._handles_of_job[jobid] if h in self._callbacks]

    def callback(self, handle: int) -> Callback:
        try:
            return self._callbacks[handle]
        except KeyError:
            raise UnknownCallbackError(f"unknown callback handle {handle}") from None

    def why_not(self, handle: int) -> WhyNot:
        return self.network.why_not(handle)

    def __contains__(self, jobid: object) -> bool:
        return jobid in self._jobs

    def registrations(self) -> Dict[int, List[int]]:
        """Every registered job's callback handles in registration order (spent ones included),
        by job id in the order the jobs were registered: what :meth:`adopt` takes back."""
        return dict(self._handles_of_job)

    @property
    def jobs(self) -> List[int]:
        return sorted(self._jobs)

    # ------------------------------------------------------------------ events
    def feed(self, event: Union[str, Event]) -> List[Firing]:
        """Apply one event and run what it fires, then every event their actions caused.

        Called while callbacks run (a host reporting the state changes they made), it validates
        the event, queues it and returns ``[]``: the outer call applies it in turn.
        """
        text = event if isinstance(event, str) else str(event)
        if self._dispatching:
            parse_event(text)  # a malformed event fails here, in the code that reported it
            self._queue.append(text)
            return []
        # At the top the queue is empty: apply the event at once (most fire nothing).
        handles = self.network.feed(text)
        return self._dispatch(text, handles) if handles else []

    def _dispatch(self, text: str, handles: List[int]) -> List[Firing]:
        """Run the callbacks an applied event fired, then every event their actions caused."""
        out: List[Firing] = []
        self._dispatching = True
        try:
            # muted: no callback reads the event
            event, same = (None, None) if self.muted else _applied_event(text)
            for handle in handles:
                self._run(handle, event, text, out, same)
        finally:
            self._dispatching = False
        return out + self._drain()

    def feed_many(self, events: Iterable[Union[str, Event]]) -> List[Firing]:
        """Feed each event in turn; the events their callbacks cause apply before the next one."""
        if self._dispatching:
            for event in events:
                self.feed(event)
            return []
        out: List[Firing] = []
        queue = self._queue
        for event in events:
            queue.append(event if isinstance(event, str) else str(event))
            out += self._drain()
        return out

    def advance(self, now: int) -> List[Firing]:
        """Move the clock to ``now``: time atoms due fire (SPEC §6), then queued events apply.

        A callback fired by the clock sees the event ``dummy-globaltime-T`` (T its moment)."""
        if self._dispatching:
            raise RuntimeError("advance() may not be called from inside a callback")
        pairs = self.network.advance_many(now)
        out: List[Firing] = []
        self._dispatching = True
        try:
            for moment, handle in pairs:
                text = f"{DUMMY}-globaltime-{moment}"
                self._run(handle, Event(DUMMY, "globaltime", None, str(moment)), text, out, text)
        finally:
            self._dispatching = False
        return out + self._drain()

    def _drain(self) -> List[Firing]:
        out: List[Firing] = []
        queue = self._queue
        net = self.network
        self._dispatching = True
        try:
            while queue:
                text = queue.popleft()
                try:
                    handles = net.feed(text)
                except BaseException:
                    queue.clear()
                    raise
                if handles:
                    event, same = (None, None) if self.muted else _applied_event(text)
                    for handle in handles:
                        self._run(handle, event, text, out, same)
        finally:
            self._dispatching = False
        return out

    def _run(self, handle: int, event: Optional[Event], text: Optional[str], out: List[Firing],
             event_text: Optional[str] = None) -> None:
        """Run one fired callback. ``event_text``: ``str(event)`` when the caller has it."""
        callback = self._callbacks.get(handle)
        if callback is None:  # registered on the network directly, not through the engine
            return
        callback.count += 1
        if callback.maximum is not None and callback.count >= callback.maximum:
            del self._callbacks[handle]  # the network removed it as it fired
        firing: Firing = _tuple_new(Firing, (handle, callback.jobid, text, callback))
        out.append(firing)
        self.firings += 1
        if self.muted:
            return  # a replay: counted and numbered, but its effects are stored already
        self.running = firing
        try:
            callback.runner(Invocation(self.host, self.qb, callback, event, self.firings, event_text))
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: B036 - whatever a callback does, the engine goes on
            self.host.log(
                callback.jobid,
                f"{callback.describe()} ({callback.language}) failed on {text}:\n{traceback.format_exc()}",
            )
        finally:
            self.running = None

    def _dispatch_catch_up(self, caught_up: List[Tuple[int, Event]]) -> List[Firing]:
        """Run callbacks that catch-up fired at registration (each with the item state event the
        matcher says it stands for), then the events they caused."""
        out: List[Firing] = []
        self._dispatching = True
        self.catching_up = True
        try:
            for handle, event in caught_up:
                text = str(event)
                self._run(handle, event, text, out, text if event is not None else None)
        finally:
            self._dispatching = False
            self.catching_up = False
        return out + self._drain()
