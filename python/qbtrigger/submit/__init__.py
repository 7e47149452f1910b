"""Submit scripts, run unmodified: the stand-in ``qb`` they import and the farm it acts on.

A pipeline engineer's submit script (Python or Perl) builds Qube jobs and calls ``qb.submit``.
``qbtrigger check``, ``simulate`` and ``explain`` run it as ``python script.py`` / ``perl
script.pl`` would, with a stand-in ``qb`` module that sends what the script does to a farm:

- :mod:`.load`: what a file submits, by its extension (``.py``, ``.pl``/``.pm``, ``.json``/``.qja``);
- :mod:`.script`: running a Python script (``__main__``, ``sys.argv``, ``sys.path``, ``QBDIR``, syntax
  errors with a caret, ``qb`` without ``import qb``);
- :mod:`.perl`: running a Perl script, its ``qb::`` calls answered over the perl bridge;
- :mod:`.qbmodule`: the stand-in (:class:`StandIn`), one implementation for both languages;
- :mod:`.objects`: ``qb.Job``, ``qb.Work``, ``qb.Callback``, ``qb.Subjob``, ``qb.Host``;
- :mod:`.ranges`: ``genframes``, ``genchunks``, ``genpartitions`` and the ``range*`` helpers;
- :mod:`.target`: the :class:`Target` interface and its implementations: the reference supervisor
  (``simulate``), the checker (``check``, ``explain``) and a bare ``on_submit`` callable;
- ``qbdir/``: the folder ``QBDIR`` names while a script runs (``api/python/qb.py``, ``api/perl/qb.pm``).
"""

from __future__ import annotations

from .errors import QbError, QbPermissionError, SubmitScriptError
from .load import JSON_SUFFIXES, SCRIPT_LANGUAGES, default_user, load_submissions, run_script, script_language
from .objects import Callback, Host, Job, QBObject, Subjob, Work
from .qbmodule import QB_API_BINARY, QB_API_XML, QB_TIME_EPOCH_OFFSET, StandIn
from .ranges import binary_sort, genchunks, genframes, genpartitions, rangechunk, rangepartition, rangesplit
from .script import QBDIR
from .target import CheckTarget, OnSubmit, RecordingTarget, SupervisorTarget, Target

__all__ = [
    "SubmitScriptError", "QbError", "QbPermissionError",
    "load_submissions", "run_script", "script_language", "default_user", "SCRIPT_LANGUAGES", "JSON_SUFFIXES",
    "StandIn", "QB_TIME_EPOCH_OFFSET", "QB_API_XML", "QB_API_BINARY", "QBDIR",
    "Job", "Work", "Callback", "Subjob", "Host", "QBObject",
    "genframes", "genchunks", "genpartitions", "rangesplit", "rangechunk", "rangepartition", "binary_sort",
    "Target", "SupervisorTarget", "CheckTarget", "RecordingTarget", "OnSubmit",
]
