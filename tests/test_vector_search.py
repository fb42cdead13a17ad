"""nearest() and vector fields on a real PostgreSQL + pgvector; every distance checked against numpy."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from pgvector import SparseVector

from matrx_orm import (
    BooleanField,
    CharField,
    ForeignKey,
    HalfVectorField,
    IntegerField,
    Model,
    ParameterError,
    QueryError,
    SparseVectorField,
    UnknownFieldError,
    ValidationError,
    VectorField,
    capture_queries,
    create_all,
)
from matrx_orm.db import executor
from matrx_orm.sql.compiler import cache as compiler
from matrx_orm.sql.compiler.plain import plain_shape

DIM = 8
ROWS = 60
NULL_IDS = {7, 19, 33}  # rows stored without an embedding
CATEGORIES = ("a", "b", "c")


class VecDoc(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=50)
    category = CharField(max_length=5)
    is_published = BooleanField(default=True)
    embedding = VectorField(dimensions=DIM, null=True)

    _table_name = "vec_search_docs"
    _database = "test"


class VecHalf(Model):
    id = IntegerField(primary_key=True)
    embedding = HalfVectorField(dimensions=4)

    _table_name = "vec_search_half"
    _database = "test"


class VecSparse(Model):
    id = IntegerField(primary_key=True)
    embedding = SparseVectorField(dimensions=20)

    _table_name = "vec_search_sparse"
    _database = "test"


MODELS = [VecDoc, VecHalf, VecSparse]


def _vectors() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(ROWS, DIM)).astype(np.float32)


VECTORS = _vectors()
QUERY = np.random.default_rng(11).normal(size=DIM).astype(np.float32)


def _row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "title": f"doc {i}",
        "category": CATEGORIES[i % 3],
        "is_published": i % 4 != 0,
        "embedding": None if i in NULL_IDS else VECTORS[i].tolist(),
    }


def distances(metric: str, query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """What pgvector computes, in float64 from the float32 values."""
    q = query.astype(np.float64)
    v = vectors.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((v - q) ** 2).sum(axis=1))
    if metric == "l1":
        return np.abs(v - q).sum(axis=1)
    if metric == "inner":
        return -(v @ q)
    return 1.0 - (v @ q) / (np.linalg.norm(v, axis=1) * np.linalg.norm(q))


def expected(
    metric: str, query: np.ndarray = QUERY, keep: Any = lambda row: True, k: int | None = None
) -> list[tuple[int, float]]:
    ids = [i for i in range(ROWS) if i not in NULL_IDS and keep(_row(i))]
    dist = distances(metric, query, VECTORS[ids])
    ranked = sorted(zip(ids, dist.tolist(), strict=True), key=lambda pair: pair[1])
    return ranked[:k] if k is not None else ranked


def assert_ranked(rows: list[Any], ranked: list[tuple[int, float]]) -> None:
    assert [r.id for r in rows] == [i for i, _ in ranked]
    for row, (_, dist) in zip(rows, ranked, strict=True):
        assert isinstance(row._vector_distance, float)
        assert row._vector_distance == pytest.approx(dist, rel=1e-5, abs=1e-5)


@pytest.fixture(autouse=True)
async def docs(db: str, needs_pgvector: None) -> None:
    await create_all(db, models=MODELS)
    for model in MODELS:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}"', [])
    await VecDoc.bulk_create([_row(i) for i in range(ROWS)])


# -- metrics -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "l2", "inner", "l1"])
async def test_every_metric_matches_numpy(metric: str) -> None:
    rows = await VecDoc.nearest("embedding", QUERY.tolist(), metric=metric).limit(10).all()
    assert_ranked(rows, expected(metric, k=10))


@pytest.mark.parametrize("metric", ["cosine", "l2", "inner", "l1"])
async def test_whole_table_ordered_by_distance(metric: str) -> None:
    rows = await VecDoc.all().nearest("embedding", QUERY, metric=metric)
    assert_ranked(rows, expected(metric))


async def test_default_metric_is_cosine_and_numpy_query_vector() -> None:
    rows = await VecDoc.nearest("embedding", QUERY).limit(5)
    assert_ranked(rows, expected("cosine", k=5))
    as_tuple = await VecDoc.nearest("embedding", tuple(QUERY.tolist())).limit(5)
    assert [r.id for r in as_tuple] == [r.id for r in rows]


async def test_vectors_come_back_as_float_lists() -> None:
    rows = await VecDoc.nearest("embedding", QUERY).limit(3)
    for row in rows:
        assert type(row.embedding) is list
        assert all(type(x) is float for x in row.embedding)
        assert row.embedding == pytest.approx(VECTORS[row.id].tolist())
    loaded = await VecDoc.get(id=0)
    assert type(loaded.embedding) is list and loaded.embedding == pytest.approx(VECTORS[0].tolist())
    assert loaded._vector_distance is None  # only nearest() sets it


async def test_query_vector_is_bound_for_the_binary_codec() -> None:
    qs = VecDoc.nearest("embedding", QUERY.tolist(), metric="l2").limit(4)
    statement, params = qs._select(qs._field_names())
    assert "vec_search_docs.embedding <-> $1 AS _vector_distance" in statement.sql
    assert "$1::" not in statement.sql  # no cast: the server types $1 as vector from the operator
    vector = params[0]
    assert isinstance(vector, np.ndarray) and vector.dtype == np.float32  # never a '[...]' text literal
    assert len(params) == 1 and statement.sql.rstrip().endswith("LIMIT 4")  # a limit is part of the SQL


# -- null guard ------------------------------------------------------------------------------------------------


async def test_null_guard_skips_rows_without_a_vector() -> None:
    qs = VecDoc.nearest("embedding", QUERY)
    assert "embedding IS NOT NULL" in qs.sql()
    rows = await qs
    assert len(rows) == ROWS - len(NULL_IDS)
    assert not {r.id for r in rows} & NULL_IDS


async def test_null_guard_off_keeps_null_rows_last() -> None:
    qs = VecDoc.nearest("embedding", QUERY, metric="l2", null_guard=False)
    assert "IS NOT NULL" not in qs.sql()
    rows = await qs
    assert len(rows) == ROWS
    tail = rows[-len(NULL_IDS) :]
    assert {r.id for r in tail} == NULL_IDS
    assert all(r._vector_distance is None and r.embedding is None for r in tail)
    assert_ranked(rows[: -len(NULL_IDS)], expected("l2"))


# -- composition -------------------------------------------------------------------------------------------------


async def test_hybrid_filters_before_and_after_nearest() -> None:
    def keep(row: dict[str, Any]) -> bool:
        return row["category"] == "a" and row["is_published"]

    want = expected("cosine", keep=keep, k=5)
    first = await VecDoc.filter(category="a", is_published=True).nearest("embedding", QUERY).limit(5)
    second = (
        await VecDoc.nearest("embedding", QUERY).filter(category="a").exclude(is_published=False).limit(5)
    )
    assert_ranked(first, want)
    assert_ranked(second, want)


async def test_range_and_in_filters_with_every_metric() -> None:
    for metric in ("l2", "inner"):
        rows = await VecDoc.filter(id__range=(10, 40), category__in=["b", "c"]).nearest(
            "embedding", QUERY, metric=metric
        )
        assert_ranked(rows, expected(metric, keep=lambda r: 10 <= r["id"] <= 40 and r["category"] != "a"))


async def test_slicing_offset_and_tie_breaking_order() -> None:
    ranked = expected("l1")
    page = await VecDoc.nearest("embedding", QUERY, metric="l1")[5:12]
    assert_ranked(page, ranked[5:12])
    ordered = await VecDoc.nearest("embedding", QUERY, metric="l1").order_by("-id").limit(3)
    assert_ranked(ordered, ranked[:3])  # distance first, the explicit order only breaks ties


async def test_select_loads_only_some_fields() -> None:
    rows = await VecDoc.nearest("embedding", QUERY).select("title").limit(4)
    assert_ranked(rows, expected("cosine", k=4))
    assert [r.title for r in rows] == [f"doc {i}" for i, _ in expected("cosine", k=4)]
    assert all(r.embedding is None and r.category is None for r in rows)


async def test_terminals_follow_distance_order() -> None:
    ranked = expected("l2")
    qs = VecDoc.nearest("embedding", QUERY, metric="l2")
    best = await qs.first()
    assert best is not None and best.id == ranked[0][0]
    assert best._vector_distance == pytest.approx(ranked[0][1], rel=1e-5)
    assert await qs.count() == len(ranked)
    assert await qs.filter(category="zzz").count() == 0
    assert await qs.exists() is True
    assert await qs.limit(3).values_list("id", flat=True) == [i for i, _ in ranked[:3]]
    assert await qs.limit(2).values("id", "title") == [{"id": i, "title": f"doc {i}"} for i, _ in ranked[:2]]
    got = await qs.filter(id=ranked[4][0]).get()
    assert got.id == ranked[4][0] and got._vector_distance == pytest.approx(ranked[4][1], rel=1e-5)


async def test_nearest_replaces_an_earlier_nearest() -> None:
    rows = (
        await VecDoc.nearest("embedding", -QUERY, metric="l2").nearest("embedding", QUERY, "inner").limit(3)
    )
    assert_ranked(rows, expected("inner", k=3))


async def test_update_and_delete_refuse_a_nearest_query() -> None:
    with pytest.raises(QueryError, match="nearest"):
        await VecDoc.nearest("embedding", QUERY).update(title="x")
    with pytest.raises(QueryError, match="nearest"):
        await VecDoc.nearest("embedding", QUERY).delete()
    assert await VecDoc.filter(title="x").count() == 0


async def test_concurrent_searches_each_get_their_own_answer() -> None:
    import asyncio

    queries = [np.random.default_rng(100 + n).normal(size=DIM).astype(np.float32) for n in range(8)]
    results = await asyncio.gather(
        *(VecDoc.nearest("embedding", q, metric="l2").limit(5).all() for q in queries)
    )
    for q, rows in zip(queries, results, strict=True):
        assert_ranked(rows, expected("l2", query=q, k=5))


# -- validation (all before any round trip) --------------------------------------------------------------------


async def test_bad_query_vectors_raise_validation_error() -> None:
    with pytest.raises(ValidationError, match="expected 8 dimensions, got 7"):
        VecDoc.nearest("embedding", QUERY[:7])
    with pytest.raises(ValidationError, match="finite"):
        VecDoc.nearest("embedding", [float("nan")] * DIM)
    with pytest.raises(ValidationError, match="1-D"):
        VecDoc.nearest("embedding", np.zeros((2, DIM)))
    with pytest.raises(ValidationError, match="numbers"):
        VecDoc.nearest("embedding", ["a"] * DIM)
    floats = QUERY.tolist()  # lists of floats take a shorter path to float32: the same checks hold there
    for bad, message in (
        (floats[:7], "expected 8 dimensions, got 7"),
        ([*floats[:7], "x"], "numbers"),
        ([*floats[:7], None], "numbers"),
        ([*floats[:7], [1.0]], "flat list"),
        ([*floats[:7], 10**400], "numbers"),
        ([*floats[:7], 1e300], "finite"),  # beyond float32
        ([*floats[:7], float("-inf")], "finite"),
    ):
        with pytest.raises(ValidationError, match=message):
            VecDoc.nearest("embedding", bad)

    class Unconvertible:
        def __float__(self) -> float:
            raise ZeroDivisionError

    for first in (floats[0], 1):  # whatever the first element is
        with pytest.raises(ValidationError, match="numbers"):
            VecDoc.nearest("embedding", [first, *floats[1:7], Unconvertible()])
        numbers = VecDoc.nearest("embedding", [first, *floats[1:4], 2, True, Decimal("0.5"), Fraction(1, 4)])
        assert numbers._spec.nearest.value.tolist()[4:] == [2.0, 1.0, 0.5, 0.25]
    with pytest.raises(ParameterError, match="query vector"):
        VecDoc.nearest("embedding", None)


async def test_bad_arguments_raise_specific_errors() -> None:
    with pytest.raises(ParameterError, match="Did you mean 'cosine'"):
        VecDoc.nearest("embedding", QUERY, metric="cosin")
    with pytest.raises(ParameterError, match="vector field"):
        VecDoc.nearest("title", QUERY)
    with pytest.raises(UnknownFieldError, match="embedding"):
        VecDoc.nearest("embeding", QUERY)
    with pytest.raises(ParameterError, match="null_guard"):
        VecDoc.nearest("embedding", QUERY, null_guard="yes")  # type: ignore[arg-type]
    for bad in ({"ef_search": 0}, {"ef_search": 1001}, {"ef_search": True}, {"ef_search": "40"}):
        with pytest.raises(ParameterError, match="ef_search"):
            VecDoc.nearest("embedding", QUERY, **bad)
    with pytest.raises(ParameterError, match="probes"):
        VecDoc.nearest("embedding", QUERY, probes=-1)
    with pytest.raises(ParameterError, match="iterative_scan"):
        VecDoc.nearest("embedding", QUERY, iterative_scan="relaxed; DROP TABLE x")


async def test_writes_check_dimensions_before_the_round_trip() -> None:
    before = await VecDoc.count()
    with pytest.raises(ValidationError, match="expected 8 dimensions, got 3"):
        await VecDoc.create(id=500, title="bad", category="a", embedding=[1.0, 2.0, 3.0])
    with pytest.raises(ValidationError, match="expected 8 dimensions"):
        await VecDoc.bulk_create([{**_row(1), "id": 501}, {**_row(2), "id": 502, "embedding": [0.0] * 9}])
    doc = await VecDoc.get(id=1)
    with pytest.raises(ValidationError, match="expected 8 dimensions, got 2"):
        await doc.update(embedding=[1.0, 2.0])
    with pytest.raises(ValidationError, match="expected 8 dimensions"):
        await VecDoc.filter(id=2).update(embedding=np.ones(4))
    with pytest.raises(ValidationError, match="expected 8 dimensions"):
        await VecDoc.filter(embedding=[1.0]).all()
    assert await VecDoc.count() == before
    assert (await VecDoc.get(id=1)).embedding == pytest.approx(VECTORS[1].tolist())


async def test_numpy_input_on_writes_and_filters() -> None:
    vec = np.arange(DIM, dtype=np.float64) / 10
    created = await VecDoc.create(id=600, title="np", category="b", embedding=vec)
    assert created.embedding == pytest.approx(vec.tolist())
    stored = await VecDoc.get(id=600)
    assert type(stored.embedding) is list and stored.embedding == pytest.approx(vec.tolist())
    assert [d.id for d in await VecDoc.filter(embedding=vec.astype(np.float32))] == [600]
    top = await VecDoc.nearest("embedding", vec, metric="l2").limit(1)
    assert top[0].id == 600 and top[0]._vector_distance == pytest.approx(0.0, abs=1e-6)


# -- halfvec and sparsevec -------------------------------------------------------------------------------------


async def test_halfvec_nearest_matches_numpy_in_half_precision() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(20, 4)).astype(np.float16)
    await VecHalf.bulk_create([{"id": i, "embedding": data[i].astype(np.float32)} for i in range(20)])
    query = rng.normal(size=4).astype(np.float16)
    for metric in ("cosine", "l2", "inner", "l1"):
        rows = await VecHalf.nearest("embedding", query.astype(np.float32), metric=metric).limit(6)
        dist = distances(metric, query.astype(np.float32), data.astype(np.float32))
        ranked = sorted(enumerate(dist.tolist()), key=lambda p: p[1])[:6]
        assert [r.id for r in rows] == [i for i, _ in ranked]
        for row, (_, d) in zip(rows, ranked, strict=True):
            assert row._vector_distance == pytest.approx(d, rel=1e-3, abs=1e-3)
        assert rows[0].embedding == pytest.approx(data[rows[0].id].astype(np.float32).tolist())
    with pytest.raises(ValidationError, match="65504"):
        VecHalf.nearest("embedding", [1e6, 0, 0, 0])


async def test_sparsevec_nearest_matches_numpy() -> None:
    rng = np.random.default_rng(5)
    dense = np.zeros((15, 20), dtype=np.float32)
    for i in range(15):
        for j in rng.choice(20, size=4, replace=False):
            dense[i, j] = rng.normal()
    await VecSparse.bulk_create(
        [
            {"id": i, "embedding": {int(j): float(dense[i, j]) for j in np.flatnonzero(dense[i])}}
            for i in range(15)
        ]
    )
    query = SparseVector({0: 1.0, 3: -2.0, 19: 0.5}, 20)
    qdense = query.to_numpy().astype(np.float32)
    for metric in ("l2", "cosine", "inner", "l1"):
        rows = await VecSparse.nearest("embedding", query, metric=metric)
        dist = distances(metric, qdense, dense)
        ranked = sorted(enumerate(dist.tolist()), key=lambda p: (p[1], p[0]))
        assert sorted(r._vector_distance for r in rows) == pytest.approx(
            [d for _, d in ranked], rel=1e-5, abs=1e-5
        )
        for row in rows:
            assert row._vector_distance == pytest.approx(dist[row.id], rel=1e-5, abs=1e-5)
    first = (await VecSparse.nearest("embedding", {3: -2.0}, metric="l2").limit(1))[0]
    assert type(first.embedding) is list and len(first.embedding) == 20
    with pytest.raises(ValidationError, match="out of range"):
        VecSparse.nearest("embedding", {20: 1.0})


# -- VectorDistance expressions, only/defer, annotate -------------------------------------------------------------


async def test_vector_distance_annotation_matches_numpy() -> None:
    from matrx_orm import VectorDistance

    for metric in ("cosine", "l2", "inner", "l1"):
        rows = (
            await VecDoc.filter(embedding__isnull=False)
            .annotate(distance=VectorDistance("embedding", QUERY, metric=metric))
            .order_by("distance", "id")
        )
        assert_ranked_by(rows, expected(metric), "distance")


async def test_vector_distance_threshold_in_filter_and_annotation_filter() -> None:
    from matrx_orm import VectorDistance

    ranked = expected("l2")
    threshold = (ranked[9][1] + ranked[10][1]) / 2  # exactly ten rows are closer
    direct = await VecDoc.filter(VectorDistance("embedding", QUERY, "l2") < threshold).order_by("id")
    assert [r.id for r in direct] == sorted(i for i, _ in ranked[:10])
    far = await VecDoc.exclude(VectorDistance("embedding", QUERY, "l2") <= threshold).count()
    assert far == len(ranked) - 10  # NULL distances match neither side
    annotated = (
        await VecDoc.all().annotate(d=VectorDistance("embedding", QUERY, "l2")).filter(d__lt=threshold)
    )
    assert sorted(r.id for r in annotated) == sorted(i for i, _ in ranked[:10])
    combined = await VecDoc.filter(
        VectorDistance("embedding", QUERY, "l2") >= threshold, category="a"
    ).nearest("embedding", QUERY, "l2")
    assert_ranked(combined, [p for p in ranked[10:] if _row(p[0])["category"] == "a"])


async def test_nearest_composes_with_annotations_only_and_defer() -> None:
    from matrx_orm import F, Lower, VectorDistance

    ranked = expected("cosine", k=5)
    rows = (
        await VecDoc.nearest("embedding", QUERY)
        .annotate(loud=Lower("title"), l1=VectorDistance("embedding", QUERY, "l1"), twice=F("id") * 2)
        .limit(5)
    )
    assert_ranked(rows, ranked)
    l1 = dict(expected("l1"))
    for row in rows:
        assert row.loud == f"doc {row.id}" and row.twice == 2 * row.id
        assert row.l1 == pytest.approx(l1[row.id], rel=1e-5)
    only = await VecDoc.nearest("embedding", QUERY).only("title").limit(5)
    assert_ranked(only, ranked)
    assert all(r.embedding is None and r.title == f"doc {r.id}" for r in only)
    deferred = await VecDoc.nearest("embedding", QUERY).defer("embedding", "category").limit(5)
    assert_ranked(deferred, ranked)
    assert all(r.embedding is None and r.category is None and r.title for r in deferred)
    values = (
        await VecDoc.nearest("embedding", QUERY).annotate(loud=Lower("title")).limit(2).values("id", "loud")
    )
    assert values == [{"id": i, "loud": f"doc {i}"} for i, _ in ranked[:2]]


async def test_nearest_refuses_grouping_and_bad_vector_distance_input() -> None:
    from matrx_orm import Count, VectorDistance

    with pytest.raises(QueryError, match="nearest"):
        await VecDoc.nearest("embedding", QUERY).annotate(n=Count("id")).all()
    with pytest.raises(ValidationError, match="expected 8 dimensions"):
        await VecDoc.all().annotate(d=VectorDistance("embedding", [1.0, 2.0])).all()
    with pytest.raises(ParameterError, match="vector field"):
        VecDoc.all().annotate(d=VectorDistance("title", QUERY))
    with pytest.raises(ParameterError, match="unknown vector metric"):
        VectorDistance("embedding", QUERY, metric="dot")
    with pytest.raises(ParameterError, match="compares with a number"):
        VectorDistance("embedding", QUERY) < "0.3"  # noqa: B015
    with pytest.raises(UnknownFieldError):
        VecDoc.filter(VectorDistance("embeding", QUERY) < 0.3)


def assert_ranked_by(rows: list[Any], ranked: list[tuple[int, float]], attribute: str) -> None:
    assert [r.id for r in rows] == [i for i, _ in ranked]
    for row, (_, dist) in zip(rows, ranked, strict=True):
        assert getattr(row, attribute) == pytest.approx(dist, rel=1e-5, abs=1e-5)


# -- select_related ----------------------------------------------------------------------------------------------


class VecShelf(Model):
    id = IntegerField(primary_key=True)
    label = CharField(max_length=20)

    _table_name = "vec_search_shelves"
    _database = "test"


class VecNote(Model):
    id = IntegerField(primary_key=True)
    shelf = ForeignKey("VecShelf", "id")
    embedding = VectorField(dimensions=DIM)

    _table_name = "vec_search_notes"
    _database = "test"


async def test_nearest_composes_with_select_related_and_filters(db: str) -> None:
    await create_all(db, models=[VecShelf, VecNote])
    await executor.execute(db, 'TRUNCATE "vec_search_notes", "vec_search_shelves"', [])
    await VecShelf.bulk_create([{"id": 1, "label": "left"}, {"id": 2, "label": "right"}])
    await VecNote.bulk_create(
        [{"id": i, "shelf": 1 + i % 2, "embedding": VECTORS[i].tolist()} for i in range(ROWS)]
    )
    left_ids = [i for i in range(ROWS) if i % 2 == 0]
    dist = distances("l2", QUERY, VECTORS[left_ids])
    ranked = sorted(zip(left_ids, dist.tolist(), strict=True), key=lambda pair: pair[1])[:4]

    with capture_queries() as queries:
        rows = await (
            VecNote.filter(shelf=1).select_related("shelf").nearest("embedding", QUERY, metric="l2").limit(4)
        )
    assert len(queries) == 1  # the JOIN and the distance ordering in one statement
    assert_ranked(rows, ranked)
    assert all(row.get_related("shelf").label == "left" for row in rows)
    assert all(isinstance(row.get_related("shelf"), VecShelf) for row in rows)


# -- the statement of a search -----------------------------------------------------------------------------------


async def test_searches_of_one_shape_share_a_statement_and_read_their_own_rows() -> None:
    """A search without other expressions finds its statement by its shape (no walk after the first), with
    the walk's parameters; other vectors, metrics and slices read their own rows."""
    names = VecDoc._meta.field_names
    searches = [
        VecDoc.filter(category="a").nearest("embedding", QUERY).limit(5),
        VecDoc.nearest("embedding", QUERY.tolist(), metric="l2")[2:6],
        VecDoc.nearest("embedding", QUERY, metric="inner", null_guard=False).limit(3),
    ]
    for qs in searches:
        compiler.clear_cache()
        walked, walked_params = qs._select(names, "rows")
        shape = plain_shape(qs._spec, names, "rows")
        assert shape is not None and compiler.plans[shape.key] is walked
        again, params = qs._select(names, "rows")
        assert again is walked
        assert len(params) == len(walked_params)
        for mine, theirs in zip(params, walked_params, strict=True):
            assert np.array_equal(mine, theirs) if isinstance(mine, np.ndarray) else mine == theirs
    other = np.random.default_rng(12).normal(size=DIM).astype(np.float32)
    for query in (QUERY, other, QUERY):
        for metric in ("cosine", "l2"):
            rows = (
                await VecDoc.filter(category="b").nearest("embedding", query.tolist(), metric=metric).limit(4)
            )
            assert_ranked(rows, expected(metric, query, keep=lambda row: row["category"] == "b", k=4))
    for _ in range(2):
        top = await VecDoc.nearest("embedding", QUERY).limit(3).values_list("id", flat=True)
        assert top == [i for i, _ in expected("cosine", k=3)]
