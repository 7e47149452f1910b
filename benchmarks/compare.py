"""``python -m benchmarks.compare`` is ``qbtrigger bench``: the comparison moved into the package
(``qbtrigger.bench``) so that it runs from an installed qbtrigger. Same arguments::

    python -m benchmarks.compare [--sizes 1k,10k,100k,1M] [--runs 3] [--quick] [--out DIR] [--soak MIN]

``--no-memory``, a switch of the old script, is accepted and ignored: memory per callback is now a
column of the one table (RSS growth in a fresh process per contender).
"""

from __future__ import annotations

import sys
from typing import Optional

from qbtrigger.bench.run import main as _main


def main(argv: Optional[list] = None) -> int:
    args = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--no-memory"]
    return _main(args)


if __name__ == "__main__":
    sys.exit(main())
