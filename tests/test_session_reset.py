"""Pooled connections skip asyncpg's full reset after ORM statements, but never leak user session state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from matrx_orm import DatabaseProjectConfig, register_database, transaction, unregister_database
from matrx_orm.db import executor
from matrx_orm.db.engine import acquire, dispose_all, get_pool


@pytest.fixture
async def single(pg_url: str) -> AsyncIterator[str]:
    """A project whose pool has exactly one connection, so every statement reuses it."""
    register_database(DatabaseProjectConfig(name="single", url=pg_url, pool_min_size=1, pool_max_size=1))
    try:
        yield "single"
    finally:
        await dispose_all()
        unregister_database("single")


async def _setting(database: str) -> str:
    pool = await get_pool(database)
    return str(await pool.fetchval("SELECT current_setting('application_name')"))


async def test_user_sql_outside_transaction_is_reset(single: str) -> None:
    await executor.execute(single, "SET application_name = 'leaky'", [], user_sql=True)
    assert await _setting(single) != "leaky"


async def test_user_sql_inside_transaction_is_reset_after_commit(single: str) -> None:
    async with transaction(single):
        await executor.execute(single, "SET application_name = 'leaky'", [], user_sql=True)
        rows = await executor.fetch(single, "SELECT current_setting('application_name')", [])
        assert rows[0][0] == "leaky"  # in effect inside the block
    assert await _setting(single) != "leaky"


async def test_public_acquire_resets_the_session(single: str) -> None:
    async with acquire(single) as conn:
        await conn.execute("SET application_name = 'leaky'")
    assert await _setting(single) != "leaky"


async def test_release_after_orm_statement_sends_no_reset_query(single: str) -> None:
    pool = await get_pool(single)
    seen: list[str] = []
    conn = await pool.acquire()
    conn.add_query_logger(lambda record: seen.append(record.query))
    await pool.release(conn)  # the logger stays on the one underlying connection
    await executor.fetch(single, "SELECT 1", [])
    await executor.fetch(single, "SELECT 2", [])
    assert seen == ["SELECT 1", "SELECT 2"]


async def test_open_transaction_is_rolled_back_on_release(single: str) -> None:
    pool = await get_pool(single)
    conn = await pool.acquire()
    await conn.execute("BEGIN")
    await conn.execute("CREATE TEMP TABLE never_committed (x int)")
    await pool.release(conn)
    exists = await pool.fetchval("SELECT to_regclass('pg_temp.never_committed') IS NOT NULL")
    assert exists is False
