"""Memory per callback of one implementation, measured in a process of its own:

    python -m benchmarks.memory IMPL N      (IMPL: c, py or ref; N: 1000, 10k, 1M...)

prints one JSON object: the growth of peak RSS and of current RSS across the registration of
``two_atom_workload(N)``, both per callback, and ``stats()['bytes']`` per callback where the
implementation has ``stats``. The workload is generated before the first reading, so only the
network's own memory is counted.

Peak RSS is ``VmHWM`` of /proc/self/status on Linux: ``resource.getrusage``'s ``ru_maxrss`` would
do elsewhere, but on Linux it keeps the parent's peak across fork and exec (so a child of a big
pytest process reads the parent's figure); it is the fallback off Linux.
"""

from __future__ import annotations

import gc
import json
import sys

from benchmarks._impls import network_class
from qbtrigger.bench.system import current_rss, peak_rss
from qbtrigger.workload import parse_size, two_atom_workload


def measure(impl_id: str, n: int) -> dict:
    cls = network_class(impl_id)
    workload = two_atom_workload(n)
    gc.collect()
    peak0 = peak_rss()
    rss0 = current_rss()
    net = workload.network(cls)
    gc.collect()
    peak1 = peak_rss()
    rss1 = current_rss()
    n = max(n, 1)
    result = {
        "impl": impl_id,
        "callbacks": len(net),
        "peak_rss_bytes_per_callback": (peak1 - peak0) / n,
        "rss_bytes_per_callback": None if rss0 is None or rss1 is None else (rss1 - rss0) / n,
        "stats_bytes_per_callback": None,
    }
    if hasattr(net, "stats"):
        result["stats_bytes_per_callback"] = net.stats()["bytes"] / n
    return result


def main(argv: list | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m benchmarks.memory IMPL N   (IMPL: c, py or ref)", file=sys.stderr)
        return 2
    print(json.dumps(measure(args[0], parse_size(args[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
