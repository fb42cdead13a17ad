"""Rows become model instances exactly as the model defines them, whatever the row's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from matrx_orm import CharField, ForeignKey, IntegerField, Model, capture_queries, create_all
from matrx_orm.db import executor

WIDE_FIELDS = 300  # more names than one star-unpacking may take


def _wide_model() -> type[Model]:
    namespace: dict[str, Any] = {
        "id": IntegerField(primary_key=True),
        "_table_name": "rl_wide",
        "_database": "test",
        "__module__": __name__,
    }
    namespace.update({f"f{i}": IntegerField(null=True) for i in range(WIDE_FIELDS)})
    return type("RlWide", (Model,), namespace)


RlWide = _wide_model()


class RlTracked(Model):
    """Counts attribute writes: loading a row must not look like user code setting attributes."""

    id = IntegerField(primary_key=True)
    name = CharField(max_length=20)

    _table_name = "rl_tracked"
    _database = "test"

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__.setdefault("_written", []).append(name)
        super().__setattr__(name, value)


class RlOwner(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=20)

    _table_name = "rl_owner"
    _database = "test"


class RlPet(Model):
    id = IntegerField(primary_key=True)
    owner = ForeignKey(RlOwner, null=True)
    name = CharField(max_length=20)

    _table_name = "rl_pet"
    _database = "test"


@pytest.fixture
async def tables(db: str) -> AsyncIterator[str]:
    models = [RlWide, RlTracked, RlOwner, RlPet]
    await create_all(db, models=models)
    for model in models:
        await executor.execute(db, f"TRUNCATE {model._meta.table_name} CASCADE", [])
    yield db


async def test_a_model_with_hundreds_of_columns_loads(tables: str) -> None:
    row = {"id": 1, **{f"f{i}": i for i in range(WIDE_FIELDS)}}
    created = await RlWide.bulk_create([row])
    assert created[0].f299 == 299 and created[0]._persisted
    fetched = await RlWide.get(use_cache=False, id=1)
    assert fetched.f0 == 0 and fetched.f299 == 299
    assert [w.f150 for w in await RlWide.filter(id=1).all()] == [150]
    raw = await RlWide.raw("SELECT *, 1 AS extra FROM rl_wide")
    assert raw[0].f299 == 299 and raw[0].extra == 1


async def test_loading_does_not_call_the_models_setattr(tables: str) -> None:
    await executor.execute(tables, "INSERT INTO rl_tracked (id, name) VALUES (1, 'a')", [])
    loaded = await RlTracked.get(use_cache=False, id=1)
    assert loaded.__dict__ == {"id": 1, "name": "a", "_persisted": True}
    loaded.name = "b"
    assert loaded.__dict__["_written"] == ["name"]


async def test_raw_columns_with_any_name_become_attributes(tables: str) -> None:
    await RlOwner.create(id=1, name="ann")
    sql = 'SELECT id, name, 1 AS "__debug__", 2 AS "count(*)", 3 AS "class", 4 AS "pk" FROM rl_owner'
    (owner,) = await RlOwner.raw(sql)
    values = owner.__dict__
    assert (values["__debug__"], values["count(*)"], values["class"], values["pk"]) == (1, 2, 3, 4)
    assert owner.name == "ann" and owner._persisted


async def test_select_related_rows_keep_their_own_columns(tables: str) -> None:
    await RlOwner.create(id=1, name="ann")
    await RlPet.create(id=1, owner=1, name="rex")
    await RlPet.create(id=2, owner=None, name="stray")
    pets = await RlPet.filter().select_related("owner").order_by("id").all()
    assert [(p.name, p.__dict__["owner"]) for p in pets] == [("rex", 1), ("stray", None)]
    assert list(pets[0].__dict__)[:4] == ["id", "owner", "name", "_persisted"]
    with capture_queries() as log:
        owner = pets[0].get_related("owner")  # built from the joined columns
        assert pets[1].get_related("owner") is None
    assert len(log) == 0 and owner.__dict__ == {"id": 1, "name": "ann", "_persisted": True}
