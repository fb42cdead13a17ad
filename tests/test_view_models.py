"""Models over views (``_is_view = True``): readable like any model, every write refused before SQL runs."""

from __future__ import annotations

import pytest

from matrx_orm import (
    CharField,
    IntegerField,
    Model,
    QueryError,
    ReadOnlyModelError,
    capture_queries,
    create_all,
)
from matrx_orm.db import executor


class Gadget(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=30)
    stock = IntegerField(default=0)

    _table_name = "view_gadgets"
    _database = "test"


class GadgetInStock(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=30)
    stock = IntegerField()

    _table_name = "view_gadgets_in_stock"
    _database = "test"
    _is_view = True


@pytest.fixture(autouse=True)
async def gadgets(db: str) -> None:
    await executor.execute(db, "DROP VIEW IF EXISTS view_gadgets_in_stock", [])
    await create_all(db, models=[Gadget, GadgetInStock])  # creates the table, skips the view model
    await executor.execute(db, "TRUNCATE view_gadgets", [])
    await executor.execute(
        db,
        "CREATE VIEW view_gadgets_in_stock AS SELECT id, name, stock FROM view_gadgets WHERE stock > 0",
        [],
    )
    await Gadget.bulk_create([{"id": i, "name": f"g{i}", "stock": i % 3} for i in range(1, 10)])


async def test_view_model_reads_like_any_model() -> None:
    rows = await GadgetInStock.filter(stock__gte=1).order_by("id")
    assert [r.id for r in rows] == [i for i in range(1, 10) if i % 3]
    assert (await GadgetInStock.get(id=2)).name == "g2"
    assert await GadgetInStock.count() == 6
    assert GadgetInStock._meta.is_view and not Gadget._meta.is_view


async def test_every_write_on_a_view_model_is_refused_without_sql() -> None:
    loaded = await GadgetInStock.get(id=1)
    fresh = GadgetInStock(id=100, name="new", stock=5)
    attempts = {
        "create": lambda: GadgetInStock.create(id=50, name="x", stock=1),
        "save (insert)": fresh.save,
        "save (update)": loaded.save,
        "instance update": lambda: loaded.update(stock=9),
        "instance delete": loaded.delete,
        "bulk_create": lambda: GadgetInStock.bulk_create([{"id": 51, "name": "y", "stock": 1}]),
        "bulk_update": lambda: GadgetInStock.bulk_update([loaded], ["stock"]),
        "bulk_delete": lambda: GadgetInStock.bulk_delete([loaded]),
        "upsert": lambda: GadgetInStock.upsert({"id": 1, "name": "z", "stock": 2}, ["id"]),
        "query update": lambda: GadgetInStock.filter(id=1).update(stock=0),
        "query delete": lambda: GadgetInStock.filter(id=1).delete(),
        "update_where": lambda: GadgetInStock.update_where({"id": 1}, stock=0),
        "delete_where": lambda: GadgetInStock.delete_where(id=1),
    }
    for label, attempt in attempts.items():
        with capture_queries() as queries, pytest.raises(ReadOnlyModelError, match="view") as info:
            await attempt()
        assert queries == [], label
        assert isinstance(info.value, QueryError)
        assert info.value.model == "GadgetInStock"
    # nothing changed underneath
    assert [(g.id, g.stock) for g in await Gadget.all().order_by("id")] == [(i, i % 3) for i in range(1, 10)]
