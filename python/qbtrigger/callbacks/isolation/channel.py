"""The narrow channel between the supervisor and a python worker: framed messages on two pipes
(standard library only: imported by file in the worker too).

A frame is a 4-byte big-endian length and that many bytes. The supervisor writes ``marshal``
data (plain values only: the worker can rebuild nothing but str, int, list, dict...); the worker
writes JSON, which the supervisor decodes without running any of the worker's code. A frame
over :data:`MAX_FRAME` bytes, or one that does not decode, is a protocol fault: the supervisor
drops that worker.

Messages (first item = kind):

- supervisor -> worker: ``("run", code_id, code or None, jobid, count, event, firing_id, admin)``
  (``event``: None or the tuple of ``qb.event()``'s values, in the worker's ``_EVENT_KEYS`` order;
  the code only the first time that worker meets it);
  ``("reply", ok, value_or_error)`` answering a ``call``; ``("exit",)``.
- worker -> supervisor: ``["ready", pid]``; ``["call", pending, [name, args, kwargs]]``;
  ``["done", pending, output]``. ``pending`` holds the actions the worker sent ahead
  (``[name, args, kwargs, line]``), applied in order before the call or the end.
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import List, Optional

__all__ = ["MAX_FRAME", "ChannelClosed", "ChannelTimeout", "FrameReader", "frame"]

#: The largest frame either side accepts (a callback's output is cut well below it).
MAX_FRAME = 64 << 20
_HEADER = struct.Struct("!I")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


#: How long a reader polls before it sleeps in the kernel. A firing is one round trip and the
#: answer usually comes within tens of microseconds; a side that sleeps instead must be woken by
#: the other CPU, which on a virtual machine costs more than the whole firing (measured: 3 k
#: firings/s sleeping, 20 k/s polling first; docs/callbacks.md). Bounded, so an idle worker or a
#: slow callback costs at most this much CPU per message; nothing on a single CPU, where polling
#: only delays the other side.
SPIN_SECONDS = 0.0005 if _cpus() > 1 else 0.0


class ChannelClosed(EOFError):
    """The other end closed its pipe (the process died) or broke the framing."""


class ChannelTimeout(TimeoutError):
    """No whole frame came before the deadline."""


def frame(payload: bytes) -> bytes:
    """``payload`` with its length header."""
    return _HEADER.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FrameReader:
    """Reads frames from one pipe, buffering what came ahead."""

    __slots__ = ("fd", "_buffer", "_poll")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._poll: Optional[select.poll] = None

    def _take(self) -> Optional[bytes]:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        (size,) = _HEADER.unpack_from(buffer)
        if size > MAX_FRAME:
            raise ChannelClosed(f"a frame of {size} bytes (the limit is {MAX_FRAME})")
        end = 4 + size
        if len(buffer) < end:
            return None
        payload = bytes(buffer[4:end])
        del buffer[:end]
        return payload

    def read(self, deadline: Optional[float] = None) -> bytes:
        """The next frame's payload. ``deadline`` (a ``time.monotonic()`` value) bounds the wait;
        None waits for ever. Raises :class:`ChannelClosed` or :class:`ChannelTimeout`."""
        while True:
            if self._buffer:
                payload = self._take()
                if payload is not None:
                    return payload
            if self._poll is None:
                self._poll = select.poll()
                self._poll.register(self.fd, select.POLLIN)
            ready = False
            if SPIN_SECONDS:
                poll, now = self._poll.poll, time.monotonic
                until = now() + SPIN_SECONDS
                while not (ready := bool(poll(0))) and now() < until:
                    pass
            if deadline is not None and not ready:
                left = deadline - time.monotonic()
                if left <= 0 or not self._poll.poll(max(1, int(left * 1000) + 1)):
                    if time.monotonic() >= deadline:
                        raise ChannelTimeout()
                    continue
            data = os.read(self.fd, 1 << 16)
            if not data:
                raise ChannelClosed("the pipe was closed")
            if not self._buffer and len(data) >= 4 and _HEADER.unpack_from(data)[0] == len(data) - 4:
                return data[4:]  # the usual case: exactly one whole frame
            self._buffer += data

    def pending(self) -> List[bytes]:
        """Whole frames already buffered (no waiting)."""
        out = []
        while (payload := self._take()) is not None:
            out.append(payload)
        return out
