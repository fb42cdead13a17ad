"""One error style everywhere: ``create_all``, ``drop_all``, the inspector (``generate``) and the migration
commands raise the same :class:`matrx_orm.ConnectionError`, with the same message, as a query on the same
project: no SQLAlchemy wrapper, no 60-line traceback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import sqlalchemy as sa
from _pgserver import with_database
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as dbapi

from matrx_orm import (
    CharField,
    ConnectionError,
    DatabaseError,
    DatabaseProjectConfig,
    IntegerField,
    Model,
    ORMException,
    PoolExhaustedError,
    create_all,
    dispose_all,
    drop_all,
    register_database,
    unregister_database,
)
from matrx_orm.cli import main
from matrx_orm.config import get_all_database_project_names, get_database_config
from matrx_orm.exceptions import map_database_error
from matrx_orm.migrations import dbcheck, makemigrations
from matrx_orm.schema_builder import reflect_database

MISSING_DB = "matrx_error_style_no_such_db"


class StyleWidget(Model):
    _database = "error_style_models"  # never registered: every query says .using(project)
    _table_name = "error_style_widget"
    id = IntegerField(primary_key=True)
    label = CharField(max_length=40)


@pytest.fixture
def projects() -> Iterator[list[str]]:
    """Project names the test registers (appended by it), unregistered at the end."""
    names: list[str] = []
    yield names
    for name in names:
        if name in get_all_database_project_names():
            unregister_database(name)


@pytest.fixture
async def disposed() -> AsyncIterator[None]:
    yield
    await dispose_all()


def _register(names: list[str], url: str) -> str:
    name = f"es_{uuid.uuid4().hex[:8]}"
    register_database(DatabaseProjectConfig(name=name, url=url))
    names.append(name)
    return name


async def _error_of(call: Callable[[], Awaitable[Any]]) -> ORMException:
    with pytest.raises(ORMException) as info:
        await call()
    return info.value


async def _query_error(project: str) -> ORMException:
    return await _error_of(lambda: StyleWidget.filter(id=1).using(project).all())


def _assert_clean(error: ORMException, like: ORMException) -> None:
    """``error`` has the class and message of ``like`` (the query's) and shows nothing of SQLAlchemy."""
    assert type(error) is type(like), (error, like)
    assert error.message == like.message
    assert "\n" not in error.message
    assert "sqlalchemy" not in str(error).lower()
    assert error.details["database"] == like.details["database"]
    assert error.details["url"] == like.details["url"]


async def _assert_every_path_like_a_query(project: str, tmp_path: Path) -> ORMException:
    """Checks create_all, drop_all, the inspector and two migration commands; returns create_all's error."""
    query = await _query_error(project)
    assert isinstance(query, ConnectionError)
    errors = []
    for call in (
        lambda: create_all(project, models=[StyleWidget]),
        lambda: drop_all(project, models=[StyleWidget]),
        lambda: reflect_database(project),
        lambda: dbcheck(project),
        lambda: makemigrations(project, tmp_path / f"migrations_{project}"),
    ):
        errors.append(await _error_of(call))
        _assert_clean(errors[-1], query)
    return errors[0]


# -- the same error for every path -------------------------------------------------------------------------


async def test_missing_database(pg_url: str, projects: list[str], tmp_path: Path, disposed: None) -> None:
    project = _register(projects, with_database(pg_url, MISSING_DB))
    error = await _assert_every_path_like_a_query(project, tmp_path)
    assert error.message.startswith("cannot connect to postgresql://")
    assert error.message.endswith(f'database "{MISSING_DB}" does not exist')
    assert error.details["sqlstate"] == "3D000"
    assert isinstance(error.__cause__, sa.exc.DBAPIError)  # what SQLAlchemy raised, kept as the cause


async def test_closed_port(projects: list[str], tmp_path: Path, disposed: None) -> None:
    project = _register(projects, "postgresql://nobody:s3cret-pw@127.0.0.1:1/x")
    error = await _assert_every_path_like_a_query(project, tmp_path)
    assert error.message.startswith("cannot connect to postgresql://nobody:********@127.0.0.1:1/x: ")
    assert "s3cret-pw" not in str(error)
    assert isinstance(error.__cause__, OSError)


async def test_login_refused(pg_url: str, projects: list[str], tmp_path: Path, disposed: None) -> None:
    """A role that may not log in: the server refuses the login, as it refuses a wrong password."""
    role = f"matrx_es_nologin_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(pg_url)
    try:
        try:
            await admin.execute(f'CREATE ROLE "{role}" NOLOGIN')
        except asyncpg.InsufficientPrivilegeError:
            pytest.skip("the test server's user may not create roles")
        parts = urlsplit(pg_url)
        host = parts.netloc.rpartition("@")[2]
        project = _register(projects, urlunsplit(parts._replace(netloc=f"{role}@{host}")))
        error = await _assert_every_path_like_a_query(project, tmp_path)
        # a trusting server says "not permitted to log in"; one asking for a password refuses first
        assert error.message.endswith(
            (f'role "{role}" is not permitted to log in', f'password authentication failed for user "{role}"')
        )
        assert error.details["sqlstate"] in ("28000", "28P01")
    finally:
        await dispose_all()
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_wrong_password(pg_url: str, projects: list[str], tmp_path: Path, disposed: None) -> None:
    parts = urlsplit(pg_url)
    if not parts.password or not parts.hostname or parts.hostname.startswith("/"):
        pytest.skip(
            "the test server trusts every login (embedded server: trust auth, unix socket), so a wrong "
            "password is accepted; run with MATRX_TEST_DATABASE_URL or Docker to test it"
        )
    host = parts.netloc.rpartition("@")[2]
    wrong = urlunsplit(parts._replace(netloc=f"{parts.username}:wrong-{uuid.uuid4().hex[:6]}@{host}"))
    project = _register(projects, wrong)
    error = await _assert_every_path_like_a_query(project, tmp_path)
    assert "password authentication failed" in error.message
    assert "wrong-" not in str(error)


# -- the command line --------------------------------------------------------------------------------------


async def test_generate_prints_one_clean_line(
    pg_url: str, projects: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    projects.append("es_generate")
    url = with_database(pg_url, MISSING_DB)
    argv = ["generate", "-d", "es_generate", "--database-url", url, "--output-dir", str(tmp_path / "out")]
    assert await asyncio.to_thread(main, argv) == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output and "sqlalchemy" not in output.lower()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("matrx-orm: error: cannot connect to postgresql://")
    assert lines[0].endswith(f'database "{MISSING_DB}" does not exist')


# -- errors inside an engine block, and SQLAlchemy's own errors ------------------------------------------------


async def test_errors_inside_create_all_are_mapped(db: str) -> None:
    """A failing statement inside create_all's engine block: a DatabaseError with the SQL, not a DBAPIError."""
    admin = await asyncpg.connect(_url_of(db))
    try:
        await admin.execute("DROP TABLE IF EXISTS error_style_widget")
        await admin.execute("CREATE VIEW error_style_widget AS SELECT 1 AS id")  # blocks CREATE TABLE
        error = await _error_of(lambda: drop_all(db, models=[StyleWidget]))
    finally:
        await admin.execute("DROP VIEW IF EXISTS error_style_widget")
        await admin.close()
    assert type(error) is DatabaseError
    assert '"error_style_widget" is not a table' in error.message
    assert error.operation == "drop_all"
    assert error.query is not None and "DROP TABLE" in error.query
    assert isinstance(error.__cause__, sa.exc.DBAPIError)


def _url_of(project: str) -> str:
    config = get_database_config(project)
    assert config.url is not None
    return config.url


def test_map_database_error_unwraps_sqlalchemy() -> None:
    """DBAPIError -> adapted asyncpg error -> asyncpg's own exception; and SQLAlchemy's own errors."""
    driver = asyncpg.InvalidCatalogNameError('database "x" does not exist')
    adapted = dbapi.Error(str(driver), driver)
    wrapped = sa.exc.DBAPIError("SELECT 1", None, adapted)
    mapped = map_database_error(
        wrapped, operation="connect", details={"database": "d", "url": "postgresql://u@h/x"}
    )
    assert type(mapped) is ConnectionError
    assert mapped.message == 'cannot connect to postgresql://u@h/x: database "x" does not exist'
    assert mapped.__cause__ is wrapped

    lost = sa.exc.OperationalError("SELECT 1", None, dbapi.OperationalError("connection lost"))
    mapped = map_database_error(lost, details={"database": "d"})
    assert type(mapped) is ConnectionError and mapped.message == "Database connection failed: connection lost"
    assert mapped.query == "SELECT 1"

    interface = sa.exc.InterfaceError("SELECT 1", None, dbapi.InterfaceError("cannot use a closed cursor"))
    assert type(map_database_error(interface)) is ConnectionError

    other = sa.exc.ProgrammingError("SELEC 1", None, dbapi.ProgrammingError("syntax error"))
    mapped = map_database_error(other)
    assert type(mapped) is DatabaseError and mapped.message == "syntax error"

    pool = map_database_error(sa.exc.TimeoutError("QueuePool limit of size 2 overflow 3 reached"))
    assert isinstance(pool, PoolExhaustedError) and "QueuePool limit" in pool.message
