"""The farm's hosts, as far as the reference supervisor knows them: names (the simulator's
virtual workers register theirs) and which items each one runs, for ``qb.hostinfo``."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Tuple

from ..vocabulary import RUNNING
from .farm import Farm

__all__ = ["Hosts"]


class Hosts:
    """Host names, and the host each running item was placed on."""

    def __init__(self) -> None:
        self._hosts: Dict[str, Dict[str, Any]] = {}
        self._placed: Dict[Tuple[int, int], str] = {}  # (jobid, work index) -> host

    def register(self, names: Iterable[str]) -> None:
        for name in names:
            self._hosts.setdefault(str(name), {"name": str(name), "state": "active"})

    def place(self, jobid: int, idx: int, host: str) -> None:
        self._placed[(jobid, idx)] = host

    def info(self, farm: Farm, criteria: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Each host's ``name``, ``state`` and ``subjobs`` (``{"id", "work", "subjob"}`` of the
        items running there), those matching every ``field=value`` of ``criteria``, by name."""
        running: Dict[str, List[Dict[str, Any]]] = {}
        for (jobid, idx), where in list(self._placed.items()):
            j = farm.jobs.get(jobid)
            if j is None or j.removed or j.state[idx] != RUNNING:
                del self._placed[(jobid, idx)]  # that run is over
                continue
            item = {"id": jobid, "work": j.names[idx], "subjob": idx if j.anonymous else None}
            running.setdefault(where, []).append(item)
        out = []
        for name in sorted(self._hosts):
            host = dict(self._hosts[name], subjobs=running.get(name, []))
            if all(host.get(key) == value for key, value in criteria.items()):
                out.append(host)
        return out
