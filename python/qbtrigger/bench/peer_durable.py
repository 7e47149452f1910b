"""durable_rules (PyPI ``durable_rules``, a Rete engine in C with Python bindings) as a contender.

How it is driven, and why (each point was found on this machine with durable_rules 2.0.28):

- **facts, not events.** A posted event is consumed by the first rule that uses it, so two
  callbacks waiting on the same frame (the farm's ``A && B`` and ``(A && B) || C``) cannot both
  see it. Facts stay, and Rete fires every rule once per new combination of facts.
- **the latch reset is ours.** §4 clears a callback's latches when it fires, but facts outlive the
  firing: with facts alone, ``A, C, B`` fires ``(A && B) || C`` twice (on C, then on B with the
  old A). Every fact carries its event's sequence number and each callback keeps one integer, the
  sequence number of its last firing; a combination counts only if all its facts are newer. That
  is exactly "latches set since the last firing", and the check against the reference verifies it.
- **fields, not one flat string**: facts are ``{kind, type, job, frame, seq}``. Equality tests on
  one property are scanned in a fixed 512-slot table: 256 two-atom rules over one flat property
  fail at assert (error 303) and 300 make ``create_ruleset`` loop forever.
- **shards of at most 4,000 rules** (a ruleset holds at most 4096), one rule per OR branch; an
  event goes only to the shards whose rules name its job (the index a user would keep).
- **no background timers**: ``Host`` starts two dispatch threads that poll every ruleset; they are
  kept off (nothing here uses timers) so they do not steal the measured thread's time.
- it holds about 18 KB per rule, so 1M callbacks do not fit in this machine's 24 GB; the bench
  stops it from its measured memory per callback before trying.

Everything durable_rules does runs in a worker process with a timeout (``needs_isolation``), so a
ruleset that makes it loop is a finding, not a hung bench.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from qbtrigger.bench.contenders import Contender
from qbtrigger.bench.resolve import Cond, resolve, split_event
from qbtrigger.workload import Workload

__all__ = ["DurableRulesContender", "MAX_RULES_PER_SHARD"]

#: A ruleset holds at most 4096 rules; 4,000 leaves room and keeps shards of whole callbacks.
MAX_RULES_PER_SHARD = 4000


def _condition(cond: Cond) -> dict:
    tests: List[dict] = []
    if len(cond.names) == 1:
        tests.append({"kind": cond.names[0]})
    else:
        tests.append({"$or": [{"kind": name} for name in cond.names]})
    tests.append({"type": cond.type})
    tests.append({"job": cond.job})
    if cond.extra is not None and cond.extra != "*":
        tests.append({"frame": cond.extra})
    return {"$and": tests}


class _Engine:
    """The rulesets of one registered workload, and the state the adapter keeps beside them."""

    def __init__(self, host: Any, shards_of_job: Dict[int, List[str]], n_callbacks: int) -> None:
        self.host = host
        self.shards_of_job = shards_of_job
        self.last_fired = [-1] * n_callbacks  # per callback: seq of its last firing (§4.2's reset)
        self.fired: List[int] = []  # callbacks fired by the event being asserted
        self.seq = 0


class DurableRulesContender(Contender):
    name = "durable_rules"
    ordered = False  # Rete's agenda order is not registration order
    modes = ("feed",)
    requires = "durable.engine"
    needs_isolation = True

    def register(self, workload: Workload) -> _Engine:
        import durable.engine as de

        class QuietHost(de.Host):
            def _run(self) -> None:  # the two polling timer threads: off (see the module doc)
                pass

        resolved = resolve(workload)
        host = QuietHost()
        engine = _Engine(host, {}, len(resolved))
        definitions: Dict[str, dict] = {}
        shard: Dict[str, dict] = {}
        shard_jobs: set = set()

        def close_shard() -> None:
            if shard:
                name = f"qbt{len(definitions)}"
                definitions[name] = dict(shard)
                for job in shard_jobs:
                    engine.shards_of_job.setdefault(job, []).append(name)
                shard.clear()
                shard_jobs.clear()

        for index, branches in enumerate(resolved):
            if len(shard) + len(branches) > MAX_RULES_PER_SHARD:
                close_shard()
            for b, branch in enumerate(branches):
                names = [f"a{k}" for k in range(len(branch))]
                shard[f"r{index}_{b}"] = {
                    "all": [{n: _condition(c)} for n, c in zip(names, branch)],
                    "run": self._action(engine, index, names),
                }
                shard_jobs.update(c.job for c in branch)
        close_shard()
        # One ruleset at a time: create_ruleset is the step that can loop, and the worker's
        # progress line then says which shard it was.
        for name, definition in definitions.items():
            host.register_rulesets({name: definition})
        return engine

    @staticmethod
    def _action(engine: _Engine, index: int, names: List[str]) -> Any:
        last_fired = engine.last_fired
        fired = engine.fired

        def run(c: Any) -> None:
            # A combination counts only if every fact in it came after this callback's last firing.
            oldest = min(getattr(c, n)["seq"] for n in names)
            if oldest > last_fired[index]:
                last_fired[index] = engine.seq
                fired.append(index)

        return run

    def feed(self, engine: _Engine, events: list, mode: str, collect: bool) -> Any:
        from durable.engine import MessageNotHandledException

        host = engine.host
        shards_of_job = engine.shards_of_job
        fired = engine.fired
        out: List[tuple] = []
        count = 0
        for i, event in enumerate(events):
            name, type_, job, extra = split_event(event)
            shards = None if job is None else shards_of_job.get(job)  # a global event: no job
            if not shards:
                continue
            fact: Dict[str, Any] = {"kind": name, "type": type_, "job": job, "seq": i}
            if extra is not None:
                fact["frame"] = extra
            engine.seq = i
            for shard in shards:
                try:
                    host.assert_fact(shard, fact)
                except MessageNotHandledException:
                    pass  # no rule of this shard wants it: not an error for a matcher
            if fired:
                if collect:
                    out.extend((i, cb) for cb in sorted(set(fired)))
                count += len(set(fired))
                fired.clear()
        return out if collect else count

    def release(self, engine: _Engine) -> None:
        # The Python binding never deletes a ruleset: the C engine keeps them all for the life of
        # the process, and each registration after the first runs slower (see bench.worker).
        import durable_rules_engine

        for ruleset in engine.host._ruleset_list:
            durable_rules_engine.delete_ruleset(ruleset._handle)
        engine.host._ruleset_list.clear()
        engine.host._ruleset_directory.clear()

    def stats_bytes(self, engine: _Engine) -> Optional[int]:
        return None

