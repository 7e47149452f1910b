"""``python -m qbtrigger``: the same command as the ``qbtrigger`` console script."""

import sys

from qbtrigger.cli import main

if __name__ == "__main__":
    sys.exit(main())
