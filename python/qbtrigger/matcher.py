"""Picks the matcher implementation: the C core through Cython, or the pure-Python twin.

``QBTRIGGER_PURE_PYTHON=1`` forces the twin; if the compiled module cannot be imported (no
compiler at install time, say) the twin is used too. ``implementation`` says which one is active:
``"native"`` or ``"pure"``.
"""

from __future__ import annotations

import os

if os.environ.get("QBTRIGGER_PURE_PYTHON", "") not in ("", "0"):
    from ._pure import Network

    implementation = "pure"
else:
    try:
        # The twins share one API (_native.pyi declares the pure twin's signatures), but they are
        # two classes: the checker types Network as the pure twin's, so this rebinding is ignored.
        from ._native import Network  # type: ignore[assignment]

        implementation = "native"
    except ImportError:
        from ._pure import Network

        implementation = "pure"

__all__ = ["Network", "implementation"]
