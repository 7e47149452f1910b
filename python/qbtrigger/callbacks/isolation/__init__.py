"""Python callbacks in worker processes of their own (issue 13): the pool on the supervisor's
side (:mod:`.pool`), the channel (:mod:`.channel`), and the programs that run in the workers
(:mod:`.warden`, :mod:`.executor`, :mod:`.reaper`; standard library only). See docs/callbacks.md,
"Isolation"."""

from .pool import CallbackLimits, DeathLedger, WorkerPool, firing_key

__all__ = ["CallbackLimits", "DeathLedger", "WorkerPool", "firing_key"]
