"""IndexDef / DDLGenerator, HNSW and IVFFlat indexes used by nearest(), and per-query tuning (SET LOCAL)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from _tasks import cancelled_after

from matrx_orm import (
    CharField,
    DDLGenerator,
    FieldError,
    HalfVectorField,
    IndexDef,
    IntegerField,
    Model,
    ParameterError,
    TransactionError,
    UnknownFieldError,
    VectorField,
    create_all,
    transaction,
)
from matrx_orm.config import DatabaseProjectConfig, register_database, unregister_database
from matrx_orm.db import executor
from matrx_orm.db.engine import dispose_all
from matrx_orm.meta.indexes import vector_ops_for

DB = "vecidx"
DIM = 16
ROWS = 1000


class IdxDoc(Model):
    id = IntegerField(primary_key=True)
    kind = CharField(max_length=5)
    embedding = VectorField(dimensions=DIM)
    half = HalfVectorField(dimensions=DIM)

    _table_name = "vec_index_docs"
    _database = DB


class DeclaredIdx(Model):
    id = IntegerField(primary_key=True)
    embedding = VectorField(dimensions=3)
    tag = CharField(max_length=10)

    _indexes = [
        IndexDef(
            columns=["embedding"],
            method="hnsw",
            vector_ops="vector_cosine_ops",
            index_params={"m": 8, "ef_construction": 32},
        ),
        IndexDef(name="declared_idx_tag", columns=["tag"], unique=True),
    ]
    _table_name = "vec_declared_idx"
    _database = DB


class MetaDeclaredIdx(Model):
    id = IntegerField(primary_key=True)
    embedding = VectorField(dimensions=3)

    class Meta:
        table_name = "vec_meta_declared_idx"
        database = DB
        indexes = [
            IndexDef(
                name="meta_declared_ivf", columns=["embedding"], method="ivfflat", index_params={"lists": 2}
            )
        ]


VECTORS = np.random.default_rng(21).normal(size=(ROWS, DIM)).astype(np.float32)
HALVES = VECTORS.astype(np.float16)
QUERIES = np.random.default_rng(22).normal(size=(5, DIM)).astype(np.float32)
HNSW = IndexDef(
    name="vec_index_docs_hnsw",
    table="vec_index_docs",
    columns=["embedding"],
    method="hnsw",
    vector_ops="vector_cosine_ops",
    index_params={"m": 16, "ef_construction": 64},
)
IVFFLAT = IndexDef(
    name="vec_index_docs_ivf",
    table="vec_index_docs",
    columns=["embedding"],
    method="ivfflat",
    vector_ops="vector_l2_ops",
    index_params={"lists": 10},
)


def exact(metric: str, query: np.ndarray, k: int = 10) -> list[int]:
    v = VECTORS.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "l2":
        dist = np.sqrt(((v - q) ** 2).sum(axis=1))
    else:
        dist = 1 - (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))
    return [int(i) for i in np.argsort(dist, kind="stable")[:k]]


@pytest.fixture
async def idx_db(pg_url: str, needs_pgvector: None) -> AsyncIterator[str]:
    """Project ``vecidx``: one pooled connection (so settings left behind would show), seq scans disabled."""
    register_database(
        DatabaseProjectConfig(
            name=DB, url=pg_url, pool_min_size=1, pool_max_size=1, server_settings={"enable_seqscan": "off"}
        )
    )
    try:
        await create_all(DB, models=[IdxDoc])
        if await IdxDoc.count() != ROWS:
            await executor.execute(DB, 'TRUNCATE "vec_index_docs"', [])
            await IdxDoc.bulk_create(
                [
                    {"id": i, "kind": "ab"[i % 2], "embedding": VECTORS[i], "half": HALVES[i]}
                    for i in range(ROWS)
                ]
            )
        for index in (HNSW, IVFFLAT):
            await executor.execute(DB, DDLGenerator.drop_index(index.name or ""), [])
        yield DB
    finally:
        await dispose_all()
        unregister_database(DB)


async def plan_of(qs: Any) -> str:
    statement, params = qs._select(qs._field_names())
    rows = await executor.fetch(DB, "EXPLAIN (FORMAT JSON) " + statement.sql, params)
    return str(rows[0][0])


async def setting(name: str) -> str:
    rows = await executor.fetch(DB, "SELECT current_setting($1)", [name])
    return str(rows[0][0])


# -- DDL text (no database) ------------------------------------------------------------------------------------


def test_ddl_generator_matches_the_contract() -> None:
    assert DDLGenerator.add_index(
        IndexDef(
            name="documents_embedding_hnsw_idx",
            table="documents",
            columns=["embedding"],
            method="hnsw",
            vector_ops="vector_cosine_ops",
            index_params={"m": 16, "ef_construction": 64},
        )
    ) == (
        'CREATE INDEX IF NOT EXISTS "documents_embedding_hnsw_idx" ON "documents" USING hnsw '
        "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
    )
    assert DDLGenerator.add_index(
        IndexDef(
            name="documents_embedding_ivfflat_idx",
            table="documents",
            columns=["embedding"],
            method="ivfflat",
            vector_ops="vector_l2_ops",
            index_params={"lists": 100},
        )
    ) == (
        'CREATE INDEX IF NOT EXISTS "documents_embedding_ivfflat_idx" ON "documents" USING ivfflat '
        "(embedding vector_l2_ops) WITH (lists = 100)"
    )


def test_ddl_generator_plain_indexes_quote_identifiers() -> None:
    sql = DDLGenerator.add_index(
        IndexDef(
            "user_email_uniq",
            "user",
            ["email", "Tenant"],
            unique=True,
            where="deleted_at IS NULL",
            schema="auth",
        )
    )
    assert sql == (
        'CREATE UNIQUE INDEX IF NOT EXISTS "user_email_uniq" ON "auth"."user" (email, "Tenant") '
        "WHERE deleted_at IS NULL"
    )
    assert DDLGenerator.add_index(
        IndexDef("g", "t", ["tags"], method="gin", index_params={"fastupdate": False})
    ) == ('CREATE INDEX IF NOT EXISTS "g" ON "t" USING gin (tags) WITH (fastupdate = false)')
    assert DDLGenerator.drop_index("documents_embedding_hnsw_idx") == (
        'DROP INDEX IF EXISTS "documents_embedding_hnsw_idx"'
    )
    assert DDLGenerator.drop_index("x", schema="auth") == 'DROP INDEX IF EXISTS "auth"."x"'
    assert vector_ops_for("inner", "halfvec") == "halfvec_ip_ops"
    assert vector_ops_for("cosine") == "vector_cosine_ops"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "hnswx"}, "method must be one of"),
        ({"method": "hnsw", "columns": ["a", "b"]}, "exactly one vector column"),
        ({"method": "hnsw", "vector_ops": "vector_cosine"}, "not an operator class of hnsw"),
        ({"method": "ivfflat", "vector_ops": "vector_l1_ops"}, "not an operator class of ivfflat"),
        ({"method": "hnsw", "index_params": {"lists": 10}}, "unknown hnsw index parameter 'lists'"),
        ({"method": "hnsw", "index_params": {"m": 1}}, "m must be an int in 2..100"),
        ({"method": "hnsw", "index_params": {"m": "16"}}, "m must be an int"),
        ({"method": "hnsw", "index_params": {"m": 40, "ef_construction": 64}}, "at least 2 \\* m"),
        ({"method": "ivfflat", "index_params": {"lists": 0}}, "lists must be an int in 1..32768"),
        ({"method": "hnsw", "unique": True}, "cannot be unique"),
        ({"vector_ops": "vector_l2_ops"}, "applies to hnsw/ivfflat"),
        ({"index_params": {"fill factor": 70}}, "lower-case identifiers"),
        ({"index_params": {"fillfactor": "70); DROP TABLE x"}}, "int, float or bool"),
        ({"columns": []}, "needs columns"),
    ],
)
def test_index_def_rejects_bad_definitions(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"name": "i", "table": "t", "columns": ["embedding"]}
    with pytest.raises(ParameterError, match=message):
        IndexDef(**{**base, **kwargs})


def test_generating_ddl_needs_name_and_table() -> None:
    with pytest.raises(ParameterError, match="table="):
        DDLGenerator.add_index(IndexDef(name="i", columns=["a"]))
    with pytest.raises(ParameterError, match="name="):
        DDLGenerator.add_index(IndexDef(table="t", columns=["a"]))


def test_models_declare_indexes_on_their_table() -> None:
    indexes = {index.name: index for index in DeclaredIdx._meta.table.indexes}
    assert set(indexes) == {"vec_declared_idx_embedding_hnsw_idx", "declared_idx_tag"}
    hnsw = indexes["vec_declared_idx_embedding_hnsw_idx"]
    options = hnsw.dialect_options["postgresql"]
    assert options["using"] == "hnsw"
    assert options["with"] == {"m": 8, "ef_construction": 32}
    assert options["ops"] == {"embedding": "vector_cosine_ops"}
    assert [c.name for c in hnsw.columns] == ["embedding"]
    assert indexes["declared_idx_tag"].unique
    (ivf,) = MetaDeclaredIdx._meta.table.indexes
    assert ivf.name == "meta_declared_ivf" and ivf.dialect_options["postgresql"]["using"] == "ivfflat"


def test_bad_model_index_declarations() -> None:
    with pytest.raises(FieldError, match="needs a vector field"):

        class BadKind(Model):
            id = IntegerField(primary_key=True)
            name = CharField(max_length=5)
            _indexes = [IndexDef(columns=["name"], method="hnsw")]
            _database = "vec_never_registered"

    with pytest.raises(FieldError, match="does not fit halfvec"):

        class BadOps(Model):
            id = IntegerField(primary_key=True)
            h = HalfVectorField(dimensions=3)
            _indexes = [IndexDef(columns=["h"], method="hnsw", vector_ops="vector_l2_ops")]
            _database = "vec_never_registered"

    with pytest.raises(UnknownFieldError, match="embeding"):

        class BadName(Model):
            id = IntegerField(primary_key=True)
            embedding = VectorField(dimensions=3)
            _indexes = [IndexDef(columns=["embeding"], method="hnsw")]
            _database = "vec_never_registered"

    with pytest.raises(FieldError, match="names table 'other'"):

        class BadTable(Model):
            id = IntegerField(primary_key=True)
            embedding = VectorField(dimensions=3)
            _indexes = [IndexDef(name="x", table="other", columns=["embedding"], method="hnsw")]
            _database = "vec_never_registered"


# -- on the database -------------------------------------------------------------------------------------------


async def test_create_all_creates_declared_indexes(idx_db: str) -> None:
    await executor.execute(DB, 'DROP TABLE IF EXISTS "vec_declared_idx", "vec_meta_declared_idx"', [])
    await create_all(DB, models=[DeclaredIdx, MetaDeclaredIdx])
    rows = await executor.fetch(
        DB,
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1) ORDER BY indexname",
        [["vec_declared_idx", "vec_meta_declared_idx"]],
    )
    defs = {r[0]: r[1] for r in rows}
    assert (
        "USING hnsw (embedding vector_cosine_ops) WITH (m='8', ef_construction='32')"
        in defs["vec_declared_idx_embedding_hnsw_idx"]
    )
    assert "CREATE UNIQUE INDEX declared_idx_tag" in defs["declared_idx_tag"]
    assert "USING ivfflat (embedding) WITH (lists='2')" in defs["meta_declared_ivf"]
    await DeclaredIdx.bulk_create(
        [{"id": i, "embedding": [1.0, float(i), 0.5], "tag": f"t{i}"} for i in range(1, 6)]
    )
    top = await DeclaredIdx.nearest("embedding", [1.0, 4.2, 0.5]).limit(2)
    assert [d.id for d in top] == [4, 5]
    plan = await plan_of(DeclaredIdx.nearest("embedding", [1.0, 4.2, 0.5]).limit(2))
    assert "vec_declared_idx_embedding_hnsw_idx" in plan


async def test_hnsw_index_from_ddl_generator_is_used(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    qs = IdxDoc.nearest("embedding", QUERIES[0]).limit(10)
    plan = await plan_of(qs)
    assert "Index Scan" in plan and "vec_index_docs_hnsw" in plan
    hits = 0
    for query in QUERIES:
        rows = await IdxDoc.nearest("embedding", query, ef_search=100).limit(10)
        assert len(rows) == 10
        distances = [r._vector_distance for r in rows]
        assert distances == sorted(distances)
        hits += len({r.id for r in rows} & set(exact("cosine", query)))
    assert hits / (10 * len(QUERIES)) >= 0.9  # recall@10 of the ANN index
    # the index serves cosine only: an L2 search cannot use it
    assert "vec_index_docs_hnsw" not in await plan_of(IdxDoc.nearest("embedding", QUERIES[0], "l2").limit(10))


async def test_ef_search_is_in_effect_only_inside_the_query(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    query = QUERIES[1]
    # without iterative scans an HNSW scan returns at most ef_search rows: the setting is observable
    assert len(await IdxDoc.nearest("embedding", query, ef_search=5).limit(10)) == 5
    assert await setting("hnsw.ef_search") == "40"  # the (single) pooled connection is back to the default
    assert len(await IdxDoc.nearest("embedding", query).limit(10)) == 10
    relaxed = await IdxDoc.nearest("embedding", query, ef_search=5, iterative_scan="relaxed_order").limit(10)
    assert len(relaxed) == 10
    assert await setting("hnsw.iterative_scan") == "off"
    assert await setting("ivfflat.iterative_scan") == "off"
    strict = await IdxDoc.nearest("embedding", query, ef_search=5, iterative_scan="strict_order").limit(10)
    assert [r._vector_distance for r in strict] == sorted(r._vector_distance for r in strict)
    assert len(strict) == 10
    assert await setting("hnsw.iterative_scan") == "off"
    # terminals that are not all() run tuned too
    assert (
        len(await IdxDoc.nearest("embedding", query, ef_search=5).limit(10).values_list("id", flat=True)) == 5
    )
    assert await IdxDoc.nearest("embedding", query, ef_search=5).limit(10).count() == 5


async def test_concurrent_tuned_and_untuned_queries_do_not_mix(idx_db: str, pg_url: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    queries = [IdxDoc.nearest("embedding", q, ef_search=3 + n).limit(10) for n, q in enumerate(QUERIES)]
    plain = [IdxDoc.nearest("embedding", q).limit(10) for q in QUERIES]
    results = await asyncio.gather(*(qs.all() for pair in zip(queries, plain, strict=True) for qs in pair))
    sizes = [len(rows) for rows in results]
    assert sizes == [n for k in range(len(QUERIES)) for n in (3 + k, 10)]


async def test_tuning_inside_a_transaction_restores_the_previous_values(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    query = QUERIES[2]
    async with transaction(DB):
        before = await setting("hnsw.ef_search")
        assert len(await IdxDoc.nearest("embedding", query, ef_search=4).limit(10)) == 4
        assert await setting("hnsw.ef_search") == before == "40"
        await executor.execute(DB, "SELECT set_config('hnsw.ef_search', '7', true)", [])
        assert len(await IdxDoc.nearest("embedding", query, ef_search=3).limit(10)) == 3
        assert await setting("hnsw.ef_search") == "7"  # the caller's own SET LOCAL survives
        assert len(await IdxDoc.nearest("embedding", query).limit(10)) == 7
    assert await setting("hnsw.ef_search") == "40"


async def test_a_tuned_stream_runs_with_its_settings_and_leaves_none_behind(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    query = QUERIES[1]
    tuned = IdxDoc.nearest("embedding", query, ef_search=5).limit(10)
    assert len([doc async for doc in tuned.iterator(chunk_size=3)]) == 5
    assert len([pk async for pk in tuned.values_list("id", flat=True).iterator(chunk_size=3)]) == 5
    assert await setting("hnsw.ef_search") == "40"
    async with transaction(DB):
        await executor.execute(DB, "SELECT set_config('hnsw.ef_search', '7', true)", [])
        seen = []
        async for doc in tuned.iterator(chunk_size=2):
            seen.append(doc.id)
            # the statements between its reads run with the transaction's own settings
            assert await setting("hnsw.ef_search") == "7"
        assert len(seen) == 5
        assert await setting("hnsw.ef_search") == "7"
        # two streams open at once, closed in the order they were opened: each reads with its own settings
        first = IdxDoc.nearest("embedding", query, ef_search=4).limit(10).iterator(chunk_size=2)
        second = IdxDoc.nearest("embedding", query, ef_search=6).limit(10).iterator(chunk_size=2)
        firsts, seconds = [await anext(first)], [await anext(second)]
        await executor.execute(DB, "SELECT set_config('hnsw.ef_search', '8', true)", [])
        firsts += [doc async for doc in first]
        seconds += [doc async for doc in second]
        assert (len(firsts), len(seconds)) == (4, 6)
        assert await setting("hnsw.ef_search") == "8"
        # left with break and never closed: nothing waits for the event loop to set the value back
        async for _doc in tuned.iterator(chunk_size=2):
            break
        assert await setting("hnsw.ef_search") == "8"
        assert len(await IdxDoc.nearest("embedding", query).limit(10)) == 8
    assert await setting("hnsw.ef_search") == "40"
    await dispose_all()  # a new session: the setting is unknown until pgvector loads, and set back to default
    async with transaction(DB):
        assert len([pk async for pk in tuned.values_list("id", flat=True).iterator()]) == 5
        assert await setting("hnsw.ef_search") == "40"


async def test_a_tuned_stream_across_savepoints_leaves_the_settings_of_the_transaction(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    query = QUERIES[2]
    async with transaction(DB):
        await executor.execute(DB, "SELECT set_config('hnsw.ef_search', '7', true)", [])
        stream = IdxDoc.nearest("embedding", query, ef_search=5).limit(10).iterator(chunk_size=2)
        docs = [await anext(stream)]  # the cursor opens in the transaction itself
        with pytest.raises(RuntimeError):
            async with transaction(DB):  # a savepoint, rolled back after the stream read in it
                await executor.execute(DB, "SELECT set_config('hnsw.ef_search', '9', true)", [])
                docs += [await anext(stream), await anext(stream)]
                assert await setting("hnsw.ef_search") == "9"
                raise RuntimeError("roll the savepoint back")
        assert await setting("hnsw.ef_search") == "7"
        with pytest.raises(RuntimeError):
            async with transaction(DB):  # the stream ends in a savepoint that is rolled back
                docs += [doc async for doc in stream]
                raise RuntimeError("roll the savepoint back")
        assert len(docs) == 5
        assert await setting("hnsw.ef_search") == "7"


async def test_a_tuned_stream_cancelled_at_any_step_leaves_the_transactions_settings(
    idx_db: str, pg_url: str
) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    await dispose_all()  # without a statement cache each statement takes two round trips: more places to stop
    unregister_database(DB)
    register_database(DatabaseProjectConfig(name=DB, url=pg_url, pool_max_size=1, statement_cache_size=0))
    tuned = IdxDoc.nearest("embedding", QUERIES[1], ef_search=5).limit(10)

    async def consume() -> None:
        async for _doc in tuned.iterator(chunk_size=1):
            pass

    class Aborted(Exception):
        pass

    for turns in itertools.count():  # cancelled after 0, 1, 2, ... turns of the event loop, until it finishes
        with contextlib.suppress(Aborted):
            async with transaction(DB):
                await executor.execute(DB, "SELECT set_config('hnsw.ef_search', '7', true)", [])
                task = await cancelled_after(turns, consume)
                try:
                    value = await setting("hnsw.ef_search")
                except TransactionError:  # the server cancelled a statement: the transaction rolls back
                    raise Aborted from None
                assert value == "7", f"cancelled after {turns} turns"
        if not task.cancelled():
            break
        assert turns < 10_000


async def test_tuning_on_a_fresh_session_where_pgvector_is_not_loaded_yet(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(HNSW), [])
    await dispose_all()  # a new connection: pgvector's settings are not defined until its library loads
    async with transaction(DB):
        assert len(await IdxDoc.nearest("embedding", QUERIES[3], ef_search=6).limit(10)) == 6
        assert await setting("hnsw.ef_search") == "40"
    assert await setting("hnsw.ef_search") == "40"


async def test_ivfflat_index_from_ddl_generator_and_probes(idx_db: str) -> None:
    await executor.execute(DB, DDLGenerator.add_index(IVFFLAT), [])
    query = QUERIES[4]
    qs = IdxDoc.nearest("embedding", query, metric="l2").limit(10)
    plan = await plan_of(qs)
    assert "Index Scan" in plan and "vec_index_docs_ivf" in plan
    every_list = await IdxDoc.nearest("embedding", query, metric="l2", probes=10).limit(10)
    assert [r.id for r in every_list] == exact("l2", query)  # probing every list is an exact search
    one_list = await IdxDoc.nearest("embedding", query, metric="l2", probes=1).limit(10)
    assert len(one_list) <= 10
    assert {r.id for r in one_list} <= {int(i) for i in range(ROWS)}
    assert len({r.id for r in one_list} & set(exact("l2", query))) < 10  # one of 10 lists misses neighbours
    assert await setting("ivfflat.probes") == "1"
    relaxed = await IdxDoc.nearest(
        "embedding", query, metric="l2", probes=1, iterative_scan="relaxed_order"
    ).limit(10)
    assert len(relaxed) == 10


async def test_halfvec_hnsw_index_is_used(idx_db: str) -> None:
    index = IndexDef(
        name="vec_index_docs_half_hnsw",
        table="vec_index_docs",
        columns=["half"],
        method="hnsw",
        vector_ops=vector_ops_for("l2", "halfvec"),
    )
    await executor.execute(DB, DDLGenerator.drop_index("vec_index_docs_half_hnsw"), [])
    await executor.execute(DB, DDLGenerator.add_index(index), [])
    try:
        qs = IdxDoc.nearest("half", QUERIES[0], metric="l2").limit(10)
        assert "vec_index_docs_half_hnsw" in await plan_of(qs)
        rows = await qs
        assert len(set(r.id for r in rows) & set(exact("l2", QUERIES[0]))) >= 8
    finally:
        await executor.execute(DB, DDLGenerator.drop_index("vec_index_docs_half_hnsw"), [])


def test_index_objects_compile_for_alembic() -> None:
    """The Index on the model's table is what Alembic autogenerate and create_all render."""
    (hnsw,) = [i for i in DeclaredIdx._meta.table.indexes if i.name.endswith("hnsw_idx")]
    sql = str(sa.schema.CreateIndex(hnsw).compile(dialect=sa.dialects.postgresql.dialect()))
    assert "USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)" in sql
