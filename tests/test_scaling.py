"""Beyond one server, on the real engines: a PgBouncer in transaction mode in front of the suite's own
cluster, and streaming replicas made from it with ``pg_basebackup -R``."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from _cluster import Bouncer, Cluster

from matrx_orm import (
    CharField,
    ConfigurationError,
    DatabaseError,
    DatabaseProjectConfig,
    ForeignKey,
    IntegerField,
    Model,
    QueryEvent,
    create_all,
    health_check,
    on_query,
    pool_stats,
    primary,
    register_database,
    transaction,
    unregister_database,
)
from matrx_orm.db import executor
from matrx_orm.db.engine import dispose_all
from matrx_orm.db.routing import route

DB = "scaling"


class Note(Model):
    id = IntegerField(primary_key=True)
    body = CharField(max_length=60)
    _database = DB
    _table_name = "scaling_note"


class Writer(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=60)
    _database = DB
    _table_name = "scaling_writer"
    _inverse_foreign_keys = {
        "pieces": {"from_model": "Piece", "from_field": "writer_id", "referenced_field": "id"}
    }


class Piece(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=60)
    writer_id = ForeignKey("Writer", "id")
    _database = DB
    _table_name = "scaling_piece"


# -- servers ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def primary_server(own_server: Cluster) -> Cluster:
    if not own_server.started:
        own_server.start()

    async def create() -> None:
        admin = await asyncpg.connect(own_server.url())
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB):
                await admin.execute(f"CREATE DATABASE {DB}")
        finally:
            await admin.close()
        connection = await asyncpg.connect(own_server.url(DB))
        try:
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS scaling_note (id integer PRIMARY KEY, body varchar(60) NOT NULL);"
                "CREATE TABLE IF NOT EXISTS scaling_writer (id integer PRIMARY KEY, name varchar(60) NOT NULL);"
                "CREATE TABLE IF NOT EXISTS scaling_piece (id integer PRIMARY KEY, title varchar(60) NOT NULL,"
                " writer_id integer NOT NULL REFERENCES scaling_writer (id))"
            )
        finally:
            await connection.close()

    asyncio.run(create())
    return own_server


@pytest.fixture(scope="module")
def replicas(primary_server: Cluster) -> Iterator[list[Cluster]]:
    standbys = [primary_server.standby(), primary_server.standby()]
    try:
        yield standbys
    finally:
        for standby in standbys:
            standby.destroy()


@pytest.fixture(scope="module")
def bouncer(primary_server: Cluster) -> Iterator[Bouncer]:
    if not Bouncer.available():
        pytest.skip("PgBouncer is not installed (Debian package 'pgbouncer'; .ci/run installs it)")
    running = Bouncer(primary_server, pool_size=3)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def clean(primary_server: Cluster) -> AsyncIterator[None]:
    connection = await asyncpg.connect(primary_server.url(DB))
    try:
        await connection.execute("TRUNCATE scaling_note, scaling_piece, scaling_writer")
    finally:
        await connection.close()
    yield
    await dispose_all()
    unregister_database(DB)
    unregister_database(f"{DB}_ro")


@pytest.fixture
def events() -> Iterator[list[QueryEvent]]:
    seen: list[QueryEvent] = []
    hook = on_query(seen.append)
    yield seen
    hook.remove()


async def caught_up(primary_server: Cluster, standbys: list[Cluster]) -> None:
    """Wait until every standby has replayed the primary's current WAL position."""
    admin = await asyncpg.connect(primary_server.url())
    try:
        target = await admin.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await admin.close()
    for standby in standbys:
        connection = await asyncpg.connect(standby.url())
        try:
            for _ in range(500):
                if await connection.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the standby did not catch up")
        finally:
            await connection.close()


async def replay(standby: Cluster, *, paused: bool) -> None:
    connection = await asyncpg.connect(standby.url())
    try:
        await connection.execute(
            "SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"
        )
    finally:
        await connection.close()


def with_replicas(primary_server: Cluster, standbys: list[Cluster], **settings: object) -> None:
    register_database(
        DatabaseProjectConfig(
            name=DB,
            url=primary_server.url(DB),
            replicas=[standby.url(DB) for standby in standbys],
            **settings,  # type: ignore[arg-type]
        )
    )


def servers(events: list[QueryEvent], operation: str = "select") -> list[str]:
    return [event.database for event in events if event.operation == operation]


# -- read replicas --------------------------------------------------------------------------------------------


async def test_reads_round_robin_over_replicas_and_writes_go_to_the_primary(
    primary_server: Cluster, replicas: list[Cluster], clean: None, events: list[QueryEvent]
) -> None:
    with_replicas(primary_server, replicas, replica_lag_window=0)
    await Note.create(id=1, body="a")
    await caught_up(primary_server, replicas)
    for _ in range(4):
        assert await Note.filter(id=1).count() == 1
    assert servers(events, "insert") == [DB]
    assert servers(events) == [f"{DB}~replica1", f"{DB}~replica2"] * 2
    rows = await Note.raw_sql("SELECT pg_is_in_recovery() AS standby")
    assert rows == [{"standby": True}]
    assert [note.body async for note in Note.all().iterator()] == ["a"]
    assert servers(events)[-1].startswith(f"{DB}~replica")


async def test_read_your_writes_window_and_escape_hatches(
    primary_server: Cluster, replicas: list[Cluster], clean: None, events: list[QueryEvent]
) -> None:
    with_replicas(primary_server, replicas, replica_lag_window=30)
    for standby in replicas:
        await replay(standby, paused=True)
    try:
        await Note.create(id=1, body="fresh")
        assert await Note.filter(id=1).count() == 1  # the writer's reads stay on the primary
        assert servers(events)[-1] == DB

        async def other_request() -> tuple[int, int, int]:
            """A context that has not written: its reads go to the (paused) replicas."""
            return (
                await Note.filter(id=1).count(),
                await Note.filter(id=1).using_primary().count(),
                await _count_inside_primary(),
            )

        assert await asyncio.get_running_loop().create_task(other_request(), context=_fresh_context()) == (
            0,
            1,
            1,
        )
    finally:
        for standby in replicas:
            await replay(standby, paused=False)


async def _count_inside_primary() -> int:
    with primary():
        return await Note.filter(id=1).count()


def _fresh_context():  # type: ignore[no-untyped-def]
    import contextvars

    return contextvars.Context()


async def test_the_read_your_writes_window_starts_when_the_write_has_completed(
    primary_server: Cluster, replicas: list[Cluster], clean: None, events: list[QueryEvent]
) -> None:
    """A transaction or a write longer than the window: the reads right after it still go to the primary."""
    with_replicas(primary_server, replicas[:1], replica_lag_window=0.5)
    async with transaction(DB):
        await Note.create(id=1, body="a")
        await asyncio.sleep(0.7)
    await Note.filter(id=1).count()
    assert servers(events)[-1] == DB
    await asyncio.sleep(0.6)
    await Note.filter(id=1).count()
    assert servers(events)[-1] == f"{DB}~replica1"
    slow_update = "UPDATE scaling_note SET body = 'b' FROM (SELECT pg_sleep(0.7)) AS slow"
    await executor.execute(DB, slow_update, [], user_sql=True)
    await Note.filter(id=1).count()
    assert servers(events)[-1] == DB


async def test_a_joining_transaction_keeps_its_owners_reads_on_the_primary(
    primary_server: Cluster, replicas: list[Cluster], clean: None, events: list[QueryEvent]
) -> None:
    """The block's first statement ran in a gathered task: the block's owner still reads its writes."""
    with_replicas(primary_server, replicas[:1], replica_lag_window=30)
    async with transaction():
        await asyncio.gather(Note.create(id=1, body="a"))
    await Note.filter(id=1).count()
    assert servers(events)[-1] == DB


async def test_a_read_past_command_timeout_on_a_replica_is_a_timeout(
    primary_server: Cluster,
    replicas: list[Cluster],
    clean: None,
    events: list[QueryEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not a replica that cannot be reached: no back-off, no second run on the primary."""
    with_replicas(primary_server, replicas[:1], replica_lag_window=0, command_timeout=0.3)
    caplog.set_level(logging.INFO, logger="matrx_orm")
    with pytest.raises(DatabaseError) as info:
        await executor.fetch(DB, "SELECT pg_sleep(1)", [])
    assert type(info.value) is DatabaseError and info.value.message.startswith("The statement timed out")
    assert [(event.database, event.error is not None) for event in events] == [(f"{DB}~replica1", True)]
    assert not [record for record in caplog.records if record.levelno >= logging.INFO]
    assert await Note.filter(id=1).count() == 0
    assert servers(events)[-1] == f"{DB}~replica1"


async def test_transactions_and_locking_reads_stay_on_the_primary(
    primary_server: Cluster, replicas: list[Cluster], clean: None, events: list[QueryEvent]
) -> None:
    with_replicas(primary_server, replicas, replica_lag_window=0)
    async with transaction(DB):
        await Note.create(id=1, body="in tx")
        assert await Note.filter(id=1).count() == 1
    assert set(servers(events)) == {DB}
    locking = "SELECT scaling_note.id FROM scaling_note WHERE scaling_note.id = $1 FOR UPDATE"
    assert route(DB, locking, False) == DB
    assert route(DB, "select 1", True).startswith(f"{DB}~replica")
    assert route(DB, "UPDATE scaling_note SET body = 'x'", True) == DB


async def test_a_stopped_replica_is_skipped_and_reads_fall_back(
    primary_server: Cluster,
    replicas: list[Cluster],
    clean: None,
    events: list[QueryEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with_replicas(primary_server, replicas[:1], replica_lag_window=0, replica_backoff=1, connect_timeout=2)
    await Note.create(id=1, body="a")
    await caught_up(primary_server, replicas)
    assert await Note.filter(id=1).count() == 1
    replicas[0].stop()
    try:
        caplog.set_level(logging.WARNING, logger="matrx_orm.db.routing")
        for _ in range(5):
            assert await Note.filter(id=1).count() == 1  # answered by the primary, no error
        assert servers(events)[-5:] == [DB] * 5
        warnings = [r for r in caplog.records if r.name == "matrx_orm.db.routing"]
        assert len(warnings) == 1 and "replica1" in warnings[0].getMessage()
    finally:
        replicas[0].start()
    await asyncio.sleep(1.1)  # the back-off ends: the replica is tried again
    assert await Note.filter(id=1).count() == 1
    assert servers(events)[-1] == f"{DB}~replica1"


async def test_replicas_have_health_and_pool_stats(
    primary_server: Cluster, replicas: list[Cluster], clean: None
) -> None:
    with_replicas(primary_server, replicas)
    status = await health_check(f"{DB}~replica1")
    assert status.ok and status.in_recovery is True
    assert (await health_check(DB)).in_recovery is False
    assert pool_stats(f"{DB}~replica1").size >= 1


async def test_relations_follow_the_database_a_row_was_read_from(
    primary_server: Cluster, replicas: list[Cluster], clean: None, events: list[QueryEvent]
) -> None:
    """A replica registered as a project of its own: rows read with using() load their relations there."""
    register_database(DatabaseProjectConfig(name=DB, url=primary_server.url(DB)))
    register_database(DatabaseProjectConfig(name=f"{DB}_ro", url=replicas[0].url(DB)))
    writer = await Writer.create(id=1, name="w")
    await Piece.create(id=1, title="one", writer_id=writer.id)
    await caught_up(primary_server, replicas)
    await replay(replicas[0], paused=True)
    try:
        await Piece.create(id=2, title="two", writer_id=writer.id)  # only on the primary for now
        from_replica = await Writer.get(1, using=f"{DB}_ro")
        assert [p.title for p in await from_replica.fetch_ifk("pieces")] == ["one"]
        assert len(await (await Writer.get(1)).fetch_ifk("pieces")) == 2
        pieces = await Piece.objects().using(f"{DB}_ro").prefetch_related("writer_id").all()
        assert [p.title for p in pieces] == ["one"]
        events.clear()
        piece = await Piece.objects().using(f"{DB}_ro").get(1)
        assert (await piece.fetch_fk("writer_id")).name == "w"  # type: ignore[union-attr]
        assert {event.database for event in events} == {f"{DB}_ro"}
        writers = await Writer.objects().using(f"{DB}_ro").prefetch_related("pieces").all()
        assert [p.title for p in writers[0].get_related("pieces")] == ["one"]
        assert (
            await Writer.count(using=f"{DB}_ro") == 1 and await Piece.exists(id=2, using=f"{DB}_ro") is False
        )
    finally:
        await replay(replicas[0], paused=False)


def test_replica_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="replica"):
        DatabaseProjectConfig(name="x", replicas=[{"hostname": "r"}])
    config = DatabaseProjectConfig(name="x", password="pw", replicas=[{"host": "r1", "port": 5433}])
    assert "pw" not in repr(config)


# -- PgBouncer, transaction mode ----------------------------------------------------------------------------


def test_server_settings_are_refused_in_pooler_mode() -> None:
    with pytest.raises(ConfigurationError, match="transaction pooler"):
        DatabaseProjectConfig(name="x", pooler_mode="transaction", server_settings={"search_path": "app"})
    allowed = DatabaseProjectConfig(name="x", url="postgresql://u@h/d?pgbouncer=true&application_name=api")
    assert allowed.pooler_mode == "transaction" and allowed.effective_statement_cache_size == 0
    kept = DatabaseProjectConfig(name="x", pooler_mode="transaction", pooler_prepared_statements=True)
    assert kept.effective_statement_cache_size == kept.statement_cache_size > 0


async def test_without_pooler_mode_the_error_says_what_to_set(bouncer: Bouncer, clean: None) -> None:
    register_database(DatabaseProjectConfig(name=DB, url=bouncer.url(DB), pool_max_size=6))
    await Note.bulk_create([Note(id=n, body=str(n)) for n in range(20)])

    async def reads(n: int) -> int:
        total = 0
        for shape in range(8):
            query = Note.filter(id__gte=n % 5).exclude(body=str(shape))
            total += await (query.count() if shape % 2 else query.filter(id__lt=50 + shape).count())
        return total

    results = await asyncio.gather(*(reads(n) for n in range(12)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors, "PgBouncer in transaction mode should break named prepared statements"
    assert all(isinstance(e, ConfigurationError) and "pooler_mode='transaction'" in str(e) for e in errors)


async def test_mixed_concurrent_workload_through_pgbouncer(bouncer: Bouncer, clean: None) -> None:
    register_database(
        DatabaseProjectConfig(
            name=DB, url=f"{bouncer.url(DB)}?pgbouncer=true", pool_max_size=8, pool_timeout=20
        )
    )

    async def worker(w: int) -> None:
        base = w * 1000
        for n in range(10):
            key = base + n
            await Note.create(id=key, body=f"n{key}")
            assert (await Note.get(id=key, use_cache=False)).body == f"n{key}"
            assert await Note.filter(id=key).update(body=f"u{key}") == 1
            async with transaction(DB):
                await Note.filter(id=key).update(body=f"t{key}")
                with pytest.raises(ValueError):
                    async with transaction(DB):  # a savepoint, rolled back
                        await Note.filter(id=key).update(body="lost")
                        raise ValueError
            seen = [
                note.id async for note in Note.filter(id__gte=base, id__lt=base + 1000).iterator(chunk_size=3)
            ]
            assert key in seen
        await Note.bulk_create([Note(id=base + 500 + i, body="bulk") for i in range(30)])
        await Note.bulk_create([{"id": base + 600 + i, "body": "bulk"} for i in range(3)])

    await asyncio.gather(*(worker(w) for w in range(1, 9)))
    assert await Note.count() == 8 * (10 + 33)
    assert await Note.filter(body__startswith="t").count() == 80


async def test_iterator_from_two_processes_through_pgbouncer(
    bouncer: Bouncer, clean: None, tmp_path: Path
) -> None:
    register_database(DatabaseProjectConfig(name=DB, url=f"{bouncer.url(DB)}?pgbouncer=true"))
    await Note.bulk_create([Note(id=n, body=str(n)) for n in range(50)])
    script = tmp_path / "iterate.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from matrx_orm import CharField, DatabaseProjectConfig, IntegerField, Model, register_database

            class Note(Model):
                id = IntegerField(primary_key=True)
                body = CharField(max_length=60)
                _database = "{DB}"
                _table_name = "scaling_note"

            async def main() -> None:
                register_database(DatabaseProjectConfig(name="{DB}", url="{bouncer.url(DB)}?pgbouncer=true"))
                for _ in range(40):
                    ids = [note.id async for note in Note.all().order_by("id").iterator(chunk_size=7)]
                    assert ids == list(range(50)), ids
                print("ok")

            asyncio.run(main())
            """
        )
    )
    runs = [
        subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all(out.strip() == "ok" for out, _ in outputs)


async def test_create_all_and_raw_reads_through_pgbouncer(bouncer: Bouncer, clean: None) -> None:
    register_database(DatabaseProjectConfig(name=DB, url=bouncer.url(DB), pooler_mode="transaction"))
    await create_all(DB, models=[Note])
    await executor.execute(DB, "INSERT INTO scaling_note VALUES (1, 'x')", [], user_sql=True)
    assert await Note.raw_sql("SELECT body FROM scaling_note WHERE id = $1", 1) == [{"body": "x"}]


MIGRATING_MODELS = textwrap.dedent(
    """
    import os
    from matrx_orm import CharField, DatabaseProjectConfig, IntegerField, Model, register_database

    register_database(DatabaseProjectConfig(name="scaling", url=os.environ["SCALING_URL"]))

    class Note(Model):
        id = IntegerField(primary_key=True)
        body = CharField(max_length=60)
        _database = "scaling"
        _table_name = "scaling_note"

    class Ledger(Model):
        id = IntegerField(primary_key=True)
        amount = IntegerField(null=True)
        _database = "scaling"
        _table_name = "scaling_ledger"
    """
)


async def test_migrate_through_pgbouncer_under_load(
    primary_server: Cluster, bouncer: Bouncer, clean: None, tmp_path: Path
) -> None:
    """Two `matrx-orm migrate` runs through the pooler while a workload runs: one applies, the other waits
    (a transaction-level advisory lock) and finds nothing; a later run does not hang."""
    (tmp_path / "models.py").write_text(MIGRATING_MODELS)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.matrx-orm]\napp = "models"\ndatabase = "scaling"\nmigrations = "migrations"\n'
    )
    env = {**os.environ, "SCALING_URL": primary_server.url(DB)}
    env.pop("MATRX_ORM_APP", None)

    def cli(*args: str, url: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "matrx_orm", *args],
            cwd=tmp_path,
            env={**env, "SCALING_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    made = cli("makemigrations", url=primary_server.url(DB)).communicate(timeout=120)
    assert "Created migration" in made[0], made
    register_database(
        DatabaseProjectConfig(name=DB, url=f"{bouncer.url(DB)}?pgbouncer=true", pool_max_size=4)
    )
    stop = asyncio.Event()

    async def workload() -> int:
        done = 0
        while not stop.is_set():
            await Note.create(id=done, body="w")
            done += await Note.filter(id=done).count()
        return done

    pooled = f"{bouncer.url(DB)}?pgbouncer=true"
    load = asyncio.create_task(workload())
    runs = [cli("migrate", url=pooled) for _ in range(2)]
    outputs = await asyncio.gather(*(asyncio.to_thread(run.communicate, timeout=120) for run in runs))
    stop.set()
    assert await load > 0
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted("Applied" in out for out, _ in outputs) == [False, True], outputs
    again = cli("migrate", url=pooled).communicate(timeout=60)
    assert "No pending migrations" in again[0], again
    admin = await asyncpg.connect(primary_server.url(DB))
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
        assert await admin.fetchval("SELECT to_regclass('scaling_ledger') IS NOT NULL")
        await admin.execute(
            "DROP TABLE scaling_ledger; DROP TABLE IF EXISTS _matrx_migrations, alembic_version"
        )
    finally:
        await admin.close()
