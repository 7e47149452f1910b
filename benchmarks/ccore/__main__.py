import sys

from benchmarks.ccore import main

sys.exit(main())
