"""State cache on a real PostgreSQL: hits, use_cache=False, invalidation by every write path, policies and
timeouts on a controllable clock, transactions, cascades, the StateManager API."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from matrx_orm import (
    CacheError,
    CharField,
    ConfigurationError,
    DoesNotExist,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    UUIDField,
    create_all,
    transaction,
)
from matrx_orm.db import executor
from matrx_orm.state import CachePolicy, StateManager, read_through


class ScItem(Model):
    id = UUIDField(primary_key=True, default=uuid4)
    name = CharField(max_length=50, unique=True)
    qty = IntegerField(default=0)
    data = JSONField(null=True)

    _table_name = "sc_item"
    _database = "test"


class ScChild(Model):
    id = IntegerField(primary_key=True)
    item_id = ForeignKey("ScItem", "id", on_delete="CASCADE")
    label = CharField(max_length=50, null=True)

    _table_name = "sc_child"
    _database = "test"


class ScGrandchild(Model):
    id = IntegerField(primary_key=True)
    child_id = ForeignKey("ScChild", "id", on_delete="CASCADE")

    _table_name = "sc_grandchild"
    _database = "test"


class ScChildNote(Model):
    id = IntegerField(primary_key=True)
    grandchild_id = ForeignKey("ScGrandchild", "id", null=True, on_delete="SET NULL")

    _table_name = "sc_child_note"
    _database = "test"


class ScPair(Model):
    a = CharField(max_length=10)
    b = IntegerField()
    note = CharField(max_length=50, null=True)

    _primary_keys = ["a", "b"]
    _table_name = "sc_pair"
    _database = "test"


class ScPermanent(Model):
    id = IntegerField(primary_key=True)
    v = CharField(max_length=20)
    _cache_policy = CachePolicy.PERMANENT
    _table_name = "sc_permanent"
    _database = "test"


class ScLong(Model):
    id = IntegerField(primary_key=True)
    v = CharField(max_length=20)
    _cache_policy = CachePolicy.LONG_TERM
    _table_name = "sc_long"
    _database = "test"


class ScInstant(Model):
    id = IntegerField(primary_key=True)
    v = CharField(max_length=20)
    _cache_policy = "instant"  # the policy's value works too
    _table_name = "sc_instant"
    _database = "test"


class ScTimeout(Model):
    id = IntegerField(primary_key=True)
    v = CharField(max_length=20)
    _cache_policy = CachePolicy.PERMANENT
    _cache_timeout = 300  # wins over the policy
    _table_name = "sc_timeout"
    _database = "test"


class ScNoCache(Model):
    id = IntegerField(primary_key=True)
    v = CharField(max_length=20)
    _cache_timeout = 0
    _table_name = "sc_nocache"
    _database = "test"


MODELS: list[type[Model]] = [
    ScItem,
    ScChild,
    ScGrandchild,
    ScChildNote,
    ScPair,
    ScPermanent,
    ScLong,
    ScInstant,
    ScTimeout,
    ScNoCache,
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock()
    StateManager.set_clock(fake)
    try:
        yield fake
    finally:
        StateManager.set_clock(None)


@pytest.fixture(autouse=True)
async def tables(db: str) -> AsyncIterator[None]:
    await create_all(db, models=MODELS)
    for model in MODELS:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}" CASCADE', [])
    StateManager.reset()
    yield
    StateManager.reset()


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> QueryCounter:
    """Counts every statement the ORM sends (wraps the executor's entry points; the database is real)."""
    counter = QueryCounter()
    for name in ("fetch", "execute", "fetchmany", "executemany"):
        original = getattr(executor, name)

        def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            counter.count += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(executor, name, counted)
    return counter


async def behind_the_back(sql: str, *params: Any) -> None:
    """Change the database without the ORM's write paths (so the cache cannot know)."""
    await executor.execute("test", sql, list(params))


async def cached(model: type[Model]) -> int:
    return await StateManager.count(model)


# -- hits -----------------------------------------------------------------------------------------------------------


async def test_get_reads_through_the_cache(queries: QueryCounter) -> None:
    item = await ScItem.create(name="a", qty=1)
    before = queries.count
    first = await ScItem.get(id=item.id)
    assert queries.count == before + 1 and await cached(ScItem) == 1
    second = await ScItem.get(id=item.id)
    third = await ScItem.get(item.id)  # positional primary key
    none_or = await ScItem.get_or_none(id=item.id)
    assert queries.count == before + 1  # three hits, no query
    assert first.to_dict() == second.to_dict() == third.to_dict() == none_or.to_dict()  # type: ignore[union-attr]
    assert second is not first and third is not second  # each caller gets its own instance
    assert second._persisted


async def test_hit_serves_the_cached_row_and_use_cache_false_reads_the_database(
    queries: QueryCounter,
) -> None:
    item = await ScItem.create(name="a", qty=1)
    await ScItem.get(id=item.id)
    await behind_the_back("UPDATE sc_item SET qty = 99 WHERE id = $1", item.id)
    assert (await ScItem.get(id=item.id)).qty == 1  # cached
    before = queries.count
    fresh = await ScItem.get(id=item.id, use_cache=False)
    assert fresh.qty == 99 and queries.count == before + 1
    fresh_again = await ScItem.get_or_none(id=item.id, use_cache=False)
    assert fresh_again is not None and fresh_again.qty == 99 and queries.count == before + 2
    # use_cache=False neither reads nor refreshes the cache
    assert (await ScItem.get(id=item.id)).qty == 1


async def test_query_builder_get_honours_use_cache(queries: QueryCounter) -> None:
    item = await ScItem.create(name="a", qty=1)
    await ScItem.objects().get(id=item.id)  # read and cached
    await behind_the_back("UPDATE sc_item SET qty = 7 WHERE id = $1", item.id)
    before = queries.count
    assert (await ScItem.objects().get(id=item.id)).qty == 1  # served by the cache
    assert queries.count == before
    assert (await ScItem.objects().get(id=item.id, use_cache=False)).qty == 7  # the database
    assert queries.count == before + 1
    # a builder with its own filters never answers from the cache: the cached row may not match them
    with pytest.raises(DoesNotExist):
        await ScItem.filter(qty=1).get(id=item.id)
    assert queries.count == before + 2
    assert (await ScItem.filter(qty=7).get(id=item.id)).qty == 7


async def test_mutating_a_returned_instance_does_not_change_the_cache() -> None:
    item = await ScItem.create(name="a", qty=1, data={"tags": ["x"], "n": 1})
    first = await ScItem.get(id=item.id)
    first.qty = 500
    first.data["tags"].append("mutated")
    second = await ScItem.get(id=item.id)
    assert second.qty == 1 and second.data == {"tags": ["x"], "n": 1}
    second.data["n"] = 2
    assert (await ScItem.get(id=item.id)).data == {"tags": ["x"], "n": 1}
    # the creator's own instance is not the cached snapshot either
    item.data["n"] = 3
    assert (await ScItem.get(id=item.id)).data["n"] == 1


async def test_key_normalisation_uuid_objects_and_other_lookups(queries: QueryCounter) -> None:
    item = await ScItem.create(name="a")
    await ScItem.get(id=item.id)
    before = queries.count
    assert (await ScItem.get(id=UUID(item.id))).name == "a"  # uuid.UUID finds the str key
    assert queries.count == before
    # a get by another field queries, and caches the row for later primary key gets
    other = await ScItem.create(name="b")
    await StateManager.clear_cache(ScItem)
    before = queries.count
    assert (await ScItem.get(name="b")).id == other.id
    assert (await ScItem.get(name="b")).id == other.id  # not a primary key lookup: queries again
    assert queries.count == before + 2
    assert (await ScItem.get(id=other.id)).name == "b"
    assert queries.count == before + 2


async def test_composite_primary_key_is_cached(queries: QueryCounter) -> None:
    await ScPair.create(a="x", b=1, note="one")
    assert (await ScPair.get(a="x", b=1)).note == "one"
    before = queries.count
    assert (await ScPair.get(b=1, a="x")).note == "one"
    assert queries.count == before
    assert StateManager.lookup(ScPair, ("x", 1)).note == "one"
    await ScPair.filter(a="x").update(note="changed")
    assert StateManager.lookup(ScPair, ("x", 1)) is None
    assert (await ScPair.get(a="x", b=1)).note == "changed"


async def test_misses_and_errors_are_not_cached() -> None:
    missing = str(uuid4())
    with pytest.raises(DoesNotExist):
        await ScItem.get(id=missing)
    assert await ScItem.get_or_none(id=missing) is None
    assert await cached(ScItem) == 0
    await ScItem.create(id=missing, name="late")
    assert (await ScItem.get(id=missing)).name == "late"


async def test_partial_rows_are_never_cached() -> None:
    item = await ScItem.create(name="a", qty=3)
    partial = (await ScItem.filter(id=item.id).select("name").all())[0]
    assert await StateManager.cache(ScItem, partial) is False
    assert await cached(ScItem) == 0


# -- invalidation by every write path ------------------------------------------------------------------------------

WriteStep = Callable[[ScItem], Awaitable[Any]]


async def _create_again(item: ScItem) -> Any:
    await behind_the_back("DELETE FROM sc_item WHERE id = $1", item.id)
    return await ScItem.create(id=item.id, name="recreated", qty=7)


async def _save_new(item: ScItem) -> Any:
    await behind_the_back("DELETE FROM sc_item WHERE id = $1", item.id)
    return await ScItem(id=item.id, name="recreated", qty=7).save()


async def _save_loaded(item: ScItem) -> Any:
    loaded = await ScItem.get(id=item.id, use_cache=False)
    loaded.qty = 7
    return await loaded.save()


async def _instance_update(item: ScItem) -> Any:
    return await item.update(qty=7)


async def _bulk_create(item: ScItem) -> Any:
    await behind_the_back("DELETE FROM sc_item WHERE id = $1", item.id)
    return await ScItem.bulk_create([{"id": item.id, "name": "recreated", "qty": 7}])


async def _bulk_update(item: ScItem) -> Any:
    item.qty = 7
    return await ScItem.bulk_update([item], ["qty"])


async def _query_update(item: ScItem) -> Any:
    return await ScItem.filter(name=item.name).update(qty=7)


async def _update_where(item: ScItem) -> Any:
    return await ScItem.update_where({"name": item.name}, qty=7)


async def _upsert(item: ScItem) -> Any:
    return await ScItem.upsert({"name": item.name, "qty": 7}, conflict_fields=["name"])


async def _bulk_upsert(item: ScItem) -> Any:
    return await ScItem.bulk_upsert(
        [{"name": item.name, "qty": 7}, {"name": "other", "qty": 1}], conflict_fields=["name"]
    )


@pytest.mark.parametrize(
    "write",
    [
        _create_again,
        _save_new,
        _save_loaded,
        _instance_update,
        _bulk_create,
        _bulk_update,
        _query_update,
        _update_where,
        _upsert,
        _bulk_upsert,
    ],
)
async def test_writes_drop_what_they_touched(write: WriteStep) -> None:
    item = await ScItem.create(name="target", qty=1)
    bystander = await ScItem.create(name="bystander", qty=1)
    assert (await ScItem.get(id=item.id)).qty == 1
    await ScItem.get(id=bystander.id)
    assert await cached(ScItem) == 2
    await write(item)
    assert StateManager.lookup(ScItem, item.id) is None
    assert (await ScItem.get(id=item.id)).qty == 7  # the database's value, not the stale one
    assert (await ScItem.get(id=item.id)).qty == 7


async def test_instance_writes_keep_untouched_rows_cached() -> None:
    item = await ScItem.create(name="target", qty=1)
    bystander = await ScItem.create(name="bystander", qty=1)
    await ScItem.get(id=item.id)
    await ScItem.get(id=bystander.id)
    await item.update(qty=2)
    item.qty = 3
    await item.save()
    await ScItem.bulk_update([item], ["qty"])
    await ScItem.upsert({"name": "target", "qty": 4}, conflict_fields=["name"])
    await ScItem.update_where({"name": "target"}, qty=5)  # RETURNING tells which rows changed
    assert StateManager.lookup(ScItem, bystander.id) is not None
    await ScItem.filter(name="target").update(qty=6)  # rows unknown: the model's cache is emptied
    assert StateManager.lookup(ScItem, bystander.id) is None


@pytest.mark.parametrize("how", ["instance", "bulk_instances", "bulk_keys", "query", "delete_where"])
async def test_deletes_drop_the_row(how: str) -> None:
    item = await ScItem.create(name="gone")
    await ScItem.get(id=item.id)
    if how == "instance":
        assert await item.delete() == 1
    elif how == "bulk_instances":
        assert await ScItem.bulk_delete([item]) == 1
    elif how == "bulk_keys":
        assert await ScItem.bulk_delete([UUID(item.id)]) == 1
    elif how == "query":
        assert await ScItem.filter(name="gone").delete() == 1
    else:
        assert await ScItem.delete_where(name="gone") == 1
    assert StateManager.lookup(ScItem, item.id) is None
    with pytest.raises(DoesNotExist):
        await ScItem.get(id=item.id)


async def test_cascading_delete_clears_the_children_cache() -> None:
    parent = await ScItem.create(name="parent")
    child = await ScChild.create(id=1, item_id=parent.id, label="kid")
    assert (await ScChild.get(id=1)).label == "kid"
    await parent.delete()  # ON DELETE CASCADE removed the child in the database
    assert await cached(ScChild) == 0
    with pytest.raises(DoesNotExist):
        await ScChild.get(id=child.id)


async def test_a_delete_clears_the_caches_along_a_chain_of_cascades() -> None:
    """Deleting an item removes its children and their children in the database (CASCADE twice), and sets
    the notes' key to NULL (SET NULL on a grandchild): none of them is served from the cache afterwards."""
    parent = await ScItem.create(name="parent")
    await ScChild.create(id=1, item_id=parent.id)
    await ScGrandchild.create(id=1, child_id=1)
    await ScChildNote.create(id=1, grandchild_id=1)
    assert (await ScGrandchild.get(id=1)).child_id == 1
    assert (await ScChildNote.get(id=1)).grandchild_id == 1
    await parent.delete()
    with pytest.raises(DoesNotExist):
        await ScGrandchild.get(id=1)
    assert (await ScChildNote.get(id=1)).grandchild_id is None


async def test_read_in_flight_during_a_write_is_not_stored() -> None:
    item = await ScItem.create(name="race", qty=1)

    async def slow_read() -> ScItem:
        row = await ScItem.get(id=item.id, use_cache=False)  # reads qty=1 ...
        await ScItem.filter(id=item.id).update(qty=2)  # ... while a write lands
        return row

    stale = await read_through(ScItem, item.id, slow_read)
    assert stale.qty == 1
    assert await cached(ScItem) == 0  # the older row was not stored
    assert (await ScItem.get(id=item.id)).qty == 2


# -- transactions ----------------------------------------------------------------------------------------------------


async def test_cache_is_bypassed_inside_a_transaction(queries: QueryCounter) -> None:
    item = await ScItem.create(name="tx", qty=1)
    await ScItem.get(id=item.id)
    async with transaction("test"):
        await behind_the_back("UPDATE sc_item SET qty = 5 WHERE id = $1", item.id)
        before = queries.count
        assert (await ScItem.get(id=item.id)).qty == 5  # the transaction's own view
        assert queries.count == before + 1
    # nothing read inside the transaction was stored; the old entry is still there
    assert (await ScItem.get(id=item.id)).qty == 1


async def test_rolled_back_write_leaves_no_trace() -> None:
    item = await ScItem.create(name="tx", qty=1)
    await ScItem.get(id=item.id)
    with pytest.raises(RuntimeError):
        async with transaction("test"):
            await item.update(qty=2)
            raise RuntimeError("boom")
    assert (await ScItem.get(id=item.id)).qty == 1
    assert (await ScItem.get(id=item.id, use_cache=False)).qty == 1


async def test_row_cached_by_another_task_during_a_transaction_is_dropped_at_commit() -> None:
    item = await ScItem.create(name="tx", qty=1)
    written = asyncio.Event()
    read_done = asyncio.Event()

    async def writer() -> None:
        async with transaction("test"):
            await ScItem.filter(id=item.id).update(qty=2)
            written.set()
            await read_done.wait()  # commit only after the other task cached the old row

    async def reader() -> None:
        await written.wait()
        assert (await ScItem.get(id=item.id)).qty == 1  # committed value, cached
        assert StateManager.lookup(ScItem, item.id) is not None
        read_done.set()

    await asyncio.gather(writer(), reader())
    assert StateManager.lookup(ScItem, item.id) is None  # dropped when the transaction ended
    assert (await ScItem.get(id=item.id)).qty == 2


# -- policies and timeouts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "ttl"),
    [(ScItem, 600.0), (ScLong, 4 * 3600.0), (ScInstant, 60.0), (ScTimeout, 300.0), (ScPermanent, math.inf)],
)
async def test_entries_expire_after_the_policy_ttl(
    model: type[Model], ttl: float, clock: Clock, queries: QueryCounter
) -> None:
    assert StateManager.ttl(model) == ttl
    if model is ScItem:
        row = await ScItem.create(name="ttl")
        pk: Any = row.id
    else:
        pk = 1
        await model.create(id=1, v="old")
    await model.get(pk)
    before = queries.count
    step = 10 * 365 * 86400.0 if math.isinf(ttl) else ttl - 1
    clock.advance(step)
    await model.get(pk)
    assert queries.count == before  # still live one second before expiry
    assert await StateManager.count(model) == 1
    clock.advance(2)
    await model.get(pk)
    if math.isinf(ttl):
        assert queries.count == before  # PERMANENT never expires
    else:
        assert queries.count == before + 1  # expired: read again (and cached again)
        assert await StateManager.count(model) == 1
        clock.advance(ttl + 1)
        assert await StateManager.count(model) == 0  # count() ignores expired entries


async def test_default_policy_is_short_term() -> None:
    assert CachePolicy.SHORT_TERM.ttl == 600 and ScItem._meta.cache_ttl == 600
    assert [p.ttl for p in CachePolicy] == [math.inf, 14400, 600, 60]


async def test_cache_timeout_zero_turns_caching_off(queries: QueryCounter) -> None:
    await ScNoCache.create(id=1, v="x")
    before = queries.count
    await ScNoCache.get(id=1)
    await ScNoCache.get(id=1)
    assert queries.count == before + 2
    assert await StateManager.count(ScNoCache) == 0


def test_bad_cache_settings_fail_at_class_definition() -> None:
    with pytest.raises(ConfigurationError) as info:

        class BadPolicy(Model):
            id = IntegerField(primary_key=True)
            _cache_policy = "forever"
            _database = "state_meta"

    assert "CachePolicy.PERMANENT" in str(info.value) and "forever" in str(info.value)
    with pytest.raises(ConfigurationError):

        class BadTimeout(Model):
            id = IntegerField(primary_key=True)
            _cache_timeout = -5
            _database = "state_meta"


# -- StateManager API -----------------------------------------------------------------------------------------------


async def test_manual_cache_control(queries: QueryCounter) -> None:
    a = await ScItem.create(name="a", qty=1)
    b = await ScItem.create(name="b", qty=2)
    assert await StateManager.count(ScItem) == 0
    assert await StateManager.cache(ScItem, a) is True
    assert await StateManager.count(ScItem) == 1
    before = queries.count
    assert (await ScItem.get(id=a.id)).qty == 1 and queries.count == before
    await StateManager.remove(ScItem, a)
    assert await StateManager.count(ScItem) == 0
    assert await StateManager.cache_bulk(ScItem, [a, b]) == 2
    await StateManager.remove(ScItem, b.id)  # a primary key value works too
    assert await StateManager.count(ScItem) == 1
    await StateManager.remove_bulk(ScItem, [a])
    assert await StateManager.count(ScItem) == 0
    await StateManager.cache_bulk(ScItem, [a, b])
    await StateManager.clear_cache(ScItem)
    assert await StateManager.count(ScItem) == 0
    await StateManager.update(ScItem, a)
    await ScPermanent.create(id=1, v="p")
    await ScPermanent.get(id=1)
    await StateManager.clear_cache()  # every model
    assert await StateManager.count(ScItem) == 0 and await StateManager.count(ScPermanent) == 0


async def test_state_manager_reads(queries: QueryCounter) -> None:
    a = await ScItem.create(name="a", qty=1)
    await ScItem.create(name="b", qty=1)
    assert (await StateManager.get(ScItem, id=a.id)).name == "a"
    before = queries.count
    assert (await StateManager.get_or_none(ScItem, id=a.id)).name == "a"  # type: ignore[union-attr]
    assert queries.count == before
    assert await StateManager.get_or_none(ScItem, id=str(uuid4())) is None
    rows = await StateManager.get_all(ScItem, qty=1)
    assert sorted(r.name for r in rows) == ["a", "b"]
    assert await StateManager.count(ScItem) == 2


async def test_state_manager_rejects_bad_arguments() -> None:
    item = await ScItem.create(name="a")
    with pytest.raises(CacheError):
        await StateManager.cache(ScPair, item)  # wrong model
    with pytest.raises(CacheError):
        await StateManager.count(object)  # type: ignore[arg-type]
    with pytest.raises(CacheError):
        await StateManager.clear_cache("ScItem")  # type: ignore[arg-type]


async def test_entries_beyond_the_limit_evict_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StateManager, "max_entries", 3)
    StateManager.reset()
    rows = [await ScItem.create(name=f"n{i}") for i in range(5)]
    for row in rows:
        await ScItem.get(id=row.id)
    assert await StateManager.count(ScItem) == 3
    assert StateManager.lookup(ScItem, rows[0].id) is None
    assert StateManager.lookup(ScItem, rows[4].id) is not None
