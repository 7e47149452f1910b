"""The reference matcher now lives in the package (``qbtrigger.bench.reference``), so an installed
``qbtrigger bench`` has it; this module keeps the old import path working."""

from qbtrigger.bench.reference import ReferenceNetwork

__all__ = ["ReferenceNetwork"]
