"""SQLAlchemy interop on a real PostgreSQL: a project on a user's ``AsyncEngine`` (its pool serves the ORM),
``transaction(connection=...)`` inside SQLAlchemy's transactions, ``statement()``, ``__table__`` and
``from_row()``."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException
from pgvector.sqlalchemy import VECTOR
from pydantic import BaseModel
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from matrx_orm import (
    BigIntegerField,
    BinaryField,
    BooleanField,
    CharField,
    ConfigurationError,
    DatabaseError,
    DatabaseProjectConfig,
    DateArrayField,
    DateField,
    DateTimeField,
    DecimalArrayField,
    DecimalField,
    EnumField,
    F,
    FloatField,
    ForeignKey,
    HalfVectorField,
    HStoreField,
    IntegerArrayField,
    IntegerField,
    IPAddressField,
    IPNetworkField,
    JSONBArrayField,
    JSONBField,
    JSONField,
    MacAddressField,
    Model,
    PointField,
    SmallIntegerField,
    SparseVectorField,
    TextArrayField,
    TextField,
    TimeDeltaField,
    TimeField,
    TransactionError,
    UUIDArrayField,
    UUIDField,
    VectorField,
    create_all,
    register_database,
    transaction,
    unregister_database,
)
from matrx_orm.db import engine as engine_module
from matrx_orm.db import executor
from matrx_orm.db.health import health_check
from matrx_orm.db.sa_pool import EnginePool
from matrx_orm.fields.json_text import JsonText

PROJECT = "interop"


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class SaWriter(Model):
    id = UUIDField(primary_key=True, default=uuid.uuid4)
    name = CharField(max_length=100, unique=True)
    profile = JSONField(null=True)

    _table_name = "sa_writer"
    _database = PROJECT


class SaNote(Model):
    id = IntegerField(primary_key=True)
    writer_id = ForeignKey("SaWriter", "id", related_name="notes")
    title = CharField(max_length=200)
    rank = IntegerField(default=0)

    _table_name = "sa_note"
    _database = PROJECT


def _every_field(table: str, database: str) -> dict[str, Any]:
    return {
        "id": UUIDField(primary_key=True, default=uuid.uuid4),
        "text": TextField(null=True),
        "char": CharField(max_length=20, null=True),
        "small": SmallIntegerField(null=True),
        "integer": IntegerField(null=True),
        "big": BigIntegerField(null=True),
        "real": FloatField(null=True),
        "amount": DecimalField(max_digits=12, decimal_places=4, null=True),
        "flag": BooleanField(null=True),
        "moment": DateTimeField(null=True),
        "naive": DateTimeField(timezone=False, null=True),
        "day": DateField(null=True),
        "clock": TimeField(null=True),
        "span": TimeDeltaField(null=True),
        "doc": JSONField(null=True),
        "doc_text": JSONBField(null=True),
        "docs": JSONBArrayField(null=True),
        "ref": UUIDField(null=True),
        "refs": UUIDArrayField(null=True),
        "numbers": IntegerArrayField(null=True),
        "words": TextArrayField(null=True),
        "amounts": DecimalArrayField(max_digits=8, decimal_places=2, null=True),
        "days": DateArrayField(null=True),
        "address": IPAddressField(null=True),
        "network": IPNetworkField(null=True),
        "mac": MacAddressField(null=True),
        "spot": PointField(null=True),
        "blob": BinaryField(null=True),
        "mood": EnumField(enum_class=Mood, null=True),
        "embedding": VectorField(dimensions=3, null=True),
        "half": HalfVectorField(dimensions=3, null=True),
        "sparse": SparseVectorField(dimensions=5, null=True),
        "_table_name": table,
        "_database": database,
    }


#: the same fields on the engine project and on the ORM's own pool (project "test")
SaEverything: Any = type("SaEverything", (Model,), _every_field("sa_everything", PROJECT))
PoolEverything: Any = type("PoolEverything", (Model,), _every_field("pool_everything", "test"))

SAMPLE: dict[str, Any] = {
    "text": "tab\tand 'quote'",
    "char": "c",
    "small": -3,
    "integer": 7,
    "big": 2**40,
    "real": 1.5,
    "amount": Decimal("12.3456"),
    "flag": True,
    "moment": dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.UTC),
    "naive": dt.datetime(2024, 5, 1, 10, 30),
    "day": dt.date(2024, 5, 1),
    "clock": dt.time(8, 15),
    "span": dt.timedelta(days=2, seconds=5),
    "doc": {"a": [1, 2.5, None, "x"], "b": {"c": True}},
    "doc_text": '{"looks": "like json"}',  # a JSON string, never parsed
    "docs": [{"k": 1}, "s", 3],
    "ref": str(uuid.uuid4()),
    "refs": [str(uuid.uuid4()), None],
    "numbers": [1, None, 3],
    "words": ["a", "b c"],
    "amounts": [Decimal("1.10")],
    "days": [dt.date(2024, 1, 1)],
    "address": "10.0.0.5",
    "network": "10.0.0.0/8",
    "mac": "08:00:2b:01:02:03",
    "spot": (1.5, -2.0),
    "blob": b"\x00\x01",
    "mood": Mood.HAPPY,
    "embedding": [0.1, 0.2, 0.3],
    "half": [0.1, 0.5, -2.0],
    "sparse": {0: 0.1, 3: 2.0},
}

MODELS = [SaWriter, SaNote, SaEverything]


def _values(instance: Model) -> dict[str, Any]:
    return {name: instance.__dict__.get(name) for name in type(instance)._meta.field_names}


def _comparable(instance: Model) -> dict[str, Any]:
    """Field values without the primary key (the two projects' rows have their own)."""
    values = _values(instance)
    values.pop("id")
    return values


@pytest.fixture
async def sa_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(
        make_url(pg_url).set(drivername="postgresql+asyncpg"), pool_size=2, max_overflow=1
    )
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def project(db: str, pg_url: str, sa_engine: AsyncEngine) -> AsyncIterator[str]:
    """Project ``"interop"`` on ``sa_engine`` (and ``"test"`` on the ORM's pool), tables created and empty."""
    register_database(DatabaseProjectConfig(name=PROJECT, engine=sa_engine))
    try:
        await create_all(PROJECT, models=MODELS)
        await create_all(db, models=[PoolEverything])
        for table in ("sa_note", "sa_writer", "sa_everything"):
            await executor.execute(PROJECT, f"TRUNCATE {table} CASCADE", [])
        await executor.execute(db, "TRUNCATE pool_everything", [])
        yield PROJECT
    finally:
        await engine_module.dispose_all()
        unregister_database(PROJECT)


# -- the project's config ----------------------------------------------------------------------------------------


def test_engine_fills_the_connection_fields_and_never_shows_the_password() -> None:
    engine = create_async_engine("postgresql+asyncpg://app:s3cret@db.example.com:6543/shop?ssl=require")
    config = DatabaseProjectConfig(name="shop", engine=engine)
    assert (config.host, config.port_int, config.database_name, config.user) == (
        "db.example.com",
        6543,
        "shop",
        "app",
    )
    assert config.password == "s3cret" and config.ssl == "require"
    assert config.engine is engine
    for shown in (repr(config), str(config), config.masked_url(), str(config.model_dump())):
        assert "s3cret" not in shown
    assert "engine" not in config.model_dump()
    assert DatabaseProjectConfig(name="shop", engine=engine) == config


def test_engine_must_be_an_async_engine_and_not_come_with_a_url() -> None:
    with pytest.raises(ConfigurationError, match="AsyncEngine"):
        DatabaseProjectConfig(name="bad", engine="postgresql://x@y/z")
    engine = create_async_engine("postgresql+asyncpg://app@db.example.com/shop")
    with pytest.raises(ConfigurationError, match="either url or engine"):
        DatabaseProjectConfig(name="bad", engine=engine, url="postgresql://app@db.example.com/shop")
    replica = DatabaseProjectConfig(name="main", engine=engine, replicas=["postgresql://app@replica/shop"])
    from matrx_orm.config import replica_configs

    assert replica_configs(replica)[0].engine is None  # a replica gets a pool of its own


# -- running on the engine's pool ------------------------------------------------------------------------------


async def test_crud_runs_on_the_engines_pool(project: str, sa_engine: AsyncEngine) -> None:
    writer = await SaWriter.create(name="ann", profile={"langs": ["en", "fr"]})
    assert isinstance(writer.id, str)
    pool = engine_module._resources[asyncio.get_running_loop()].pools[PROJECT]
    assert isinstance(pool, EnginePool) and pool.engine is sa_engine  # no asyncpg pool of the package
    note = await SaNote.create(writer_id=writer.id, title="first")
    again = await SaWriter.get(id=writer.id, use_cache=False)
    assert again.profile == {"langs": ["en", "fr"]} and again.id == writer.id
    assert [n.title for n in await SaNote.filter(writer_id=writer.id)] == ["first"]
    assert await SaWriter.filter(profile__json_contains={"langs": ["fr"]}).count() == 1
    assert await SaWriter.filter(profile__langs__0="en").exists()
    note.title = "renamed"
    await note.save()
    await SaNote.filter(id=note.id).update(rank=5)
    assert (await SaNote.get(id=note.id, use_cache=False)).rank == 5
    related = await SaWriter.filter(id=writer.id).prefetch_related("notes").first()
    assert related is not None and [n.title for n in related.get_related("notes")] == ["renamed"]
    await SaNote.filter(id=note.id).delete()
    assert await SaNote.count() == 0
    assert sa_engine.pool.checkedout() == 0  # every connection went back to the engine's pool


async def test_transactions_and_iterator_hold_one_engine_connection(
    project: str, sa_engine: AsyncEngine
) -> None:
    await SaWriter.bulk_create([{"name": f"w{i}"} for i in range(10)])
    async with transaction(PROJECT):
        await SaWriter.create(name="inside")
        assert sa_engine.pool.checkedout() == 1
    assert sa_engine.pool.checkedout() == 0
    with pytest.raises(RuntimeError):
        async with transaction(PROJECT):
            await SaWriter.create(name="rolled back")
            raise RuntimeError("boom")
    assert not await SaWriter.filter(name="rolled back").exists()
    seen = []
    async for writer in SaWriter.filter().order_by("name").iterator(chunk_size=3):
        seen.append(writer.name)
        assert sa_engine.pool.checkedout() == 1
        assert isinstance(writer.id, str)
    assert seen == sorted(["inside", *(f"w{i}" for i in range(10))])
    assert sa_engine.pool.checkedout() == 0


async def test_no_round_trip_is_added_per_statement(project: str, sa_engine: AsyncEngine) -> None:
    writer = await SaWriter.create(name="solo")
    sent: list[str] = []
    connections = []
    for _ in range(sa_engine.pool.size()):  # watch every connection of the (warm) pool
        raw = await sa_engine.raw_connection()
        connections.append(raw)
    for raw in connections:
        raw.driver_connection.add_query_logger(lambda record: sent.append(record.query))
        raw.close()
    for _ in range(5):
        await SaWriter.get(id=writer.id, use_cache=False)
    await asyncio.sleep(0)  # asyncpg calls query loggers soon after the query
    assert len(sent) == 5 and all(query.startswith("SELECT") for query in sent), sent


async def test_health_check_and_pool_stats(project: str, sa_engine: AsyncEngine) -> None:
    status = await health_check(PROJECT)
    assert status.ok and status.server_version
    stats = engine_module.pool_stats(PROJECT)
    assert stats.size == sa_engine.pool.checkedin() + sa_engine.pool.checkedout() >= 1
    assert stats.max_size == 3 and stats.in_use == 0
    async with transaction(PROJECT):
        await SaWriter.count()
        assert engine_module.pool_stats(PROJECT).in_use == 1


# -- values --------------------------------------------------------------------------------------------------


async def test_every_field_type_round_trips_as_on_the_orms_own_pool(project: str) -> None:
    on_engine = await SaEverything.create(**SAMPLE)
    on_pool = await PoolEverything.create(**SAMPLE)
    assert _comparable(on_engine) == _comparable(on_pool)
    read_engine = await SaEverything.get(id=on_engine.id, use_cache=False)
    read_pool = await PoolEverything.get(id=on_pool.id, use_cache=False)
    assert _comparable(read_engine) == _comparable(read_pool)
    assert isinstance(read_engine.id, str) and isinstance(read_engine.ref, str)
    assert all(isinstance(ref, str | None) for ref in read_engine.refs)
    assert read_engine.doc == SAMPLE["doc"] and read_engine.doc_text == SAMPLE["doc_text"]
    assert read_engine.amount == Decimal("12.3456")
    assert read_engine.embedding == read_pool.embedding and read_engine.sparse == read_pool.sparse
    names = ("ref", "refs", "doc", "embedding", "half", "sparse")
    engine_values = await SaEverything.filter(id=on_engine.id).values(*names)
    pool_values = await PoolEverything.filter(id=on_pool.id).values(*names)
    assert engine_values == pool_values
    assert await SaEverything.filter().values_list("ref", flat=True) == [SAMPLE["ref"]]


async def test_filters_and_writes_with_every_kind_of_value_on_the_engine(project: str) -> None:
    row = await SaEverything.create(**SAMPLE)
    assert await SaEverything.filter(ref=SAMPLE["ref"], doc__b__c=True).count() == 1
    assert await SaEverything.filter(doc_text='{"looks": "like json"}').count() == 1
    assert await SaEverything.filter(refs__contains=[SAMPLE["refs"][0]]).count() == 1
    assert await SaEverything.filter(id__in=[row.id, str(uuid.uuid4())]).count() == 1
    nearest = await SaEverything.nearest("embedding", [0.1, 0.2, 0.31])[:1]
    assert [found.id for found in nearest] == [row.id]
    await SaEverything.filter(id=row.id).update(doc={"new": [1]}, embedding=[1, 2, 3])
    row = await SaEverything.get(id=row.id, use_cache=False)
    assert row.doc == {"new": [1]} and row.embedding == [1.0, 2.0, 3.0]
    rows = await SaEverything.bulk_create([{**SAMPLE, "id": str(uuid.uuid4())} for _ in range(6)])  # COPY
    rows += await SaEverything.bulk_create([dict(SAMPLE, doc=[i]) for i in range(2)])  # row by row
    assert await SaEverything.count() == 9
    stored = await SaEverything.filter(id__in=[r.id for r in rows]).order_by("id")
    assert {str(r.doc) for r in stored} == {str(SAMPLE["doc"]), "[0]", "[1]"}


async def test_sqlalchemys_own_statements_on_the_same_engine_still_work(
    project: str, sa_engine: AsyncEngine
) -> None:
    await SaEverything.create(**SAMPLE)  # the engine's connections have run the ORM's statements
    metadata = sa.MetaData()
    own = sa.Table(
        "sa_own",
        metadata,
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("doc", postgresql.JSONB),
        sa.Column("vec", VECTOR(3)),
    )
    key = uuid.uuid4()
    async with sa_engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
        await connection.execute(own.insert(), {"id": key, "doc": {"x": [1]}, "vec": [0.5, 1, 2]})
        row = (await connection.execute(sa.select(own).where(own.c.doc["x"][0].as_integer() == 1))).one()
        assert row.id == key and isinstance(row.id, uuid.UUID)
        assert row.doc == {"x": [1]} and row.vec == [0.5, 1.0, 2.0]
        everything = SaEverything.__table__
        found = (await connection.execute(sa.select(everything.c.doc, everything.c.ref))).one()
        assert found.doc == SAMPLE["doc"] and found.ref == SAMPLE["ref"]
        await connection.run_sync(metadata.drop_all)


# -- transaction(connection=...) -------------------------------------------------------------------------------


async def test_orm_writes_in_a_rolled_back_sqlalchemy_transaction_leave_nothing(
    project: str, sa_engine: AsyncEngine
) -> None:
    async with sa_engine.connect() as connection:
        async with transaction(connection=connection):
            writer = await SaWriter.create(name="ghost")
            await SaNote.create(writer_id=writer.id, title="ghost note")
            assert await SaWriter.filter(name="ghost").exists()  # the block sees its own writes
        await connection.execute(
            sa.text("INSERT INTO sa_note (writer_id, title, rank) VALUES (:w, 'sa', 0)"), {"w": writer.id}
        )
        assert await SaWriter.count() == 0  # outside the block: another connection, nothing committed yet
        await connection.rollback()
    assert await SaWriter.count() == 0 and await SaNote.count() == 0


async def test_orm_writes_in_a_committed_sqlalchemy_transaction_stay(
    project: str, sa_engine: AsyncEngine
) -> None:
    async with sa_engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))  # SQLAlchemy's transaction has begun
        async with transaction(connection=connection) as tx:
            assert tx.pool is None
            writer = await SaWriter.create(name="kept")
        await connection.commit()
    assert (await SaWriter.get(id=writer.id, use_cache=False)).name == "kept"


async def test_nested_blocks_are_savepoints_and_the_caller_decides(
    project: str, sa_engine: AsyncEngine
) -> None:
    async with AsyncSession(sa_engine) as session:
        async with transaction(connection=session):
            await SaWriter.create(name="outer")
            with pytest.raises(RuntimeError):
                async with transaction(PROJECT):  # a savepoint on the session's connection
                    await SaWriter.create(name="inner")
                    raise RuntimeError("undo the inner block only")
            async with transaction(connection=session):
                await SaWriter.create(name="nested")
        await session.execute(sa.insert(SaWriter.__table__).values(id=uuid.uuid4(), name="from session"))
        await session.commit()
    names = await SaWriter.filter().order_by("name").values_list("name", flat=True)
    assert names == ["from session", "nested", "outer"]


async def test_an_orm_project_on_its_own_pool_joins_by_name(
    project: str, db: str, sa_engine: AsyncEngine
) -> None:
    async with sa_engine.connect() as connection:
        async with transaction(db, connection=connection) as tx:
            row = await PoolEverything.create(**SAMPLE)
            assert tx.database == db
            read = await PoolEverything.get(id=row.id, use_cache=False)
            assert _comparable(read) == _comparable(row)
        await connection.rollback()
    assert await PoolEverything.count() == 0


async def test_the_row_cache_forgets_what_the_block_wrote(project: str, sa_engine: AsyncEngine) -> None:
    writer = await SaWriter.create(name="cached")
    assert (await SaWriter.get(id=writer.id)).name == "cached"  # now in the row cache
    async with sa_engine.connect() as connection:
        async with transaction(connection=connection):
            await SaWriter.filter(id=writer.id).update(name="changed")
        assert (await SaWriter.get(id=writer.id)).name == "cached"  # not committed yet: re-read and cached
        await connection.commit()
    assert (await SaWriter.get(id=writer.id)).name == "changed"


async def test_joining_needs_a_sqlalchemy_connection_and_a_known_project(
    project: str, sa_engine: AsyncEngine
) -> None:
    with pytest.raises(Exception, match="AsyncConnection or AsyncSession"):
        async with transaction(connection=object()):
            pass
    async with sa_engine.connect() as connection:
        with pytest.raises(ConfigurationError):
            async with transaction("missing", connection=connection):
                pass
    autocommit = sa_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as connection:
        with pytest.raises(TransactionError, match="AUTOCOMMIT"):
            async with transaction(connection=connection):
                pass


# -- Core statements out, rows in -------------------------------------------------------------------------------


async def test_statement_runs_through_sqlalchemy_and_gives_the_orms_rows(
    project: str, sa_engine: AsyncEngine
) -> None:
    writer = await SaWriter.create(name="poet", profile={"tags": ["x"]})
    for rank in range(5):
        await SaNote.create(writer_id=writer.id, title=f"note {rank}", rank=rank)
    query = SaNote.filter(title__icontains="NOTE", rank__gte=1).order_by("-rank")[:3]
    statement = query.statement()
    assert isinstance(statement, sa.Select)
    async with sa_engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
        counted = await connection.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))
        by_json = (
            await connection.execute(SaWriter.filter(profile__json_contains={"tags": ["x"]}).statement())
        ).all()
    expected = await query
    assert [SaNote.from_row(row) for row in rows] == expected
    assert [_values(SaNote.from_row(row)) for row in rows] == [_values(n) for n in expected]
    assert counted == 3
    assert [SaWriter.from_row(row).id for row in by_json] == [writer.id]


def test_table_attribute_is_the_models_table() -> None:
    assert SaNote.__table__ is SaNote._meta.table
    assert isinstance(SaNote.__table__, sa.Table) and SaNote.__table__.name == "sa_note"
    assert str(sa.select(SaNote.__table__.c.title)).startswith("SELECT sa_note.title")
    assert SaNote(title="x").__table__ is SaNote.__table__


async def test_from_row_builds_instances_equal_to_the_orms(project: str, sa_engine: AsyncEngine) -> None:
    created = await SaEverything.create(**SAMPLE)
    async with sa_engine.connect() as connection:
        row = (await connection.execute(sa.select(SaEverything.__table__))).one()
    built = SaEverything.from_row(row)
    read = await SaEverything.get(id=created.id, use_cache=False)
    assert _values(built) == _values(read)
    assert built._persisted and SaEverything.from_row(dict(row._mapping)) == read


def test_json_fields_send_serialized_text() -> None:
    field = SaEverything._meta.fields["doc_text"]
    sent = field.to_db("a string")
    assert isinstance(sent, JsonText) and sent == '"a string"'


# -- hstore (where the server has the extension) ----------------------------------------------------------------


class SaStore(Model):
    id = IntegerField(primary_key=True)
    attrs = HStoreField(null=True)

    _table_name = "sa_store"
    _database = PROJECT


class PoolStore(Model):
    id = IntegerField(primary_key=True)
    attrs = HStoreField(null=True)

    _table_name = "pool_store"
    _database = "test"


async def test_hstore_round_trips_on_the_engine(project: str, db: str, pg_url: str) -> None:
    connection = await asyncpg.connect(pg_url)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS hstore")
    except asyncpg.FeatureNotSupportedError:
        pytest.skip("the server has no hstore extension")
    finally:
        await connection.close()
    await engine_module.dispose_all()  # the ORM's pool picks up the hstore codec on new connections
    await create_all(PROJECT, models=[SaStore])
    await create_all(db, models=[PoolStore])
    value = {"a": "1", "b": None, 'q"k': "v\\"}
    on_engine = await SaStore.create(attrs=value)
    on_pool = await PoolStore.create(attrs=value)
    assert on_engine.attrs == on_pool.attrs == value
    assert (await SaStore.get(id=on_engine.id, use_cache=False)).attrs == value
    await SaStore.filter(id=on_engine.id).update(attrs={"k": "v"})
    assert await SaStore.filter().values_list("attrs", flat=True) == [{"k": "v"}]


def test_parameters_sqlalchemy_leaves_to_text_are_sent_as_text() -> None:
    from pgvector import SparseVector

    from matrx_orm.db.sa_pool import _params

    plain = (1, "x", JsonText("{}"))
    assert _params(plain) is plain
    sent = _params([np.array([1.0, 0.5], dtype=np.float32), SparseVector({1: 2.0}, 3), {"a": None}, 5])
    assert sent == ["[1.0,0.5]", "{2:2.0}/3", '"a"=>NULL', 5]


async def test_own_sql_on_the_engine_reads_uuids_as_strings(project: str) -> None:
    rows = await executor.fetch(
        PROJECT,
        "SELECT * FROM (VALUES (NULL::uuid, ARRAY[]::uuid[], 1), (gen_random_uuid(), ARRAY[NULL, gen_random_uuid()], 2)) "
        "AS t(key, keys, n) ORDER BY n",
        [],
        user_sql=True,
    )
    assert rows[0]["key"] is None and rows[0]["keys"] == [] and rows[0].get("n") == 1
    key, keys, n = rows[1]
    assert isinstance(key, str) and keys[0] is None and isinstance(keys[1], str) and n == 2
    assert dict(rows[1]) == {"key": key, "keys": keys, "n": 2} and rows[1][1:] == (keys, 2)
    plain = await executor.fetch(PROJECT, "SELECT 1 AS a, ARRAY[1, 2] AS b", [], user_sql=True)
    assert isinstance(plain[0], asyncpg.Record)  # nothing to convert: asyncpg's own records


# -- the FastAPI example of docs/sqlalchemy.md ------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class AuditLog(Base):  # a SQLAlchemy model in the same database
    __tablename__ = "sa_audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str]
    ref: Mapped[str]


class OrderIn(BaseModel):
    sku: str
    quantity: int


class SaProduct(Model):
    id = UUIDField(primary_key=True, default=uuid.uuid4)
    sku = CharField(max_length=40, unique=True)
    stock = IntegerField(default=0)

    _table_name = "sa_product"
    _database = PROJECT


async def test_fastapi_request_mixes_a_session_and_the_orm_in_one_transaction(
    project: str, sa_engine: AsyncEngine
) -> None:
    session_factory = async_sessionmaker(sa_engine, expire_on_commit=False)

    async def session() -> AsyncIterator[AsyncSession]:
        async with session_factory() as db_session:
            yield db_session

    app = FastAPI()

    @app.post("/orders")
    async def order(body: OrderIn, db: AsyncSession = Depends(session)) -> dict[str, int]:  # noqa: B008
        async with transaction(connection=db):
            product = await SaProduct.filter(sku=body.sku).select_for_update().get()
            await SaProduct.filter(id=product.id).update(stock=F("stock") - body.quantity)
            if product.stock < body.quantity:
                raise HTTPException(409, "out of stock")  # the session rolls back: nothing is kept
        db.add(AuditLog(action="order", ref=product.id))
        await db.commit()
        return {"stock": product.stock - body.quantity}

    await create_all(PROJECT, models=[SaProduct])
    async with sa_engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    await SaProduct.create(sku="tea", stock=5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        assert (await client.post("/orders", json={"sku": "tea", "quantity": 2})).json() == {"stock": 3}
        assert (await client.post("/orders", json={"sku": "tea", "quantity": 9})).status_code == 409
    assert (await SaProduct.get(sku="tea", use_cache=False)).stock == 3
    async with sa_engine.begin() as connection:
        logged = (await connection.execute(sa.select(AuditLog.action, AuditLog.ref))).all()
        await connection.run_sync(Base.metadata.drop_all)
    product = await SaProduct.get(sku="tea", use_cache=False)
    assert logged == [("order", product.id)]
    assert sa_engine.pool.checkedout() == 0


async def test_a_full_engine_pool_and_dead_connections(pg_url: str, db: str) -> None:
    from matrx_orm import PoolExhaustedError

    engine = create_async_engine(
        make_url(pg_url).set(drivername="postgresql+asyncpg"), pool_size=1, max_overflow=0
    )
    register_database(DatabaseProjectConfig(name=PROJECT, engine=engine, pool_timeout=0.3))
    try:
        await create_all(PROJECT, models=[SaWriter])
        await SaWriter.count()
        async with transaction(PROJECT):
            await SaWriter.count()
            with pytest.raises(PoolExhaustedError):
                # a task outside the transaction: the engine's only connection is taken
                await asyncio.create_task(SaWriter.count(), context=contextvars.Context())
        admin = await asyncpg.connect(pg_url)
        try:
            pids = await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        finally:
            await admin.close()
        assert pids
        await asyncio.sleep(0.1)
        assert await SaWriter.count() >= 0  # a read on a dead connection runs again on a new one
        assert engine.pool.checkedout() == 0
    finally:
        await engine_module.dispose_all()
        unregister_database(PROJECT)
        await engine.dispose()


async def test_the_rest_of_the_api_on_the_engine(project: str, sa_engine: AsyncEngine) -> None:
    from matrx_orm import capture_queries, connection, on_query
    from matrx_orm.db.engine import acquire

    events: list[Any] = []
    with on_query(events.append), capture_queries() as log:
        await SaWriter.create(name="seen")
        assert await SaWriter.filter(name="seen").exists()
    assert len(log) == 2 and [e.database for e in events] == [PROJECT, PROJECT]
    async with connection(PROJECT):  # one engine connection for the block
        await SaWriter.count()
        await SaWriter.count()
        assert sa_engine.pool.checkedout() == 1
    async with acquire(PROJECT) as conn:  # your own SQL: UUIDs as str, the session reset afterwards
        await conn.execute("SET application_name = 'mine'")
        assert isinstance(await conn.fetchval("SELECT id FROM sa_writer"), str)
    async with sa_engine.connect() as sa_connection:
        assert await sa_connection.scalar(sa.text("SHOW application_name")) != "mine"
        async with transaction(connection=sa_connection):
            await SaWriter.create(name="streamed")
            names = [w.name async for w in SaWriter.filter().order_by("name").iterator(chunk_size=1)]
        assert names == ["seen", "streamed"]
        await sa_connection.rollback()


async def test_a_released_engine_connection_refuses_statements(
    project: str, db: str, sa_engine: AsyncEngine
) -> None:
    """As on the ORM's own pools: a connection used after it went back to the pool raises and sends nothing."""
    from matrx_orm.db.engine import acquire, is_gone

    for name in (project, db):
        async with acquire(name) as conn:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS kept (n int)")
        with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
            await conn.execute("INSERT INTO sa_writer (id, name) VALUES (gen_random_uuid(), 'late')")
        assert is_gone(conn)
    assert await SaWriter.count() == 0
    assert sa_engine.pool.checkedout() == 0


async def test_releasing_a_connection_twice_is_harmless(project: str, db: str) -> None:
    from matrx_orm.db.engine import checkout, pool_stats, release

    for name in (project, db):
        pool, conn = await checkout(name)
        await release(pool, conn)
        await release(pool, conn)  # already back: nothing happens
        assert pool_stats(name).in_use == 0
        assert await SaWriter.count() == 0  # the pool still serves statements


async def test_a_task_outliving_its_transaction_cannot_write_into_the_next_one(project: str) -> None:
    """One engine connection: the next transaction gets it; the late task's write is refused, not run there."""
    go = asyncio.Event()

    async def late() -> None:
        await go.wait()
        await SaWriter.create(name="late")

    async with transaction(project):
        await SaWriter.create(name="first")
        straggler = asyncio.create_task(late())
    with pytest.raises(RuntimeError):
        async with transaction(project):
            await SaWriter.create(name="second")
            go.set()
            with pytest.raises(DatabaseError):
                await straggler
            raise RuntimeError("the second request fails")
    assert [w.name for w in await SaWriter.filter().order_by("name").all()] == ["first"]


async def test_released_connections_are_reused_until_expired(sa_engine: AsyncEngine) -> None:
    pool = EnginePool(sa_engine)
    first = await pool.acquire()
    driver = first.driver
    await pool.release(first)
    second = await pool.acquire()
    assert second is not first and second.driver is driver  # a new lender for the same connection
    await pool.release(second)
    await pool.expire_connections()
    third = await pool.acquire()
    assert third.driver is not driver and await third.fetchval("SELECT 1") == 1
    await pool.release(third)
