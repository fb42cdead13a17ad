"""Numbers a column cannot hold are a ValidationError naming model, field and value, raised before any SQL.

Covers DecimalField (too many digits, 1e400, 1e300, NaN/Infinity with ``max_digits``, the limits of a plain
NUMERIC), FloatField (overflow / underflow of double precision and REAL), the integer sizes and MONEY beyond
any locale's range, on every path a value reaches the database: create, save, update, filter lookups,
bulk_create, bulk_update, upsert, update_where and the manager's get_or_create.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

from matrx_orm import (
    BaseManager,
    BigIntegerField,
    DecimalField,
    FloatField,
    IntegerField,
    Model,
    MoneyField,
    SmallIntegerField,
    ValidationError,
    capture_queries,
    create_all,
)
from matrx_orm.db import executor


class BvNumber(Model):
    id = IntegerField(primary_key=True)
    price = DecimalField(max_digits=6, decimal_places=2, null=True)
    amount = DecimalField(null=True)
    rounded = DecimalField(decimal_places=2, null=True)
    ratio = FloatField(null=True)
    single = FloatField(precision=24, null=True)
    qty = IntegerField(null=True)
    small = SmallIntegerField(null=True)
    big = BigIntegerField(null=True)
    cash = MoneyField(null=True)

    _table_name = "bv_number"
    _database = "test"


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=[BvNumber])
    await executor.execute(db, "TRUNCATE bv_number", [])


async def stored(column: str = "id") -> list[Any]:
    rows = await executor.fetch("test", f"SELECT {column}::text AS v FROM bv_number ORDER BY id", [])
    return [row["v"] for row in rows]


@contextmanager
def refused(field: str, shown: str, *, reads: bool = False) -> Iterator[None]:
    """Expect a ValidationError naming BvNumber, ``field`` and ``shown`` (the value), and no SQL at all
    (with ``reads``: no SQL but SELECTs)."""
    with capture_queries() as log, pytest.raises(ValidationError) as info:
        yield
    error = info.value
    assert error.field == field and error.model == "BvNumber"
    message = str(error)
    assert "BvNumber" in message and f"'{field}'" in message and shown in message, message
    assert [s for s in log.statements if not (reads and s.startswith("SELECT"))] == []


HUGE = 10**400
#: (field, value, text the message shows) a column cannot hold
BAD: list[tuple[str, Any, str]] = [
    ("price", 10**30, "1000000000000000000000000000000"),
    ("price", "1e400", "'1e400'"),
    ("price", 1e300, "1e+300"),
    ("price", Decimal("1e999999999"), "Decimal('1E+999999999')"),
    ("price", HUGE, "10000000000"),
    ("price", Decimal("Infinity"), "Infinity"),
    ("price", Decimal("-Infinity"), "-Infinity"),
    ("price", Decimal("NaN"), "NaN"),
    ("price", math.inf, "Infinity"),
    ("amount", Decimal("1e131072"), "1E+131072"),
    ("amount", Decimal("1e-16384"), "1E-16384"),
    ("rounded", Decimal("1e131072"), "1E+131072"),
    ("ratio", HUGE, "10000000000"),
    ("ratio", "1e400", "'1e400'"),
    ("ratio", Decimal("-1e400"), "Decimal('-1E+400')"),
    ("ratio", "1e-400", "'1e-400'"),
    ("single", HUGE, "10000000000"),
    ("single", 1e300, "1e+300"),
    ("qty", 2**31, "2147483648"),
    ("qty", -(2**31) - 1, "-2147483649"),
    ("qty", Decimal("1e400"), "Decimal('1E+400')"),
    ("qty", 1e30, "1e+30"),
    ("qty", "9" * 5000, "'9999"),
    ("small", 2**15, "32768"),
    ("small", "-32769", "-32769"),
    ("big", 2**63, "9223372036854775808"),
    ("big", -(2**63) - 1, "-9223372036854775809"),
    ("big", HUGE, "10000000000"),
    ("cash", 10**30, "1000000000000000000000000000000"),
    ("cash", "$1e400", "'$1e400'"),
]
BAD_IDS = [f"{field}={shown[:20]}" for field, _, shown in BAD]


@pytest.mark.parametrize(("field", "value", "shown"), BAD, ids=BAD_IDS)
async def test_create_refuses_before_sql(field: str, value: Any, shown: str) -> None:
    with refused(field, shown):
        await BvNumber.create(id=1, **{field: value})
    assert await stored() == []


@pytest.mark.parametrize(("field", "value", "shown"), BAD, ids=BAD_IDS)
@pytest.mark.parametrize("lookup", ["", "__gt", "__lte", "__ne", "__in", "__range"])
async def test_filters_refuse_before_sql(field: str, value: Any, shown: str, lookup: str) -> None:
    argument: Any = [value] if lookup == "__in" else (0, value) if lookup == "__range" else value
    with refused(field, shown):
        await BvNumber.filter(**{field + lookup: argument}).all()


@pytest.mark.parametrize(("field", "value", "shown"), BAD, ids=BAD_IDS)
@pytest.mark.parametrize("rows", [1, 5])  # a few rows take the unnest INSERT, more the COPY path
async def test_bulk_create_refuses_before_sql(field: str, value: Any, shown: str, rows: int) -> None:
    data = [{"id": i, "qty": i} for i in range(rows)]
    data[-1][field] = value
    with refused(field, shown):
        await BvNumber.bulk_create(data)
    assert await stored() == []


@pytest.mark.parametrize(("field", "value", "shown"), BAD, ids=BAD_IDS)
async def test_updates_refuse_before_sql(field: str, value: Any, shown: str) -> None:
    row = await BvNumber.create(id=1, qty=7, price=1)
    before = await stored("bv_number")
    with refused(field, shown):
        await row.update(**{field: value})
    with refused(field, shown):
        await BvNumber.filter(id=1).update(**{field: value})
    with refused(field, shown):
        await BvNumber.update_where({"id": 1}, **{field: value})
    setattr(row, field, value)
    with refused(field, shown):
        await row.save()
    with refused(field, shown):
        await BvNumber.bulk_update([row], [field])
    assert await stored("bv_number") == before


@pytest.mark.parametrize(("field", "value", "shown"), BAD, ids=BAD_IDS)
async def test_upserts_and_get_or_create_refuse_before_sql(field: str, value: Any, shown: str) -> None:
    with refused(field, shown):
        await BvNumber.upsert({"id": 1, field: value}, conflict_fields=["id"])
    with refused(field, shown):
        await BvNumber.bulk_upsert([{"id": 2, field: 0}, {"id": 1, field: value}], conflict_fields=["id"])
    with refused(field, shown, reads=True):  # looks for the row first, then refuses to INSERT it
        await BaseManager(BvNumber).get_or_create(id=1, defaults={field: value})
    with refused(field, shown):
        await BaseManager(BvNumber).get_or_create(**{field: value})
    assert await stored() == []


def test_the_shown_value_is_shortened() -> None:
    with pytest.raises(ValidationError) as info:
        BvNumber._meta.fields["price"].to_db(10**5000)  # repr() of such an int raises ValueError
    message = str(info.value)
    assert "<int of about 5001 digits>" in message and len(message) < 300
    with pytest.raises(ValidationError) as info:
        BvNumber._meta.fields["ratio"].to_db(HUGE)
    assert "..." in str(info.value) and len(str(info.value)) < 300


# -- values that fit keep working ----------------------------------------------------------------------------


async def test_values_at_the_limits_are_stored() -> None:
    await BvNumber.create(
        id=1,
        price=Decimal("1234.56"),
        amount=Decimal("9.9e131071"),
        rounded=10**30,
        ratio=1e308,
        single=3.0e38,
        qty=2**31 - 1,
        small=-(2**15),
        big=2**63 - 1,
        cash="-$1,234.56",
    )
    await BvNumber.create(id=2, price="9999.994", amount=Decimal("1e-16383"), ratio="-inf", qty="-2147483648")
    await BvNumber.create(id=3, price=Decimal("-0.004"), amount=Decimal("NaN"), ratio=5e-324)
    assert await stored("price") == ["1234.56", "9999.99", "0.00"]
    assert await stored("rounded") == ["1" + "0" * 30 + ".00", None, None]
    assert await stored("ratio") == ["1e+308", "-Infinity", "5e-324"]
    assert await stored("big") == [str(2**63 - 1), None, None]
    money = await executor.fetch("test", "SELECT '-1234.56'::money::text AS v", [])  # as lc_monetary shows it
    assert await stored("cash") == [money[0]["v"], None, None]
    amount = await stored("amount")
    assert amount[0].startswith("99") and len(amount[0]) == 131072 and amount[2] == "NaN"
    assert await BvNumber.count(price__lt=Decimal("9999.99"), ratio__gt="-1e300") == 2


async def test_extra_places_are_rounded_like_before() -> None:
    made = await BvNumber.create(id=1, price="1.005", rounded="123456.789")
    assert made.price == Decimal("1.01") and made.rounded == Decimal("123456.79")
    assert await BvNumber.count(price=Decimal("1.0049")) == 0
    assert await BvNumber.count(price="1.005") == 1
    with refused("price", "10000.00"):  # rounding up past max_digits is still refused
        await BvNumber.create(id=2, price="9999.995")
    assert await stored() == ["1"]


async def test_plain_numeric_takes_infinity_but_declared_precision_does_not() -> None:
    await BvNumber.create(id=1, amount=Decimal("Infinity"), rounded=Decimal("-Infinity"))
    assert await stored("amount") == ["Infinity"] and await stored("rounded") == ["-Infinity"]
    with refused("price", "NUMERIC(6, 2) cannot hold Infinity"):
        await BvNumber.create(id=2, price="Infinity")
    assert await stored() == ["1"]
