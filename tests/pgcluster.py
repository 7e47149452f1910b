"""A throw-away PostgreSQL cluster for the store tests (and for .ci/run).

    python tests/pgcluster.py start DIR   # initdb + pg_ctl start; prints the DSN
    python tests/pgcluster.py stop DIR

The cluster lives in ``DIR`` (its data in ``DIR/data``, its Unix socket in ``DIR``) and listens on
no TCP port. As root, initdb and pg_ctl run as the ``postgres`` system user (the server refuses to
run as root), so ``DIR`` is handed to that user. Authentication: ``trust`` for every role but
:data:`PASSWORD_ROLE`, which must give its password (the wrong-credentials test).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

#: The role the fault tests log in as with a password (``scram-sha-256``).
PASSWORD_ROLE = "qbtrigger_pw"
PASSWORD = "right-horse-battery"
PORT = 5432  # with a socket folder of our own, the port only names the socket file
_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin")


def find_bin() -> Optional[Path]:
    """The folder of initdb/pg_ctl (Debian's newest version first), or None."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted((Path(p) for pattern in _BIN_GLOBS for p in glob.glob(pattern)),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")], reverse=True)
    return next((p for p in found if (p / "initdb").exists() and (p / "pg_ctl").exists()), None)


def why_unavailable() -> Optional[str]:
    """None when a cluster can be started here, else why not."""
    if find_bin() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'qbtrigger[postgres]')"
    return None


def _as_server_user(argv: List[str]) -> List[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def reap_stale(parent: Path, prefix: str) -> None:
    """Stop and remove the clusters in ``parent/prefix*`` whose owning process is gone (a test
    session killed before its teardown would otherwise leave its server running)."""
    for folder in Path(parent).glob(prefix + "*"):
        try:
            owner = int((folder / "owner").read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or still being made
        try:
            os.kill(owner, 0)
            continue  # its session still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            Cluster(folder).stop()
        except Exception:  # noqa: BLE001 - gone already, or broken: remove it anyway
            pass
        shutil.rmtree(folder, ignore_errors=True)


def dsn(folder: Path, dbname: str = "postgres", user: str = "postgres") -> str:
    return f"postgresql://{user}@/{dbname}?host={folder}&port={PORT}"


class Cluster:
    """A cluster in ``folder``: :meth:`start`, :meth:`restart`, :meth:`stop`."""

    def __init__(self, folder: Path, owner: Optional[int] = None) -> None:
        self.folder = Path(folder).resolve()
        #: the process whose end makes the cluster stale (see :func:`reap_stale`); None: this one
        self.owner = os.getpid() if owner is None else owner
        self.data = self.folder / "data"
        bindir = find_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found")
        self.bin = bindir

    @property
    def dsn(self) -> str:
        return dsn(self.folder)

    def _run(self, *argv: str) -> None:
        done = subprocess.run(_as_server_user([str(self.bin / argv[0]), *argv[1:]]), text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed in {self.folder} (status {done.returncode}): {done.stderr.strip()}")

    def start(self) -> "Cluster":
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)  # its parents must let that user in
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions")
            with open(self.data / "pg_hba.conf", "w") as hba:
                hba.write(f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")
            with open(self.data / "postgresql.auto.conf", "a") as conf:
                conf.write(f"listen_addresses = ''\nunix_socket_directories = '{self.folder}'\n"
                           f"port = {PORT}\nfsync = off\nmax_connections = 60\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60", "start")
        (self.folder / "owner").write_text(str(self.owner))
        self._ensure_password_role()
        return self

    def _ensure_password_role(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,)).fetchone() is None:
                conn.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'")

    def restart(self) -> None:
        """Stop the server (fast: sessions are cut) and start it again."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "60",
                  "-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", "immediate", "stop")


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    cluster = Cluster(Path(argv[1]), owner=os.getppid())  # the script that started it owns it
    if argv[0] == "start":
        reason = why_unavailable()
        if reason:
            print(f"pgcluster: {reason}", file=sys.stderr)
            return 1
        print(cluster.start().dsn)
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
