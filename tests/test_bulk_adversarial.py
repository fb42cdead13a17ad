"""Adversarial checks of ``bulk_create`` of plain dicts against ``[await Model.create(**d) for d in rows]``.

Every probe stores the same rows twice, once with ``bulk_create`` into one table and once with per-row
``create`` (inside a transaction, rolled back on error) into an identical table, then compares the stored rows
as PostgreSQL text, the returned instances and the error (class, field, value, message).
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import itertools
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from matrx_orm import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    EnumField,
    FloatField,
    ForeignKey,
    IntegerField,
    JSONBField,
    Model,
    SmallIntegerField,
    TextField,
    UUIDField,
    VersionField,
    capture_queries,
    create_all,
    transaction,
)
from matrx_orm.db import executor
from matrx_orm.exceptions import ORMException

FieldSet = Callable[[], dict[str, Any]]
_pairs: dict[str, tuple[type[Model], type[Model]]] = {}


def pair(name: str, fields: FieldSet, **options: Any) -> tuple[type[Model], type[Model]]:
    """Two models over the same fields: ``Ba<name>Fast`` (bulk_create) and ``Ba<name>Slow`` (create)."""
    if name not in _pairs:
        made = []
        for side in ("fast", "slow"):
            attrs = {**fields(), "_table_name": f"ba_{name.lower()}_{side}", "_database": "test", **options}
            made.append(type(f"Ba{name}{side.title()}", (Model,), attrs))
        _pairs[name] = (made[0], made[1])
    return _pairs[name]


async def _reset(model: type[Model]) -> None:
    await create_all("test", models=[model])
    await executor.execute("test", f"TRUNCATE {_qualified(model)} RESTART IDENTITY CASCADE", [])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(model: type[Model]) -> str:
    meta = model._meta
    table = _quoted(meta.table_name)
    return f"{_quoted(meta.db_schema)}.{table}" if meta.db_schema else table


async def _stored(model: type[Model]) -> list[tuple[Any, ...]]:
    cols = ", ".join(_quoted(f.column_name) + "::text" for f in model._meta.fields.values())
    rows = await executor.fetch("test", f"SELECT {cols} FROM {_qualified(model)} ORDER BY 1", [])
    return [tuple(r) for r in rows]


def _error(exc: BaseException | None, model: type[Model]) -> Any:
    if exc is None:
        return None
    if type(exc).__name__ != "ValidationError":  # a database error: its message shows the statement
        return type(exc)
    text = str(exc).replace(model.__name__, "<M>")
    return (type(exc), getattr(exc, "field", None), repr(getattr(exc, "value", None)), text)


def _values(instances: list[Model]) -> list[dict[str, Any]]:
    """Every field's Python value (None included) and whether the instance is persisted."""
    return [
        {**{name: i.__dict__.get(name) for name in i._meta.field_names}, "_persisted": i._persisted}
        for i in instances
    ]


def _same(a: Any, b: Any) -> bool:
    """Equal with the same type all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal) and a.is_nan():
        return b.is_nan()
    if isinstance(a, dt.datetime | dt.time):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def _alike(a: Any, b: Any) -> bool:
    """Equal values, the same instant for aware datetimes (ambiguous local times compare unequal across
    zones in python), dicts in any key order, and ints equal to floats (jsonb keeps one kind of number)."""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and a.tzinfo and b.tzinfo:
        return a.astimezone(dt.UTC) == b.astimezone(dt.UTC)
    return bool(a == b) or _same(a, b)


async def compare(
    name: str, fields: FieldSet, rows: list[dict[str, Any]], *, strict_types: bool = True, **options: Any
) -> tuple[list[Model] | None, BaseException | None, list[str]]:
    """Run both paths over ``rows`` and assert they agree; returns the bulk result, its error and statements."""
    fast_model, slow_model = pair(name, fields, **options)
    await _reset(fast_model)
    await _reset(slow_model)
    fast_error: BaseException | None = None
    made: list[Model] | None = None
    with capture_queries() as log:
        try:
            made = await fast_model.bulk_create(copy.deepcopy(rows))
        except ORMException as exc:
            fast_error = exc
    slow_error: BaseException | None = None
    slow: list[Model] = []
    try:
        async with transaction("test"):
            for row in copy.deepcopy(rows):
                slow.append(await slow_model.create(**row))
    except ORMException as exc:
        slow_error = exc
    assert _error(fast_error, fast_model) == _error(slow_error, slow_model)
    if fast_error is not None and type(fast_error).__name__ == "ValidationError":
        assert log.statements == []  # raised before any SQL
    assert await _stored(fast_model) == await _stored(slow_model)
    if made is not None:
        mine, theirs = _values(made), _values(slow)
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            assert list(a) == list(b)
            for key in a:
                if strict_types:
                    assert _same(a[key], b[key]), (key, a[key], b[key])
                else:
                    assert _alike(a[key], b[key]), (key, a[key], b[key])
    return made, fast_error, log.statements


def _kind(statements: list[str]) -> str:
    return statements[0].split(" ", 1)[0] if statements else ""


@pytest.fixture(autouse=True)
def _db(db: str) -> None:
    """Every probe needs the test database."""


# -- text --------------------------------------------------------------------------------------------------------


def text_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "short": CharField(max_length=3, null=True),
        "body": TextField(null=True),
    }


CONTROL = "".join(map(chr, range(1, 32))) + "\x7f\x85\u2028\u2029\ufeff"
TEXTS = [
    CONTROL,
    "\\.",
    "\\",
    "a\\Nb",
    "\\N",
    "e\u0301",
    "\u00e9",
    "\U0001f600" * 3,
    "x" * 100_000,
    " trailing  ",
    "",
]


@pytest.mark.parametrize("count", [3, 4, 11])
async def test_text_with_every_control_char_and_escape(count: int) -> None:
    rows = [
        {"id": i, "short": ["abc", "é😀x", None, "", "\t\n\\"][i % 5], "body": TEXTS[i % 11]}
        for i in range(count)
    ]
    _, error, log = await compare("Text", text_fields, rows)
    assert error is None and _kind(log) == ("COPY" if count >= 4 else "INSERT")


@pytest.mark.parametrize(
    "bad",
    [
        {"body": "nul\x00"},
        {"short": "abcd"},
        {"short": "😀😀😀😀"},
        {"short": 12345},
        {"short": b"ab"},
        {"body": "lone \ud800 surrogate"},
    ],
)
@pytest.mark.parametrize("count", [3, 6])
async def test_bad_text_fails_like_create(bad: dict[str, Any], count: int) -> None:
    rows = [{"id": i, "short": "ok", "body": "fine"} for i in range(count)]
    rows[count - 2].update(bad)
    _, error, _ = await compare("Text", text_fields, rows)
    assert error is not None


# -- numbers -----------------------------------------------------------------------------------------------------


def number_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "small": SmallIntegerField(null=True),
        "qty": IntegerField(null=True),
        "big": BigIntegerField(null=True),
        "ratio": FloatField(null=True),
        "real": FloatField(precision=24, null=True),
        "flag": BooleanField(null=True),
        "price": DecimalField(max_digits=6, decimal_places=2, null=True),
        "whole": DecimalField(max_digits=5, null=True),
        "places": DecimalField(decimal_places=3, null=True),
        "amount": DecimalField(null=True),
    }


class Level(enum.IntEnum):
    LOW = 1


NUMBER_ROWS: list[dict[str, Any]] = [
    {"small": -(2**15), "qty": 2**31 - 1, "big": -(2**63), "ratio": 5e-324, "real": 0.5, "flag": True},
    {"small": 2**15 - 1, "qty": -(2**31), "big": 2**63 - 1, "ratio": 1e308, "real": -0.0, "flag": False},
    {"ratio": -0.0, "price": Decimal("9999.99"), "amount": Decimal("1E+5"), "places": Decimal("1.000")},
    {"ratio": math.nan, "price": Decimal("-0.00"), "amount": Decimal("-1E-30"), "whole": Decimal("99999")},
    {"ratio": math.inf, "amount": Decimal("NaN"), "places": Decimal("-0.000")},
    {"ratio": 2.2250738585072014e-308, "amount": Decimal("0E-7"), "whole": Decimal("-12")},
]


@pytest.mark.parametrize("count", [3, 6])
async def test_numbers_at_their_bounds(count: int) -> None:
    rows = [{"id": i, **NUMBER_ROWS[i]} for i in range(count)]
    _, error, _ = await compare("Num", number_fields, rows)
    assert error is None


@pytest.mark.parametrize(
    "bad",
    [
        {"qty": True},
        {"small": False},
        {"big": 2**63},
        {"small": 2**15},
        {"qty": 1.5},
        {"qty": Level.LOW},
        {"ratio": True},
        {"ratio": 3},
        {"ratio": "1e400"},
        {"real": 0.1},
        {"real": 1e300},
        {"flag": 1},
        {"flag": 2},
        {"price": Decimal("1.005")},
        {"price": Decimal("10000.00")},
        {"price": Decimal("9999.995")},
        {"price": Decimal("sNaN")},
        {"price": 1.1},
        {"whole": Decimal("1.5")},
        {"whole": Decimal("99999.5")},
        {"places": Decimal("1.0005")},
        {"amount": Decimal("1E+2000")},
        {"amount": Decimal("-Infinity")},
    ],
)
async def test_odd_numbers_match_create(bad: dict[str, Any]) -> None:
    rows = [{"id": i, "qty": i, "ratio": 0.25, "price": Decimal("1.00")} for i in range(6)]
    rows[3].update(bad)
    await compare("Num", number_fields, rows)


NUMBER_NAMES = [n for n in number_fields() if n != "id"]


def full(row: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """``row`` with every one of ``names`` present (None where not given): one key layout for the batch."""
    return {"id": row["id"], **dict.fromkeys(names), **row}


@pytest.mark.parametrize(
    "bad",
    [
        {"real": 0.1},
        {"real": 1e-50},
        {"real": 3.4028235e38},
        {"whole": Decimal("1.5")},
        {"whole": Decimal("-2.5")},
        {"whole": Decimal("99999.5")},
        {"qty": True},
        {"big": 2**63},
        {"price": Decimal("9999.995")},
    ],
)
@pytest.mark.parametrize("count", [3, 6])
async def test_every_field_sent_numbers_match_create(bad: dict[str, Any], count: int) -> None:
    rows = [
        full({"id": i, "qty": i, "ratio": 0.25, "price": Decimal("1.00")}, NUMBER_NAMES) for i in range(count)
    ]
    rows[1].update(bad)
    await compare("Num", number_fields, rows)


async def test_first_bad_value_in_row_order_when_a_later_row_fails_conversion() -> None:
    rows = [full({"id": i, "qty": i}, NUMBER_NAMES) for i in range(6)]
    rows[1]["small"] = 2**20  # converts, then fails the range check
    rows[4]["qty"] = "not a number"  # fails conversion
    _, error, _ = await compare("Num", number_fields, rows)
    assert error is not None and error.field == "small"


async def test_first_bad_value_in_row_order_before_an_unknown_key() -> None:
    rows: list[dict[str, Any]] = [{"id": i, "qty": i} for i in range(6)]
    rows[1]["small"] = 2**20
    rows[4]["nope"] = 1
    _, error, _ = await compare("Num", number_fields, rows)
    assert error is not None and error.field == "small"


async def test_mixed_layouts_raise_before_any_statement() -> None:
    rows: list[dict[str, Any]] = [{"id": i, "qty": i} for i in range(6)]
    rows[2]["ratio"] = 0.5  # a second layout
    rows[4]["small"] = 2**20
    _, error, log = await compare("Num", number_fields, rows)
    assert error is not None and log == []


def serial_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True, extra_autoincrement=None),
        "name": CharField(max_length=20, null=True),
        "label": CharField(max_length=20, server_default="'none'"),
        "qty": IntegerField(null=True),
    }


async def test_serial_keys_follow_row_order_whatever_the_layouts() -> None:
    rows: list[dict[str, Any]] = [
        {"name": "a"},
        {"name": "b", "qty": 1},
        {"name": "c"},
        {"name": "d", "label": "x"},
        {"name": "e", "label": None},
        {"name": "f", "qty": 2},
    ]
    made, error, _ = await compare("Serial", serial_fields, rows)
    assert error is None and made is not None and [m.name for m in made] == list("abcdef")


async def test_rows_of_only_server_filled_columns() -> None:
    made, error, _ = await compare("Serial", serial_fields, [{} for _ in range(5)])
    assert error is None and made is not None and [m.id for m in made] == [1, 2, 3, 4, 5]


# -- JSON --------------------------------------------------------------------------------------------------------


def json_fields() -> dict[str, Any]:
    return {"id": IntegerField(primary_key=True), "doc": JSONBField(null=True), "tag": TextField(null=True)}


JSON_DOCS: list[Any] = [
    {"b": 1, "a": [1, 2.5, None, True, "x"]},
    '{"looks": "like json"}',
    "null",
    [],
    {},
    2**80,
    -0.0,
    1.0,
    1e16,
    1.5e300,
    1e-7,
    {"deep": [[[[[[[[[[{"x": "\\\t\n\"'"}]]]]]]]]]]},
    "naïve ☃ \U0001f600",
    {"ctl": "".join(map(chr, range(1, 32)))},
    {"a": 1, "A": 2, "aa": 3, "": 4},
]


@pytest.mark.parametrize("count", [3, len(JSON_DOCS)])
async def test_json_documents_match_create(count: int) -> None:
    rows = [{"id": i, "doc": JSON_DOCS[i], "tag": "t"} for i in range(count)]
    _, error, _ = await compare("Json", json_fields, rows, strict_types=False)
    assert error is None


@pytest.mark.parametrize(
    "odd",
    [
        {1: "int key"},
        {True: "bool key", None: "none key", 1.5: "float key"},
        {"t": (1, 2)},
        (1, 2),
        {1: "a", "1": "b"},
        {"nan": math.nan},
        [math.inf],
        {"d": Decimal("1.5")},
        {"when": dt.date(2024, 1, 1)},
        {"nul": "a\x00b"},
        {"lone": "\udc80"},
        {"set": {1}},
    ],
)
@pytest.mark.parametrize("count", [3, 6])
async def test_odd_json_matches_create(odd: Any, count: int) -> None:
    rows = [{"id": i, "doc": {"ok": i}, "tag": None} for i in range(count)]
    rows[1]["doc"] = odd
    await compare("Json", json_fields, rows, strict_types=False)


# -- dates and times -------------------------------------------------------------------------------------------


def time_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "at": DateTimeField(null=True),
        "naive": DateTimeField(timezone=False, null=True),
        "day": DateField(null=True),
    }


class FixedTz(dt.tzinfo):
    """A pytz-like tzinfo class of its own."""

    def utcoffset(self, when: Any) -> dt.timedelta:
        return dt.timedelta(hours=3, minutes=7)

    def dst(self, when: Any) -> dt.timedelta:
        return dt.timedelta(0)

    def tzname(self, when: Any) -> str:
        return "FIX"


PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
MOMENTS: list[Any] = [
    dt.datetime(2024, 10, 27, 2, 30, tzinfo=PARIS),  # ambiguous, fold 0
    dt.datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=PARIS),  # ambiguous, fold 1
    dt.datetime(2024, 3, 31, 2, 30, tzinfo=PARIS),  # in the spring gap
    dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-23, minutes=-59))),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=30))),
    dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1, seconds=1, microseconds=5))),
    dt.datetime(2024, 1, 1, 0, 0, 0, 999999, tzinfo=FixedTz()),
    dt.datetime(1, 1, 2, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1, 23, tzinfo=dt.timezone(dt.timedelta(hours=-1))),
    dt.datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    dt.datetime(999, 7, 1, tzinfo=dt.UTC),
]
NAIVE: list[Any] = [
    dt.datetime(2024, 1, 1, 12),
    dt.datetime(1, 1, 1),
    dt.datetime(1, 1, 2),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2024, 10, 27, 2, 30, fold=1),
    dt.datetime(500, 1, 1),
]
DAYS: list[Any] = [
    dt.date(1, 1, 1),
    dt.date(1, 1, 2),
    dt.date(9999, 12, 30),
    dt.date(9999, 12, 31),
    dt.date(999, 1, 1),
]


@pytest.mark.parametrize("count", [3, 6])
@pytest.mark.parametrize("start", range(0, len(MOMENTS), 2))
async def test_moments_match_create(count: int, start: int) -> None:
    rows = [
        {
            "id": i,
            "at": MOMENTS[(start + i) % len(MOMENTS)],
            "naive": NAIVE[(start + i) % len(NAIVE)],
            "day": DAYS[(start + i) % len(DAYS)],
        }
        for i in range(count)
    ]
    await compare("Time", time_fields, rows, strict_types=False)


@pytest.mark.parametrize(
    "odd",
    [
        {"naive": dt.datetime(2024, 1, 1, tzinfo=PARIS)},
        {"naive": dt.datetime(2024, 1, 1, tzinfo=FixedTz())},
        {"at": dt.datetime(2024, 1, 1)},
        {"at": dt.date(2024, 1, 1)},
        {"day": dt.datetime(2024, 1, 1, 23, tzinfo=PARIS)},
        {"at": "2024-01-01T00:00:00+05:00"},
        {"at": "2024-13-01"},
    ],
)
async def test_odd_moments_match_create(odd: dict[str, Any]) -> None:
    rows = [{"id": i, "at": MOMENTS[4], "naive": NAIVE[0], "day": DAYS[1]} for i in range(6)]
    rows[2].update(odd)
    await compare("Time", time_fields, rows, strict_types=False)


# -- keys, enums, defaults, stamps, schemas --------------------------------------------------------------------


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class BaTarget(Model):
    id = IntegerField(primary_key=True)

    _table_name = "ba_target"
    _database = "test"


class BaCodeTarget(Model):
    code = CharField(max_length=4, primary_key=True, validators=[lambda v: v.isupper()])

    _table_name = "ba_code_target"
    _database = "test"


def key_fields() -> dict[str, Any]:
    return {
        "id": UUIDField(primary_key=True),
        "mood": EnumField(enum_class=Mood, null=True),
        "target_id": ForeignKey(BaTarget, "id", null=True),
        "code_id": ForeignKey(BaCodeTarget, "code", null=True),
    }


@pytest.fixture
async def targets() -> None:
    await create_all("test", models=[BaTarget, BaCodeTarget])
    await executor.execute("test", "TRUNCATE ba_target, ba_code_target CASCADE", [])
    await BaTarget.bulk_create([{"id": i} for i in range(1, 4)])
    await BaCodeTarget.bulk_create([{"code": c} for c in ("AB", "CD")])
    await executor.execute("test", "INSERT INTO ba_code_target VALUES ('ab')", [])  # the validator refuses it


UUIDS: list[Any] = [
    "12345678-1234-5678-1234-567812345678",
    "12345678-1234-5678-1234-56781234567A",
    "{12345678-1234-5678-1234-56781234567b}",
    "urn:uuid:12345678-1234-5678-1234-56781234567c",
    "123456781234567812345678123456d8",
    uuid.UUID(int=5),
    " 12345678-1234-5678-1234-56781234567e ",
]


@pytest.mark.parametrize("count", [3, 7])
async def test_keys_and_enums_in_any_accepted_form(targets: None, count: int) -> None:
    moods: list[Any] = [Mood.HAPPY, "sad", "HAPPY", None, "SAD", Mood.SAD, "happy"]
    rows = [
        {"id": UUIDS[i], "mood": moods[i], "target_id": 1 + i % 3, "code_id": ["AB", "CD", None][i % 3]}
        for i in range(count)
    ]
    await compare("Key", key_fields, rows)


@pytest.mark.parametrize(
    "bad",
    [
        {"target_id": 2**40},
        {"target_id": True},
        {"target_id": "x"},
        {"code_id": "ABCDE"},
        {"code_id": "ab"},
        {"code_id": "A\x00"},
        {"mood": "angry"},
        {"mood": 1},
        {"id": "12345678-1234-5678-1234-5678123456789"},
        {"id": None},
    ],
)
async def test_bad_keys_and_enums_fail_like_create(targets: None, bad: dict[str, Any]) -> None:
    rows = [
        {"id": str(uuid.UUID(int=i + 1)), "mood": "sad", "target_id": 1, "code_id": "AB"} for i in range(6)
    ]
    rows[2].update(bad)
    _, error, _ = await compare("Key", key_fields, rows)
    assert error is not None


_counter = itertools.count()


def default_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "seq": IntegerField(default=lambda: next(_counter)),
        "tags": JSONBField(default=list),
        "qty": IntegerField(null=True),
        "version": VersionField(),
        "made": DateTimeField(auto_now_add=True),
        "touched": DateTimeField(auto_now=True, null=True),
    }


async def test_callable_defaults_are_called_once_per_row() -> None:
    fast, slow = pair("Default", default_fields)
    rows = [{"id": i, "qty": "7" if i == 3 else i} for i in range(6)]  # row 3 needs a conversion
    await _reset(fast)
    await _reset(slow)
    start = next(_counter) + 1
    made = await fast.bulk_create(rows)
    assert [m.seq for m in made] == list(range(start, start + 6))
    assert [m.tags for m in made] == [[]] * 6 and made[0].tags is not made[1].tags
    assert [m.version for m in made] == [1] * 6


def plain_default_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "seq": IntegerField(default=lambda: next(_counter)),
        "tags": JSONBField(default=list),
        "qty": IntegerField(null=True),
    }


@pytest.mark.parametrize("count", [1, 3])
async def test_callable_defaults_are_called_once_per_row_when_neither_copy_nor_unnest_applies(
    count: int,
) -> None:
    # every field is sent but there are too few rows for COPY, and the JSONB column rules out the unnest
    # INSERT: the checked columns go back to the per-instance path, which must reuse the drawn defaults
    fast, _ = pair("DefaultJson", plain_default_fields)
    await _reset(fast)
    rows = [{"id": i, "qty": i} for i in range(count)]
    start = next(_counter) + 1
    made = await fast.bulk_create(rows)
    assert [m.seq for m in made] == list(range(start, start + count))
    assert next(_counter) == start + count  # no draw was thrown away


def stamp_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "made": DateTimeField(auto_now_add=True),
        "touched": DateTimeField(auto_now=True, null=True),
    }


@pytest.mark.parametrize("count", [3, 6])
async def test_auto_now_values_given_are_still_checked(count: int) -> None:
    rows = [{"id": i, "touched": "garbage" if i == 1 else None, "made": None} for i in range(count)]
    _, error, log = await compare("Stamp", stamp_fields, rows, strict_types=False)
    assert error is not None and error.field == "touched" and log == []
    rows[1]["touched"] = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # valid, then replaced by the stamp
    fast, slow = pair("Stamp", stamp_fields)
    made = await fast.bulk_create(rows)
    assert made[1].touched > rows[1]["touched"] and (await slow.create(**rows[1])).touched.year > 2000


def odd_name_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True, db_column="select"),
        "name": TextField(db_column="Group By", null=True),
        "user": CharField(max_length=5, db_column='we"ird', null=True),
    }


@pytest.fixture
async def odd_schema() -> None:
    await executor.execute("test", 'CREATE SCHEMA IF NOT EXISTS "Odd Schema"', [])


@pytest.mark.parametrize("count", [3, 5])
async def test_reserved_and_quoted_names_in_another_schema(odd_schema: None, count: int) -> None:
    rows = [{"id": i, "name": f"n\t{i}", "user": "u"} for i in range(count)]
    _, error, log = await compare("Order", odd_name_fields, rows, _db_schema="Odd Schema")
    assert error is None and _kind(log) == ("COPY" if count >= 4 else "INSERT")


class Shouting(CharField):
    """A CharField subclass with its own conversion: the exact-class checker must not take it."""

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return text.upper() if text is not None else None


def custom_fields() -> dict[str, Any]:
    return {
        "id": IntegerField(primary_key=True),
        "loud": Shouting(max_length=5, null=True),
        "even": IntegerField(null=True, validators=[lambda v: v % 2 == 0]),
    }


@pytest.mark.parametrize("count", [3, 6])
async def test_custom_field_subclass_and_validators(count: int) -> None:
    rows = [{"id": i, "loud": "abc", "even": 2 * i} for i in range(count)]
    made, error, _ = await compare("Custom", custom_fields, rows)
    assert error is None and made is not None and made[0].loud == "ABC"
    rows[count - 1]["even"] = 3
    _, error, _ = await compare("Custom", custom_fields, rows)
    assert error is not None and error.field == "even"


# -- transactions, concurrency, cache --------------------------------------------------------------------------


async def test_rolled_back_transaction_keeps_nothing_and_concurrent_batches_all_land() -> None:
    fast, _ = pair("Text", text_fields)
    await _reset(fast)
    with pytest.raises(RuntimeError):
        async with transaction("test"):
            await fast.bulk_create([{"id": i, "short": "a", "body": "b"} for i in range(6)])
            await fast.bulk_create([{"id": 10 + i, "short": "a", "body": "b"} for i in range(2)])
            raise RuntimeError
    assert await fast.count() == 0
    import asyncio

    batches = [
        [{"id": 100 * b + i, "short": "c", "body": TEXTS[i % 11]} for i in range(b + 1)] for b in range(8)
    ]
    made = await asyncio.gather(*(fast.bulk_create(batch) for batch in batches))
    assert [len(m) for m in made] == [len(b) for b in batches]
    assert await fast.count() == sum(map(len, batches))


@pytest.mark.parametrize("count", [3, 6])
async def test_a_cached_row_of_a_written_key_is_dropped(count: int) -> None:
    from matrx_orm.state import StateManager

    fast, _ = pair("Text", text_fields)
    await _reset(fast)
    await fast.create(id=0, short="old", body="old")
    await fast.get(id=0)
    assert StateManager.lookup(fast, 0) is not None
    await executor.execute("test", f"DELETE FROM {_qualified(fast)}", [])
    await fast.bulk_create([{"id": i, "short": "new", "body": "new"} for i in range(count)])
    assert StateManager.lookup(fast, 0) is None
    assert (await fast.get(id=0)).short == "new"
