"""Relations inside transaction(): fan-out on one connection, uncommitted rows, savepoints, row locks,
concurrent tasks, and another database inside the block."""

from __future__ import annotations

import asyncio

import pytest
from relation_models import (
    AnalyticsUser,
    RArticle,
    RComment,
    ROrder,
    RPost,
    RTag,
    RTicket,
    RUser,
    reset_tables,
)

from matrx_orm import DatabaseError, capture_queries, create_all, transaction
from matrx_orm.db import executor


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await reset_tables(db)


async def _links() -> list[tuple[int, int]]:
    rows = await executor.fetch(
        "test", "SELECT rel_article_id, rel_tag_id FROM rel_article_rel_tag ORDER BY 1, 2", []
    )
    return [(r[0], r[1]) for r in rows]


async def test_fan_out_inside_a_transaction_runs_on_its_connection() -> None:
    async with transaction("test"):
        users = [
            await RUser.create(name=f"u{i}") for i in range(3)
        ]  # uncommitted: only this connection sees them
        for i in range(20):
            await RPost.create(
                id=i, title=f"p{i}", author_id=users[i % 3].id, reviewer_id=users[(i + 1) % 3].id
            )
            await RComment.create(id=100 + i, body="c", post_id=i)
        posts = await RPost.all().order_by("id")
        with capture_queries() as log:
            # 20 concurrent fan-outs of 4 relations each, all on the one transaction connection
            results = await asyncio.gather(*(post.fetch_all_related() for post in posts))
            prefetched = await RUser.all().prefetch_related("posts__comments").order_by("name")
        assert log and all(q.in_transaction and q.database == "test" for q in log)
        for post, related in zip(posts, results, strict=True):
            assert related["foreign_keys"]["author_id"].id == post.author_id
            assert related["foreign_keys"]["reviewer_id"].id == post.reviewer_id
            assert [c.id for c in related["inverse_foreign_keys"]["comments"]] == [100 + post.id]
        assert [[p.id for p in u.get_related("posts")] for u in prefetched] == [
            [i for i in range(20) if i % 3 == k] for k in range(3)
        ]
        assert prefetched[0].get_related("posts")[0].get_related("comments")[0].id == 100
    assert await RPost.count() == 20


async def test_a_failing_resilient_load_never_undoes_another_tasks_write() -> None:
    owner = await RUser.create(name="owner")
    await executor.execute(
        "test", "INSERT INTO rel_ticket (id, owner_id, missing_id) VALUES (1, $1, 7)", [owner.id]
    )
    async with transaction("test"):
        tickets = [await RTicket.get(id=1) for _ in range(5)]

        async def write(i: int) -> None:
            await RUser.create(name=f"concurrent{i}")

        with pytest.warns(UserWarning):
            results = await asyncio.gather(*(t.fetch_fks() for t in tickets), *(write(i) for i in range(5)))
        for result in results[:5]:
            assert result["owner_id"].name == "owner" and result["missing_id"] is None
    # every concurrent insert survived the savepoint rollbacks of the failing loads
    assert sorted(await RUser.filter(name__startswith="concurrent").values_list("name", flat=True)) == [
        f"concurrent{i}" for i in range(5)
    ]


async def test_savepoint_rollback_undoes_only_the_inner_relation_writes() -> None:
    red, green = await RTag.create(id=1, name="red"), await RTag.create(id=2, name="green")
    article = await RArticle.create(id=1, title="t")
    async with transaction("test"):
        await article.add_m2m("tags", red.id)
        with pytest.raises(ValueError):
            async with transaction("test"):  # SAVEPOINT
                await article.add_m2m("tags", green.id)
                await article.remove_m2m("tags", red.id)
                assert await _links() == [(1, 2)]
                raise ValueError
        assert await _links() == [(1, 1)]
    assert await _links() == [(1, 1)]


async def test_concurrent_tasks_in_separate_transactions_one_fails_one_commits() -> None:
    tag = await RTag.create(id=1, name="t")
    a1, a2 = await RArticle.create(id=1, title="one"), await RArticle.create(id=2, title="two")
    linked = asyncio.Event()

    async def failing() -> None:
        async with transaction("test"):
            await a1.add_m2m("tags", tag.id)
            linked.set()
            await asyncio.sleep(0.05)
            raise RuntimeError("fail")

    async def committing() -> None:
        await linked.wait()
        async with transaction("test"):
            await a2.add_m2m("tags", tag.id)
            assert [a.id for a in await tag.fetch_m2m("articles")] == [2]  # the other link is uncommitted

    results = await asyncio.gather(failing(), committing(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] is None
    assert await _links() == [(2, 1)]


async def test_select_for_update_with_relations_blocks_another_transaction() -> None:
    user = await RUser.create(name="owner")
    await RPost.create(id=1, title="job", author_id=user.id)
    locked = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with transaction("test"):
            post = await RPost.filter(id=1).select_related("author").select_for_update().first()
            assert post is not None and post.get_related("author").name == "owner"
            locked.set()
            await release.wait()
            await post.update(title="done")

    async def other() -> tuple[object, object]:
        await locked.wait()
        async with transaction("test"):
            skipped = await RPost.filter(id=1).select_for_update(skip_locked=True).first()
            with pytest.raises(DatabaseError):
                async with transaction("test"):  # a savepoint keeps the outer block usable after the error
                    await RPost.filter(id=1).select_for_update(nowait=True).first()
        release.set()
        return skipped, None

    _, (skipped, _) = await asyncio.gather(holder(), other())
    assert skipped is None  # the row was locked by the holder
    assert (await RPost.get(id=1, use_cache=False)).title == "done"


async def test_other_database_inside_the_block_goes_to_its_own_pool(db2: str) -> None:
    await create_all(db2, models=[AnalyticsUser])
    await executor.execute(db2, "TRUNCATE rel_analytics_user", [])
    remote = await AnalyticsUser.create(name="remote")
    with pytest.raises(RuntimeError):
        async with transaction("test"):
            order = await ROrder.create(id=1, analytics_user_id=remote.id)
            with capture_queries() as log:
                assert (await order.fetch_fk("analytics_user_id")).name == "remote"  # type: ignore[union-attr]
            assert [(q.database, q.in_transaction) for q in log] == [("test2", False)]
            raise RuntimeError
    assert await ROrder.count() == 0
    assert await AnalyticsUser.count() == 1
