"""What the bench reads about the machine and the process: RSS, peak RSS, free memory, CPU model."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from typing import Optional

__all__ = ["current_rss", "peak_rss", "available_memory", "machine", "today"]


def current_rss() -> Optional[int]:
    """Resident set size now, in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss() -> int:
    """The process's peak resident set size in bytes.

    ``VmHWM`` of /proc/self/status on Linux: ``ru_maxrss`` keeps the parent's peak across fork and
    exec there (a child of a big process would read its parent's figure); it is the fallback
    elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def available_memory() -> Optional[int]:
    """``MemAvailable`` in bytes (Linux), or None: what a peer may be allowed to take."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, cores, memory, Python, OS."""
    total = ""
    try:
        total = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        pass
    return (
        f"{cpu_model()}, {os.cpu_count()} cores{total}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def today() -> str:
    return time.strftime("%Y-%m-%d")
