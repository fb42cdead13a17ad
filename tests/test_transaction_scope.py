"""Where a statement runs around the edges of ``transaction()`` and ``connection()`` blocks, on the real
server: tasks that outlive a block, blocks nested the other way round, aliases, query callbacks,
cancellations while connections are given back, a dead pinned connection at ``BEGIN``, concurrent nested
blocks and a cancellation during a failing ``COMMIT``. Each test checks the rows committed, the exception
the caller gets and that every pool ends with no connection in use."""

from __future__ import annotations

import asyncio
import threading

import asyncpg
import pytest
from test_faults import kill

from matrx_orm import (
    DatabaseProjectConfig,
    IntegrityError,
    QueryEvent,
    TransactionEndedError,
    connection,
    on_query,
    pool_stats,
    register_database,
    transaction,
    unregister_database,
)
from matrx_orm.db import executor
from matrx_orm.db.engine import dispose_all

TABLE = "scope_row"


async def run(database: str, sql: str, *params: object) -> str:
    """User SQL on ``database`` (where it runs is what the tests are about)."""
    return await executor.execute(database, sql, list(params), user_sql=True)


async def ids(database: str) -> list[int]:
    rows = await executor.fetch(database, f"SELECT id FROM {TABLE} ORDER BY id", [], user_sql=True)
    return [row["id"] for row in rows]


async def insert(database: str, row_id: int) -> None:
    await run(database, f"INSERT INTO {TABLE} (id) VALUES ($1)", row_id)


def assert_idle(*databases: str) -> None:
    for database in databases:
        assert pool_stats(database).in_use == 0, pool_stats(database)


async def create_table(database: str) -> None:
    await run(database, f"CREATE TABLE IF NOT EXISTS {TABLE} (id int PRIMARY KEY)")
    await run(database, f"TRUNCATE {TABLE}")


@pytest.fixture(autouse=True)
async def table(db: str) -> None:
    await create_table(db)


@pytest.fixture
async def second(db2: str) -> str:
    await create_table(db2)
    return db2


# -- 1: a task outliving a transaction() without a name ------------------------------------------------------


async def test_a_task_outliving_an_unnamed_block_cannot_open_a_transaction_after_it(second: str) -> None:
    go = asyncio.Event()

    async def straggler() -> None:
        await go.wait()
        await insert(second, 42)

    async with transaction():
        await insert("test", 1)
        task = asyncio.create_task(straggler())
    go.set()
    with pytest.raises(TransactionEndedError, match="has ended"):
        await task

    async def fails() -> None:
        await insert("test", 2)
        raise ValueError("validation failed")

    async def slower() -> None:
        await asyncio.sleep(0.05)
        await insert(second, 2)

    with pytest.raises(ValueError):
        async with transaction():
            sibling = asyncio.create_task(slower())
            await asyncio.gather(fails(), sibling)
    with pytest.raises(TransactionEndedError):
        await sibling
    assert await ids("test") == [1] and await ids(second) == []
    assert_idle("test", second)


async def test_a_task_outliving_a_named_block_gets_transaction_ended_error() -> None:
    go = asyncio.Event()

    async def late_write() -> None:
        await go.wait()
        await insert("test", 7)

    async with transaction("test"):
        await insert("test", 1)
        task = asyncio.create_task(late_write())
    go.set()
    with pytest.raises(TransactionEndedError, match="has ended"):
        await task
    assert await ids("test") == [1]
    assert_idle("test")


# -- 3: connection() inside transaction() ----------------------------------------------------------------------


async def test_connection_inside_an_unnamed_transaction_does_not_end_it() -> None:
    async with transaction():
        async with connection():
            await insert("test", 1)
        await insert("test", 2)
    async with connection():
        async with transaction():
            async with connection():
                await insert("test", 3)
            await insert("test", 4)
        assert pool_stats("test").in_use == 1  # the outer block's pin, kept for the block
    assert await ids("test") == [1, 2, 3, 4]
    assert_idle("test")


# -- 4: a project's alias and name are one project --------------------------------------------------------------


async def test_alias_and_name_share_one_transaction_and_one_pin(pg_url: str) -> None:
    register_database(DatabaseProjectConfig(name="scoped", alias="scoped_alias", url=pg_url))
    try:
        with pytest.raises(RuntimeError):
            async with transaction("scoped_alias"):
                await insert("scoped", 1)
                raise RuntimeError("roll everything back")
        with pytest.raises(RuntimeError):
            async with transaction():
                await insert("scoped_alias", 2)
                await insert("scoped", 3)
                raise RuntimeError("roll everything back")
        assert await ids("scoped") == []
        async with connection("scoped_alias"):
            pid = "SELECT pg_backend_pid() AS pid"
            by_name = await executor.fetch("scoped", pid, [], user_sql=True)
            by_alias = await executor.fetch("scoped_alias", pid, [], user_sql=True)
            assert by_name == by_alias and pool_stats("scoped").in_use == 1
        assert_idle("scoped")
    finally:
        await dispose_all()
        unregister_database("scoped")


# -- 5: a task outliving a connection() block -------------------------------------------------------------------


async def test_a_task_outliving_a_connection_block_uses_the_pool() -> None:
    for row_id in range(3):
        go = asyncio.Event()

        async def late(go: asyncio.Event = go, row_id: int = row_id) -> None:
            await go.wait()
            await insert("test", row_id)

        async with connection():
            await ids("test")
            task = asyncio.create_task(late())
        go.set()
        await task
        assert_idle("test")
    assert await ids("test") == [0, 1, 2]


# -- 6: async on_query callbacks ---------------------------------------------------------------------------------


async def test_async_query_callbacks_run_outside_the_callers_transaction(second: str) -> None:
    done: list[int] = []
    finished = asyncio.Event()

    async def audit(event: QueryEvent) -> None:
        if event.sql.startswith(f"INSERT INTO {TABLE}"):
            await asyncio.sleep(0.02)  # the block has ended by now
            await insert(second, 100 + len(done))
            await insert("test", 100 + len(done))
            done.append(1)
            finished.set()

    with on_query(audit):
        async with transaction():  # touches only "test" itself
            await insert("test", 1)
        await finished.wait()
        finished.clear()
        with pytest.raises(RuntimeError):
            async with transaction("test"):
                await insert("test", 2)
                await finished.wait()  # the callback's rows are not part of this transaction
                raise RuntimeError("roll back")
    assert await ids("test") == [1, 100, 101]
    assert await ids(second) == [100, 101]
    assert_idle("test", second)


# -- 8: a cancellation while connections are given back ---------------------------------------------------------


async def test_a_cancellation_while_giving_connections_back_releases_every_one(second: str) -> None:
    async def request() -> None:
        async with connection():
            await ids("test")  # user SQL: each connection is reset (a round trip) as it goes back
            await ids(second)
            me = asyncio.current_task()
            assert me is not None
            me.cancel()  # arrives while the first connection is being reset

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(request())
    assert_idle("test", second)

    async def work() -> None:
        async with transaction():
            await insert("test", 1)
            await insert(second, 1)
            raise ValueError("roll back")

    def cancel_after_the_last_rollback(event: QueryEvent) -> None:
        if event.operation == "rollback" and event.database == second:
            task.cancel()  # arrives while the first connection is being reset

    with on_query(cancel_after_the_last_rollback):
        task = asyncio.create_task(work())
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await ids("test") == [] and await ids(second) == []
    assert_idle("test", second)


# -- 10: BEGIN on a dead pinned connection -------------------------------------------------------------------------


async def test_begin_on_a_dead_pinned_connection_is_retried_on_a_new_one(pg_url: str) -> None:
    gate = asyncio.Event()

    async def hold() -> None:
        async with transaction("test"):
            await ids("test")
            await gate.wait()

    holders = [asyncio.create_task(hold()) for _ in range(3)]
    while pool_stats("test").in_use < 3:
        await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*holders)
    async with connection():
        await ids("test")  # pinned
        kill_every_backend(pg_url)  # the pinned one and the pool's idle ones
        async with transaction("test"):
            await insert("test", 1)
    assert await ids("test") == [1]
    assert_idle("test")


def kill_every_backend(url: str) -> None:
    """Terminate the database's client backends from another thread while this event loop is blocked: the
    pool's sockets still look open when the next statement is sent (as after a failover)."""

    async def run_kill() -> None:
        admin = await asyncpg.connect(url)
        try:
            pids = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            await kill(admin, *(row["pid"] for row in pids))
        finally:
            await admin.close()

    thread = threading.Thread(target=asyncio.run, args=(run_kill(),))
    thread.start()
    thread.join()


# -- 11: concurrent nested blocks on one connection ------------------------------------------------------------


async def test_concurrent_nested_blocks_own_the_connection_in_turn() -> None:
    async def fails() -> None:
        await asyncio.sleep(0.01)  # the other block's savepoint opens first
        with pytest.raises(ValueError):
            async with transaction("test"):
                await insert("test", 10)
                await asyncio.sleep(0.02)  # the other block inserts meanwhile
                raise ValueError("only this block rolls back")

    async def keeps() -> None:
        async with transaction("test"):
            await asyncio.sleep(0.02)
            await insert("test", 2)
            await asyncio.sleep(0.03)

    async with transaction("test"):
        await insert("test", 1)
        await asyncio.gather(fails(), keeps())
        async with transaction("test"):  # tasks started inside a nested block share its connection
            await asyncio.gather(insert("test", 3), insert("test", 4))
    assert await ids("test") == [1, 2, 3, 4]
    assert_idle("test")


# -- 13: a cancellation during a failing COMMIT ------------------------------------------------------------------


async def test_a_cancellation_during_a_failing_commit_is_delivered() -> None:
    await run("test", "DROP TABLE IF EXISTS scope_deferred")
    await run(
        "test",
        "CREATE TABLE scope_deferred (id int, CONSTRAINT scope_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)",
    )

    async def work() -> None:
        async with transaction("test"):
            await run("test", "INSERT INTO scope_deferred VALUES (1), (1)")  # fails at COMMIT
            asyncio.get_running_loop().call_soon(task.cancel)  # arrives while COMMIT runs

    task = asyncio.create_task(work())
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert isinstance(raised.value.__cause__, IntegrityError)
    rows = await executor.fetch("test", "SELECT count(*) AS n FROM scope_deferred", [], user_sql=True)
    assert rows[0]["n"] == 0
    assert_idle("test")
