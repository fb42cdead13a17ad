"""``health_check()`` and ``matrx-orm dbcheck --health`` against the live test server and dead ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from _pgserver import with_database

from matrx_orm import (
    ConfigurationError,
    DatabaseProjectConfig,
    HealthStatus,
    capture_queries,
    dispose_all,
    health_check,
    register_database,
    unregister_database,
)
from matrx_orm.cli import main
from matrx_orm.config import get_all_database_project_names

CLOSED_PORT_URL = "postgresql://nobody:s3cret-pw@127.0.0.1:1/x"


@pytest.fixture
def project() -> Iterator[list[str]]:
    """Names registered by the test (appended by it), unregistered at the end."""
    names: list[str] = []
    yield names
    for name in names:
        if name in get_all_database_project_names():
            unregister_database(name)


def _register(names: list[str], name: str, url: str, **options: Any) -> str:
    register_database(DatabaseProjectConfig(name=name, url=url, **options))
    names.append(name)
    return name


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers; yields the port."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in accepted:
            writer.close()  # the half-made connection the check left behind now fails at once
        await server.wait_closed()
        await asyncio.sleep(0.05)
        await dispose_all()


async def test_live_server(db: str, pg_url: str, has_pgvector: bool) -> None:
    with capture_queries() as log:
        status = await health_check(db)
    assert isinstance(status, HealthStatus)
    assert status.ok is True and status.error is None
    assert status.latency_ms is not None and status.latency_ms > 0
    connection = await asyncpg.connect(pg_url)
    try:
        version = await connection.fetchval("SHOW server_version")
        installed = dict(await connection.fetch("SELECT extname, extversion FROM pg_extension"))
    finally:
        await connection.close()
    assert status.server_version is not None and status.server_version == version.split()[0]
    assert status.server_version[0].isdigit() and "." in status.server_version
    assert status.in_recovery is False
    assert status.extensions == installed
    assert status.extensions["plpgsql"]
    if has_pgvector:
        assert "vector" in status.extensions
    assert len(log.on(db)) == 1  # one statement, through the executor
    with pytest.raises(AttributeError):
        status.ok = False  # type: ignore[misc]  # frozen


async def test_closed_port_reports_the_failure(project: list[str]) -> None:
    name = _register(project, "health_closed_port", CLOSED_PORT_URL)
    status = await health_check(name)
    assert status.ok is False
    assert status.error is not None and "\n" not in status.error
    assert "cannot connect to postgresql://nobody:********@127.0.0.1:1/x" in status.error
    assert "Connect call failed" in status.error or "refused" in status.error.lower()
    assert "s3cret-pw" not in status.error
    assert status.latency_ms is None and status.server_version is None and status.extensions == {}


async def test_missing_database_reports_the_failure(pg_url: str, project: list[str]) -> None:
    name = _register(project, "health_missing_db", with_database(pg_url, "matrx_health_no_such_db"))
    status = await health_check(name)
    assert status.ok is False
    assert status.error is not None
    assert 'database "matrx_health_no_such_db" does not exist' in status.error
    await dispose_all()


async def test_timeout_bounds_the_whole_check(silent_server: int, project: list[str]) -> None:
    url = f"postgresql://nobody@127.0.0.1:{silent_server}/x"
    name = _register(project, "health_silent", url, connect_timeout=30)
    started = time.perf_counter()
    status = await health_check(name, timeout=0.3)
    elapsed = time.perf_counter() - started
    assert status.ok is False
    assert status.error == "no answer from the database within 0.3 s"
    assert 0.25 < elapsed < 2.0


async def test_unknown_project_raises() -> None:
    with pytest.raises(ConfigurationError):
        await health_check("health_never_registered")


# -- matrx-orm dbcheck --health ---------------------------------------------------------------------------------


async def _cli(argv: list[str]) -> int:
    """``cli.main(argv)`` runs its own event loop, so call it from a worker thread."""
    return await asyncio.to_thread(main, argv)


async def test_cli_health_on_the_live_server(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml app: the project is registered in this process
    monkeypatch.delenv("MATRX_ORM_APP", raising=False)
    assert await _cli(["dbcheck", "--health", "-d", db]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == f"Database {db!r}: OK"
    assert lines[1].startswith("  latency:") and lines[1].endswith(" ms")
    assert lines[2].startswith("  server:     PostgreSQL ")
    assert lines[3] == "  role:       primary"
    assert lines[4].startswith("  extensions: ") and "plpgsql " in lines[4]


async def test_cli_health_on_a_dead_server(
    project: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MATRX_ORM_APP", raising=False)
    project.append("health_cli_dead")
    argv = ["dbcheck", "--health", "-d", "health_cli_dead", "--database-url", CLOSED_PORT_URL]
    assert await _cli([*argv, "--timeout", "5"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    lines = captured.out.splitlines()
    assert lines[0] == "Database 'health_cli_dead': NOT OK"
    assert lines[1].startswith("  error:      cannot connect to postgresql://nobody:********@127.0.0.1:1/x")
    assert "s3cret-pw" not in captured.out + captured.err


async def test_cli_health_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _cli(["dbcheck", "--health", "--database-url", CLOSED_PORT_URL, "--allow-drops"]) == 2
    assert "--health checks the connection only" in capsys.readouterr().err
    assert await _cli(["dbcheck", "--database-url", CLOSED_PORT_URL]) == 2
    assert "--database-url only applies to dbcheck --health" in capsys.readouterr().err
    assert await _cli(["dbcheck", "--health", "--timeout", "0"]) == 2
    assert "expected a positive number of seconds" in capsys.readouterr().err
