"""Faults on a real server of the test's own: backends terminated, the server restarted and stopped, tasks
cancelled at chosen points, a pool exhausted. Each test checks the error the caller gets, that nothing was
half-written, that the pool ends idle and that nothing noisy reached stderr or the asyncio/asyncpg logs."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import threading
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from _cluster import Cluster

from matrx_orm import (
    CharField,
    CommitOutcomeUnknownError,
    ConnectionError,
    DatabaseProjectConfig,
    IntegerField,
    Model,
    PoolExhaustedError,
    TransactionError,
    create_all,
    register_database,
    transaction,
    unregister_database,
)
from matrx_orm.db import executor
from matrx_orm.db.engine import dispose_all, pool_stats

DB = "faults"
DB2 = "faults_two"


class Ticket(Model):
    id = IntegerField(primary_key=True)
    label = CharField(max_length=40)
    _database = DB
    _table_name = "fault_ticket"


class SlowTicket(Model):
    """Its inserts make COMMIT take 0.6 s (a deferred trigger sleeps): time to act during COMMIT."""

    id = IntegerField(primary_key=True)
    label = CharField(max_length=40)
    _database = DB
    _table_name = "fault_slow_ticket"


class OtherTicket(Model):
    """On a second database of the same server (multi-database transactions)."""

    id = IntegerField(primary_key=True)
    label = CharField(max_length=40)
    _database = DB2
    _table_name = "fault_other_ticket"


SLOW_COMMIT_SQL = [
    "CREATE OR REPLACE FUNCTION fault_slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_sleep(0.6); RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS fault_slow_commit ON fault_slow_ticket",
    "CREATE CONSTRAINT TRIGGER fault_slow_commit AFTER INSERT ON fault_slow_ticket "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fault_slow_commit()",
]

NOISY_LOGGERS = ("asyncio", "asyncpg")


# -- fixtures ------------------------------------------------------------------------------------------------


def use(server: Cluster, **settings: object) -> None:
    register_database(DatabaseProjectConfig(name=DB, url=server.url(DB), **settings))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def _faults_database(own_server: Cluster) -> Cluster:
    async def create() -> None:
        admin = await asyncpg.connect(own_server.url())
        try:
            for name in (DB, DB2):
                if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await admin.execute(f"CREATE DATABASE {name}")
        finally:
            await admin.close()

    asyncio.run(create())
    return own_server


@pytest.fixture
async def server(_faults_database: Cluster) -> AsyncIterator[Cluster]:
    if not _faults_database.started:
        _faults_database.start()
    use(_faults_database, pool_min_size=1, pool_max_size=5, pool_timeout=5)
    register_database(DatabaseProjectConfig(name=DB2, url=_faults_database.url(DB2)))
    await create_all(DB, models=[Ticket, SlowTicket])
    await create_all(DB2, models=[OtherTicket])
    await executor.execute(DB2, "TRUNCATE fault_other_ticket", [])
    for sql in SLOW_COMMIT_SQL:
        await executor.execute(DB, sql, [])
    await executor.execute(DB, "TRUNCATE fault_ticket, fault_slow_ticket", [])
    try:
        yield _faults_database
    finally:
        await dispose_all()
        unregister_database(DB)
        unregister_database(DB2)
        if not _faults_database.started:
            _faults_database.start()


@pytest.fixture
async def admin(server: Cluster) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(server.url(DB))
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """After the test: no warnings from asyncio or asyncpg, nothing on stderr."""
    caplog.set_level(logging.WARNING)
    yield
    gc.collect()  # "Future exception was never retrieved" is reported when the future is collected
    noisy = [r for r in caplog.records if r.name.split(".")[0] in NOISY_LOGGERS]
    assert not noisy, [r.getMessage() for r in noisy]
    assert capfd.readouterr().err == ""


async def kill(admin: asyncpg.Connection, *pids: int) -> None:
    """Terminate the backends and wait until they are gone."""
    await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(pids))
    for _ in range(200):
        alive = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", list(pids)
        )
        if not alive:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("backends still alive")


def kill_blocking(server: Cluster, pids: list[int]) -> None:
    """Terminate the backends from another thread while this event loop is blocked: the pool's sockets
    then still look open when the next statement is sent (as after a failover the client has not seen)."""

    async def run() -> None:
        connection = await asyncpg.connect(server.url(DB))
        try:
            await kill(connection, *pids)
        finally:
            await connection.close()

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    thread.join()


async def pool_pids(admin: asyncpg.Connection) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'",
        DB,
    )
    return [row["pid"] for row in rows]


async def warm(count: int) -> None:
    """Make the pool open ``count`` connections (held at once, then released)."""
    gate = asyncio.Event()

    async def hold() -> None:
        async with transaction(DB):
            await Ticket.filter(id=-1).count()
            await gate.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    while pool_stats(DB).in_use < count:
        await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*tasks)


def assert_idle() -> None:
    stats = pool_stats(DB)
    assert stats.in_use == 0 and stats.waiting == 0, stats
    assert stats.idle == stats.size <= stats.max_size, stats


async def rows() -> list[int]:
    return sorted(await Ticket.all().values_list("id", flat=True))


# -- a connection dying inside transaction() ------------------------------------------------------------------


async def test_callers_error_survives_a_dead_transaction_connection(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    with pytest.raises(ValueError, match="the caller's own"):
        async with transaction(DB) as tx:
            await Ticket.create(id=1, label="a")
            await kill(admin, tx.connection.get_server_pid())
            raise ValueError("the caller's own")
    assert await rows() == []
    assert_idle()


async def test_cancellation_survives_a_dead_transaction_connection(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    killed = asyncio.Event()

    async def work() -> None:
        async with transaction(DB) as tx:
            await Ticket.create(id=1, label="a")
            await kill(admin, tx.connection.get_server_pid())
            killed.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(work())
    await killed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await rows() == []
    assert_idle()


async def test_statement_on_a_dead_transaction_connection_is_a_connection_error(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    with pytest.raises(ConnectionError) as caught:
        async with transaction(DB) as tx:
            await Ticket.create(id=1, label="a")
            await kill(admin, tx.connection.get_server_pid())
            await Ticket.create(id=2, label="b")
    assert "lost" in caught.value.message
    assert await rows() == []
    assert_idle()


# -- COMMIT -------------------------------------------------------------------------------------------------


async def test_cancelled_during_commit_commits_then_delivers_the_cancellation(
    server: Cluster, quiet: None
) -> None:
    body_done = asyncio.Event()

    async def work() -> None:
        async with transaction(DB):
            await SlowTicket.create(id=1, label="kept")
            body_done.set()

    task = asyncio.create_task(work())
    await body_done.wait()
    await asyncio.sleep(0.2)  # COMMIT is under way (the deferred trigger sleeps 0.6 s)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await SlowTicket.all().values_list("label", flat=True) == ["kept"]
    assert_idle()


async def test_cancelled_during_a_multi_database_commit_commits_every_database(
    server: Cluster, quiet: None
) -> None:
    body_done = asyncio.Event()

    async def work() -> None:
        async with transaction():  # joins both databases; commits them in order of first use
            await SlowTicket.create(id=1, label="first")
            await OtherTicket.create(id=1, label="second")
            body_done.set()

    task = asyncio.create_task(work())
    await body_done.wait()
    await asyncio.sleep(0.2)  # the first COMMIT is under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await SlowTicket.all().values_list("label", flat=True) == ["first"]
    assert await OtherTicket.all().values_list("label", flat=True) == ["second"]
    assert_idle()


async def test_cancelled_before_commit_rolls_back(server: Cluster, quiet: None) -> None:
    inside = asyncio.Event()

    async def work() -> None:
        async with transaction(DB):
            await Ticket.create(id=1, label="dropped")
            inside.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await rows() == []
    assert_idle()


async def test_connection_lost_during_commit_is_outcome_unknown(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    async def work() -> None:
        async with transaction(DB) as tx:
            await SlowTicket.create(id=1, label="?")
            pid = tx.connection.get_server_pid()
            asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(kill(admin, pid)))

    with pytest.raises(CommitOutcomeUnknownError) as caught:
        await work()
    assert isinstance(caught.value, TransactionError)
    assert "may or may not" in caught.value.message
    await asyncio.sleep(0.1)
    assert_idle()


async def test_commit_of_an_aborted_transaction_is_an_error_not_a_silent_rollback(server: Cluster) -> None:
    with pytest.raises(TransactionError, match="rolled back, not committed"):
        async with transaction(DB):
            await Ticket.create(id=1, label="a")
            with pytest.raises(Exception):  # noqa: B017  (the duplicate key aborts the transaction)
                await Ticket.create(id=1, label="a")
    assert await rows() == []


# -- idle pooled connections killed by the server -------------------------------------------------------------


async def test_reads_after_idle_connections_were_killed_are_retried(
    server: Cluster, admin: asyncpg.Connection, caplog: pytest.LogCaptureFixture, quiet: None
) -> None:
    await Ticket.create(id=1, label="a")
    await warm(5)
    caplog.set_level(logging.INFO, logger="matrx_orm.db.executor")
    kill_blocking(server, await pool_pids(admin))
    results = [await Ticket.filter(id=1).count() for _ in range(15)]
    assert results == [1] * 15
    assert any("runs again" in r.getMessage() for r in caplog.records)
    assert_idle()


async def test_a_write_on_a_killed_connection_is_a_connection_error_and_not_retried(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    use(server, pool_min_size=1, pool_max_size=1)
    await warm(1)
    kill_blocking(server, await pool_pids(admin))
    with pytest.raises(ConnectionError, match="lost"):
        await Ticket.create(id=1, label="a")
    await Ticket.create(id=2, label="b")  # the next statement gets a fresh connection
    assert await rows() == [2]
    assert_idle()


async def test_transaction_begin_after_idle_connections_were_killed(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    await warm(3)
    kill_blocking(server, await pool_pids(admin))
    async with transaction(DB):
        await Ticket.create(id=1, label="a")
    assert await rows() == [1]
    assert_idle()


async def test_server_restart_under_a_live_pool(server: Cluster, quiet: None) -> None:
    await Ticket.create(id=1, label="a")
    await warm(4)
    server.restart()
    assert [await Ticket.filter(id=1).count() for _ in range(15)] == [1] * 15
    async with transaction(DB):
        await Ticket.create(id=2, label="b")
    assert await rows() == [1, 2]
    assert_idle()


async def test_server_down_gives_connection_errors_and_one_line_logs(
    server: Cluster, caplog: pytest.LogCaptureFixture, quiet: None
) -> None:
    use(server, pool_min_size=2, pool_max_size=3, connect_timeout=2)
    await warm(2)
    server.stop()
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await Ticket.filter(id=1).count()
    with pytest.raises(ConnectionError):
        async with transaction(DB):
            await Ticket.create(id=1, label="a")
    await asyncio.sleep(2.5)  # the pool retries reopening its minimum connections meanwhile
    floor = [r for r in caplog.records if r.name == "matrx_orm.db.engine"]
    assert floor and all(r.exc_info is None and "\n" not in r.getMessage() for r in floor)
    server.start()
    assert await Ticket.filter(id=1).count() == 0


# -- a full pool ------------------------------------------------------------------------------------------------


async def test_full_pool_raises_pool_exhausted_naming_database_size_and_waiters(
    server: Cluster, quiet: None
) -> None:
    use(server, pool_min_size=0, pool_max_size=2, pool_timeout=0.5)
    release = asyncio.Event()

    async def hold() -> None:
        async with transaction(DB):
            await Ticket.filter(id=0).count()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    while pool_stats(DB).in_use < 2:
        await asyncio.sleep(0.01)
    waiters = [asyncio.create_task(Ticket.filter(id=0).count()) for _ in range(98)]
    await asyncio.sleep(0.1)
    stats = pool_stats(DB)
    assert (stats.in_use, stats.waiting, stats.max_size) == (2, 98, 2)
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(result, PoolExhaustedError) for result in results)
    error = results[0]
    assert isinstance(error, PoolExhaustedError) and isinstance(error, ConnectionError)
    assert f"'{DB}'" in error.message and "all 2 connections" in error.message and "waiting" in error.message
    assert error.details["pool_size"] == 2 and error.details["waiting"] >= 1
    release.set()
    await asyncio.gather(*holders)
    assert await Ticket.filter(id=0).count() == 0
    assert_idle()


async def test_hundred_tasks_on_a_pool_of_two_all_finish(server: Cluster, quiet: None) -> None:
    use(server, pool_min_size=0, pool_max_size=2, pool_timeout=10)

    async def write(n: int) -> None:
        async with transaction(DB):
            await Ticket.create(id=n, label=str(n))

    await asyncio.gather(*(write(n) for n in range(100)))
    assert await rows() == list(range(100))
    assert_idle()


async def test_cancelled_while_waiting_for_a_connection(server: Cluster, quiet: None) -> None:
    use(server, pool_min_size=0, pool_max_size=1, pool_timeout=10)
    release = asyncio.Event()

    async def hold() -> None:
        async with transaction(DB):
            await Ticket.create(id=1, label="held")
            await release.wait()

    holder = asyncio.create_task(hold())
    while pool_stats(DB).in_use < 1:
        await asyncio.sleep(0.01)
    waiter = asyncio.create_task(Ticket.create(id=2, label="never"))
    await asyncio.sleep(0.05)
    assert pool_stats(DB).waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool_stats(DB).waiting == 0
    release.set()
    await holder
    assert await rows() == [1]
    assert_idle()


async def test_iterators_querying_inside_their_loops_fail_instead_of_hanging(
    server: Cluster, quiet: None
) -> None:
    use(server, pool_min_size=0, pool_max_size=2, pool_timeout=0.5)
    await Ticket.bulk_create([Ticket(id=n, label=str(n)) for n in range(10)])

    async def loop() -> int:
        seen = 0
        async for ticket in Ticket.all().iterator(chunk_size=2):
            seen += await Ticket.filter(id=ticket.id).count()  # a second connection per loop
        return seen

    results = await asyncio.gather(loop(), loop(), return_exceptions=True)
    assert any(isinstance(result, PoolExhaustedError) for result in results)
    await asyncio.sleep(0.1)  # a loop left by an exception closes its iterator through the event loop
    assert_idle()


async def test_iterator_with_queries_inside_one_transaction(server: Cluster, quiet: None) -> None:
    """The documented pattern: inside transaction() the cursor and the loop's queries share one connection."""
    use(server, pool_min_size=0, pool_max_size=2, pool_timeout=2)
    await Ticket.bulk_create([Ticket(id=n, label=str(n)) for n in range(10)])

    async def loop() -> int:
        seen = 0
        async with transaction(DB):
            async for ticket in Ticket.all().iterator(chunk_size=2):
                seen += await Ticket.filter(id=ticket.id).count()
        return seen

    assert await asyncio.gather(loop(), loop(), loop(), loop()) == [10, 10, 10, 10]
    assert_idle()


# -- a bounded soak ---------------------------------------------------------------------------------------------


async def test_soak_mixed_operations_with_cancellations_and_backend_kills(
    server: Cluster, admin: asyncpg.Connection, quiet: None
) -> None:
    use(server, pool_min_size=2, pool_max_size=6, pool_timeout=20)
    rng = random.Random(1234)
    committed: set[int] = set()
    unknown: set[int] = set()
    rolled_back: set[int] = set()
    errors: list[BaseException] = []

    async def write(n: int) -> None:
        reached_commit = False
        try:
            async with transaction(DB):
                await Ticket.create(id=n, label=f"t{n}")
                if n % 7 == 0:
                    await Ticket.filter(id=n).update(label=f"u{n}")
                await asyncio.sleep(rng.random() * 0.004)
                reached_commit = True
            committed.add(n)
        except asyncio.CancelledError:
            (committed if reached_commit else rolled_back).add(n)
            raise
        except CommitOutcomeUnknownError:
            unknown.add(n)
        except ConnectionError:
            (unknown if reached_commit else rolled_back).add(n)

    async def read(n: int) -> None:
        try:
            if n % 3:
                await Ticket.filter(id__lt=n).count()
            else:
                async for _ in Ticket.filter(id__lt=50).iterator(chunk_size=10):
                    pass
        except ConnectionError as exc:  # a read whose retry also met a killed connection
            errors.append(exc)

    operations = 2000
    batch: list[asyncio.Task[None]] = []
    for n in range(operations):
        batch.append(asyncio.create_task(write(n) if n % 2 == 0 else read(n)))
        if rng.random() < 0.05:
            rng.choice(batch).cancel()
        if n in (600, 1400):
            kill_blocking(server, await pool_pids(admin))
        if len(batch) >= 40:
            await asyncio.gather(*batch, return_exceptions=True)
            batch = []
    await asyncio.gather(*batch, return_exceptions=True)

    stored = set(await rows())
    assert committed <= stored
    assert not (rolled_back & stored)
    assert stored <= committed | unknown
    assert len(committed) > 800
    assert len(errors) < 20, errors[:3]
    labels = dict(await Ticket.all().values_list("id", "label"))
    assert all(labels[n] == (f"u{n}" if n % 7 == 0 else f"t{n}") for n in stored)
    await asyncio.sleep(0.05)
    assert_idle()
