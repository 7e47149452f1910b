"""Loader of the C floor (floor.c, shipped as package data): compiled with ``cc -O2 -shared -fPIC`` into a temporary directory
the first time it is needed, then called through ctypes, once per measured run.

    floor = load()                        # FloorUnavailable if there is no C compiler
    ns, hits = floor.run(events, keys)    # ns per event, events that hit a key
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

__all__ = ["Floor", "FloorUnavailable", "load"]

#: The C source travels inside the package (setup.cfg package_data), so an installed
#: ``qbtrigger bench`` can build it without the repository.
SOURCE = Path(__file__).with_name("floor.c")


class FloorUnavailable(RuntimeError):
    pass


class Floor:
    def __init__(self, lib: ctypes.CDLL, path: str) -> None:
        self.path = path
        self._lib = lib  # keeps the library loaded
        self._run = lib.qbt_floor_run
        self._run.restype = ctypes.c_double
        self._run.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_uint64),
        ]

    def run(self, events: list, keys: list) -> tuple:
        """Feed ``events`` through the floor loop; returns (ns per event, number of key hits)."""
        ev = "\n".join(events).encode()
        ks = "\n".join(keys).encode()
        out = (ctypes.c_uint64 * 3)()
        ns = self._run(ev, len(ev), ks, len(ks), out)
        if ns < 0:
            raise MemoryError("the C floor could not allocate its key table")
        if out[0] != len(events):
            raise RuntimeError(f"the C floor saw {out[0]} events, expected {len(events)}")
        if out[1] == 2**64 - 1:
            raise RuntimeError("the C floor's counters do not add up")
        return ns, int(out[1])


_loaded: Optional[Floor] = None


def load() -> Floor:
    """Compile floor.c (once per process) and load it."""
    global _loaded
    if _loaded is not None:
        return _loaded
    cc = shlex.split(os.environ.get("CC", "cc"))
    if shutil.which(cc[0]) is None:
        raise FloorUnavailable(f"no C compiler ({cc[0]!r} not found)")
    tmp = tempfile.mkdtemp(prefix="qbtrigger-floor-")
    atexit.register(shutil.rmtree, tmp, True)
    lib_path = os.path.join(tmp, "libqbtfloor.so")
    cmd = [*cc, "-O2", "-std=c11", "-shared", "-fPIC", str(SOURCE), "-o", lib_path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FloorUnavailable(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    _loaded = Floor(ctypes.CDLL(lib_path), lib_path)
    return _loaded
