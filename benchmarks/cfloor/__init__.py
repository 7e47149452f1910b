"""The C floor now lives in the package (``qbtrigger.bench.floor``, floor.c as package data), so
an installed ``qbtrigger bench`` can build it; this module keeps the old import path working."""

from qbtrigger.bench.floor import SOURCE, Floor, FloorUnavailable, load

__all__ = ["SOURCE", "Floor", "FloorUnavailable", "load"]
