"""Pooled connections skip asyncpg's full reset after ORM statements, but never leak user session state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from matrx_orm import DatabaseProjectConfig, connection, register_database, transaction, unregister_database
from matrx_orm.db import executor
from matrx_orm.db.engine import acquire, checkout, dispose_all, get_pool, release
from matrx_orm.db.pinning import current_pins


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
    await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
    assert seen == ["SELECT 1", "SELECT 2"]


async def test_open_transaction_is_rolled_back_on_release(single: str) -> None:
    pool = await get_pool(single)
    conn = await pool.acquire()
    await conn.execute("BEGIN")
    await conn.execute("CREATE TEMP TABLE never_committed (x int)")
    await pool.release(conn)
    exists = await pool.fetchval("SELECT to_regclass('pg_temp.never_committed') IS NOT NULL")
    assert exists is False


async def _backend_pid(database: str) -> int:
    rows = await executor.fetch(database, "SELECT pg_backend_pid()", [])
    return int(rows[0][0])


def _tasks_created_during(loop: asyncio.AbstractEventLoop) -> tuple[list[int], Callable[[], None]]:
    """Count the tasks the loop creates from now on; call the returned function to stop counting."""
    created: list[int] = []
    previous = loop.get_task_factory()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        created.append(1)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    return created, lambda: loop.set_task_factory(previous)


async def test_release_after_orm_statement_needs_no_task(single: str) -> None:
    """asyncpg's Pool.release runs in a new task; a connection that needs no round trip goes back without."""
    await executor.fetch(single, "SELECT 1", [])  # the pool exists and its connection is open
    created, stop = _tasks_created_during(asyncio.get_running_loop())
    try:
        for _ in range(20):
            await executor.fetch(single, "SELECT 1", [])
    finally:
        stop()
    assert created == []
    pool = await get_pool(single)
    assert pool.get_idle_size() == pool.get_size() == 1


async def test_a_block_gives_a_free_connection_back_with_nothing_left_to_await(single: str) -> None:
    """A ``connection()`` block whose connection ran only ORM statements, none still running, hands it back
    when it ends without a coroutine to await; after user SQL, the give-back sends the full reset."""
    pool = await get_pool(single)
    scope = connection(single)
    await scope.__aenter__()
    try:
        await executor.fetch(single, "SELECT 1", [])
        block = current_pins()
        assert block is not None and pool.get_idle_size() == 0
        assert block.close() is None  # given back at once
        assert pool.get_idle_size() == pool.get_size() == 1
    finally:
        await scope.__aexit__(None, None, None)
    async with connection(single):
        await executor.execute(single, "SET application_name = 'leaky'", [], user_sql=True)
        block = current_pins()
    assert block is not None and block.closed
    assert await _setting(single) != "leaky"


async def test_released_connection_is_reused_and_its_idle_timer_rearmed(single: str) -> None:
    first = await _backend_pid(single)
    for _ in range(10):
        assert await _backend_pid(single) == first
    pool = await get_pool(single)
    holders = [holder for holder in pool._holders if holder._con is not None]
    assert len(holders) == 1 and holders[0]._inactive_callback is not None  # closes it after idling


async def test_connection_left_in_a_transaction_is_not_reused(single: str) -> None:
    first = await _backend_pid(single)
    pool, conn = await checkout(single)
    await conn.execute("BEGIN")
    await release(pool, conn)  # the transaction is never committed: the connection is closed
    assert await _backend_pid(single) != first
