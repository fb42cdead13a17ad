"""matrx_orm.engine against a real PostgreSQL: pools per loop, codecs, disposal, error mapping."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from _pgserver import drop_database, run_sync, with_database
from pgvector import HalfVector, SparseVector, Vector

from matrx_orm.config import (
    DatabaseProjectConfig,
    get_database_config,
    register_database,
    unregister_database,
)
from matrx_orm.db import engine, health
from matrx_orm.exceptions import ConnectionError, IntegrityError, ORMException, map_database_error

REPO = Path(__file__).resolve().parents[1]


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def project(pg_url: str) -> AsyncIterator[str]:
    """A freshly registered project on ``pg_url``; unregistered (and its pools closed) afterwards."""
    name = _name("engine")
    register_database(DatabaseProjectConfig(name=name, url=pg_url, alias=f"{name}_alias"))
    try:
        yield name
    finally:
        await engine.dispose_all()
        unregister_database(name)


@pytest.fixture(scope="module")
def no_vector_url(pg_url: str) -> Iterator[str]:
    """A database on the same server without the vector extension."""
    name = f"matrx_engine_novec_{os.getpid()}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_sync(create)
    admin_url = pg_url
    yield with_database(pg_url, name)
    drop_database(admin_url, name)


# -- pools per event loop ----------------------------------------------------------------------------------------------


def test_sequential_asyncio_run_in_subprocess(pg_url: str) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys, warnings
        warnings.simplefilter("error", ResourceWarning)
        from matrx_orm.config import DatabaseProjectConfig, register_database
        from matrx_orm.db import engine
        import sqlalchemy as sa

        register_database(DatabaseProjectConfig(name="proc", url=sys.argv[1]))
        seen = []

        async def work(i):
            pool = await engine.get_pool("proc")
            seen.append(pool)  # keep it alive: ids of collected pools may be reused
            assert await pool.fetchval("SELECT $1::int + 1", i) == i + 1
            async with engine.get_engine("proc").connect() as conn:
                assert (await conn.execute(sa.text("SELECT 2"))).scalar() == 2

        for i in range(4):
            asyncio.run(work(i))
        assert len({id(p) for p in seen}) == 4, seen  # a new pool for every loop
        asyncio.run(engine.dispose_all())
        print("OK", len(engine._resources))
        """
    )
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script, pg_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK 0"
    assert "ResourceWarning" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_sequential_asyncio_run_in_process(pg_url: str) -> None:
    name = _name("seq")
    register_database(DatabaseProjectConfig(name=name, url=pg_url))
    pools: list[asyncpg.Pool] = []

    async def work() -> int:
        pool = await engine.get_pool(name)
        pools.append(pool)
        async with engine.get_engine(name).connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return int(await pool.fetchval("SELECT 41 + 1"))

    try:
        assert [asyncio.run(work()) for _ in range(3)] == [42, 42, 42]
        assert len({id(p) for p in pools}) == 3
        assert pools[0] is not pools[-1]
        # the pools of closed loops are dropped on the next slow path
        asyncio.run(work())
        assert sum(1 for loop in list(engine._resources) if loop.is_closed()) <= 1
    finally:
        engine.dispose_all_sync()
        unregister_database(name)
    assert len(engine._resources) == 0


async def test_concurrent_first_calls_create_one_pool(project: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real_create_pool = asyncpg.create_pool

    def counting_create_pool(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real_create_pool(*args, **kwargs)

    monkeypatch.setattr(engine.asyncpg, "create_pool", counting_create_pool)
    pools = await asyncio.gather(*(engine.get_pool(project) for _ in range(50)))
    assert calls == 1
    assert len({id(pool) for pool in pools}) == 1
    assert await engine.get_pool(f"{project}_alias") is pools[0]
    assert calls == 1


async def test_alias_and_name_share_pool_and_engine(project: str) -> None:
    alias = f"{project}_alias"
    assert await engine.get_pool(alias) is await engine.get_pool(project)
    assert engine.get_engine(alias) is engine.get_engine(project)


async def test_acquire_and_timeout(pg_url: str) -> None:
    name = _name("acq")
    register_database(
        DatabaseProjectConfig(name=name, url=pg_url, pool_min_size=1, pool_max_size=1, connect_timeout=0.3)
    )
    try:
        async with engine.acquire(name) as conn:
            assert await conn.fetchval("SELECT 7") == 7
            with pytest.raises(ConnectionError) as info:
                async with engine.acquire(name):
                    pass
            assert info.value.operation == "acquire"
        async with engine.acquire(name) as conn:  # released again
            assert await conn.fetchval("SELECT 8") == 8
    finally:
        await engine.dispose_all()
        unregister_database(name)


async def test_replacing_config_replaces_pool(pg_url: str) -> None:
    name = _name("replace")
    register_database(DatabaseProjectConfig(name=name, url=pg_url))
    try:
        first = await engine.get_pool(name)
        register_database(DatabaseProjectConfig(name=name, url=pg_url))  # identical: no-op
        assert await engine.get_pool(name) is first
        register_database(DatabaseProjectConfig(name=name, url=pg_url, pool_max_size=3))
        second = await engine.get_pool(name)
        assert second is not first
        assert second.get_max_size() == 3
        for _ in range(50):
            if first.is_closing():
                break
            await asyncio.sleep(0.02)
        assert first.is_closing()
    finally:
        await engine.dispose_all()
        unregister_database(name)


async def test_config_replaced_while_pool_is_being_created(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[int] = []
    real_create_pool = asyncpg.create_pool

    def counting_create_pool(*args: Any, **kwargs: Any) -> Any:
        created.append(kwargs["max_size"])
        return real_create_pool(*args, **kwargs)

    monkeypatch.setattr(engine.asyncpg, "create_pool", counting_create_pool)
    name = _name("race")
    register_database(DatabaseProjectConfig(name=name, url=pg_url, pool_max_size=2))
    try:
        waiter = asyncio.create_task(engine.get_pool(name))
        await asyncio.sleep(0)  # the creation has started with the old config
        register_database(DatabaseProjectConfig(name=name, url=pg_url, pool_max_size=4))
        pool = await waiter
        assert pool.get_max_size() == 4
        assert created == [2, 4]  # the pool built from the replaced config was discarded
        assert await engine.get_pool(name) is pool
    finally:
        await engine.dispose_all()
        unregister_database(name)


async def test_pool_closed_by_hand_is_replaced(project: str) -> None:
    pool = await engine.get_pool(project)
    eng = engine.get_engine(project)
    await pool.close()
    fresh = await engine.get_pool(f"{project}_alias")
    assert fresh is not pool and await fresh.fetchval("SELECT 1") == 1
    assert await engine.get_pool(project) is fresh
    assert engine.get_engine(project) is eng


async def test_dispose_all_closes_pools_and_engines(project: str) -> None:
    pool = await engine.get_pool(project)
    eng = engine.get_engine(project)
    async with eng.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
    assert eng.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    await engine.dispose_all()
    assert pool.is_closing()
    assert eng.sync_engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    fresh = await engine.get_pool(project)
    assert fresh is not pool
    assert await fresh.fetchval("SELECT 1") == 1
    assert engine.get_engine(project) is not eng
    await engine.close_all_pools()
    assert fresh.is_closing()


def test_dispose_all_sync_on_idle_loop(pg_url: str) -> None:
    name = _name("sync")
    register_database(DatabaseProjectConfig(name=name, url=pg_url))
    loop = asyncio.new_event_loop()
    try:
        pool = loop.run_until_complete(engine.get_pool(name))
        engine.dispose_all_sync()
        assert pool.is_closing()
        assert loop not in engine._resources
    finally:
        loop.close()
        unregister_database(name)


async def test_loopless_engine_uses_nullpool(project: str) -> None:
    def make() -> Any:
        return engine.get_engine(project)

    loopless = await asyncio.to_thread(make)  # no running loop in the worker thread
    assert isinstance(loopless.sync_engine.pool, sa.pool.NullPool)
    async with loopless.connect() as conn:
        assert (await conn.execute(sa.text("SELECT 3"))).scalar() == 3
    assert engine.get_engine(project) is not loopless


async def test_server_has_extension(project: str) -> None:
    assert await health.server_has_extension(project, "plpgsql") is True
    assert await health.server_has_extension(project, "no_such_extension") is False


async def test_transaction_pooler_mode_works(pg_url: str) -> None:
    name = _name("pooler")
    config = register_database(DatabaseProjectConfig(name=name, url=pg_url, pooler_mode="transaction"))
    assert config.asyncpg_connect_kwargs()["statement_cache_size"] == 0
    try:
        pool = await engine.get_pool(name)
        for _ in range(3):
            assert await pool.fetchval("SELECT $1::text", "x") == "x"
        async with engine.get_engine(name).connect() as conn:
            assert (await conn.execute(sa.text("SELECT CAST(:v AS int)"), {"v": 5})).scalar() == 5
    finally:
        await engine.dispose_all()
        unregister_database(name)


# -- codecs -------------------------------------------------------------------------------------------------------------


async def test_json_and_jsonb_round_trip(project: str) -> None:
    pool = await engine.get_pool(project)
    document = {"a": [1, 2.5, None, True], "nested": {"k": "v"}, "unicode": "é"}
    assert await pool.fetchval("SELECT $1::jsonb", document) == document
    assert await pool.fetchval("SELECT $1::json", document) == document
    assert await pool.fetchval("SELECT $1::jsonb", [1, "two"]) == [1, "two"]
    assert await pool.fetchval("SELECT $1::jsonb", "just a string") == "just a string"
    assert await pool.fetchval("SELECT $1::jsonb", None) is None  # SQL NULL
    assert await pool.fetchval("SELECT 'null'::jsonb") is None  # JSON null
    assert await pool.fetchval("SELECT '{\"x\": 1}'::jsonb -> 'x'") == 1
    assert await pool.fetchval("SELECT $1::jsonb[]", [{"x": 1}, {"y": 2}]) == [{"x": 1}, {"y": 2}]
    ident = uuid.uuid4()
    assert await pool.fetchval("SELECT $1::jsonb", {"id": ident}) == {"id": str(ident)}


async def test_uuid_codec_returns_str(project: str) -> None:
    pool = await engine.get_pool(project)
    ident = uuid.uuid4()
    assert await pool.fetchval("SELECT $1::uuid", ident) == str(ident)
    assert await pool.fetchval("SELECT $1::uuid", str(ident)) == str(ident)
    assert await pool.fetchval("SELECT $1::uuid", str(ident).upper()) == str(ident)
    generated = await pool.fetchval("SELECT gen_random_uuid()")
    assert isinstance(generated, str) and uuid.UUID(generated)
    assert await pool.fetchval("SELECT $1::uuid[]", [ident]) == [str(ident)]


async def test_vector_codecs(project: str, needs_pgvector: None) -> None:
    pool = await engine.get_pool(project)
    async with engine.acquire(project) as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    await engine.reload_type_codecs(project)
    value = await pool.fetchval("SELECT '[1,2,3]'::vector")
    assert isinstance(value, Vector)
    assert value.to_list() == [1.0, 2.0, 3.0]
    assert (await pool.fetchval("SELECT $1::vector", [0.5, 1.5])).to_list() == [0.5, 1.5]
    assert await pool.fetchval("SELECT $1::vector <-> $2::vector", [0, 0], [3, 4]) == pytest.approx(5.0)
    has_halfvec = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'halfvec')")
    if has_halfvec:
        half = await pool.fetchval("SELECT $1::halfvec", [1, 2])
        assert isinstance(half, HalfVector) and half.to_list() == [1.0, 2.0]
        sparse = await pool.fetchval("SELECT '{1:3,4:5}/6'::sparsevec")
        assert isinstance(sparse, SparseVector) and sparse.to_list() == [3.0, 0, 0, 5.0, 0, 0]


async def test_database_without_vector_skips_codec(no_vector_url: str) -> None:
    name = _name("novec")
    register_database(DatabaseProjectConfig(name=name, url=no_vector_url))
    try:
        assert await health.server_has_extension(name, "vector") is False
        pool = await engine.get_pool(name)
        assert await pool.fetchval("SELECT $1::jsonb", {"ok": True}) == {"ok": True}
        assert await pool.fetchval("SELECT count(*) FROM pg_type WHERE typname = 'vector'") == 0
    finally:
        await engine.dispose_all()
        unregister_database(name)


async def test_sqlalchemy_engine_reflects_vector_columns(project: str, needs_pgvector: None) -> None:
    eng = engine.get_engine(project)
    table = f"t_vec_{uuid.uuid4().hex[:6]}"
    async with eng.begin() as conn:
        await conn.execute(sa.text(f'CREATE TABLE "{table}" (id int PRIMARY KEY, embedding vector(3))'))
    try:
        async with eng.connect() as conn:
            columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns(table))
        types = {col["name"]: col["type"] for col in columns}
        import pgvector.sqlalchemy

        assert isinstance(types["embedding"], pgvector.sqlalchemy.VECTOR)
    finally:
        async with eng.begin() as conn:
            await conn.execute(sa.text(f'DROP TABLE "{table}"'))


# -- error mapping ---------------------------------------------------------------------------------------------------


async def test_unique_violation_maps_to_integrity_error(project: str) -> None:
    pool = await engine.get_pool(project)
    table = f"t_unique_{uuid.uuid4().hex[:6]}"
    await pool.execute(f'CREATE TABLE "{table}" (id serial PRIMARY KEY, email text UNIQUE)')
    try:
        await pool.execute(f'INSERT INTO "{table}" (email) VALUES ($1)', "a@example.com")
        sql = f'INSERT INTO "{table}" (email) VALUES ($1)'
        with pytest.raises(IntegrityError) as info:
            try:
                await pool.execute(sql, "a@example.com")
            except Exception as exc:
                raise map_database_error(
                    exc, model="User", operation="create", query=sql, params=["x"]
                ) from exc
        error = info.value
        assert isinstance(error.__cause__, asyncpg.UniqueViolationError)
        assert error.model == "User" and error.operation == "create"
        assert error.details["sqlstate"] == "23505"
        assert error.details["violation"] == "unique"
        assert error.details["constraint_name"] == f"{table}_email_key"
        assert error.details["table_name"] == table
        assert "duplicate key" in error.message
        assert "Key (email)=(a@example.com) already exists" in error.message
    finally:
        await pool.execute(f'DROP TABLE "{table}"')


async def test_not_null_violation_has_column(project: str) -> None:
    pool = await engine.get_pool(project)
    table = f"t_nn_{uuid.uuid4().hex[:6]}"
    await pool.execute(f'CREATE TABLE "{table}" (id int PRIMARY KEY, name text NOT NULL)')
    try:
        with pytest.raises(asyncpg.NotNullViolationError) as info:
            await pool.execute(f'INSERT INTO "{table}" (id) VALUES (1)')
        mapped = map_database_error(info.value)
        assert isinstance(mapped, IntegrityError)
        assert mapped.details["violation"] == "not_null"
        assert mapped.details["column_name"] == "name"
    finally:
        await pool.execute(f'DROP TABLE "{table}"')


async def test_syntax_error_maps_to_database_error(project: str) -> None:
    pool = await engine.get_pool(project)
    with pytest.raises(asyncpg.PostgresSyntaxError) as info:
        await pool.fetch("SELEC 1")
    mapped = map_database_error(info.value, query="SELEC 1")
    assert type(mapped).__name__ == "DatabaseError"
    assert mapped.details["sqlstate"] == "42601"
    assert "SELEC 1" in str(mapped)


async def test_connection_refused_maps_to_connection_error() -> None:
    name = _name("refused")
    register_database(
        DatabaseProjectConfig(name=name, host="127.0.0.1", port=1, password="hunter2", connect_timeout=5)
    )
    try:
        with pytest.raises(ConnectionError) as info:
            await engine.get_pool(name)
        error = info.value
        assert isinstance(error.__cause__, OSError)
        assert error.operation == "connect"
        assert error.details["database"] == name
        assert "hunter2" not in str(error)
        assert "127.0.0.1:1" in str(error)
        # concurrent callers all see the failure, and a later call tries again
        results = await asyncio.gather(*(engine.get_pool(name) for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
    finally:
        unregister_database(name)


async def test_wrong_password_maps_to_connection_error(pg_url: str) -> None:
    config = DatabaseProjectConfig(name="x", url=pg_url)
    name = _name("badpw")
    bad = {
        **config.model_dump(exclude={"url", "name"}),
        "password": "definitely-wrong",
        "user": "no_such_user_x",
    }
    register_database(DatabaseProjectConfig(name=name, **bad))
    try:
        with pytest.raises(ConnectionError):
            await engine.get_pool(name)
    finally:
        unregister_database(name)


async def test_unknown_project_is_configuration_error() -> None:
    from matrx_orm.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="not registered"):
        await engine.get_pool("no_such_project_anywhere")
    with pytest.raises(ConfigurationError):
        engine.get_engine("no_such_project_anywhere")


async def test_orm_exception_passes_through_mapping(project: str) -> None:
    original = ORMException("boom", model="A")
    assert map_database_error(original, operation="op") is original
    assert original.operation == "op"
    assert get_database_config(project).name == project
