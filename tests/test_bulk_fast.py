"""bulk_create of plain dicts through the column-at-a-time path (COPY, or one INSERT over unnest), checked
against the per-instance path on a real PostgreSQL: same stored rows, same returned values, same errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import io
import ipaddress
import json
import math
import struct
import uuid
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from asyncpg import Point

from matrx_orm import (
    ArrayField,
    BigIntegerField,
    BinaryField,
    BooleanField,
    CharField,
    DatabaseError,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    EnumField,
    FloatField,
    ForeignKey,
    IntegerField,
    IntegrityError,
    IPAddressField,
    IPNetworkField,
    IPv6Field,
    JSONBArrayField,
    JSONBField,
    JSONField,
    MacAddressField,
    Model,
    PointField,
    SmallIntegerField,
    TextArrayField,
    TextField,
    TimeDeltaField,
    TimeField,
    TransactionError,
    UnknownFieldError,
    UUIDField,
    ValidationError,
    VectorField,
    capture_queries,
    create_all,
    transaction,
)
from matrx_orm.db import executor
from matrx_orm.fields.json_text import JsonText
from matrx_orm.state import StateManager
from matrx_orm.write import column_checks, copy_binary


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class BfParent(Model):
    id = IntegerField(primary_key=True)

    _table_name = "bf_parent"
    _database = "test"


class BfAll(Model):
    id = UUIDField(primary_key=True, default=uuid.uuid4)
    name = CharField(max_length=20, unique=True, null=False)
    body = TextField(null=True)
    small = SmallIntegerField(null=True)
    qty = IntegerField(null=True)
    big = BigIntegerField(null=True)
    flag = BooleanField(default=False)
    ratio = FloatField(null=True)
    at = DateTimeField(null=True)
    naive_at = DateTimeField(timezone=False, null=True)
    day = DateField(null=True)
    doc = JSONField(null=True)
    docb = JSONBField(null=True)
    color = EnumField(enum_class=Color, null=True)
    shade = EnumField(choices=["light", "dark"], enum_name="bf_shade", null=True)
    parent_id = ForeignKey("BfParent", "id", null=True)

    _table_name = "bf_all"
    _database = "test"


class BfDefaults(Model):
    id = IntegerField(primary_key=True)
    label = CharField(max_length=20, default="none")
    token = UUIDField(default=uuid.uuid4)
    created = DateTimeField(auto_now_add=True)
    touched = DateTimeField(auto_now=True)
    from_server = IntegerField(server_default="7")

    _table_name = "bf_defaults"
    _database = "test"


class BfJsonDefault(Model):
    id = IntegerField(primary_key=True)
    settings = JSONField(default=dict)

    _table_name = "bf_json_default"
    _database = "test"


class BfChecked(Model):
    id = IntegerField(primary_key=True)
    email = EmailField(null=True)
    even = IntegerField(validators=[lambda v: v % 2 == 0], null=True)

    _table_name = "bf_checked"
    _database = "test"


MODELS = [BfParent, BfAll, BfDefaults, BfJsonDefault, BfChecked]
COLUMNS = [f.column_name for f in BfAll._meta.fields.values()]
ZONES = [dt.UTC, ZoneInfo("Europe/Paris"), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
TRICKY = ["tab\there", "new\nline", "back\\slash", "cr\rhere", "\\N", "", "naïve ☃", "quote'\"", "a\\tb"]


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=MODELS)
    for model in MODELS:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}" CASCADE', [])
    await BfParent.bulk_create([{"id": i} for i in range(1, 4)])


def full_row(i: int) -> dict[str, Any]:
    """One row setting every BfAll field; every fourth row leaves the nullable ones None."""
    empty = i % 4 == 3
    return {
        "id": str(uuid.UUID(int=i + 1)),
        "name": f"n{i}",
        "body": None if empty else TRICKY[i % len(TRICKY)],
        "small": None if empty else -(2**15) + i,
        "qty": None if empty else 2**31 - 1 - i,
        "big": None if empty else -(2**63) + i,
        "flag": i % 2 == 0,
        "ratio": None if empty else [1.5, -0.0, 1e300, math.inf, -math.inf][i % 5],
        "at": None
        if empty
        else dt.datetime(2024, 1, 1, 12, 30, 15, 123456, tzinfo=ZONES[i % 3]) + dt.timedelta(hours=i),
        "naive_at": None if empty else dt.datetime(1999, 12, 31, 23, 59, 59) + dt.timedelta(days=i),
        "day": None if empty else dt.date(2020, 2, 29) + dt.timedelta(days=i),
        "doc": None if empty else {"text": TRICKY[i % len(TRICKY)], "n": [i, None, True], "f": 0.5},
        "docb": None if empty else [TRICKY[(i + 1) % len(TRICKY)], {"k": "v\\w"}],
        "color": None if empty else [Color.RED, Color.GREEN][i % 2],
        "shade": None if empty else ["light", "dark"][i % 2],
        "parent_id": None if empty else 1 + i % 3,
    }


async def stored(where: str = "") -> list[dict[str, Any]]:
    cols = ", ".join(f'"{c}"' for c in COLUMNS if c != "id")
    return [
        dict(r) for r in await executor.fetch("test", f"SELECT {cols} FROM bf_all {where} ORDER BY name", [])
    ]


async def test_every_supported_field_goes_through_copy_and_stores_what_the_instance_path_stores() -> None:
    rows = [full_row(i) for i in range(12)]
    with capture_queries() as log:
        made = await BfAll.bulk_create(rows)
    assert [s.split(" ", 1)[0] for s in log.statements] == ["COPY"]
    fast = await stored()
    await executor.execute("test", "TRUNCATE bf_all", [])
    await BfAll.bulk_create([BfAll(**r) for r in rows])  # instances: the per-instance path
    assert await stored() == fast
    named = {r["name"]: r for r in fast}
    assert len(named) == 12 and named["n1"]["body"] == TRICKY[1] and named["n3"]["body"] is None
    assert named["n0"]["color"] == "red" and named["n2"]["ratio"] == 1e300 and named["n3"]["ratio"] is None
    assert named["n4"]["ratio"] == -math.inf and named["n8"]["doc"]["text"] == TRICKY[8]
    # returned instances hold the python values a read gives back
    by_name = {b.name: b for b in await BfAll.filter(name__in=[r["name"] for r in rows]).all()}
    for instance, row in zip(made, rows, strict=True):
        assert instance._persisted is True
        assert instance.id == row["id"]
        again = by_name[row["name"]]
        for name in BfAll._meta.field_names:
            if name != "id":
                assert getattr(instance, name) == getattr(again, name), name
    assert made[0].color is Color.RED and made[0].shade == "light"


async def test_uuid_objects_and_non_canonical_strings_are_stored_as_canonical_strings() -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    made = await BfAll.bulk_create([{"id": u, "name": f"u{i}"} for i, u in enumerate(ids)])
    assert [m.id for m in made] == [str(u) for u in ids]
    upper = [str(uuid.uuid4()).upper() for _ in range(5)]
    made = await BfAll.bulk_create([{"id": u, "name": f"v{i}"} for i, u in enumerate(upper)])
    assert [m.id for m in made] == [u.lower() for u in upper]
    assert {r["id"] for r in await executor.fetch("test", "SELECT id::text AS id FROM bf_all", [])} == {
        *map(str, ids),
        *(u.lower() for u in upper),
    }


def test_the_column_check_takes_only_canonical_uuid_texts() -> None:
    field = BfAll._meta.fields["id"]
    good = [str(uuid.UUID(int=i * 2**100 + i)) for i in range(1, 40)]
    assert column_checks.check_column(field, good) == (good, good)
    text = good[7]
    near_misses = {
        "uppercase digit": text[:3] + "A" + text[4:],
        "letter past f": text[:3] + "g" + text[4:],
        "space for a digit": text[:3] + " " + text[4:],
        "dash for a digit": text[:3] + "-" + text[4:],
        "dash moved": text[:7] + "-" + text[7] + text[9:],
        "digit for a dash": text[:8] + "0" + text[9:],
        "non-ASCII digit": text[:3] + "\u0663" + text[4:],
        "fullwidth letter": text[:3] + "\uff41" + text[4:],
        "no dashes, padded": text.replace("-", "") + "0000",
        "braces": "{" + text[1:-1] + "}",
    }
    for what, bad in near_misses.items():
        assert len(bad) == 36, what
        assert column_checks.check_column(field, [*good[:7], bad, *good[8:]]) is None, what


async def test_dicts_with_the_same_keys_in_any_order_take_the_column_path() -> None:
    rows = [full_row(i) for i in range(8)]
    rows[3] = dict(reversed(list(rows[3].items())))
    with capture_queries() as log:
        made = await BfAll.bulk_create(rows)
    assert [s.split(" ", 1)[0] for s in log.statements] == ["COPY"]
    assert [m.name for m in made] == [f"n{i}" for i in range(8)]
    assert made[3].id == rows[3]["id"] and made[3].parent_id is None
    assert [r["name"] for r in await stored()] == [f"n{i}" for i in range(8)]


async def test_a_dict_with_other_keys_of_the_same_count_is_refused_as_create_refuses_it() -> None:
    rows = [{"name": f"n{i}", "qty": i} for i in range(6)]
    rows[4] = {"name": "n4", "quantity": 4}
    with capture_queries() as log, pytest.raises(UnknownFieldError) as info:
        await BfAll.bulk_create(rows)
    assert "quantity" in str(info.value) and log.statements == []
    assert await BfAll.count() == 0


async def test_two_keys_for_one_field_keep_the_later_one_of_each_dict_as_create_does() -> None:
    rows = [{"name": "a0", "parent_id": 1, "parent": 2}]
    rows += [{"name": f"a{i}", "parent": 2, "parent_id": 1} for i in range(1, 5)]
    made = await BfAll.bulk_create(rows)
    assert [m.parent_id for m in made] == [2, 1, 1, 1, 1]
    assert [r["parent_id"] for r in await stored()] == [2, 1, 1, 1, 1]
    with pytest.raises(ValidationError) as info:  # the value the later key shadows is still checked
        await BfAll.bulk_create([{"name": f"b{i}", "parent_id": "abc", "parent": 2} for i in range(5)])
    assert info.value.field == "parent_id"
    assert await BfAll.count() == 5


async def test_values_needing_conversion_take_the_per_value_path() -> None:
    made = await BfAll.bulk_create(
        [
            {"name": f"c{i}", "qty": str(i), "flag": "yes", "at": "2024-05-01T10:00:00Z", "color": "GREEN"}
            for i in range(6)
        ]
    )
    assert made[2].qty == 2 and made[0].flag is True and made[0].color is Color.GREEN
    assert made[0].at == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    assert [r["qty"] for r in await stored()] == list(range(6))


async def test_defaults_stamps_and_server_defaults_are_returned() -> None:
    before = dt.datetime.now(dt.UTC)
    with capture_queries() as log:
        made = await BfDefaults.bulk_create([{"id": i} for i in range(8)])
    assert len(log.statements) == 1 and "unnest" in log.statements[0]  # RETURNING needs an INSERT
    assert all(m.label == "none" and m.from_server == 7 and m.created >= before for m in made)
    assert all(m.touched >= before for m in made)
    assert len({m.token for m in made}) == 8  # a callable default is called per row
    kept = await BfDefaults.bulk_create(
        [{"id": 100 + i, "created": before - dt.timedelta(days=1)} for i in range(5)]
    )
    assert all(m.created == before - dt.timedelta(days=1) for m in kept)
    rows = await executor.fetch("test", "SELECT count(*) FROM bf_defaults WHERE from_server = 7", [])
    assert rows[0][0] == 13


async def test_mutable_json_default_is_a_fresh_copy_per_row() -> None:
    made = await BfJsonDefault.bulk_create([{"id": i} for i in range(5)])
    made[0].settings["x"] = 1
    assert made[1].settings == {} and made[0].settings is not made[1].settings
    assert [r[0] for r in await executor.fetch("test", "SELECT settings FROM bf_json_default", [])] == [
        {}
    ] * 5


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("name", "x" * 21),
        ("name", "nul\x00char"),
        ("small", 2**15),
        ("qty", -(2**31) - 1),
        ("big", 2**63),
        ("flag", "perhaps"),
        ("ratio", "abc"),
        ("id", "not-a-uuid"),
        ("color", "blue"),
        ("shade", "medium"),
        ("doc", {"bad": math.nan}),
        ("docb", {"bad": object()}),
        ("day", "2024-13-01"),
        ("at", 12.5),
        ("parent_id", "one"),
    ],
)
async def test_invalid_value_raises_before_any_statement(field: str, bad: Any) -> None:
    rows = [full_row(i) for i in range(6)]
    rows[4][field] = bad
    with capture_queries() as log, pytest.raises(ValidationError) as info:
        await BfAll.bulk_create(rows)
    assert info.value.field == field and "BfAll" in str(info.value)
    assert log.statements == []
    assert await BfAll.count() == 0


async def test_none_in_a_not_null_column_is_refused() -> None:
    rows = [{"name": None if i == 3 else f"n{i}", "flag": True} for i in range(6)]
    with pytest.raises(ValidationError) as info:
        await BfAll.bulk_create(rows)
    assert info.value.field == "name" and "may not be null" in str(info.value)
    assert await BfAll.count() == 0


async def test_first_bad_value_in_row_order_is_reported() -> None:
    rows = [{"name": f"n{i}", "qty": 1} for i in range(6)]
    rows[1]["qty"] = 2**40  # row 1, a later column
    rows[4]["name"] = "x" * 50  # row 4, an earlier column
    with pytest.raises(ValidationError) as info:
        await BfAll.bulk_create(rows)
    assert info.value.field == "qty"


async def test_fields_with_validators_or_own_checks_keep_their_validation() -> None:
    with pytest.raises(ValidationError) as email:
        await BfChecked.bulk_create([{"id": i, "email": "nope" if i == 2 else "a@b.io"} for i in range(5)])
    assert email.value.field == "email"
    with pytest.raises(ValidationError) as even:
        await BfChecked.bulk_create([{"id": i, "even": i} for i in range(5)])
    assert even.value.field == "even"
    made = await BfChecked.bulk_create([{"id": i, "even": 2 * i, "email": "a@b.io"} for i in range(5)])
    assert [m.even for m in made] == [0, 2, 4, 6, 8] and await BfChecked.count() == 5


async def test_duplicate_in_copy_is_integrity_error_and_writes_nothing() -> None:
    rows = [full_row(i) for i in range(6)]
    rows[5]["name"] = rows[0]["name"]
    with pytest.raises(IntegrityError) as info:
        await BfAll.bulk_create(rows)
    assert info.value.model == "BfAll"
    assert await BfAll.count() == 0


async def test_copy_joins_the_open_transaction() -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with transaction("test"):
            await BfAll.bulk_create([full_row(i) for i in range(6)])
            assert await BfAll.count() == 6  # same connection: visible inside
            raise Boom
    assert await BfAll.count() == 0
    async with transaction("test"):
        await BfAll.bulk_create([full_row(i) for i in range(6)])
    assert await BfAll.count() == 6


async def test_cached_rows_of_the_written_keys_are_dropped() -> None:
    item = await BfAll.create(name="cached", qty=1)
    await BfAll.get(id=item.id)
    assert StateManager.lookup(BfAll, item.id) is not None
    await executor.execute("test", "DELETE FROM bf_all WHERE id = $1", [item.id])
    await BfAll.bulk_create([{"id": item.id, "name": "again", "qty": 2}, *(full_row(i) for i in range(5))])
    assert StateManager.lookup(BfAll, item.id) is None
    assert (await BfAll.get(id=item.id)).qty == 2


class BfVec(Model):
    id = IntegerField(primary_key=True)
    embedding = VectorField(dimensions=3, null=True)

    _table_name = "bf_vec"
    _database = "test"


async def test_vector_columns_keep_the_batched_path(db: str, needs_pgvector: None) -> None:
    await create_all(db, models=[BfVec])
    await executor.execute(db, "TRUNCATE bf_vec", [])
    with capture_queries() as log:
        made = await BfVec.bulk_create([{"id": i, "embedding": [i, 0.5, -1]} for i in range(5)])
    assert not any(s.startswith("COPY") for s in log.statements)
    assert list(made[2].embedding) == [2.0, 0.5, -1.0]
    assert await BfVec.count() == 5


# -- the PostgreSQL-specific types: decimal, time, interval, bytea, network, point, arrays ------------------


class BfMore(Model):
    id = IntegerField(primary_key=True)
    price = DecimalField(max_digits=10, decimal_places=2, null=True)
    amount = DecimalField(null=True)
    opens = TimeField(null=True)
    opens_tz = TimeField(timezone=True, null=True)
    lasts = TimeDeltaField(null=True)
    blob = BinaryField(null=True)
    ip = IPAddressField(null=True)
    ip6 = IPv6Field(null=True)
    net = IPNetworkField(null=True)
    mac = MacAddressField(null=True)
    spot = PointField(null=True)
    tags = TextArrayField(null=True)
    nums = ArrayField(IntegerField(), null=True)
    grid = ArrayField(DecimalField(max_digits=6, decimal_places=2), dimensions=2, null=True)
    stamps = ArrayField(DateTimeField(), null=True)
    waits = ArrayField(TimeDeltaField(), null=True)
    docs = JSONBArrayField(null=True)
    blobs = ArrayField(BinaryField(), null=True)

    _table_name = "bf_more"
    _database = "test"


class BfMoreServer(Model):
    id = IntegerField(primary_key=True)
    price = DecimalField(max_digits=10, decimal_places=2)
    lasts = TimeDeltaField(null=True)
    ip = IPAddressField(null=True)
    from_server = IntegerField(server_default="7")

    _table_name = "bf_more_server"
    _database = "test"


MORE = [BfMore, BfMoreServer]
MORE_COLUMNS = [f.column_name for f in BfMore._meta.fields.values()]
PLUS_0530 = dt.timezone(dt.timedelta(hours=5, minutes=30))
MINUS_3 = dt.timezone(dt.timedelta(hours=-3))
D = Decimal
ELEMENTS = [
    "plain",
    'with "quotes"',
    "back\\slash",
    'both \\"',
    "comma,here",
    "{braces}",
    "",
    "NULL",
    None,
    " spaced ",
    "tab\tnew\nline\rcr",
    "naïve ☃",
    "\\N",
]
MORE_VALUES: dict[str, list[Any]] = {
    "price": [D("12345678.90"), D("-0.00"), D("0.01"), D("-99999999.99"), D("0.00")],
    "amount": [
        D("1E+2"),
        D("1.50E-7"),
        D("-0"),
        D("NaN"),
        D("Infinity"),
        D("-Infinity"),
        D("123456789012345678901234567890.123"),
        D("-1.000"),
    ],
    "opens": [dt.time(23, 59, 59, 999999), dt.time(0), dt.time(12, 30, 15, 5)],
    "opens_tz": [
        dt.time(12, 30, tzinfo=PLUS_0530),
        dt.time(0, 0, 1, tzinfo=dt.UTC),
        dt.time(9, tzinfo=MINUS_3),
    ],
    "lasts": [
        dt.timedelta(days=-3, seconds=5, microseconds=1),
        dt.timedelta(microseconds=-1),
        dt.timedelta(days=400, hours=25, minutes=61),
        dt.timedelta(0),
        dt.timedelta(days=999_999, microseconds=999_999),
        -dt.timedelta(days=2, hours=3),
    ],
    "blob": [b"back\\slash\ttab\nnl\x00zero\rcr", b"", bytes(range(256)), b"\\x41", b"\\N"],
    "ip": [
        ipaddress.IPv4Address("10.0.0.5"),
        ipaddress.IPv4Interface("10.0.0.5/24"),
        ipaddress.IPv6Address("2001:db8::1"),
        ipaddress.IPv6Interface("2001:db8::1/64"),
        ipaddress.IPv6Address("::ffff:1.2.3.4"),
    ],
    "ip6": [ipaddress.IPv6Address("::1"), ipaddress.IPv6Address("fe80::1:2:3:4")],
    "net": [ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv6Network("2001:db8::/32")],
    "mac": ["08:00:2b:01:02:03", "ff:ff:ff:ff:ff:ff"],
    "spot": [Point(1.5, -0.0), Point(1e300, -2), Point(-0.25, 3)],
    "tags": [ELEMENTS, [], ["one"], list(reversed(ELEMENTS))],
    "nums": [[1, None, -(2**31)], [], [2**31 - 1]],
    "grid": [[[D("1.00"), None], [D("-2.50"), D("0.00")]], [], [[D("9999.99")]]],
    "stamps": [
        [dt.datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=PLUS_0530), None],
        [dt.datetime(1, 1, 2, tzinfo=dt.UTC)],
    ],
    "waits": [[dt.timedelta(days=-1, microseconds=3), None, dt.timedelta(0)]],
    "docs": [[{"a": 'q"\\', "b": [1, None]}, None, "str", "NULL", 0.5, True], []],
    "blobs": [[b"\\", None, b'\x00\t"', b""]],
}


def more_row(i: int) -> dict[str, Any]:
    """One BfMore row cycling through the tricky values; every fifth row leaves every column None."""
    row: dict[str, Any] = {"id": i}
    for name, values in MORE_VALUES.items():
        row[name] = None if i % 5 == 4 else values[i % len(values)]
    return row


async def stored_text(table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """Every stored value as PostgreSQL's own text (exact scale, interval fields, NaN included)."""
    cols = ", ".join(f'"{c}"::text' for c in columns)
    return [tuple(r) for r in await executor.fetch("test", f"SELECT {cols} FROM {table} ORDER BY 1", [])]


@pytest.fixture
async def more_tables(db: str) -> None:
    await create_all(db, models=MORE)
    for model in MORE:
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}"', [])


async def test_new_types_go_through_copy_and_store_what_create_stores(more_tables: None) -> None:
    rows = [more_row(i) for i in range(24)]
    with capture_queries() as log:
        made = await BfMore.bulk_create(rows)
    assert [s.split(" ", 1)[0] for s in log.statements] == ["COPY"]
    fast = await stored_text("bf_more", MORE_COLUMNS)
    await executor.execute("test", "TRUNCATE bf_more", [])
    for row in rows:
        await BfMore.create(**row)  # the per-instance path, one INSERT each
    assert await stored_text("bf_more", MORE_COLUMNS) == fast
    named = {r[0]: r for r in fast}
    assert named["0"][1] == "12345678.90" and named["1"][1] == "0.00" and named["3"][1] == "-99999999.99"
    assert [named[str(i)][2] for i in (0, 1, 3, 5)] == ["100", "0.000000150", "NaN", "-Infinity"]
    assert named["0"][5] == "-3 days +00:00:05.000001" and named["1"][5] == "-1 days +23:59:59.999999"
    assert named["0"][6] == "\\x" + MORE_VALUES["blob"][0].hex()
    assert named["4"] == ("4", *[None] * (len(MORE_COLUMNS) - 1))
    # returned instances hold what a read gives back (NaN aside, which equals nothing)
    again = {m.id: m for m in await BfMore.all()}
    for instance, row in zip(made, rows, strict=True):
        assert instance._persisted is True
        for name in BfMore._meta.field_names:
            mine, read = getattr(instance, name), getattr(again[instance.id], name)
            assert mine == read or (isinstance(mine, Decimal) and mine.is_nan() and read.is_nan()), name
            assert mine == row[name] or (isinstance(mine, Decimal) and mine.is_nan()), name
    assert made[0].tags == ELEMENTS and made[0].tags is not rows[0]["tags"]  # a copy, as to_python makes
    assert made[0].grid is not rows[0]["grid"] and made[0].grid[0] is not rows[0]["grid"][0]
    tags = await executor.fetch("test", "SELECT tags FROM bf_more WHERE id = 0", [])
    assert tags[0][0] == ELEMENTS


async def test_unnest_insert_takes_the_new_scalar_types(more_tables: None) -> None:
    rows = [
        {
            "id": i,
            "price": D("10.50"),
            "lasts": dt.timedelta(days=-1, microseconds=i),
            "ip": ipaddress.IPv4Address(i),
        }
        for i in range(6)
    ]
    with capture_queries() as log:
        made = await BfMoreServer.bulk_create(rows)
    assert len(log.statements) == 1 and "unnest" in log.statements[0]
    assert [m.from_server for m in made] == [7] * 6 and made[3].lasts == dt.timedelta(days=-1, microseconds=3)
    assert made[5].ip == ipaddress.IPv4Address(5) and made[0].price == D("10.50")


async def test_values_not_in_final_form_take_the_per_value_path(more_tables: None) -> None:
    rows = [
        {
            "id": i,
            "price": D("1.5"),  # rounded to 1.50
            "amount": 3,  # an int becomes a Decimal
            "opens_tz": dt.time(8),  # naive: taken as UTC
            "lasts": 90,  # seconds
            "ip": "10.0.0.9/32",  # a string; a full prefix is an address
            "mac": "08-00-2B-01-02-03",
            "tags": ("a", "b"),  # a tuple becomes a list
            "nums": ["1", 2],
        }
        for i in range(6)
    ]
    with capture_queries() as log:
        made = await BfMore.bulk_create(rows)
    assert not any(s.startswith("COPY") for s in log.statements)
    first = made[0]
    assert first.price == D("1.50") and str(first.price) == "1.50" and first.amount == D(3)
    assert first.opens_tz == dt.time(8, tzinfo=dt.UTC) and first.lasts == dt.timedelta(seconds=90)
    assert first.ip == ipaddress.IPv4Address("10.0.0.9") and first.mac == "08:00:2b:01:02:03"
    assert first.tags == ["a", "b"] and first.nums == [1, 2]
    assert (await stored_text("bf_more", ["price", "mac"]))[0] == ("1.50", "08:00:2b:01:02:03")


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("price", D("123456789.00")),
        ("price", D("NaN")),
        ("price", D("-Infinity")),
        ("amount", "twelve"),
        ("opens", "25:00"),
        ("opens_tz", 8.5),
        ("lasts", "a while"),
        ("blob", "text"),
        ("ip", "300.1.1.1"),
        ("ip6", ipaddress.IPv4Address("1.2.3.4")),
        ("net", "10.0.0.1/8"),
        ("mac", "zz:00:2b:01:02:03"),
        ("spot", (1, math.inf)),
        ("tags", "not a list"),
        ("nums", [1, "x"]),
        ("grid", [[D("1.00"), "x"]]),
        ("stamps", [dt.datetime(2024, 1, 1), "never"]),
        ("blobs", [b"ok", "str"]),
    ],
)
async def test_new_types_invalid_value_raises_before_any_statement(
    more_tables: None, field: str, bad: Any
) -> None:
    rows = [more_row(i) for i in range(8)]
    rows[6][field] = bad
    with capture_queries() as log, pytest.raises(ValidationError) as info:
        await BfMore.bulk_create(rows)
    assert info.value.field == field and "BfMore" in str(info.value)
    assert log.statements == []
    assert await BfMore.count() == 0


async def test_new_types_first_bad_value_in_row_order_is_reported(more_tables: None) -> None:
    rows = [more_row(i) for i in range(8)]
    rows[2]["blobs"] = [1]  # row 2, the last column
    rows[5]["price"] = D("1E+12")  # row 5, an earlier column
    with capture_queries() as log, pytest.raises(ValidationError) as info:
        await BfMore.bulk_create(rows)
    assert info.value.field == "blobs" and log.statements == []


async def test_first_and_last_moments_keep_asyncpgs_infinities() -> None:
    rows = [
        {"name": f"e{i}", "at": dt.datetime(1, 1, 1, tzinfo=dt.UTC) if i == 2 else None, "day": dt.date.max}
        for i in range(5)
    ]
    with capture_queries() as log:
        await BfAll.bulk_create(rows)
    assert not any(s.startswith("COPY") for s in log.statements)
    stored = await executor.fetch("test", "SELECT at::text, day::text FROM bf_all WHERE name = 'e2'", [])
    assert tuple(stored[0]) == ("-infinity", "infinity")  # as asyncpg sends them (and create stores them)


@pytest.mark.parametrize("count", [5, 1200])  # text COPY, binary COPY
@pytest.mark.parametrize(
    "offset",
    [
        dt.timedelta(hours=20),
        dt.timedelta(hours=-16),
        dt.timedelta(microseconds=500),
        dt.timedelta(seconds=-7),
    ],
)
async def test_moments_in_any_fixed_offset_store_what_create_stores(count: int, offset: dt.timedelta) -> None:
    moment = dt.datetime(2020, 1, 1, 0, 0, 30, tzinfo=dt.timezone(offset))
    made = await BfAll.bulk_create([{**full_row(i), "at": moment} for i in range(count)])
    one = await BfAll.create(name="single", at=moment)
    assert made[0].at == moment == one.at
    rows = await executor.fetch("test", "SELECT DISTINCT at FROM bf_all", [])
    assert [r["at"] for r in rows] == [moment]


def _zone_of_offset(offset: dt.timedelta) -> ZoneInfo:
    """A ZoneInfo read from a TZif file of one type with ``offset`` (no real zone reaches 16 hours)."""
    counts = struct.pack(">6l", 0, 0, 0, 0, 1, 4)  # one local time type, four designation bytes
    data = b"TZif" + bytes(16) + counts + struct.pack(">lbb", int(offset.total_seconds()), 0, 0) + b"X20\0"
    return ZoneInfo.from_file(io.BytesIO(data))


async def test_moments_in_a_zone_file_beyond_sixteen_hours_store_what_create_stores() -> None:
    moment = dt.datetime(2020, 1, 1, tzinfo=_zone_of_offset(dt.timedelta(hours=20)))
    made = await BfAll.bulk_create([{**full_row(i), "at": moment} for i in range(5)])
    assert made[0].at == moment
    rows = await executor.fetch("test", "SELECT DISTINCT at FROM bf_all", [])
    assert [r["at"] for r in rows] == [moment]


async def test_a_plain_decimal_beyond_numerics_whole_digits_is_refused_as_create_refuses_it(
    more_tables: None,
) -> None:
    huge = Decimal("1" * 131_073)
    for count in (1, 5):  # one INSERT over unnest, text COPY
        with capture_queries() as log, pytest.raises(ValidationError) as info:
            await BfMore.bulk_create([{"id": i, "amount": huge} for i in range(count)])
        assert info.value.field == "amount" and "131072 digits" in str(info.value)
        assert log.statements == []
    with pytest.raises(ValidationError):
        await BfMore.create(id=99, amount=huge)
    assert await BfMore.count() == 0


class Level(enum.IntEnum):
    LOW = 1


@pytest.mark.parametrize("count", [5, 1200])  # text COPY, binary COPY
async def test_json_is_returned_as_the_database_gives_it_back(count: int) -> None:
    given = {"level": Level.LOW, "tone": Color.RED.value, "zero": -0.0, "list": [-0.0, {"n": Level.LOW}]}
    with capture_queries() as log:
        made = await BfAll.bulk_create([{**full_row(i), "doc": given} for i in range(count)])
    assert [s.split(" ", 1)[0] for s in log.statements] == ["COPY"]
    one = await BfAll.create(name="single", doc=given)
    for instance in (made[0], made[3], made[-2], one):  # every fourth row leaves the other fields None
        doc = instance.doc
        assert type(doc["level"]) is int and type(doc["list"][1]["n"]) is int
        assert math.copysign(1, doc["zero"]) == 1 and math.copysign(1, doc["list"][0]) == 1
    assert made[0].doc is not given and made[0].doc["list"] is not made[1].doc["list"]
    rows = await executor.fetch("test", "SELECT DISTINCT doc::text FROM bf_all", [])
    assert [r[0] for r in rows] == ['{"list": [0.0, {"n": 1}], "tone": "red", "zero": 0.0, "level": 1}']


async def test_json_array_elements_are_returned_as_the_database_gives_them_back(more_tables: None) -> None:
    docs = [{"n": Level.LOW}, None, -0.0, {"k": [Level.LOW]}]
    with capture_queries() as log:
        made = await BfMore.bulk_create([{**more_row(i), "docs": docs} for i in range(6)])
    assert [s.split(" ", 1)[0] for s in log.statements] == ["COPY"]
    one = await BfMore.create(id=99, docs=docs)
    for instance in (made[0], made[4], one):
        kept = instance.docs
        assert kept == [{"n": 1}, None, 0.0, {"k": [1]}] and kept is not docs
        assert type(kept[0]["n"]) is int and math.copysign(1, kept[2]) == 1 and type(kept[3]["k"][0]) is int
    rows = await executor.fetch("test", "SELECT DISTINCT docs::text FROM bf_more", [])
    assert [r[0] for r in rows] == ['{"{\\"n\\": 1}",NULL,0.0,"{\\"k\\": [1]}"}']


async def test_deeply_nested_json_with_a_negative_zero_is_written() -> None:
    doc: Any = -0.0
    for _ in range(600):
        doc = [doc]
    made = await BfAll.bulk_create([{**full_row(i), "doc": doc} for i in range(5)])
    inner = made[0].doc
    for _ in range(600):
        inner = inner[0]
    assert inner == 0.0 and math.copysign(1, inner) == 1


async def test_json_text_is_stored_as_the_json_it_holds() -> None:
    made = await BfAll.bulk_create([{**full_row(i), "docb": JsonText('{"a": [1, 2]}')} for i in range(5)])
    assert made[0].docb == {"a": [1, 2]} == made[3].docb
    rows = await executor.fetch("test", "SELECT DISTINCT docb::text FROM bf_all", [])
    assert [r[0] for r in rows] == ['{"a": [1, 2]}']


# -- binary COPY ----------------------------------------------------------------------------------------------


class BfMoreBinary(Model):
    """The BfMore columns written in binary (the others, numeric, network and array columns, are cheaper
    to write in text)."""

    id = IntegerField(primary_key=True)
    opens = TimeField(null=True)
    opens_tz = TimeField(timezone=True, null=True)
    lasts = TimeDeltaField(null=True)
    blob = BinaryField(null=True)
    spot = PointField(null=True)

    _table_name = "bf_more_binary"
    _database = "test"


class BfLoose(Model):
    """Fields on columns of other types than their own (the table is made by hand): a UUID kept in a text
    column, a JSON document in a ``json`` column (and a text in a ``varchar`` one, which alone would not
    matter)."""

    id = IntegerField(primary_key=True)
    token = UUIDField()
    doc = JSONField(null=True)
    label = TextField(null=True)

    _table_name = "bf_loose"
    _database = "test"


BINARY_COLUMNS = [f.column_name for f in BfMoreBinary._meta.fields.values()]


def _format(log: Any) -> list[str]:
    """The COPY statements of ``log``: "binary" or "COPY" (text) each."""
    return ["binary" if "(FORMAT binary)" in s else "COPY" for s in log.statements if s.startswith("COPY")]


async def test_copy_is_binary_when_every_column_can_be_and_the_batch_is_large(more_tables: None) -> None:
    rows = [full_row(i) for i in range(copy_binary.MIN_ROWS)]
    with capture_queries() as log:
        await BfAll.bulk_create(rows)
    assert _format(log) == ["binary"]
    fast = await stored()
    await executor.execute("test", "TRUNCATE bf_all", [])
    await BfAll.bulk_create([BfAll(**r) for r in rows])  # instances: the per-instance path
    assert await stored() == fast and len(fast) == copy_binary.MIN_ROWS
    await executor.execute("test", "TRUNCATE bf_all", [])
    with capture_queries() as log:  # a smaller batch: text
        await BfAll.bulk_create([full_row(i) for i in range(copy_binary.MIN_ROWS - 1)])
    assert _format(log) == ["COPY"]
    with capture_queries() as log:  # numeric, network, MAC address and array columns: text
        await BfMore.bulk_create([more_row(i) for i in range(copy_binary.MIN_ROWS)])
    assert _format(log) == ["COPY"]


async def test_binary_copy_stores_what_create_stores(db: str) -> None:
    await create_all(db, models=[BfMoreBinary])
    await executor.execute(db, "TRUNCATE bf_more_binary", [])
    rows = [
        {k: v for k, v in more_row(i).items() if k in BINARY_COLUMNS} for i in range(copy_binary.MIN_ROWS)
    ]
    with capture_queries() as log:
        made = await BfMoreBinary.bulk_create(rows)
    assert _format(log) == ["binary"]
    fast = await stored_text("bf_more_binary", BINARY_COLUMNS)
    await executor.execute(db, "TRUNCATE bf_more_binary", [])
    await BfMoreBinary.bulk_create([BfMoreBinary(**r) for r in rows])  # instances: the per-instance path
    assert await stored_text("bf_more_binary", BINARY_COLUMNS) == fast
    named = {r[0]: r for r in fast}
    assert named["0"][1:3] == ("23:59:59.999999", "12:30:00+05:30")
    assert named["0"][3] == "-3 days +00:00:05.000001" and named["1"][3] == "-1 days +23:59:59.999999"
    assert named["0"][4] == "\\x" + MORE_VALUES["blob"][0].hex() and named["1"][5] == "(1e+300,-2)"
    assert named["4"] == ("4", *[None] * (len(BINARY_COLUMNS) - 1))
    again = {m.id: m for m in await BfMoreBinary.all()}
    for instance in made:
        for name in BfMoreBinary._meta.field_names:
            assert getattr(instance, name) == getattr(again[instance.id], name), name


async def test_columns_of_other_types_than_the_fields_take_the_text_copy(db: str) -> None:
    await executor.execute(db, "DROP TABLE IF EXISTS bf_loose", [])
    await executor.execute(
        db, "CREATE TABLE bf_loose (id int PRIMARY KEY, token text NOT NULL, doc json, label varchar(40))", []
    )
    count = copy_binary.MIN_ROWS
    tokens = [str(uuid.UUID(int=(i + 1) * 2**100)) for i in range(count)]
    docs = [{"k": TRICKY[i % 9], "n": [i, None]} if i % 3 else None for i in range(count)]
    labels = [TRICKY[i % 9] for i in range(count)]
    rows = [{"id": i, "token": tokens[i], "doc": docs[i], "label": labels[i]} for i in range(count)]
    with capture_queries() as log:
        await BfLoose.bulk_create(rows)
    assert _format(log) == ["COPY"]  # binary would put a UUID's 16 bytes into the text column
    stored = await executor.fetch(db, "SELECT token, doc::text AS doc, label FROM bf_loose ORDER BY id", [])
    assert [r["token"] for r in stored] == tokens
    assert [r["label"] for r in stored] == labels
    assert [None if r["doc"] is None else json.loads(r["doc"]) for r in stored] == docs


class BfAltered(Model):
    id = IntegerField(primary_key=True)
    token = UUIDField()
    n = IntegerField()

    _table_name = "bf_altered"
    _database = "test"


async def test_a_table_altered_after_a_binary_copy_is_checked_again(db: str) -> None:
    await executor.execute(db, "DROP TABLE IF EXISTS bf_altered", [])
    await executor.execute(db, "CREATE TABLE bf_altered (id int PRIMARY KEY, token uuid, n int)", [])
    token = "41424344-4546-4748-494a-4b4c4d4e4f50"  # its 16 bytes are valid text: ABCDEFGHIJKLMNOP
    count = copy_binary.MIN_ROWS
    with capture_queries() as log:
        await BfAltered.bulk_create([{"id": i, "token": token, "n": 65} for i in range(count)])
    assert _format(log) == ["binary"]
    await executor.execute(db, "ALTER TABLE bf_altered ALTER token TYPE text, ALTER n TYPE real", [])
    with capture_queries() as log:
        await BfAltered.bulk_create([{"id": count + i, "token": token, "n": 65} for i in range(count)])
    assert _format(log) == ["COPY"]
    stored = await executor.fetch(
        db, "SELECT DISTINCT token, n::text AS n FROM bf_altered WHERE id >= $1", [count]
    )
    assert [tuple(r) for r in stored] == [(token, "65")]


class BfNoTable(Model):
    id = IntegerField(primary_key=True)

    _table_name = "bf_no_such_table"
    _database = "test"


async def test_a_missing_table_is_reported_for_the_model_and_bulk_create(db: str) -> None:
    with pytest.raises(DatabaseError) as info:
        await BfNoTable.bulk_create([{"id": i} for i in range(copy_binary.MIN_ROWS)])
    assert info.value.model == "BfNoTable" and info.value.operation == "bulk_create"
    assert "bf_no_such_table" in str(info.value)


class BfLocked(Model):
    id = IntegerField(primary_key=True)
    n = IntegerField()

    _table_name = "bf_locked"
    _database = "test"


async def test_a_migration_holding_a_lock_and_then_altering_the_table_does_not_deadlock_with_it(
    db: str, pg_url: str
) -> None:
    await executor.execute(db, "DROP TABLE IF EXISTS bf_locked", [])
    await executor.execute(db, "CREATE TABLE bf_locked (id int PRIMARY KEY, n int)", [])
    migration = await asyncpg.connect(pg_url)
    try:
        await migration.execute("BEGIN")
        await migration.execute("CREATE INDEX bf_locked_n ON bf_locked (n)")  # SHARE: writes wait
        write = asyncio.create_task(
            BfLocked.bulk_create([{"id": i, "n": i} for i in range(copy_binary.MIN_ROWS)])
        )
        await asyncio.sleep(0.3)
        assert not write.done()
        await migration.execute("ALTER TABLE bf_locked ADD COLUMN extra int")  # no deadlock error here
        await migration.execute("COMMIT")
    finally:
        await migration.close()
    assert len(await asyncio.wait_for(write, 10)) == copy_binary.MIN_ROWS
    assert await BfLocked.count() == copy_binary.MIN_ROWS


async def test_a_failed_binary_copy_inside_a_transaction_fails_the_transaction() -> None:
    rows = [full_row(i) for i in range(copy_binary.MIN_ROWS)]
    rows[-1]["name"] = rows[0]["name"]
    with pytest.raises(TransactionError):
        async with transaction("test"):
            with pytest.raises(IntegrityError) as info:
                await BfAll.bulk_create(rows)
            assert info.value.model == "BfAll" and info.value.operation == "bulk_create"
            await BfAll.create(name="after")  # the transaction is failed: no partial commit
    assert await BfAll.count() == 0


async def test_a_deferred_constraint_failing_at_the_copys_commit_names_the_model(db: str) -> None:
    await executor.execute(db, "DROP TABLE IF EXISTS bf_locked", [])
    await executor.execute(
        db, "CREATE TABLE bf_locked (id int PRIMARY KEY, n int UNIQUE DEFERRABLE INITIALLY DEFERRED)", []
    )
    with pytest.raises(IntegrityError) as info:
        await BfLocked.bulk_create([{"id": i, "n": i % 999} for i in range(copy_binary.MIN_ROWS)])
    assert info.value.model == "BfLocked"
    assert await BfLocked.count() == 0
