"""One error style everywhere: ``create_all``, ``drop_all``, the inspector (``generate``) and the migration
commands raise the same :class:`matrx_orm.ConnectionError`, with the same message, as a query on the same
project: no SQLAlchemy wrapper, no 60-line traceback. A statement past ``command_timeout`` is a timeout, not
a lost connection; ``hide_parameters`` keeps every bound value out of errors."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
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
    CommitOutcomeUnknownError,
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
    on_query,
    register_database,
    transaction,
    unregister_database,
)
from matrx_orm.cli import main
from matrx_orm.config import get_all_database_project_names, get_database_config
from matrx_orm.db import executor
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


def _register(names: list[str], url: str, **settings: Any) -> str:
    name = f"es_{uuid.uuid4().hex[:8]}"
    register_database(DatabaseProjectConfig(name=name, url=url, **settings))
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


# -- a statement past command_timeout ------------------------------------------------------------------------


async def _backends(admin: asyncpg.Connection, application: str) -> set[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", application)
    return {row["pid"] for row in rows}


async def test_a_statement_past_command_timeout_times_out_and_keeps_the_pool(
    pg_url: str, projects: list[str], disposed: None
) -> None:
    """Not a lost connection: no second run, no connection terminated or replaced."""
    application = f"es_timeout_{uuid.uuid4().hex[:6]}"
    project = _register(
        projects,
        pg_url,
        command_timeout=0.3,
        pool_min_size=3,
        server_settings={"application_name": application},
    )
    await executor.fetch(project, "SELECT 1", [])
    admin = await asyncpg.connect(pg_url)
    try:
        before = await _backends(admin, application)
        assert len(before) == 3
        for sql, user_sql in (("SELECT pg_sleep(2)", False), ("select pg_sleep(2)", True)):
            started = time.perf_counter()
            error = await _error_of(lambda: executor.fetch(project, sql, [], user_sql=user_sql))  # noqa: B023
            assert time.perf_counter() - started < 1  # a read the ORM built is not run again
            assert type(error) is DatabaseError and error.message == "The statement timed out (TimeoutError)"
        with pytest.raises(DatabaseError) as inside:
            async with transaction(project):
                await executor.execute(project, "SELECT pg_sleep(2)", [], user_sql=True)
        assert type(inside.value) is DatabaseError and "timed out" in inside.value.message
        assert await executor.fetch(project, "SELECT 1 AS one", []) == [(1,)]
        assert await _backends(admin, application) == before
    finally:
        await admin.close()


async def test_a_commit_past_command_timeout_has_an_unknown_outcome(
    pg_url: str, projects: list[str], disposed: None
) -> None:
    table = f"es_slow_commit_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(pg_url)
    await admin.execute(
        f"CREATE TABLE {table} (n int);"
        f"CREATE FUNCTION {table}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;"
        f"CREATE CONSTRAINT TRIGGER {table} AFTER INSERT ON {table} DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW EXECUTE FUNCTION {table}()"
    )
    try:
        project = _register(projects, pg_url, command_timeout=0.3)
        with pytest.raises(CommitOutcomeUnknownError) as info:
            async with transaction(project):
                await executor.execute(project, f"INSERT INTO {table} VALUES (1)", [])
        assert "timed out" in str(info.value.__cause__)
        assert await executor.fetch(project, "SELECT 1 AS one", []) == [(1,)]
    finally:
        await admin.execute(f"DROP TABLE {table}; DROP FUNCTION {table}()")
        await admin.close()


# -- hide_parameters ----------------------------------------------------------------------------------------

HIDDEN_VALUE_CASES = [
    (
        "SELECT $1::int",
        ["SSN-123-45-6789"],
        "invalid input for query argument $1: <hidden> ('str' object cannot be interpreted as an integer)",
    ),
    ("SELECT $1::text::int", ["SSN-987-65-4321"], 'invalid input syntax for type integer: "<hidden>"'),
    ("SELECT $1::text::int", ['SSN"quoted"4321'], 'invalid input syntax for type integer: "<hidden>"'),
    (
        "SELECT $1::text::int > $2",
        ["12", "SSN-555-01-" + "9" * 40],  # a value asyncpg's message cuts at 40 characters
        "invalid input for query argument $2: <hidden> ('str' object cannot be interpreted as an integer)",
    ),
    ("SELECT $1::date", ["SSN-31-02-2024"], "invalid input for query argument $1: <hidden> "),
    ("SELECT $1::text::date", ["SSN-2024-02-31"], 'invalid input syntax for type date: "<hidden>"'),
    ("SELECT $1::text::smallint", ["987654321"], 'value "<hidden>" is out of range for type smallint'),
]


@pytest.mark.parametrize(("sql", "params", "message"), HIDDEN_VALUE_CASES)
async def test_hide_parameters_keeps_values_out_of_every_error(
    pg_url: str,
    projects: list[str],
    disposed: None,
    caplog: pytest.LogCaptureFixture,
    sql: str,
    params: list[Any],
    message: str,
) -> None:
    project = _register(projects, pg_url, hide_parameters=True)
    seen: list[Any] = []
    caplog.set_level(logging.DEBUG, logger="matrx_orm")
    with on_query(seen.append):
        error = await _error_of(lambda: executor.fetch(project, sql, params))
    assert error.message.startswith(message)
    secret = str(params[-1])
    shown = [str(error), repr(error), repr(error.details), "".join(traceback.format_exception(error))]
    shown += [str(event.error) for event in seen] + [record.getMessage() for record in caplog.records]
    assert not [text for text in shown if secret in text or secret[:40] in text]


async def test_hide_parameters_in_a_batch_and_by_default(
    pg_url: str, projects: list[str], disposed: None
) -> None:
    """A batch row past those the error keeps is hidden too; without the setting values stay visible."""
    secret = "SSN-444-55-6666"
    rows: list[list[Any]] = [[1], [2], [3], [4], [secret]]
    statement = "SELECT $1::int"
    hidden = await _error_of(
        lambda: executor.executemany(_register(projects, pg_url, hide_parameters=True), statement, rows)
    )
    assert hidden.message == (
        "invalid input for query argument $1 in element #4 of executemany() sequence: <hidden> "
        "('str' object cannot be interpreted as an integer)"
    )
    assert secret not in "".join(traceback.format_exception(hidden))
    shown = await _error_of(
        lambda: executor.fetch(_register(projects, pg_url), "SELECT $1::text::int", [secret])
    )
    assert secret in shown.message
