"""``python -m qbtrigger.cli``: the same command as ``qbtrigger`` and ``python -m qbtrigger``."""

import sys

from qbtrigger.cli import main

if __name__ == "__main__":
    sys.exit(main())
