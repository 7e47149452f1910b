"""qbtrigger's stand-in ``qb`` module, as ``$QBDIR/api/python/qb.py``.

While ``qbtrigger check|simulate|explain SCRIPT.py`` runs a submit script, ``import qb`` is answered
from ``sys.modules`` with the stand-in bound to that run, so this file is never executed there. It
is executed only when a process started outside such a run imports it (a submit script that starts
another Python process, say): that process has no farm to talk to, and says so.
"""

raise ImportError(
    "qbtrigger's stand-in qb module works only inside `qbtrigger check|simulate|explain SCRIPT.py` "
    "(this Python process was started outside it, e.g. by the submit script)"
)
