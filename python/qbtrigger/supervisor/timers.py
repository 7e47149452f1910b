"""The supervisor's own clock work: time limits and retry delays, due at Qube times.

Two kinds of timer:

- a **time limit** (``"work"``: a frame over its job's ``agenda_timeout``; ``"subjob"``: an
  instance over the job's ``timeout``). Qube checks its limits about every
  :data:`CHECK_EVERY` seconds, so a limit is found at the first check at or after it runs out.
  The checks are counted from ``origin`` (the moment the farm began: the supervisor's first
  clock), so a run repeated with the same seed finds them at the same moments whatever the wall
  clock said when it started: a frame that started at T with a limit L is found at
  ``origin + ceil((T + L - origin) / 15) * 15``. Each run is timed once: a timer is live while its
  item is still in the run it was started for (``token``);
- a **retry delay** (``"retry"``): a failed frame waiting ``retrywork_delay`` seconds before its
  retry, released at exactly that moment.

:class:`Timers` only keeps them in time order and says which are due; :class:`FarmTimers`
ties them to a farm: it starts them when the farm says a timed run starts or a frame waits, and
turns a due one into what it means (a ``timeout-`` event, a frame pending again). The state is
saved with every commit, so a resumed run has the same timers.
"""

from __future__ import annotations

import heapq
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..vocabulary import TIMEOUT, WAITING
from .farm import Farm, Job

__all__ = ["Timers", "FarmTimers", "Timer", "CHECK_EVERY", "WORK_LIMIT", "SUBJOB_LIMIT", "RETRY"]

#: Seconds between two of Qube's checks of time limits.
CHECK_EVERY = 15
WORK_LIMIT, SUBJOB_LIMIT, RETRY = "work", "subjob", "retry"

#: (moment, sequence, kind, job id, index, token): token is the moment the timed run started (or
#: the moment a retry delay ends).
Timer = Tuple[int, int, str, int, int, int]


class Timers:
    """Timers in time order; the live time limits by item."""

    def __init__(self) -> None:
        #: The moment checks are counted from (see the module docstring).
        self.origin = 0
        self._heap: List[Timer] = []
        self._runs: Dict[Tuple[str, int, int], int] = {}  # (kind, jobid, index) -> run start
        self._seq = 0
        self.changed = False  # since the last state() was taken

    def limit(self, kind: str, jobid: int, index: int, started: int, seconds: int) -> None:
        """Time a run that started at ``started`` against a limit of ``seconds``."""
        self._runs[(kind, jobid, index)] = started
        after = started + seconds - self.origin
        self._push((self.origin - (-after // CHECK_EVERY) * CHECK_EVERY, kind, jobid, index, started))

    def stop(self, kind: str, jobid: int, index: int) -> None:
        """The run is over (its timer, if any, goes stale)."""
        if self._runs.pop((kind, jobid, index), None) is not None:
            self.changed = True

    def retry_at(self, jobid: int, index: int, moment: int) -> None:
        self._push((moment, RETRY, jobid, index, moment))

    def live(self, timer: Timer) -> bool:
        _, _, kind, jobid, index, token = timer
        return kind == RETRY or self._runs.get((kind, jobid, index)) == token

    def __bool__(self) -> bool:
        """Whether any timer (live or stale) is kept."""
        return bool(self._heap)

    def next_moment(self, still_waits: Callable[[int, int], bool]) -> Optional[int]:
        """The moment of the first live timer (stale ones are dropped on the way);
        ``still_waits(jobid, index)`` says whether a retry timer's item still waits."""
        heap = self._heap
        while heap and not self._wanted(heap[0], still_waits):
            heapq.heappop(heap)
            self.changed = True
        return heap[0][0] if heap else None

    def pop_due(self, now: int, still_waits: Callable[[int, int], bool]) -> Optional[Timer]:
        """The first live timer due by ``now``, taken off (a time limit is then over), or None."""
        moment = self.next_moment(still_waits)
        if moment is None or moment > now:
            return None
        timer = heapq.heappop(self._heap)
        self.changed = True
        if timer[2] != RETRY:
            del self._runs[(timer[2], timer[3], timer[4])]
        return timer

    def state(self) -> List[List[Any]]:
        """The live timers, to save."""
        self.changed = False
        return [list(t) for t in sorted(t for t in self._heap if self.live(t))]

    def restore(self, saved: List[List[Any]]) -> None:
        self._heap = [(int(m), int(s), str(k), int(j), int(i), int(tok)) for m, s, k, j, i, tok in saved]
        heapq.heapify(self._heap)
        self._runs = {(t[2], t[3], t[4]): t[5] for t in self._heap if t[2] != RETRY}
        self._seq = max((t[1] for t in self._heap), default=0)
        self.changed = False

    def _push(self, entry: Tuple[int, str, int, int, int]) -> None:
        self._seq += 1
        moment, kind, jobid, index, token = entry
        heapq.heappush(self._heap, (moment, self._seq, kind, jobid, index, token))
        self.changed = True

    def _wanted(self, timer: Timer, still_waits: Callable[[int, int], bool]) -> bool:
        if timer[2] == RETRY:
            return still_waits(timer[3], timer[4])
        return self.live(timer)


class FarmTimers(Timers):
    """Timers kept for a :class:`Farm` (whose hooks it takes) on a clock read through ``now``."""

    def __init__(self, farm: Farm, now: Callable[[], int]) -> None:
        super().__init__()
        self._farm = farm
        self._now = now
        farm.on_running = self._running
        farm.on_waiting = self._waiting

    def next_moment(self, still_waits: Optional[Callable[[int, int], bool]] = None) -> Optional[int]:
        return super().next_moment(still_waits or self._still_waits)

    def fire(self, moment: int) -> List[str]:
        """Take the first timer due by ``moment`` and do what it means; the events it causes."""
        timer = self.pop_due(moment, self._still_waits)
        if timer is None:
            return []
        _, _, kind, jobid, index, _ = timer
        j = self._farm.jobs[jobid]
        out: List[str] = []
        if kind == RETRY:
            self._farm.release_waiting(j, index, out)
        elif kind == WORK_LIMIT:
            out.append(f"{TIMEOUT}-work-{jobid}-{j.names[index]}")
        else:
            out.append(f"{TIMEOUT}-subjob-{jobid}-{index}")
        return out

    def _running(self, j: Job, kind: str, index: int, running: bool) -> None:
        limit = j.data.get("agenda_timeout" if kind == WORK_LIMIT else "timeout")
        if running and limit:
            self.limit(kind, j.id, index, self._now(), int(limit))
        else:
            self.stop(kind, j.id, index)

    def _waiting(self, j: Job, idx: int) -> None:
        self.retry_at(j.id, idx, self._now() + int(j.retry_delay))

    def _still_waits(self, jobid: int, idx: int) -> bool:
        j = self._farm.jobs.get(jobid)
        return j is not None and not j.removed and j.state[idx] == WAITING
