"""What made a state change happen: the callback that acted and the event that fired it, a time
trigger, a job's ``dependency``, catch-up at submission, the farm itself, or a direct call.

The supervisor knows it at the moment of the change (the engine says which firing is running,
:attr:`CallbackEngine.running`; :meth:`Supervisor.act` knows the verb), so a listener asks
:meth:`Supervisor.cause` while it is being told of an event. Reports then name the real cause
rather than whichever event happened to come before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..callbacks import Firing

__all__ = ["Cause", "CALLBACK", "CLOCK", "CATCH_UP", "FARM", "CALLER", "cause_of"]

#: A callback acted, fired by an event.
CALLBACK = "callback"
#: A callback acted, fired by its time trigger (the clock).
CLOCK = "clock"
#: A callback acted, fired at registration because what it waits for had already happened.
CATCH_UP = "catch-up"
#: The farm's own rules: a worker started or finished an item, a retry delay or a time limit.
FARM = "farm"
#: A direct call of the supervisor's API (a submit script's ``qb``, a program), no callback.
CALLER = "caller"

#: How the clock's firings name their event (``dummy-globaltime-T``).
_CLOCK_EVENT = "dummy-globaltime-"


@dataclass(frozen=True)
class Cause:
    """Why one event happened. ``verb``: the action that changed the state (``unblock``...), None
    when the farm's own rules did. ``jobid``/``callback``/``origin``: the callback that acted
    (its owner, :meth:`Callback.describe`, and 'job', 'dependency', 'universal' or 'global').
    ``event``: the event that fired it (``dummy-globaltime-T`` for a time trigger)."""

    kind: str
    verb: Optional[str] = None
    jobid: Optional[int] = None
    callback: Optional[str] = None
    origin: Optional[str] = None
    event: Optional[str] = None

    def describe(self, title: Callable[[int], str]) -> str:
        """A short phrase for reports, naming jobs with ``title(jobid)``: "comp's dependency, on
        complete-work-1-2", "lighting's callback 1, on its time trigger (Qube time 100)"."""
        if self.kind == FARM:
            return "the farm (a worker, a retry delay or a time limit)"
        if self.kind == CALLER:
            return f"a direct {self.verb or 'call'} (no callback)"
        if self.origin == "global":
            who = str(self.callback)
        elif self.origin == "dependency":
            who = f"{title(self.jobid or 0)}'s dependency"
        else:
            who = f"{title(self.jobid or 0)}'s {self.callback}"
        if self.kind == CLOCK:
            moment = (self.event or "")[len(_CLOCK_EVENT):]
            return f"{who}, on its time trigger (Qube time {moment})"
        if self.kind == CATCH_UP:
            return f"{who}, at submission ({self.event} had already happened)"
        return f"{who}, on {self.event}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "verb": self.verb, "job": self.jobid, "callback": self.callback,
                "origin": self.origin, "event": self.event}


def cause_of(running: Optional[Firing], catching_up: bool, verb: Optional[str]) -> Cause:
    """The cause of a change made now: by the running firing (if any) with ``verb``."""
    if running is None:
        return Cause(CALLER if verb is not None else FARM, verb)
    callback = running.callback
    if catching_up:
        kind = CATCH_UP
    elif running.event is not None and running.event.startswith(_CLOCK_EVENT):
        kind = CLOCK
    else:
        kind = CALLBACK
    return Cause(kind, verb, callback.jobid, callback.describe(), callback.origin, running.event)
