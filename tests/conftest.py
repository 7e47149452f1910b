"""Shared fixtures: the implementation under test, and hypothesis profiles.

Every matcher test takes the ``impl`` fixture, the ``Network`` class of one twin:

- ``c``: ``qbtrigger._native`` (the C core behind Cython). It must be importable: a missing or
  broken build FAILS these tests, unless ``QBTRIGGER_ALLOW_NO_NATIVE=1`` (then they are skipped,
  which is handy while the C core is being written);
- ``py``: ``qbtrigger._pure``, the pure-Python twin.

With ``QBTRIGGER_PURE_PYTHON=1`` only ``py`` is collected (as CI does in its second run).

Hypothesis profiles: ``dev`` (the default, small and quick) and ``ci`` (loaded when ``CI`` is set,
or pick one with ``--hypothesis-profile=NAME`` / ``HYPOTHESIS_PROFILE=NAME``).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


PURE_ONLY = _env_flag("QBTRIGGER_PURE_PYTHON")
ALLOW_NO_NATIVE = _env_flag("QBTRIGGER_ALLOW_NO_NATIVE")
IMPL_IDS = ["py"] if PURE_ONLY else ["c", "py"]
#: For the semantic tests, which also check the referee (tests/oracle.py) against hand-made cases.
IMPL_IDS_AND_ORACLE = [*IMPL_IDS, "oracle"]

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=40, **_COMMON)
settings.register_profile("ci", max_examples=300, print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _env_flag("CI") else "dev"))


def load_network_class(impl_id: str):
    """The Network class of ``c``, ``py`` or ``oracle``; ``c`` fails (or skips, if allowed) when not built."""
    if impl_id == "py":
        from qbtrigger._pure import Network

        return Network
    if impl_id == "oracle":
        from oracle import Network

        return Network
    try:
        from qbtrigger._native import Network
    except ImportError as exc:
        reason = f"qbtrigger._native cannot be imported: {exc}"
        if ALLOW_NO_NATIVE:
            pytest.skip(reason + " (QBTRIGGER_ALLOW_NO_NATIVE=1)")
        pytest.fail(
            reason + " (set QBTRIGGER_ALLOW_NO_NATIVE=1 to skip, QBTRIGGER_PURE_PYTHON=1 for py only)"
        )
    return Network


@pytest.fixture(scope="session", params=IMPL_IDS)
def impl(request):
    """The ``Network`` class of the twin under test (ids ``c`` and ``py``)."""
    return load_network_class(request.param)


# ---------------------------------------------------------------------------------------------
# Job stores: the store, supervisor and resume tests run on SQLite and on PostgreSQL.
#
# PostgreSQL is a real server: the cluster .ci/run started (QBTRIGGER_TEST_PG_DSN, and
# QBTRIGGER_TEST_PG_DIR its folder, for the restart test), else a throw-away cluster this session
# starts itself (tests/pgcluster.py) and stops at its end. Each test gets fresh databases. Where
# PostgreSQL cannot run the tests skip with the reason; under CI a skip would hide them: they fail.

STORES = ["sqlite", "postgres"]
IN_CI = _env_flag("CI")


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"PostgreSQL store tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL store tests: {reason}")


class PgServer:
    """The test cluster: ``admin_dsn``, :meth:`database` (a fresh one), :meth:`restart`."""

    def __init__(self, admin_dsn: str, cluster=None) -> None:
        self.admin_dsn = admin_dsn
        self.cluster = cluster
        self._count = 0

    def dsn(self, dbname: str, user: str = None, password: str = None) -> str:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        if user:
            params["user"] = user
        if password is not None:
            params["password"] = password
        # back to a URI, as users write them (and as open_store recognises them)
        host = params.pop("host", "")
        port = params.pop("port", "")
        who = params.pop("user", "")
        secret = params.pop("password", None)
        name = params.pop("dbname")
        auth = f"{who}{':' + secret if secret is not None else ''}@" if who else ""
        query = "&".join(f"{k}={v}" for k, v in [("host", host), ("port", port), *params.items()] if v)
        return f"postgresql://{auth}/{name}{'?' + query if query else ''}"

    def database(self) -> str:
        """A new empty database; its DSN."""
        import psycopg

        self._count += 1
        name = f"qbt_{os.getpid()}_{self._count}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def drop(self, dsn: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        name = conninfo_to_dict(dsn)["dbname"]
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _control(self):
        if self.cluster is None:
            _unavailable("the cluster's folder is unknown (set QBTRIGGER_TEST_PG_DIR): it cannot be restarted")
        return self.cluster

    def restart(self) -> None:
        self._control().restart()

    def stop(self) -> None:
        self._control().stop()

    def start(self) -> None:
        self._control().start()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """The PostgreSQL server of this test session (see above)."""
    import tempfile

    from pathlib import Path

    from pgcluster import Cluster, reap_stale, why_unavailable

    reason = why_unavailable()
    if reason:
        _unavailable(reason)
    folder = os.environ.get("QBTRIGGER_TEST_PG_DIR")
    dsn = os.environ.get("QBTRIGGER_TEST_PG_DSN")
    if dsn or folder:
        cluster = Cluster(folder) if folder else None
        yield PgServer(dsn or cluster.dsn, cluster)
        return
    # a folder of its own under the system's temp dir: pytest's own are closed to the server's user
    reap_stale(Path(tempfile.gettempdir()), "qbtrigger-pg-")
    cluster = Cluster(tempfile.mkdtemp(prefix="qbtrigger-pg-"))
    try:
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - any failure to start is the reason to skip (or fail)
        _unavailable(f"could not start a throw-away cluster: {exc}")
    try:
        yield PgServer(cluster.dsn, cluster)
    finally:
        cluster.stop()
        import shutil

        shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture
def pg_databases(pg_server):
    """``make()`` -> the DSN of a new empty database (dropped after the test)."""
    made = []

    def make() -> str:
        made.append(pg_server.database())
        return made[-1]

    yield make
    for dsn in made:
        pg_server.drop(dsn)


@pytest.fixture(params=STORES)
def new_store_db(request, tmp_path):
    """``make()`` -> a ``db`` argument naming a new store: a SQLite file, or a fresh PostgreSQL
    database (ids ``sqlite`` and ``postgres``)."""
    if request.param == "sqlite":
        count = iter(range(1, 1 << 30))
        return lambda: tmp_path / f"farm{next(count)}.db"
    return request.getfixturevalue("pg_databases")


@pytest.fixture
def store_db(new_store_db):
    """A ``db`` argument naming one new store, on each backend (see :func:`new_store_db`)."""
    return new_store_db()
