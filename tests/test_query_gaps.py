"""Query API gaps closed on the real database: ``last()``/``first()`` with any ordering, ``iterator()`` with
``select_related``/``prefetch_related``, ``values()`` with relations, and filters across foreign keys."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

import numpy as np
import pytest
from advanced_models import AdvCustomer
from advanced_models import load as load_advanced
from relation_models import RComment, ROrder, RPost, RUser, reset_tables

from matrx_orm import (
    Case,
    CharField,
    Count,
    DoesNotExist,
    F,
    ForeignKey,
    IntegerField,
    Lower,
    Model,
    OuterRef,
    ParameterError,
    Q,
    QueryError,
    Subquery,
    UnknownFieldError,
    UnknownLookupError,
    Value,
    VectorField,
    When,
    capture_queries,
    create_all,
    pool_stats,
    transaction,
)
from matrx_orm.db import executor
from matrx_orm.meta.relations import is_loaded

POSTS = 100


class GapDoc(Model):
    id = IntegerField(primary_key=True)
    title = CharField(max_length=20)
    embedding = VectorField(dimensions=4, null=True)

    _table_name = "gap_docs"
    _database = "test"


class GapNode(Model):
    """A tree: the foreign key points at the same table."""

    id = IntegerField(primary_key=True)
    name = CharField(max_length=20)
    parent_id = ForeignKey("GapNode", "id", null=True)

    _table_name = "gap_nodes"
    _database = "test"


# -- 1. first() / last() with every kind of ordering ----------------------------------------------------------------


def _orderings() -> list[tuple[str, Any]]:
    return [
        ("F desc nulls last", lambda: AdvCustomer.all().order_by(F("score").desc(nulls_last=True), "id")),
        ("F asc nulls first", lambda: AdvCustomer.all().order_by(F("score").asc(nulls_last=False), "id")),
        ("F desc (default nulls)", lambda: AdvCustomer.all().order_by(F("score").desc(), "-id")),
        ("plain expression", lambda: AdvCustomer.all().order_by(F("score") * -1, "id")),
        ("Lower()", lambda: AdvCustomer.all().order_by(Lower("nickname"), "-id")),
        (
            "annotation alias",
            lambda: AdvCustomer.all().annotate(n=F("score") + F("tenant")).order_by("-n", "id"),
        ),
        ("field strings", lambda: AdvCustomer.filter(is_active=True).order_by("-tenant", "name")),
        (
            "Count alias",
            lambda: AdvCustomer.all().annotate(n=Count("id") * F("tenant")).order_by("-n", "-id"),
        ),
    ]


@pytest.mark.parametrize("label", [label for label, _ in _orderings()])
async def test_first_and_last_follow_any_ordering(db: str, label: str) -> None:
    await load_advanced(db)
    make = dict(_orderings())[label]
    ids = await make().values_list("id", flat=True)
    assert len(ids) > 3
    first, last = await make().first(), await make().last()
    assert first is not None and last is not None
    assert (first.id, last.id) == (ids[0], ids[-1])


async def test_last_reverses_nulls_placement_checked_in_python(db: str) -> None:
    await load_advanced(db)
    customers = await AdvCustomer.all()
    assert any(c.score is None for c in customers)
    scored = sorted((c for c in customers if c.score is not None), key=lambda c: (-c.score, c.id))
    nulls = sorted(c.id for c in customers if c.score is None)
    last = await AdvCustomer.all().order_by(F("score").desc(nulls_last=True), "id").last()
    assert last is not None and last.id == nulls[-1]
    last = await AdvCustomer.all().order_by(F("score").desc(nulls_last=False), "id").last()
    assert last is not None and last.id == scored[-1].id


async def test_last_without_ordering_uses_the_primary_key_and_respects_slices(db: str) -> None:
    await load_advanced(db)
    ids = [c.id for c in await AdvCustomer.all().order_by("id")]
    last = await AdvCustomer.all().last()
    assert last is not None and last.id == max(ids)
    qs = AdvCustomer.all().order_by(F("name").desc())
    ordered = [c.id for c in await qs]
    sliced = await qs[2:5].last()
    assert sliced is not None and sliced.id == ordered[4]
    tail = await qs[3:].last()
    assert tail is not None and tail.id == ordered[-1]
    assert await qs[len(ordered) :].last() is None
    assert await AdvCustomer.filter(id=-1).order_by(F("score").desc()).last() is None


@pytest.fixture
async def docs(db: str, needs_pgvector: None) -> np.ndarray:
    await create_all(db, models=[GapDoc])
    await executor.execute(db, "TRUNCATE gap_docs", [])
    vectors = np.random.default_rng(3).normal(size=(12, 4)).astype(np.float32)
    await GapDoc.bulk_create([GapDoc(id=i, title=f"d{i}", embedding=vectors[i].tolist()) for i in range(12)])
    return vectors


async def test_first_and_last_of_a_nearest_query(docs: np.ndarray) -> None:
    query = np.array([0.5, -1.0, 0.25, 2.0], dtype=np.float32)
    distances = np.linalg.norm(docs - query, axis=1)
    qs = GapDoc.all().nearest("embedding", query, metric="l2")
    first, last = await qs.first(), await qs.last()
    assert first is not None and first.id == int(np.argmin(distances))
    assert last is not None and last.id == int(np.argmax(distances))
    assert last._vector_distance == pytest.approx(float(distances.max()), rel=1e-5)
    streamed = [d async for d in qs.iterator(chunk_size=5)]  # iterator() keeps the distance column too
    assert [d.id for d in streamed] == list(np.argsort(distances))
    assert streamed[0]._vector_distance == pytest.approx(float(distances.min()), rel=1e-5)


# -- blog data for 2-4 ----------------------------------------------------------------------------------------------


async def _blog(db: str) -> tuple[list[RUser], list[RPost]]:
    """10 users; 100 posts (author = users[i % 10], reviewer on even posts only); 2 comments on every 3rd."""
    await reset_tables(db)
    users = await RUser.bulk_create(
        [RUser(name=f"user{i}", status="active" if i % 2 else "away") for i in range(10)]
    )
    posts = await RPost.bulk_create(
        [
            RPost(
                id=i,
                title=f"post{i}",
                author_id=users[i % 10].id,
                reviewer_id=users[(i + 1) % 10].id if i % 2 == 0 else None,
            )
            for i in range(POSTS)
        ]
    )
    await RComment.bulk_create(
        [
            RComment(id=1000 + i * 2 + k, body=f"c{i}-{k}", post_id=i)
            for i in range(0, POSTS, 3)
            for k in range(2)
        ]
    )
    return users, posts


# -- 2. iterator() with select_related / prefetch_related ----------------------------------------------------------


async def test_iterator_carries_select_related_instances_in_one_statement(db: str) -> None:
    users, _ = await _blog(db)
    names = {u.id: u.name for u in users}
    with capture_queries() as log:
        posts = [p async for p in RPost.all().select_related("author", "reviewer").order_by("id").iterator(7)]
    assert len(log) == 1 and "LEFT OUTER JOIN" in log[0].sql
    assert [p.id for p in posts] == list(range(POSTS))
    for post in posts:
        assert is_loaded(post, "author") and is_loaded(post, "reviewer")
        assert post.get_related("author").name == names[post.author_id]
        reviewer = post.get_related("reviewer")
        assert (reviewer is None) == (post.reviewer_id is None)
        if reviewer is not None:
            assert reviewer.name == names[post.reviewer_id]


async def test_iterator_prefetches_once_per_relation_per_chunk(db: str) -> None:
    await _blog(db)
    expected = {
        p.id: sorted(c.body for c in p.get_related("comments"))
        for p in await RPost.all().prefetch_related("comments", "author")
    }
    chunk = 30
    with capture_queries() as log:
        posts = [
            p async for p in RPost.all().prefetch_related("comments", "author").order_by("id").iterator(chunk)
        ]
    chunks = -(-POSTS // chunk)
    assert len(log) == 1 + 2 * chunks  # the cursor, then comments + authors for every chunk
    assert all(q.in_transaction for q in log[1:])  # loaded on the cursor's own connection
    assert {p.id: sorted(c.body for c in p.get_related("comments")) for p in posts} == expected
    assert all(p.get_related("author").id == p.author_id for p in posts)


async def test_iterator_with_both_inside_a_transaction(db: str) -> None:
    await _blog(db)
    async with transaction("test"):
        with capture_queries() as log:
            posts = [
                p
                async for p in RPost.filter(id__lt=40)
                .select_related("author")
                .prefetch_related("comments")
                .order_by("-id")
                .iterator(chunk_size=25)
            ]
    assert [p.id for p in posts] == list(range(39, -1, -1))
    assert len(log) == 1 + 2  # the cursor + comments for each of the two chunks
    assert all(p.get_related("author").id == p.author_id for p in posts)
    assert sum(len(p.get_related("comments")) for p in posts) == 2 * len(range(0, 40, 3))


async def test_values_and_values_list_stream_with_iterator(db: str) -> None:
    await _blog(db)
    expected = await RPost.filter(id__lt=50).order_by("id").values_list("id", "title")
    with capture_queries() as log:
        streamed = [
            row async for row in RPost.filter(id__lt=50).order_by("id").values_list("id", "title").iterator(7)
        ]
    assert streamed == expected and len(log) == 1
    flat = [i async for i in RPost.filter(id__lt=10).order_by("id").values_list("id", flat=True).iterator(3)]
    assert flat == list(range(10))
    dicts = [row async for row in RPost.filter(id__lt=3).order_by("id").values("id").iterator()]
    assert dicts == [{"id": 0}, {"id": 1}, {"id": 2}]
    async with transaction("test"):
        assert [
            i async for i in RPost.filter(id__lt=3).order_by("id").values_list("id", flat=True).iterator(2)
        ] == [0, 1, 2]
    with pytest.raises(ParameterError):
        async for _ in RPost.all().values("id").iterator(chunk_size=0):
            pass


async def test_a_stream_closed_early_gives_its_connection_back_at_once(db: str) -> None:
    await _blog(db)
    streams = [
        RPost.all().order_by("id").iterator(chunk_size=3),
        RPost.all().order_by("id").values_list("id", "title").iterator(3),
        RPost.all().order_by("id").values("id").iterator(3),
    ]
    firsts = []
    for stream in streams:
        firsts.append(await stream.__anext__())
        assert pool_stats(db).in_use == 1  # its cursor's connection, held between chunks
        await stream.aclose()
        assert pool_stats(db).in_use == 0  # back before the event loop turns again
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
    assert [firsts[0].id, firsts[1], firsts[2]] == [0, (0, "post0"), {"id": 0}]
    async with contextlib.aclosing(
        RPost.all().order_by("id").values_list("id", flat=True).iterator(2)
    ) as ids:
        assert [i async for i in ids if i < 2 or i > 97] == [0, 1, 98, 99]
    assert pool_stats(db).in_use == 0


async def test_a_stream_caught_in_a_reference_cycle_is_closed_once(db: str) -> None:
    await _blog(db)
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: reported.append(context))

    async def stop_inside_the_loop() -> None:
        stream = RPost.all().order_by("id").iterator(chunk_size=5)
        try:
            async for _ in stream:
                raise ValueError("stop")
        except ValueError as exc:
            caught = (
                exc  # the frame holds the error, whose traceback holds the frame: a cycle with the stream
            )
        assert caught

    try:
        gc.disable()
        try:
            await stop_inside_the_loop()
        finally:
            gc.enable()
        gc.collect()  # the stream is found in the cycle; the event loop closes it in a task of its own
        for _ in range(10):
            await asyncio.sleep(0.02)
        gc.collect()  # a task that failed reports it when it is collected
        await asyncio.sleep(0.02)
    finally:
        loop.set_exception_handler(None)
    assert reported == [] and pool_stats(db).in_use == 0


async def test_a_stream_checks_its_chunk_size_where_the_loop_begins(db: str) -> None:
    streams = [RPost.all().iterator(chunk_size=0), RPost.all().values_list("id").iterator(chunk_size=True)]
    for stream in streams:  # made without an error, as an async generator would be
        with pytest.raises(ParameterError, match="positive int"):
            async for _ in stream:
                pass
    assert pool_stats(db).in_use == 0


async def test_values_list_rows_are_tuples_whether_streamed_or_read_whole(db: str) -> None:
    users, _ = await _blog(db)
    posts = RPost.filter(id__lt=4).order_by("id")
    plain = [(i, f"post{i}") for i in range(4)]
    with_keys = [(i, f"post{i}", users[i + 1].id if i % 2 == 0 else None) for i in range(4)]
    for query, expected in (
        (posts.values_list("id", "title"), plain),
        (posts.values_list("id", "title", "reviewer_id"), with_keys),
    ):
        for rows in (await query, [row async for row in query.iterator(3)]):
            assert rows == expected and all(type(row) is tuple for row in rows)


# -- 3. values() / values_list() ignore select_related / prefetch_related ----------------------------------------


async def test_values_ignore_select_and_prefetch_related(db: str) -> None:
    await _blog(db)
    plain = await RPost.filter(id__lt=5).order_by("id").values("id", "title")
    plain_list = await RPost.filter(id__lt=5).order_by("id").values_list("id", "author_id")
    with capture_queries() as log:
        related = (
            await RPost.filter(id__lt=5)
            .select_related("author")
            .prefetch_related("comments")
            .order_by("id")
            .values("id", "title")
        )
        related_list = (
            await RPost.filter(id__lt=5)
            .select_related("author")
            .order_by("id")
            .values_list("id", "author_id")
        )
        flat = (
            await RPost.filter(id__lt=5)
            .prefetch_related("author")
            .order_by("id")
            .values_list("id", flat=True)
        )
    assert related == plain and related_list == plain_list and flat == [r["id"] for r in plain]
    assert len(log) == 3 and not any("JOIN" in q.sql for q in log)


async def test_values_across_a_relation_raises_and_the_suggested_annotation_works(db: str) -> None:
    users, _ = await _blog(db)
    with pytest.raises(UnknownFieldError, match="Subquery") as info:
        await RPost.all().values("id", "author__name")
    assert info.value.name == "author__name"
    with pytest.raises(UnknownFieldError, match="author_id"):
        await RPost.all().values_list("athor__name")
    rows = (
        await RPost.filter(id__lt=3)
        .annotate(author_name=Subquery(RUser.filter(id=OuterRef("author_id")).select("name")))
        .order_by("id")
        .values("id", "author_name")
    )
    assert rows == [{"id": i, "author_name": users[i].name} for i in range(3)]


# -- 4. filters across foreign keys ----------------------------------------------------------------------------


async def test_filter_across_a_foreign_key(db: str) -> None:
    users, posts = await _blog(db)
    by_id = {u.id: u for u in users}
    expected = sorted(p.id for p in posts if by_id[p.author_id].name == "user3")
    found = await RPost.filter(author__name="user3").order_by("id")
    assert [p.id for p in found] == expected
    assert [
        p.id for p in await RPost.filter(author_id__name="user3").order_by("id")
    ] == expected  # field name
    away = sorted(p.id for p in posts if by_id[p.author_id].status == "away")
    assert await RPost.filter(author__status__in=["away"]).order_by("id").values_list("id", flat=True) == away
    starting = sum(1 for p in posts if by_id[p.author_id].name.startswith("user1"))
    assert await RPost.filter(author__name__startswith="user1").count() == starting
    assert await RPost.filter(author__name="nobody").exists() is False


async def test_filter_across_two_foreign_keys_and_with_lookups(db: str) -> None:
    users, posts = await _blog(db)
    by_id = {u.id: u for u in users}
    author_of = {p.id: by_id[p.author_id].name for p in posts}
    comments = await RComment.all()
    expected = sorted(c.id for c in comments if author_of[c.post_id] in ("user0", "user3"))
    found = await RComment.filter(post__author__name__in=["user0", "user3"]).order_by("id")
    assert [c.id for c in found] == expected and expected


async def test_relation_filters_in_q_objects_exclude_and_case(db: str) -> None:
    users, posts = await _blog(db)
    by_id = {u.id: u for u in users}
    either = sorted(p.id for p in posts if by_id[p.author_id].name == "user2" or p.title == "post5")
    qs = RPost.filter(Q(author__name="user2") | Q(title="post5")).order_by("id")
    assert [p.id for p in await qs] == either
    # exclude keeps rows whose key is NULL (no reviewer: "reviewer's name is user1" is false)
    kept = sorted(p.id for p in posts if p.reviewer_id is None or by_id[p.reviewer_id].name != "user1")
    assert [p.id for p in await RPost.exclude(reviewer__name="user1").order_by("id")] == kept
    assert [p.id for p in await RPost.filter(~Q(reviewer__name="user1")).order_by("id")] == kept
    flagged = (
        await RPost.filter(id__lt=12)
        .annotate(flag=Case(When(author__status="away", then=Value(1)), default=Value(0)))
        .order_by("id")
        .values_list("id", "flag")
    )
    assert flagged == [(p.id, int(by_id[p.author_id].status == "away")) for p in posts[:12]]
    counted = await RPost.all().aggregate(n=Count("id", filter=Q(author__name="user2")))
    assert counted == {"n": sum(1 for p in posts if by_id[p.author_id].name == "user2")}


async def test_relation_filters_in_update_and_delete(db: str) -> None:
    users, posts = await _blog(db)
    by_id = {u.id: u for u in users}
    target = {p.id for p in posts if by_id[p.author_id].name == "user4"}
    assert await RPost.filter(author__name="user4").update(status="flagged") == len(target)
    assert set(await RPost.filter(status="flagged").values_list("id", flat=True)) == target
    assert await RPost.filter(author__name="user4").delete() == len(target)
    assert not set(await RPost.all().values_list("id", flat=True)) & target


async def test_relation_filter_statements_are_cached_by_shape(db: str) -> None:
    await _blog(db)
    with capture_queries() as log:
        first = await RPost.filter(author__name="user1").count()
        second = await RPost.filter(author__name="user2").count()
    assert first == second == POSTS // 10
    assert log[0].sql == log[1].sql and "EXISTS" in log[0].sql


async def test_relation_filter_errors_name_the_problem(db: str) -> None:
    with pytest.raises(UnknownFieldError) as info:
        RPost.filter(author__nmae="x")
    assert info.value.suggestions == ["name"] and "RUser" in str(info.value)
    with pytest.raises(UnknownFieldError):
        RComment.filter(post__author__nmae="x")
    with pytest.raises(UnknownLookupError, match="gt"):
        RPost.filter(author_id__gtt=1)  # a mistyped lookup stays a lookup error
    with pytest.raises(UnknownLookupError):
        RPost.filter(author__name__icontain="x")
    with pytest.raises(QueryError, match="Exists"):
        RUser.filter(posts__title="x")  # inverse foreign key
    with pytest.raises(QueryError, match="another database"):
        ROrder.filter(analytics_user__name="x")
    # lookups on the key itself still work
    assert "EXISTS" not in RPost.filter(author__isnull=False).sql()


async def test_filter_across_a_self_referencing_key_and_error_details(db: str) -> None:
    await create_all(db, models=[GapNode])
    await executor.execute(db, "TRUNCATE gap_nodes", [])
    parents = {1: None, 2: 1, 3: 1, 4: 2, 5: 4, 6: None, 7: 6}
    await GapNode.bulk_create([GapNode(id=i, name=f"n{i}", parent_id=p) for i, p in parents.items()])
    name = {i: f"n{i}" for i in parents}
    children = sorted(i for i, p in parents.items() if p is not None and name[p] == "n1")
    assert await GapNode.filter(parent__name="n1").order_by("id").values_list("id", flat=True) == children
    grand = sorted(
        i for i, p in parents.items() if p is not None and parents[p] is not None and name[parents[p]] == "n2"
    )
    assert await GapNode.filter(parent__parent__name="n2").values_list("id", flat=True) == grand
    with pytest.raises(DoesNotExist) as info:
        await GapNode.filter(parent__name="nobody").get()
    assert info.value.details["filters"] == {"parent__name": "nobody"}
