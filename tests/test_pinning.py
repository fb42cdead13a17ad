"""``connection()``: one pooled connection for a block's statements, on the real server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from _tasks import cancelled_after
from example_models import ALL, Author
from test_crud import _quoted

from matrx_orm import (
    DatabaseProjectConfig,
    connection,
    create_all,
    pool_stats,
    register_database,
    transaction,
)
from matrx_orm.config import unregister_database
from matrx_orm.db import executor
from matrx_orm.db.context import pin_blocks
from matrx_orm.db.engine import checkout, dispose_all, release
from matrx_orm.exceptions import ConnectionError as OrmConnectionError
from matrx_orm.exceptions import DatabaseError


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f"TRUNCATE {_quoted(model)} CASCADE", [])


async def terminate(pg_url: str, pid: int) -> None:
    """Have the server end backend ``pid`` (as a restart or an administrator would)."""
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.05)


async def backend_pid() -> int:
    rows = await Author.raw_sql("SELECT pg_backend_pid() AS pid")
    return int(rows[0]["pid"])


async def test_statements_share_one_connection_taken_lazily() -> None:
    async with connection():
        assert pool_stats("test").in_use == 0  # nothing ran yet: nothing taken
        first = await backend_pid()
        await Author.create(name="a")
        assert await Author.filter(name="a").count() == 1
        assert await backend_pid() == first
        assert pool_stats("test").in_use == 1
    assert pool_stats("test").in_use == 0


async def test_concurrent_tasks_in_the_block_share_it_one_at_a_time() -> None:
    async with connection():
        pids = await asyncio.gather(*(backend_pid() for _ in range(20)))
        await asyncio.gather(*(Author.create(name=f"n{i}") for i in range(10)))
        assert len(set(pids)) == 1 and pool_stats("test").in_use == 1
    assert await Author.count() == 10


async def test_statements_waiting_on_a_cancelled_first_checkout_pin_one_themselves(pg_url: str) -> None:
    """Two statements of a block ask for its connection while the pool has none free: the second waits for
    the first's checkout; when the first is cancelled, the second checks one out and pins it."""
    register_database(DatabaseProjectConfig(name="pin_one", url=pg_url, pool_min_size=1, pool_max_size=1))
    try:
        pool, busy = await checkout("pin_one")  # the pool's only connection
        async with connection("pin_one"):
            first = asyncio.create_task(executor.fetch("pin_one", "SELECT 1 AS n", []))
            await asyncio.sleep(0.05)  # waiting in checkout
            second = asyncio.create_task(executor.fetch("pin_one", "SELECT 2 AS n", []))
            await asyncio.sleep(0.05)  # waiting for the first's checkout
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            assert not second.done()
            await release(pool, busy)
            assert [row["n"] for row in await asyncio.wait_for(second, 10)] == [2]
            assert pool_stats("pin_one").in_use == 1  # pinned by the second statement
            assert [row["n"] for row in await executor.fetch("pin_one", "SELECT 3 AS n", [])] == [3]
        assert pool_stats("pin_one").in_use == 0
    finally:
        await dispose_all()
        unregister_database("pin_one")


async def test_a_block_gives_its_connection_back_after_a_statement_still_running_on_it(pg_url: str) -> None:
    """A task started in the block is mid-statement when the block ends: the block waits for that statement
    before the pool gets the connection back (the next user would find it busy), and a statement queued
    behind it takes a pooled connection: here the pool's only one, once the block gave it back."""
    register_database(DatabaseProjectConfig(name="pin_back", url=pg_url, pool_min_size=1, pool_max_size=1))
    try:
        async with connection("pin_back"):
            pinned = (await executor.fetch("pin_back", "SELECT pg_backend_pid() AS pid", []))[0]["pid"]
            slow = asyncio.create_task(executor.fetch("pin_back", "SELECT pg_sleep(0.3), 1 AS n", []))
            await asyncio.sleep(0.05)  # running on the pinned connection
            queued = asyncio.create_task(executor.fetch("pin_back", "SELECT pg_backend_pid() AS pid", []))
            await asyncio.sleep(0.05)  # waiting for it
        assert slow.done() and [row["n"] for row in slow.result()] == [1]
        assert (await asyncio.wait_for(queued, 10))[0]["pid"] == pinned  # the pool's only connection, given
        assert pool_stats("pin_back").in_use == 0
        for _ in range(3):  # the connection went back idle: usable at once
            assert [row["n"] for row in await executor.fetch("pin_back", "SELECT 2 AS n", [])] == [2]
    finally:
        await dispose_all()
        unregister_database("pin_back")


async def test_a_block_cancelled_while_a_statement_runs_on_its_connection_closes_it(pg_url: str) -> None:
    """The block's task is cancelled while it waits for a statement still running on the connection: the
    connection is closed (that statement fails with a connection error) rather than given back busy."""
    register_database(DatabaseProjectConfig(name="pin_cut", url=pg_url, pool_min_size=1, pool_max_size=1))
    slow: list[asyncio.Task[str]] = []

    async def request() -> None:
        async with connection("pin_cut"):
            await executor.fetch("pin_cut", "SELECT 1", [])
            statement = executor.execute("pin_cut", "SELECT pg_sleep(2)", [], user_sql=True)  # not retried
            slow.append(asyncio.create_task(statement))
            await asyncio.sleep(0.05)

    try:
        owner = asyncio.create_task(request())
        await asyncio.sleep(0.3)  # the block has ended and waits for the statement
        assert not owner.done()
        owner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await owner
        with pytest.raises(OrmConnectionError):
            await asyncio.wait_for(slow[0], 10)
        assert pool_stats("pin_cut").in_use == 0
        assert [row["n"] for row in await executor.fetch("pin_cut", "SELECT 2 AS n", [])] == [2]
    finally:
        await dispose_all()
        unregister_database("pin_cut")


async def test_nested_blocks_and_transactions_reuse_the_pinned_connection() -> None:
    async with connection():
        pid = await backend_pid()
        async with connection("test"):
            assert await backend_pid() == pid
        async with transaction("test"):
            await Author.create(name="in tx")
            assert await backend_pid() == pid
        with pytest.raises(ValueError):
            async with transaction("test"):
                await Author.create(name="rolled back")
                raise ValueError
        assert await backend_pid() == pid
        assert [a.name for a in await Author.all()] == ["in tx"]


async def test_a_stream_takes_its_own_connection_unless_it_runs_in_a_transaction_of_the_block() -> None:
    for i in range(3):
        await Author.create(name=f"s{i}")
    async with connection():
        pid = await backend_pid()
        async for author in Author.all().order_by("id").iterator(chunk_size=2):
            assert pool_stats("test").in_use == 2  # the cursor's connection and the block's
            assert await backend_pid() == pid  # the loop's statements stay on the block's connection
            await author.update(name=author.name.upper())
        async with transaction("test"):  # streaming on the block's connection
            async for author in Author.all().order_by("id").iterator(chunk_size=2):
                assert pool_stats("test").in_use == 1
                assert await backend_pid() == pid
                await author.update(name=author.name.lower())
    assert pool_stats("test").in_use == 0
    assert sorted(a.name for a in await Author.all()) == ["s0", "s1", "s2"]


async def test_other_tasks_use_the_pool_while_a_transaction_holds_the_pin() -> None:
    async with connection():
        pid = await backend_pid()
        go = asyncio.Event()

        async def elsewhere() -> tuple[int, int]:  # started before the transaction: not part of it
            await go.wait()
            return await backend_pid(), await Author.filter(name="uncommitted").count()

        task = asyncio.create_task(elsewhere())
        async with transaction("test"):
            await Author.create(name="uncommitted")
            go.set()
            other, seen = await task
        assert other != pid and seen == 0
        assert await backend_pid() == pid


async def test_released_on_error_and_cancellation() -> None:
    with pytest.raises(RuntimeError):
        async with connection():
            await backend_pid()
            raise RuntimeError
    assert pool_stats("test").in_use == 0
    started = asyncio.Event()

    async def pinned_forever() -> None:
        async with connection():
            await backend_pid()
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(pinned_forever())
    await started.wait()
    assert pool_stats("test").in_use == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool_stats("test").in_use == 0


async def test_a_named_block_pins_only_its_project(db2: str) -> None:
    async with connection("test2"):
        await executor.fetch("test", "SELECT 1", [])
        await executor.fetch("test2", "SELECT 1", [])
        assert pool_stats("test").in_use == 0 and pool_stats("test2").in_use == 1


async def test_a_named_block_leaves_other_projects_to_the_block_around_it(db2: str) -> None:
    async with connection():
        pid = await backend_pid()
        async with connection("test2"):
            await executor.fetch("test2", "SELECT 1", [])
            assert await backend_pid() == pid  # "test" stays on the outer block's connection
            async with transaction("test"):
                await Author.create(name="in tx")
                assert await backend_pid() == pid
            assert pool_stats("test").in_use == 1 and pool_stats("test2").in_use == 1
        # the outer block covers "test2" too: it holds that connection as well, until it ends
        assert pool_stats("test2").in_use == 1 and pool_stats("test").in_use == 1
    assert pool_stats("test").in_use == 0 and pool_stats("test2").in_use == 0
    assert [a.name for a in await Author.all()] == ["in tx"]


async def test_a_block_reuses_the_connection_of_an_outer_block_past_one_that_does_not_cover_it(
    db2: str,
) -> None:
    async with connection("test"):
        pid = await backend_pid()
        async with connection("test2"), connection("test"):
            await executor.fetch("test2", "SELECT 1", [])
            assert await backend_pid() == pid
            async with transaction("test"):
                assert await backend_pid() == pid
            assert pool_stats("test").in_use == 1
    assert pool_stats("test").in_use == 0 and pool_stats("test2").in_use == 0


async def test_a_transaction_cancelled_while_its_begin_runs_leaves_no_transaction_on_the_pin() -> None:
    """Cancelled at each step of opening a transaction on the pinned connection: the block's later writes
    commit on their own (none is caught in a transaction left open by a BEGIN that ran after all)."""
    for steps in range(12):
        async with connection():
            await backend_pid()

            async def in_transaction() -> None:
                async with transaction("test"):
                    await Author.create(name="never")
                    await asyncio.Event().wait()  # only the cancellation ends it: rolled back

            await cancelled_after(steps, in_transaction)
            await Author.create(name=f"kept {steps}")
            rows = await Author.raw_sql("SELECT txid_current_if_assigned() AS txid")
            assert rows[0]["txid"] is None
        assert pool_stats("test").in_use == 0
    names = sorted(a.name for a in await Author.all())
    assert names == sorted(f"kept {steps}" for steps in range(12))


async def test_a_cancelled_block_waits_for_none_of_its_busy_connections(pg_url: str, db2: str) -> None:
    """A block that pinned two projects is cancelled while statements of a task it started still run on
    both: each connection is closed at once (not the first one only)."""
    slow: list[asyncio.Task[str]] = []

    async def request() -> None:
        async with connection():
            for project in ("test", "test2"):
                await executor.fetch(project, "SELECT 1", [])
                statement = executor.execute(project, "SELECT pg_sleep(30)", [], user_sql=True)
                slow.append(asyncio.create_task(statement))
            await asyncio.sleep(0.1)

    owner = asyncio.create_task(request())
    await asyncio.sleep(0.3)  # the block has ended and waits for the first statement
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(owner, 10)
    for task in slow:
        with pytest.raises(OrmConnectionError):
            await asyncio.wait_for(task, 10)
    assert pool_stats("test").in_use == 0 and pool_stats("test2").in_use == 0


async def test_one_connection_object_entered_by_concurrent_tasks_and_nested() -> None:
    pinned = connection()

    async def request(name: str) -> int:
        async with pinned:
            await Author.create(name=name)
            await asyncio.sleep(0.05)
            return await backend_pid()

    pids = await asyncio.gather(request("a"), request("b"))
    assert pids[0] != pids[1] and pool_stats("test").in_use == 0
    async with pinned:
        outer = await backend_pid()
        async with pinned:
            assert await backend_pid() == outer
        assert await backend_pid() == outer and pool_stats("test").in_use == 1
    assert pool_stats("test").in_use == 0 and await Author.count() == 2


async def test_one_connection_object_entered_twice_through_exit_stacks() -> None:
    """An ``AsyncExitStack`` enters and leaves from frames of its own: the exits still close the blocks in
    the order a stack leaves them."""
    pinned = connection()
    async with contextlib.AsyncExitStack() as outer:
        await outer.enter_async_context(pinned)
        first = await backend_pid()
        async with contextlib.AsyncExitStack() as inner:
            await inner.enter_async_context(pinned)
            assert await backend_pid() == first
        assert pool_stats("test").in_use == 1 and await backend_pid() == first
    assert pool_stats("test").in_use == 0


async def test_exit_stacks_keep_their_order_after_the_first_block_of_a_shared_object_ended() -> None:
    pinned = connection()
    first_in, first_out = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with pinned:
            await backend_pid()
            first_in.set()
            await first_out.wait()

    async def stacked() -> tuple[int, int]:
        async with contextlib.AsyncExitStack() as outer:
            await outer.enter_async_context(pinned)
            pid = await backend_pid()
            first_out.set()
            await asyncio.sleep(0.05)  # the first block ends meanwhile
            async with contextlib.AsyncExitStack() as inner:
                await inner.enter_async_context(pinned)
                await backend_pid()
            return pool_stats("test").in_use, await backend_pid() - pid  # the outer block still holds it

    task = asyncio.create_task(first())
    await first_in.wait()
    held, moved = await stacked()
    await task
    assert (held, moved) == (1, 0) and pool_stats("test").in_use == 0


async def test_a_block_in_an_abandoned_async_generator_gives_its_connection_back() -> None:
    problems: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: problems.append(context))

    async def names() -> AsyncIterator[int]:
        async with connection():
            for _ in range(3):
                yield await backend_pid()

    async def first_only() -> int:
        async for pid in names():
            return pid  # leaves the generator suspended inside the block
        raise AssertionError("no rows")

    try:
        await asyncio.create_task(first_only())
        gc.collect()  # the event loop closes the generator in a task of its own
        for _ in range(50):
            if pool_stats("test").in_use == 0:
                break
            await asyncio.sleep(0.02)
        assert pool_stats("test").in_use == 0 and problems == []
    finally:
        asyncio.get_running_loop().set_exception_handler(None)


@pytest.mark.parametrize("database", ["test", None])
async def test_a_transaction_in_an_abandoned_async_generator_is_rolled_back_with_a_warning(
    caplog: pytest.LogCaptureFixture, database: str | None
) -> None:
    """The event loop closes the generator in a task of its own: the transaction is rolled back, its
    connection given back, and a warning says what the generator's caller ran inside it meanwhile."""
    problems: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: problems.append(context))

    async def created() -> AsyncIterator[str]:
        async with transaction(database):
            for name in ("one", "two"):
                yield (await Author.create(name=name)).name

    async def first_only() -> None:
        async for _ in created():
            return

    try:
        await asyncio.create_task(first_only())
        gc.collect()
        for _ in range(50):
            if pool_stats("test").in_use == 0:
                break
            await asyncio.sleep(0.02)
        assert pool_stats("test").in_use == 0 and problems == []
        assert await Author.count() == 0
        assert sum("left in another context" in r.getMessage() for r in caplog.records) == 1
    finally:
        asyncio.get_running_loop().set_exception_handler(None)


async def test_a_shared_connection_object_left_by_an_abandoned_generator_closes_only_that_block() -> None:
    """One ``connection()`` object: a streaming generator is abandoned inside its block while another
    request's block of the same object is open; the generator's later close gives back its own connection
    and leaves the request's alone."""
    pinned = connection()
    kept: list[AsyncIterator[int]] = []

    async def stream() -> AsyncIterator[int]:
        async with pinned:
            for _ in range(3):
                yield await backend_pid()

    async def client_goes_away() -> None:
        body = stream()
        kept.append(body)
        async for _ in body:
            return

    await asyncio.create_task(client_goes_away())
    async with pinned:
        await Author.raw_sql("SELECT set_config('application_name', 'request two', false) AS s")
        pid = await backend_pid()
        kept.clear()
        gc.collect()  # the event loop closes the generator in a task of its own
        await asyncio.sleep(0.1)
        assert pool_stats("test").in_use == 1
        rows = await Author.raw_sql(
            "SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app"
        )
        assert (rows[0]["pid"], rows[0]["app"]) == (pid, "request two")
    assert pool_stats("test").in_use == 0


async def test_a_block_of_a_task_pins_its_own_connection_once_the_outer_block_ended() -> None:
    """A task started in a block opens its own block: it shares the outer block's connection while that
    block is open, and pins one of its own after it ended."""
    outer_ended = asyncio.Event()

    async def task() -> tuple[int, list[int], int]:
        async with connection():
            before = await backend_pid()
            await outer_ended.wait()
            after = [await backend_pid() for _ in range(3)]
            return before, after, pool_stats("test").in_use  # held between statements: pinned

    async with connection():
        pid = await backend_pid()
        child = asyncio.create_task(task())
        await asyncio.sleep(0.05)
    outer_ended.set()
    before, after, held = await child
    assert before == pid and len(set(after)) == 1 and held == 1
    assert pool_stats("test").in_use == 0


async def test_a_statement_queued_behind_one_whose_connection_died_runs_on_a_new_one(pg_url: str) -> None:
    async with connection():
        pid = await backend_pid()
        slow = asyncio.create_task(executor.fetch("test", "SELECT pg_sleep(2)", [], user_sql=True))
        await asyncio.sleep(0.05)
        queued = asyncio.create_task(Author.create(name="queued"))
        await asyncio.sleep(0.05)
        await terminate(pg_url, pid)
        with pytest.raises(OrmConnectionError):
            await slow
        assert (await queued).name == "queued"
    assert [a.name for a in await Author.all()] == ["queued"]
    assert pool_stats("test").in_use == 0


async def test_session_state_from_user_sql_is_reset_when_the_block_ends() -> None:
    async with connection():
        await Author.raw_sql("SELECT set_config('statement_timeout', '1234', false) AS s")
        assert (await Author.raw_sql("SHOW statement_timeout"))[0]["statement_timeout"] == "1234ms"
    for _ in range(3):
        assert (await Author.raw_sql("SHOW statement_timeout"))[0]["statement_timeout"] != "1234ms"


async def test_a_pinned_connection_killed_by_the_server_is_replaced_for_reads(pg_url: str) -> None:
    async with connection():
        pid = await backend_pid()
        await terminate(pg_url, pid)
        assert await Author.filter(name="x").count() == 0
        assert await backend_pid() != pid
    assert pool_stats("test").in_use == 0


async def test_statements_queued_behind_a_dying_pin_run_on_the_blocks_new_connection(pg_url: str) -> None:
    """A pool of one: a read runs on the pinned connection (held up by a table lock), a second waits for it,
    and the server ends the connection. The read runs again on the block's new connection, and the waiting
    one follows it there instead of waiting for a pool the new pin holds."""
    register_database(
        DatabaseProjectConfig(name="pin_dies", url=pg_url, pool_min_size=1, pool_max_size=1, pool_timeout=3)
    )
    admin = await asyncpg.connect(pg_url)
    count = f"SELECT count(*) AS n FROM {_quoted(Author)}"
    try:
        async with connection("pin_dies"):
            pid = (await executor.fetch("pin_dies", "SELECT pg_backend_pid() AS pid", []))[0]["pid"]
            locked = admin.transaction()
            await locked.start()
            await admin.execute(f"LOCK TABLE {_quoted(Author)} IN ACCESS EXCLUSIVE MODE")
            first = asyncio.create_task(executor.fetch("pin_dies", count, []))
            await asyncio.sleep(0.1)
            queued = asyncio.create_task(executor.fetch("pin_dies", count.replace("(*)", "(*) + 1"), []))
            await asyncio.sleep(0.1)
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            await locked.rollback()
            assert [rows[0]["n"] for rows in await asyncio.gather(first, queued)] == [0, 1]
            now = (await executor.fetch("pin_dies", "SELECT pg_backend_pid() AS pid", []))[0]["pid"]
            assert now != pid and pool_stats("pin_dies").in_use == 1
        assert pool_stats("pin_dies").in_use == 0
    finally:
        await admin.close()
        await dispose_all()
        unregister_database("pin_dies")


async def test_a_block_ends_without_waiting_for_the_retry_of_a_read_whose_pin_died(pg_url: str) -> None:
    """A task started in the block reads on the pinned connection when the block ends; the connection dies
    and the read runs again on the pool, which is busy for a while. The block's end waits for the read's
    first try on its connection, not for the retry elsewhere."""
    register_database(
        DatabaseProjectConfig(name="pin_exit", url=pg_url, pool_min_size=1, pool_max_size=2, pool_timeout=10)
    )
    admin = await asyncpg.connect(pg_url)
    locked = admin.transaction()

    async def unpinned_sleep() -> Any:
        pin_blocks.set(None)  # a statement of a task outside any block
        return await executor.fetch("pin_exit", "SELECT pg_sleep(1.5)", [], user_sql=True)

    try:
        async with connection("pin_exit"):
            pid = (await executor.fetch("pin_exit", "SELECT pg_backend_pid() AS pid", []))[0]["pid"]
            await locked.start()
            await admin.execute(f"LOCK TABLE {_quoted(Author)} IN ACCESS EXCLUSIVE MODE")
            child = asyncio.create_task(
                executor.fetch("pin_exit", f"SELECT count(*) AS n FROM {_quoted(Author)}", [])
            )
            await asyncio.sleep(0.1)
            busy = asyncio.create_task(unpinned_sleep())  # the pool's other connection, for 1.5 s
            await asyncio.sleep(0.1)
            queued = asyncio.create_task(unpinned_sleep())  # first in line for the pool
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            await locked.rollback()
        assert not child.done()  # its retry waits for the pool; the block did not wait for it
        assert (await child)[0]["n"] == 0
        await asyncio.gather(busy, queued)
        assert pool_stats("pin_exit").in_use == 0
    finally:
        await admin.close()
        await dispose_all()
        unregister_database("pin_exit")


async def test_a_write_on_a_killed_pinned_connection_fails_and_the_next_statement_pins_a_new_one(
    pg_url: str,
) -> None:
    async with connection():
        pid = await backend_pid()
        await terminate(pg_url, pid)
        with pytest.raises(OrmConnectionError, match="connection to the database was lost"):
            await Author.filter(name="nobody").update(name="x")  # a write is never run twice
        await Author.create(name="after")
        assert await backend_pid() != pid
    assert [a.name for a in await Author.all()] == ["after"]
    assert pool_stats("test").in_use == 0


async def test_a_statement_error_on_a_pinned_connection_keeps_the_connection(pg_url: str) -> None:
    async with connection():
        pid = await backend_pid()
        with pytest.raises(DatabaseError, match="division by zero") as failed:
            await Author.raw_sql("SELECT 1 / 0 AS x")
        assert not isinstance(failed.value, OrmConnectionError)
        assert await backend_pid() == pid
    assert pool_stats("test").in_use == 0


async def test_a_killed_connection_pinned_by_an_outer_block_is_replaced_in_a_deeply_nested_one(
    pg_url: str,
) -> None:
    async with connection(), connection(), connection():  # the outermost block holds the pin
        pid = await backend_pid()
        await terminate(pg_url, pid)
        assert await Author.filter(name="x").count() == 0
        assert await Author.filter(name="y").count() == 0  # the dead pin was dropped, not reused
        assert await backend_pid() != pid
    assert pool_stats("test").in_use == 0


async def test_iterator_inside_a_block_takes_its_own_connection() -> None:
    await Author.bulk_create([Author(name=f"i{i}") for i in range(5)])
    async with connection():
        pid = await backend_pid()
        names = []
        async for author in Author.all().order_by("name").iterator(chunk_size=2):
            names.append(author.name)
            assert await backend_pid() == pid  # the body's statements stay on the pinned one
        assert names == [f"i{i}" for i in range(5)]


async def test_asgi_middleware_pins_per_request_and_only_when_used() -> None:
    from matrx_orm.asgi import PinConnectionMiddleware

    seen: list[tuple[int, ...]] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["path"] == "/db":
            seen.append(tuple([await backend_pid() for _ in range(3)]))
            seen.append((pool_stats("test").in_use,))
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    middleware = PinConnectionMiddleware(app)
    sent: list[dict] = []  # type: ignore[type-arg]

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        sent.append(message)

    await middleware({"type": "http", "path": "/db"}, receive, send)
    await middleware({"type": "http", "path": "/static"}, receive, send)
    assert len(set(seen[0])) == 1 and seen[1] == (1,)
    assert pool_stats("test").in_use == 0
    assert [m["type"] for m in sent].count("http.response.start") == 2
