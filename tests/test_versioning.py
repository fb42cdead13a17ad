"""VersionField optimistic locking and abstract base models, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from uuid import uuid4

import pytest

from matrx_orm import (
    CharField,
    DecimalField,
    DoesNotExist,
    ForeignKey,
    IntegerField,
    ManyToManyField,
    Model,
    OptimisticLockError,
    QueryError,
    UUIDField,
    VersionField,
    create_all,
)
from matrx_orm.db import executor
from matrx_orm.meta import registry
from matrx_orm.state import CachePolicy, StateManager


class VsOrder(Model):
    _database = "test"
    _table_name = "vs_order"
    id = UUIDField(primary_key=True, default=uuid4)
    total = DecimalField(max_digits=10, decimal_places=2)
    note = CharField(max_length=50, null=True)
    version = VersionField()  # starts at 1, auto-increments on every save


class Audited(Model):
    _database = "test"
    _cache_policy = CachePolicy.LONG_TERM

    class Meta:
        abstract = True

    created_by = CharField(max_length=100)
    updated_by = CharField(max_length=100, nullable=True)
    version = VersionField()
    _inverse_foreign_keys = {"notes": {"from_model": "VsNote", "from_field": "article_id"}}
    tags = ManyToManyField("VsTag")


class Stamped(Audited):
    _abstract = True  # an abstract base of an abstract base
    stamp = IntegerField(default=0)


class VsArticle(Stamped):
    _database = "test"
    _table_name = "vs_article"
    id = UUIDField(primary_key=True, default=uuid4)
    title = CharField(max_length=255)


class VsComment(Audited):
    _database = "test"
    _table_name = "vs_comment"
    id = UUIDField(primary_key=True, default=uuid4)
    body = CharField(max_length=2000)


class VsTag(Model):
    _database = "test"
    _table_name = "vs_tag"
    id = IntegerField(primary_key=True)
    name = CharField(max_length=20)


class VsNote(Model):
    _database = "test"
    _table_name = "vs_note"
    id = IntegerField(primary_key=True)
    article_id = ForeignKey("VsArticle", "id")
    text = CharField(max_length=50)


MODELS: list[type[Model]] = [VsOrder, VsArticle, VsComment, VsTag, VsNote]


@pytest.fixture(autouse=True)
async def tables(db: str) -> AsyncIterator[None]:
    await create_all(db, models=MODELS)
    for model in MODELS:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}" CASCADE', [])
    await executor.execute(db, "TRUNCATE vs_article_vs_tag, vs_comment_vs_tag", [])
    yield


async def db_version(order_id: str) -> int:
    rows = await executor.fetch("test", "SELECT version FROM vs_order WHERE id = $1", [order_id])
    return int(rows[0][0])


# -- VersionField -------------------------------------------------------------------------------------------------


async def test_version_starts_at_one_and_increments_on_every_save() -> None:
    order = await VsOrder.create(total="10.00")
    assert order.version == 1 and await db_version(order.id) == 1
    order.total = Decimal("99.99")
    await order.save()
    assert order.version == 2 and await db_version(order.id) == 2
    await order.update(note="x")
    assert order.version == 3 and await db_version(order.id) == 3
    loaded = await VsOrder.get(id=order.id)
    assert loaded.version == 3 and loaded.total == Decimal("99.99")


async def test_contract_stale_write_detection_and_retry() -> None:
    order = await VsOrder.create(total="1.00")
    await order.save()  # version 2
    order_a = await VsOrder.get(id=order.id)
    order_b = await VsOrder.get(id=order.id)
    assert order_a.version == order_b.version == 2

    order_a.total = Decimal("50.00")
    await order_a.save()
    assert order_a.version == 3

    order_b.total = Decimal("75.00")
    with pytest.raises(OptimisticLockError) as info:
        await order_b.save()
    assert info.value.details["expected_version"] == 2 and info.value.model == "VsOrder"
    assert "re-fetch" in str(info.value)
    assert await db_version(order.id) == 3
    assert (await VsOrder.get(id=order.id, use_cache=False)).total == Decimal("50.00")

    order_b = await VsOrder.get(id=order.id)  # the re-fetch (through the cache) sees version 3
    order_b.total = Decimal("75.00")
    await order_b.save()
    assert order_b.version == 4
    assert (await VsOrder.get(id=order.id, use_cache=False)).total == Decimal("75.00")


async def test_stale_instance_update_is_refused_too() -> None:
    order = await VsOrder.create(total="1.00")
    stale = await VsOrder.get(id=order.id, use_cache=False)
    await order.update(note="first")
    with pytest.raises(OptimisticLockError):
        await stale.update(note="second")
    assert (await VsOrder.get(id=order.id)).note == "first"


async def test_change_from_another_process_is_detected_and_refetch_is_not_served_stale() -> None:
    order = await VsOrder.create(total="1.00")
    cached = await VsOrder.get(id=order.id)  # now cached at version 1
    await executor.execute(
        "test", "UPDATE vs_order SET total = 2, version = version + 1 WHERE id = $1", [order.id]
    )
    cached.total = Decimal("3.00")
    with pytest.raises(OptimisticLockError):
        await cached.save()
    # the conflict dropped the stale cache entry: the retry reads the database's version
    retry = await VsOrder.get(id=order.id)
    assert retry.version == 2 and retry.total == Decimal("2.00")
    retry.total = Decimal("3.00")
    await retry.save()
    assert await db_version(order.id) == 3


@pytest.mark.parametrize("how", ["query_update", "update_where", "bulk_update", "upsert"])
async def test_bulk_and_query_updates_move_the_version_on(how: str) -> None:
    order = await VsOrder.create(total="1.00", note="n")
    holder = await VsOrder.get(id=order.id, use_cache=False)
    if how == "query_update":
        assert await VsOrder.filter(id=order.id).update(note="q") == 1
    elif how == "update_where":
        result = await VsOrder.update_where({"id": order.id}, note="q")
        assert result.updated_rows[0].version == 2
    elif how == "bulk_update":
        order.note = "q"
        assert await VsOrder.bulk_update([order], ["note"]) == 1
    else:
        row = await VsOrder.upsert({"id": order.id, "total": "1.00", "note": "q"}, conflict_fields=["id"])
        assert row.version == 2
    assert await db_version(order.id) == 2
    holder.total = Decimal("9.00")
    with pytest.raises(OptimisticLockError):  # the holder's version 1 is now stale
        await holder.save()


async def test_concurrent_saves_of_one_version_let_exactly_one_win() -> None:
    order = await VsOrder.create(total="1.00")
    copies = [await VsOrder.get(id=order.id, use_cache=False) for _ in range(5)]
    for i, copy in enumerate(copies):
        copy.note = f"writer-{i}"
    results = await asyncio.gather(*(c.save() for c in copies), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, OptimisticLockError)]
    assert len(winners) == 1 and len(losers) == 4
    assert await db_version(order.id) == 2
    assert (await VsOrder.get(id=order.id, use_cache=False)).note == winners[0].note


async def test_instance_loaded_without_its_version_is_not_checked() -> None:
    order = await VsOrder.create(total="1.00")
    await order.update(note="v2")
    partial = (await VsOrder.filter(id=order.id).select("note").all())[0]
    partial.note = "from-partial"
    await partial.save()  # no version loaded: nothing to compare, the version still moves on
    assert await db_version(order.id) == 3
    assert (await VsOrder.get(id=order.id, use_cache=False)).note == "from-partial"


async def test_save_of_a_deleted_row() -> None:
    order = await VsOrder.create(total="1.00")
    await executor.execute("test", "DELETE FROM vs_order WHERE id = $1", [order.id])
    order.note = "x"
    with pytest.raises(OptimisticLockError):
        await order.save()  # indistinguishable from a concurrent change at version 1: reported as a conflict
    partial = VsOrder(id=order.id, total="1.00")
    partial._persisted = True
    del partial.__dict__["version"]
    with pytest.raises(DoesNotExist):
        await partial.save()


# -- abstract base models ----------------------------------------------------------------------------------------------


def test_abstract_models_have_no_table_or_meta() -> None:
    assert Audited._meta is None and Stamped._meta is None  # type: ignore[comparison-overlap]
    tables = registry.metadata_for("test").tables
    assert "vs_article" in tables and "vs_comment" in tables
    assert not any(name in tables for name in ("audited", "stamped"))
    with pytest.raises(QueryError):
        Audited.filter(created_by="x")
    with pytest.raises(QueryError):
        Audited(created_by="x")


def test_fields_and_relation_definitions_are_inherited() -> None:
    assert list(VsArticle._meta.fields) == ["created_by", "updated_by", "version", "stamp", "id", "title"]
    assert list(VsComment._meta.fields) == ["created_by", "updated_by", "version", "id", "body"]
    assert VsArticle.created_by is not VsComment.created_by and VsArticle.created_by.model is VsArticle
    assert VsArticle._meta.version_field is VsArticle.version
    assert VsComment._meta.version_field is VsComment.version
    for model in (VsArticle, VsComment):
        assert model._meta.inverse_foreign_keys == {
            "notes": {"from_model": "VsNote", "from_field": "article_id"}
        }
        assert "tags" in model._meta.relation_fields and "tags" not in model._meta.fields
        assert model._meta.cache_ttl == CachePolicy.LONG_TERM.ttl  # class settings are inherited
    assert StateManager.ttl(VsArticle) == 4 * 3600


async def test_concrete_subclasses_work_on_the_database() -> None:
    article = await VsArticle.create(title="Hello", created_by="alice", stamp=2)
    comment = await VsComment.create(body="Nice", created_by="bob")
    assert article.version == 1 and comment.version == 1 and article.updated_by is None
    got = await VsArticle.get(id=article.id)
    assert (got.title, got.created_by, got.stamp) == ("Hello", "alice", 2)
    stale = await VsComment.get(id=comment.id, use_cache=False)
    await comment.update(updated_by="carol")
    assert comment.version == 2
    with pytest.raises(OptimisticLockError):  # locking works in every concrete subclass
        await stale.update(body="late")
    rows = await executor.fetch("test", "SELECT created_by, updated_by, version FROM vs_comment", [])
    assert [tuple(r) for r in rows] == [("bob", "carol", 2)]
    plain = VsArticle(id=str(uuid4()), title="Hi", created_by="dan")
    assert plain.created_by == "dan" and plain.version == 1


async def test_inherited_relations_work_on_the_database() -> None:
    article = await VsArticle.create(title="A", created_by="x")
    comment = await VsComment.create(body="C", created_by="y")
    await VsTag.bulk_create([{"id": 1, "name": "one"}, {"id": 2, "name": "two"}])
    await VsNote.bulk_create([{"id": 1, "article_id": article.id, "text": "n1"}])
    assert [n.text for n in await article.fetch_ifk("notes")] == ["n1"]  # inherited inverse FK
    assert await article.add_m2m("tags", 1, 2) == 2  # inherited ManyToManyField, own junction table
    assert await comment.add_m2m("tags", 2) == 1
    assert sorted(t.name for t in await article.fetch_m2m("tags")) == ["one", "two"]
    assert [t.name for t in await comment.fetch_m2m("tags")] == ["two"]
    rows = await executor.fetch("test", "SELECT count(*) FROM vs_comment_vs_tag", [])
    assert rows[0][0] == 1
