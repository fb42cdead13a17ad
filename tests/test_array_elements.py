"""Array elements obey their element field on every write path (create, save, bulk_create of dicts or
instances, update, update_where), and converted elements (enums) reach the database in their database form."""

from __future__ import annotations

import enum

import pytest

from matrx_orm import (
    ArrayField,
    CharField,
    EnumField,
    IntegerField,
    Model,
    ParameterError,
    Q,
    ValidationError,
    capture_queries,
    create_all,
)
from matrx_orm.db import executor


class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


class Palette(Model):
    id = IntegerField(primary_key=True)
    codes = ArrayField(CharField(max_length=3), null=True)
    shades = ArrayField(EnumField(Shade), null=True)
    grid = ArrayField(IntegerField(), dimensions=2, null=True)

    _table_name = "array_element_palette"
    _database = "test"


@pytest.fixture(autouse=True)
async def palettes(db: str) -> None:
    await create_all(db, models=[Palette])
    await executor.execute(db, "TRUNCATE array_element_palette", [])


BAD_WRITES = {
    "create": lambda: Palette.create(id=1, codes=["ok", "toolong"]),
    "bulk_create dict": lambda: Palette.bulk_create([{"id": 2, "codes": ["toolong"]}]),
    "bulk_create dicts": lambda: Palette.bulk_create(
        [{"id": i, "codes": ["ab", "toolong"]} for i in range(3, 9)]
    ),
    "bulk_create instance": lambda: Palette.bulk_create([Palette(id=10, codes=["toolong"])]),
    "nested": lambda: Palette.bulk_create([{"id": 11, "grid": [[1, 2], [3, "x"]]}]),
}


@pytest.mark.parametrize("label", BAD_WRITES)
async def test_bad_elements_are_rejected_before_sql(label: str) -> None:
    with capture_queries() as queries, pytest.raises(ValidationError, match=r"item \[") as info:
        await BAD_WRITES[label]()
    assert queries == []
    assert info.value.model == "Palette" or getattr(info.value.model, "__name__", None) == "Palette"
    assert await Palette.count() == 0


async def test_update_paths_check_elements_too() -> None:
    row = await Palette.create(id=1, codes=["ab"])
    row.codes = ["abcd"]
    with pytest.raises(ValidationError, match="max_length 3"):
        await row.save()
    with pytest.raises(ValidationError, match="max_length 3"):
        await Palette.update_where({"id": 1}, codes=["wxyz"])
    with pytest.raises(ValidationError, match="max_length 3"):
        await Palette.filter(id=1).update(codes=["wxyz"])
    assert (await Palette.get(id=1, use_cache=False)).codes == ["ab"]


async def test_enum_elements_are_stored_as_labels_on_every_path() -> None:
    await Palette.create(id=1, shades=[Shade.LIGHT, "dark"])
    await Palette.bulk_create([{"id": 2, "shades": [Shade.DARK, None]}])
    await Palette.bulk_create([{"id": i, "shades": ["light", Shade.DARK]} for i in range(3, 9)])
    await Palette.bulk_create([Palette(id=9, shades=[Shade.LIGHT])])
    stored = await executor.fetch(
        "test", "SELECT id, shades::text[] AS shades FROM array_element_palette ORDER BY id", []
    )
    assert [(r["id"], r["shades"]) for r in stored] == [
        (1, ["light", "dark"]),
        (2, ["dark", None]),
        *[(i, ["light", "dark"]) for i in range(3, 9)],
        (9, ["light"]),
    ]
    loaded = await Palette.get(id=2, use_cache=False)
    assert loaded.shades == [Shade.DARK, None]


async def test_in_on_an_array_field_is_refused_before_sql() -> None:
    """``codes__in=[[...], [...]]`` would compare the column with the elements of a two-dimensional array:
    a ParameterError naming the alternatives, before any SQL; whole arrays compare with ``Q | Q``."""
    await Palette.create(id=1, codes=["ab"])
    await Palette.create(id=2, codes=[])
    await Palette.create(id=3, codes=["cd"])
    with capture_queries() as log:
        for values in ([["ab"], []], [["ab"]], []):
            with pytest.raises(ParameterError, match="not supported on an array field"):
                await Palette.filter(codes__in=values).count()
    assert len(log) == 0
    either = Q(codes=["ab"]) | Q(codes=[])
    assert sorted(await Palette.filter(either).values_list("id", flat=True)) == [1, 2]
