"""Foreign keys, inverse foreign keys, cross-schema / cross-database / unfetchable targets, fetch_all_related."""

from __future__ import annotations

import logging
import warnings
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from relation_models import (
    AnalyticsUser,
    AuthUser,
    LockedUser,
    RArticle,
    RComment,
    Recipe,
    ROrder,
    RPost,
    RTicket,
    RUser,
    reset_tables,
)

from matrx_orm import (
    CharField,
    ForeignKey,
    IntegerField,
    Model,
    UnknownRelationError,
    ValidationError,
    capture_queries,
    create_all,
    transaction,
)
from matrx_orm.db import executor
from matrx_orm.meta.foreign_key import same_rows


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await reset_tables(db)


async def _blog() -> tuple[RUser, RUser, list[RPost]]:
    alice = await RUser.create(name="alice")
    bob = await RUser.create(name="bob", status="retired")
    posts = [
        await RPost.create(id=1, title="a1", author_id=alice.id, reviewer_id=bob.id),
        await RPost.create(id=2, title="a2", author_id=alice.id),
        await RPost.create(id=3, title="b1", author_id=bob.id, status="active"),
    ]
    return alice, bob, posts


async def test_a_key_given_as_an_instance_must_be_one_of_the_target_model() -> None:
    """An instance stands for its key only when it is of the model the key refers to: another model's
    instance (whose own key would point at an unrelated row) is a ValidationError before any query."""
    _, _, posts = await _blog()
    await RComment.create(id=1, body="first", post_id=posts[0])
    assert [c.id for c in await RComment.filter(post_id=posts[0])] == [1]
    article = await RArticle.create(id=1, title="not a post")
    with capture_queries() as log:
        with pytest.raises(ValidationError, match="refers to RPost; got a RArticle instance"):
            await RComment.filter(post_id=article)
        with pytest.raises(ValidationError, match="refers to RPost"):
            await RComment.create(id=2, body="second", post_id=article)
    assert len(log) == 0
    assert [c.id for c in await RComment.all()] == [1]


async def test_a_loaded_foreign_key_row_is_the_relation_only_while_the_key_refers_to_it() -> None:
    alice, bob, _ = await _blog()
    post = await RPost.filter(id=1).select_related("author").get()
    assert post.get_related("author").id == alice.id and post.has_related("author")
    post.author_id = bob.id
    assert post.get_related("author") is None and not post.has_related("author")  # alice's row is stale
    await post.save()
    assert post.get_related("author") is None
    assert (await post.fetch_fk("author_id")).id == bob.id
    assert post.get_related("author").id == bob.id
    post.author_id = alice.id  # back to the key alice's row was loaded for: still not loaded (bob's row is)
    assert post.get_related("author") is None
    # a key not read (only / defer) cannot tell the row stale; the same key written as a UUID object is the same
    for unread in (RPost.filter(id=1).only("id", "title"), RPost.filter(id=1).defer("author_id")):
        post = await unread.select_related("author").get()
        assert post.get_related("author").id == bob.id and post.has_related("author")
    post = await RPost.filter(id=1).select_related("author").get()
    post.author_id = UUID(str(bob.id))
    assert post.get_related("author").id == bob.id


# -- fetch_fk / fetch_fks ------------------------------------------------------------------------------------


async def test_fetch_fk_returns_the_target_and_remembers_it() -> None:
    alice, bob, _ = await _blog()
    post = await RPost.get(id=1)
    author = await post.fetch_fk("author_id")
    assert isinstance(author, RUser) and author.id == alice.id and author.name == "alice"
    assert post.get_related("author") is author
    assert post.get_related("author_id") is author
    reviewer = await post.fetch_fk("reviewer")  # the alias works too
    assert reviewer is not None and reviewer.name == "bob"


async def test_fetch_fk_null_key_is_none_without_a_query() -> None:
    await _blog()
    post = await RPost.get(id=2)
    with capture_queries() as log:
        assert await post.fetch_fk("reviewer_id") is None
    assert len(log) == 0
    assert post.get_related("reviewer") is None


async def test_unknown_relation_names_raise_before_any_query() -> None:
    await _blog()
    post = await RPost.get(id=1)
    with capture_queries() as log:
        with pytest.raises(UnknownRelationError) as info:
            await post.fetch_fk("autor_id")
        assert "author_id" in info.value.suggestions
        with pytest.raises(UnknownRelationError):
            await post.fetch_ifk("author_id")  # a foreign key, not an inverse one
        with pytest.raises(AttributeError):  # matrx-orm raised AttributeError here
            post.get_related("nope")
    assert len(log) == 0


async def test_fetch_fks_returns_every_key() -> None:
    alice, bob, _ = await _blog()
    post = await RPost.get(id=1)
    result = await post.fetch_fks()
    assert set(result) == {"author_id", "reviewer_id"}
    assert result["author_id"].id == alice.id and result["reviewer_id"].id == bob.id


async def test_fetch_fks_is_resilient(caplog: pytest.LogCaptureFixture) -> None:
    alice = await RUser.create(name="alice")
    await executor.execute(
        "test", "INSERT INTO rel_ticket (id, owner_id, missing_id) VALUES (1, $1, 7)", [alice.id]
    )
    ticket = await RTicket.get(id=1)
    with (
        caplog.at_level(logging.WARNING, logger="matrx_orm.relations"),
        pytest.warns(UserWarning, match="locked_id"),
    ):
        result = await ticket.fetch_fks()
    assert result["owner_id"].id == alice.id  # the working key still loads
    assert result["missing_id"] is None  # rel_missing does not exist
    assert result["locked_id"] is None
    assert any("missing_id" in r.getMessage() for r in caplog.records)
    with pytest.raises(Exception, match="rel_missing"):  # fetch_fk itself is not resilient
        await ticket.fetch_fk("missing_id")


async def test_fetch_fks_inside_a_transaction_survives_a_failing_key() -> None:
    alice = await RUser.create(name="alice")
    await executor.execute(
        "test", "INSERT INTO rel_ticket (id, owner_id, missing_id) VALUES (1, $1, 7)", [alice.id]
    )
    async with transaction("test"):
        ticket = await RTicket.get(id=1)
        with pytest.warns(UserWarning, match="_unfetchable"):
            result = await ticket.fetch_fks()  # the failing query runs in a savepoint
        assert result["owner_id"].name == "alice" and result["missing_id"] is None
        await RUser.create(name="after-failure")  # the transaction is still usable
    assert await RUser.count(name="after-failure") == 1


# -- cross-schema, cross-database, unfetchable -------------------------------------------------------------------


async def test_cross_schema_target_auth_users() -> None:
    user = await AuthUser.create(email="a@example.com")
    await Recipe.create(id=1, name="soup", user_id=user.id)
    recipe = await Recipe.get(id=1)
    with capture_queries() as log:
        found = await recipe.fetch_fk("user_id")
    assert isinstance(found, AuthUser) and found.email == "a@example.com"
    assert len(log) == 1 and "auth.users" in log[0].sql
    assert Recipe._meta.foreign_keys["user_id"].reference.to_schema == "auth"
    assert AuthUser._meta.qualified_table_name == "auth.users"
    joined = await Recipe.filter(id=1).select_related("user").first()
    assert joined is not None and joined.get_related("user").email == "a@example.com"


async def test_cross_database_target_routes_to_its_project(db2: str) -> None:
    await create_all(db2, models=[AnalyticsUser])
    await executor.execute(db2, "TRUNCATE rel_analytics_user", [])
    remote = await AnalyticsUser.create(name="remote")
    await ROrder.create(id=1, analytics_user_id=remote.id)
    await ROrder.create(id=2, analytics_user_id=None)
    order = await ROrder.get(id=1)
    with capture_queries() as log:
        found = await order.fetch_fk("analytics_user_id")
    assert isinstance(found, AnalyticsUser) and found.name == "remote"
    assert [q.database for q in log] == ["test2"]

    # select_related cannot JOIN across databases: it falls back to one extra query on test2
    with capture_queries() as log:
        orders = await ROrder.all().select_related("analytics_user").order_by("id")
    assert [q.database for q in log] == ["test", "test2"]
    assert orders[0].get_related("analytics_user").name == "remote"
    assert orders[1].get_related("analytics_user") is None


async def test_unfetchable_target_warns_once_and_never_queries() -> None:
    await executor.execute("test", "INSERT INTO rel_ticket (id, locked_id) VALUES (1, $1)", [str(uuid4())])
    ticket = await RTicket.get(id=1)
    with capture_queries() as log, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await ticket.fetch_fk("locked_id") is None
    assert len(log) == 0
    assert len(caught) == 1 and issubclass(caught[0].category, UserWarning)
    assert "fetch_fk('locked_id') skipped: LockedUser is marked _unfetchable = True" in str(caught[0].message)
    assert LockedUser._meta.unfetchable


# -- inverse foreign keys ---------------------------------------------------------------------------------------


async def test_fetch_ifk_and_fetch_ifks() -> None:
    alice, bob, _ = await _blog()
    user = await RUser.get(id=alice.id)
    posts = await user.fetch_ifk("posts")
    assert [p.id for p in posts] == [1, 2]
    assert all(isinstance(p, RPost) and p.author_id == alice.id for p in posts)
    assert user.get_related("posts") == posts
    result = await (await RUser.get(id=bob.id)).fetch_ifks()
    assert {name: [p.id for p in rows] for name, rows in result.items()} == {"posts": [3]}
    assert await RUser(name="unsaved").fetch_ifk("posts") == []


async def test_related_name_on_a_foreign_key_declares_the_inverse() -> None:
    alice, _, _ = await _blog()
    await RComment.create(id=10, body="x", post_id=1)
    await RComment.create(id=11, body="y", post_id=1)
    await RComment.create(id=12, body="z", post_id=2)
    post = await RPost.get(id=1)
    assert [c.id for c in await post.fetch_ifk("comments")] == [10, 11]
    assert [c.body for c in await post.filter_ifk("comments", body="y")] == ["y"]


async def test_fetch_all_related_returns_the_three_groups() -> None:
    alice, bob, _ = await _blog()
    await RComment.create(id=10, body="x", post_id=1)
    post = await RPost.get(id=1)
    everything = await post.fetch_all_related()
    assert set(everything) == {"foreign_keys", "inverse_foreign_keys", "many_to_many"}
    assert everything["foreign_keys"]["author_id"].id == alice.id
    assert everything["foreign_keys"]["reviewer_id"].id == bob.id
    assert [c.id for c in everything["inverse_foreign_keys"]["comments"]] == [10]
    assert everything.many_to_many == {"labels": []}


async def test_fetch_one_relation_dispatches_by_kind() -> None:
    alice, _, _ = await _blog()
    post = await RPost.get(id=1)
    assert (await post.fetch_one_relation("author")).id == alice.id  # type: ignore[union-attr]
    user = await RUser.get(id=alice.id)
    assert [p.id for p in await user.fetch_one_relation("posts")] == [1, 2]  # type: ignore[union-attr]
    assert user.has_related("posts")


def test_instances_of_a_model_over_the_same_table_stand_for_its_rows() -> None:
    """``same_rows`` (the check of an instance given for a foreign key or a many-to-many target) takes a
    subclass, or a model of the same table in the same database (a class defined again, as a notebook cell
    run twice makes), and nothing else."""

    def model(database: str, fullname: str) -> type:
        return type(
            "M", (), {"_meta": SimpleNamespace(database=database, table=SimpleNamespace(fullname=fullname))}
        )

    assert same_rows(RUser, RUser) and not same_rows(RPost, RUser)
    assert same_rows(model("test", "rel_user"), RUser)
    assert not same_rows(model("test2", "rel_user"), RUser)
    assert not same_rows(model("test", "auth.rel_user"), RUser)


def _dup_acct(database: str) -> Any:
    """A model named ``DupAcct`` in ``database`` (two databases each have one)."""
    namespace = {
        "__module__": __name__,
        "id": IntegerField(primary_key=True),
        "name": CharField(max_length=20),
        "_table_name": "dup_acct",
        "_database": database,
    }
    return type(Model)("DupAcct", (Model,), namespace)


async def test_a_key_instance_is_checked_against_the_target_in_the_keys_own_database(db2: str) -> None:
    """With a ``DupAcct`` model in each database, a key to ``"DupAcct"`` refers to the one of its own
    database, even when the other was defined last: its instances are taken, the other's are refused."""
    here = _dup_acct("test")
    there = _dup_acct(db2)  # the newest model of the name lives in the other database

    class DupOrder(Model):
        id = IntegerField(primary_key=True)
        acct_id = ForeignKey("DupAcct", "id")

        _table_name = "dup_order"
        _database = "test"

    await create_all("test", models=[here, DupOrder])
    await create_all(db2, models=[there])
    await executor.execute("test", "TRUNCATE dup_order, dup_acct", [])
    mine = await here.create(id=7, name="here")
    await DupOrder.create(id=1, acct_id=mine)
    assert [o.id for o in await DupOrder.filter(acct_id=mine)] == [1]
    with pytest.raises(ValidationError, match="refers to DupAcct"):
        await DupOrder.create(id=2, acct_id=there(id=7, name="there"))
    assert [o.id for o in await DupOrder.all()] == [1]
