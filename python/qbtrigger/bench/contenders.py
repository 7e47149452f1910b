"""The contenders of ``qbtrigger bench``: one small adapter class per matcher, same interface.

A contender registers a :class:`~qbtrigger.workload.Workload` and feeds it events; with
``collect=True`` it returns its firings as ``(event index, callback index)`` pairs, the callback
index being the position in ``workload.callbacks`` (so handles, rule names and whatever else each
engine uses never need to agree); with ``collect=False`` it returns only how many fired, so the
timed passes measure the engine and not our bookkeeping.

Contenders are named by key (``native``, ``pure``, ``reference``, ``naive``, ``durable_rules``,
``rule-engine``) or by an import spec ``package.module:factory``, which is how a test injects one
that fires wrong into a worker process.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, List, Optional, Tuple

from qbtrigger.workload import Workload

__all__ = ["Contender", "BUILTIN", "DEFAULT_ORDER", "PEERS_HINT", "load_contender", "NetworkContender"]

Firings = List[Tuple[int, int]]
PEERS_HINT = "not installed (pip install 'qbtrigger[peers]')"


class Contender:
    """Base class: override :meth:`register` and :meth:`feed`; the rest has sensible defaults."""

    #: Row label in the table and legend in the plot.
    name: str = "?"
    #: Whether it promises to fire one event's callbacks in registration order (SPEC §4.3); if
    #: not, the check compares one event's firings as a set.
    ordered: bool = True
    #: Ways of feeding: "feed" (one event per call) and/or "feed_many" (the whole stream at once).
    modes: Tuple[str, ...] = ("feed_many",)
    #: Sizes above this are not run but extrapolated linearly in the number of callbacks from the
    #: largest size measured (the naive evaluator: its cost per event is the callback count).
    extrapolate_above: Optional[int] = None
    #: Runs in a worker process of its own even when the others run in-process (it may hang).
    needs_isolation: bool = False
    #: The optional package (a module to import) it needs: a peer of ``qbtrigger[peers]``.
    requires: Optional[str] = None

    def unavailable(self) -> Optional[str]:
        """Why it cannot run on this machine (a missing optional package), or None."""
        if self.requires is not None:
            try:
                importlib.import_module(self.requires)
            except ImportError:
                return PEERS_HINT
        return None

    def limit(self, n_callbacks: int) -> Optional[str]:
        """A known limit that stops it at this size before anything is tried, or None."""
        return None

    def register(self, workload: Workload) -> Any:
        raise NotImplementedError

    def feed(self, net: Any, events: list, mode: str, collect: bool) -> Any:
        raise NotImplementedError

    def release(self, net: Any) -> None:
        """Free what ``register`` made, for engines that keep it past their last reference."""

    def stats_bytes(self, net: Any) -> Optional[int]:
        """The engine's own account of its memory, where it has one."""
        return None


class NetworkContender(Contender):
    """Anything with qbtrigger's ``Network`` API: handle i+1 is ``workload.callbacks[i]`` on a fresh
    network, so handles map back to callback indices by subtraction."""

    def __init__(self, name: str, factory: Callable[[], Any], modes: Tuple[str, ...] = ("feed_many",),
                 extrapolate_above: Optional[int] = None) -> None:
        self.name = name
        self._factory = factory
        self.modes = modes
        self.extrapolate_above = extrapolate_above

    def unavailable(self) -> Optional[str]:
        try:
            self._cls = self._factory()
        except ImportError as exc:
            return f"cannot be imported: {exc}"
        return None

    def register(self, workload: Workload) -> Any:
        net = self._cls()
        handles = workload.register(net)
        if handles != list(range(1, len(handles) + 1)):
            raise RuntimeError(f"{self.name}: handles of a fresh network are not 1..n")
        return net

    def feed(self, net: Any, events: list, mode: str, collect: bool) -> Any:
        if mode == "feed_many":
            fired = net.feed_many(events)
            return [(i, h - 1) for i, h in fired] if collect else len(fired)
        feed = net.feed
        if collect:
            return [(i, h - 1) for i, e in enumerate(events) for h in feed(e)]
        count = 0
        for e in events:
            count += len(feed(e))
        return count

    def stats_bytes(self, net: Any) -> Optional[int]:
        stats = getattr(net, "stats", None)
        return None if stats is None else int(stats()["bytes"])


def _native() -> Any:
    from qbtrigger._native import Network

    return Network


def _pure() -> Any:
    from qbtrigger._pure import Network

    return Network


def _reference() -> Any:
    from qbtrigger.bench.reference import ReferenceNetwork

    return ReferenceNetwork


def _naive() -> Any:
    from qbtrigger.bench.naive import NaiveNetwork

    return NaiveNetwork


def _durable() -> Contender:
    from qbtrigger.bench.peer_durable import DurableRulesContender

    return DurableRulesContender()


def _rule_engine() -> Contender:
    from qbtrigger.bench.peer_rule_engine import RuleEngineContender

    return RuleEngineContender()


#: Built-in contenders by key, each a factory (importing a peer's adapter is cheap; importing the
#: peer itself happens in ``unavailable``).
BUILTIN: dict = {
    "native": lambda: NetworkContender("qbtrigger native", _native, ("feed", "feed_many")),
    "pure": lambda: NetworkContender("qbtrigger pure", _pure),
    "reference": lambda: NetworkContender("dict-indexed reference", _reference),
    # 1,000 callbacks x 1,485 events is ~1 s in the naive loop; 10k would be ~100x that.
    "naive": lambda: NetworkContender("naive re-evaluation", _naive, extrapolate_above=2_000),
    "durable_rules": _durable,
    "rule-engine": _rule_engine,
}
DEFAULT_ORDER = ("native", "pure", "reference", "naive", "durable_rules", "rule-engine")


def load_contender(spec: str) -> Contender:
    """A built-in key, or ``package.module:factory`` (a class or a function returning a contender)."""
    if spec in BUILTIN:
        return BUILTIN[spec]()
    module, sep, attr = spec.partition(":")
    if not sep:
        raise ValueError(f"unknown contender {spec!r}: expected one of {', '.join(BUILTIN)} or module:factory")
    factory = getattr(importlib.import_module(module), attr)
    contender = factory()
    if not isinstance(contender, Contender):
        raise TypeError(f"{spec} did not give a Contender")
    return contender
