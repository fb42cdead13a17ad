"""select_related (LEFT JOIN) and prefetch_related (one ``= ANY`` query per relation): results checked against
per-instance fetches, and statement counts that do not grow with the number of parents."""

from __future__ import annotations

import pytest
from relation_models import RArticle, RComment, RPost, RTag, RUser, reset_tables

from matrx_orm import QueryError, UnknownRelationError, capture_queries

PARENTS = 100


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await reset_tables(db)


async def _blog() -> tuple[list[RUser], list[RPost]]:
    """10 users; 100 posts (author = users[i % 10], reviewer only on even posts); 2 comments on every 3rd."""
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
                status="active" if i % 3 else "draft",
            )
            for i in range(PARENTS)
        ]
    )
    await RComment.bulk_create(
        [
            RComment(id=1000 + i * 2 + k, body=f"c{i}-{k}", post_id=i)
            for i in range(0, PARENTS, 3)
            for k in range(2)
        ]
    )
    return users, posts


# -- select_related -------------------------------------------------------------------------------------------------


async def test_select_related_is_one_query_for_100_parents() -> None:
    users, _ = await _blog()
    names = {u.id: u.name for u in users}
    with capture_queries() as log:
        posts = await RPost.all().select_related("author", "reviewer_id").order_by("id")
    assert len(log) == 1 and "LEFT OUTER JOIN" in log[0].sql
    assert len(posts) == PARENTS
    for post in posts:
        author = post.get_related("author")
        assert isinstance(author, RUser) and author.id == post.author_id
        assert author.name == names[post.author_id]
        reviewer = post.get_related("reviewer")
        if post.reviewer_id is None:
            assert reviewer is None
        else:
            assert reviewer.name == names[post.reviewer_id]
    # the joined instances equal what fetch_fk reads separately
    assert posts[7].get_related("author").to_dict() == (await posts[7].fetch_fk("author_id")).to_dict()


async def test_select_related_with_a_shared_column_name_in_filters_and_ordering() -> None:
    await _blog()
    expected = sorted(i for i in range(PARENTS) if i % 3)  # rel_post.status == "active"
    posts = await RPost.filter(status="active").select_related("author").order_by("-status", "id")
    assert [p.id for p in posts] == expected
    assert all(p.status == "active" for p in posts)
    assert {p.get_related("author").status for p in posts} == {"active", "away"}  # the author's own column


async def test_select_related_with_get_first_and_slices() -> None:
    users, _ = await _blog()
    post = await RPost.objects().select_related("author").get(id=42)
    assert post.get_related("author").name == "user2"
    first = await RPost.filter(id__gte=10).select_related("author").first()
    assert first is not None and first.id == 10 and first.get_related("author").name == "user0"
    page = await RPost.all().order_by("id").select_related("author")[5:8]
    assert [(p.id, p.get_related("author").name) for p in page] == [(5, "user5"), (6, "user6"), (7, "user7")]


async def test_select_related_nested_path() -> None:
    await _blog()
    with capture_queries() as log:
        comments = await RComment.filter(post_id__lt=10).select_related("post__author").order_by("id")
    assert len(log) == 1
    assert [c.id for c in comments] == [1000, 1001, 1006, 1007, 1012, 1013, 1018, 1019]
    for comment in comments:
        post = comment.get_related("post")
        assert post.id == comment.post_id
        assert post.get_related("author").name == f"user{post.id % 10}"


async def test_select_related_rejects_non_foreign_keys_and_unknown_names() -> None:
    with pytest.raises(QueryError, match="prefetch_related"):
        RUser.all().select_related("posts")
    with pytest.raises(UnknownRelationError) as info:
        RPost.all().select_related("autor")
    assert "author" in info.value.suggestions
    with pytest.raises(UnknownRelationError):
        RPost.all().prefetch_related("author__nope")


async def test_select_related_with_select_for_update_locks_only_the_queried_table() -> None:
    from matrx_orm import transaction

    await _blog()
    async with transaction("test"):
        with capture_queries() as log:
            post = await RPost.filter(id=3).select_related("author").select_for_update().first()
        assert post is not None and post.get_related("author").name == "user3"
        assert "FOR UPDATE OF rel_post" in log[0].sql


# -- prefetch_related -----------------------------------------------------------------------------------------------


async def test_prefetch_fk_ifk_and_m2m_cost_one_query_each_for_100_parents() -> None:
    users, _ = await _blog()
    tags = await RTag.bulk_create([RTag(id=i, name=f"tag{i}") for i in range(5)])
    articles = await RArticle.bulk_create([RArticle(id=i, title=f"a{i}") for i in range(PARENTS)])
    for article in articles:
        await article.add_m2m("tags", *(t.id for t in tags if (article.id + t.id) % 3 == 0))

    with capture_queries() as log:
        posts = await RPost.all().prefetch_related("author", "comments").order_by("id")
    assert len(log) == 3  # posts, authors, comments
    assert all("= any(" in q.sql.lower() for q in log[1:])
    for post in posts:
        assert post.get_related("author").id == post.author_id
        expected = [1000 + post.id * 2, 1001 + post.id * 2] if post.id % 3 == 0 else []
        assert [c.id for c in post.get_related("comments")] == expected

    with capture_queries() as log:
        loaded = await RArticle.all().prefetch_related("tags").order_by("id")
    assert len(log) == 2
    for article in loaded:
        assert [t.id for t in article.get_related("tags")] == [
            t.id for t in tags if (article.id + t.id) % 3 == 0
        ]
    # the prefetched lists equal what fetch_m2m reads for one instance
    sample = await RArticle.get(id=17)
    assert [t.id for t in await sample.fetch_m2m("tags")] == [t.id for t in loaded[17].get_related("tags")]

    with capture_queries() as log:
        with_users = await RUser.all().prefetch_related("posts").order_by("name")
    assert len(log) == 2
    for user in with_users:
        assert [p.id for p in user.get_related("posts")] == [
            i for i in range(PARENTS) if users[i % 10].id == user.id
        ]


async def test_prefetch_nested_paths_and_combination_with_select_related() -> None:
    await _blog()
    with capture_queries() as log:
        users = await RUser.all().prefetch_related("posts__comments").order_by("name")
    assert len(log) == 3  # users, posts, comments
    user0 = users[0]
    assert user0.name == "user0"
    for post in user0.get_related("posts"):
        assert [c.post_id for c in post.get_related("comments")] == (
            [post.id] * 2 if post.id % 3 == 0 else []
        )

    with capture_queries() as log:
        posts = await RPost.filter(id__lt=20).select_related("author").prefetch_related("author__posts")
    assert len(log) == 2  # the joined authors are not fetched again; their posts are one query
    for post in posts:
        author = post.get_related("author")
        assert [p.id for p in author.get_related("posts")] == [
            i for i in range(PARENTS) if i % 10 == post.id % 10
        ]


async def test_prefetch_on_an_empty_result_sends_no_extra_query() -> None:
    with capture_queries() as log:
        assert await RPost.filter(id=-1).prefetch_related("author", "comments", "labels") == []
    assert len(log) == 1


async def test_select_related_on_an_unfetchable_target_warns_and_never_queries_it() -> None:
    from uuid import uuid4

    from relation_models import RTicket

    from matrx_orm.db import executor

    users, _ = await _blog()
    await executor.execute(
        "test",
        "INSERT INTO rel_ticket (id, owner_id, locked_id) VALUES (1, $1, $2)",
        [users[0].id, str(uuid4())],
    )
    with capture_queries() as log, pytest.warns(UserWarning, match="_unfetchable"):
        tickets = await RTicket.all().select_related("owner", "locked")
    assert len(log) == 1 and "rel_locked_user" not in log[0].sql
    assert tickets[0].get_related("owner").name == "user0"
    assert tickets[0].get_related("locked") is None
