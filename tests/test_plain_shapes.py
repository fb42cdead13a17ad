"""Plain queries find their statement without the walk (sql/compiler/plain.py): a plain query's statement and
parameters are the ones the walk makes, queries of one key with new values read their own rows, queries that
differ in what changes the SQL never share a statement, and errors are the walk's own."""

from __future__ import annotations

import math
from typing import Any

import pytest
from advanced_models import AdvCustomer, AdvOrder, customer_rows, load, order_rows
from relation_models import RPost

from matrx_orm import ArrayField, CharField, F, FloatField, IntegerField, Model, Q, connection, create_all
from matrx_orm.db import executor
from matrx_orm.exceptions import UnknownFieldError, UnknownLookupError, ValidationError
from matrx_orm.sql.compiler import cache as compiler
from matrx_orm.sql.compiler.plain import plain_shape

ORDERS = order_rows()
CUSTOMERS = customer_rows()


@pytest.fixture(autouse=True)
async def data(db: str) -> None:
    await load(db)


def walked(qs: Any, names: tuple[str, ...], kind: str) -> tuple[str, list[Any]]:
    """SQL and parameters from the walk alone (empty caches before and after)."""
    compiler.clear_cache()
    statement, params = qs._select(names, kind)
    compiler.clear_cache()
    return statement.sql, params


PLAIN = [
    (AdvOrder.filter(region="north"), ("id", "qty"), "rows"),
    (AdvOrder.filter(region="north", qty__gt=3).order_by("-id")[2:7], ("id",), "values"),
    (AdvOrder.filter(shipped_at=None), ("id",), "values"),
    (AdvOrder.filter(shipped_at__isnull=False, status__in=["paid", "pending"]), ("id",), "values"),
    (AdvOrder.filter(status__in=[]), ("id",), "values"),
    (AdvOrder.filter(Q(region="east") | Q(qty__lte=2), ~Q(status="paid")), ("id",), "values"),
    (AdvOrder.exclude(region__startswith="no").filter(amount__range=(5, 30)), ("id", "amount"), "values"),
    (AdvOrder.filter(data__settings__theme="dark").order_by("qty", "-id"), ("id",), "values"),
    (AdvOrder.filter(status__icontains="PAI")[:3], ("id",), "values"),
    (AdvOrder.filter(qty__gte=4), (), "count"),
    (AdvOrder.filter(qty=100), (), "exists"),
    (AdvCustomer.filter(nickname__iexact="NICK3"), ("id", "name"), "rows"),
    (RPost.filter(author__isnull=False, title__endswith="5"), ("id",), "values"),
]


@pytest.mark.parametrize("index", range(len(PLAIN)))
def test_a_plain_query_gets_the_walks_statement_and_parameters(index: int) -> None:
    qs, names, kind = PLAIN[index]
    reference = walked(qs, names, kind)
    shape = plain_shape(qs._spec, names, kind)
    assert shape is not None
    first, params = qs._select(names, kind)  # the walk, which keeps the statement for the key
    assert compiler.plans[shape.key] is first
    again, params_again = qs._select(names, kind)  # found by its key
    assert again is first and params_again == params
    assert (first.sql, params) == reference


def test_queries_that_are_not_plain_have_no_plain_shape() -> None:
    names = ("id",)
    for qs in (
        RPost.filter(author__name="x"),  # crosses a foreign key: an EXISTS subquery
        AdvOrder.filter(qty__gt=F("customer_id")),  # an expression value
        AdvOrder.filter(qty=1).select_for_update(),
        AdvOrder.filter(qty=1).distinct(),
        AdvOrder.all().annotate(n=F("qty")),
    ):
        assert plain_shape(qs._spec, names, "values") is None


async def test_one_key_new_values_read_their_own_rows() -> None:
    for region in ("north", "south", "east", "nowhere"):
        for qty in (1, 4, 9):
            got = (
                await AdvOrder.filter(region=region, qty__gte=qty).order_by("id").values_list("id", flat=True)
            )
            assert got == [o["id"] for o in ORDERS if o["region"] == region and o["qty"] >= qty]
    for start, stop in ((0, 3), (5, 9), (30, 60)):
        got = await AdvOrder.all().order_by("-id")[start:stop].values_list("id", flat=True)
        assert got == sorted((o["id"] for o in ORDERS), reverse=True)[start:stop]


async def test_what_changes_the_sql_is_part_of_the_key() -> None:
    """None against a value, an empty list, isnull's direction, a slice, an ordering: each its own statement,
    each reading its own rows, in either order of first use."""
    queries: list[tuple[Any, list[int]]] = [
        (AdvOrder.filter(shipped_at=None), [o["id"] for o in ORDERS if o["shipped_at"] is None]),
        (AdvOrder.filter(shipped_at=ORDERS[0]["shipped_at"]), [1]),
        (AdvOrder.filter(status__in=[]), []),
        (AdvOrder.filter(status__in=["refunded"]), [o["id"] for o in ORDERS if o["status"] == "refunded"]),
        (AdvOrder.filter(shipped_at__isnull=True), [o["id"] for o in ORDERS if o["shipped_at"] is None]),
        (AdvOrder.filter(shipped_at__isnull=False), [o["id"] for o in ORDERS if o["shipped_at"] is not None]),
        (AdvOrder.exclude(qty=1), [o["id"] for o in ORDERS if o["qty"] != 1]),
        (AdvOrder.filter(qty=1), [o["id"] for o in ORDERS if o["qty"] == 1]),
    ]
    for order in (queries, queries[::-1], queries):
        for qs, wanted in order:
            assert sorted(await qs.values_list("id", flat=True)) == wanted
    ids = sorted(o["id"] for o in ORDERS)
    assert await AdvOrder.all().order_by("id")[:2].values_list("id", flat=True) == ids[:2]
    assert await AdvOrder.all().order_by("-id")[:2].values_list("id", flat=True) == ids[::-1][:2]
    assert await AdvOrder.all().order_by("id")[2:].values_list("id", flat=True) == ids[2:]


async def test_errors_are_the_walks_after_the_key_is_known() -> None:
    assert len(await AdvOrder.filter(qty=1)) == sum(o["qty"] == 1 for o in ORDERS)
    for _ in range(2):
        with pytest.raises(ValidationError) as caught:
            await AdvOrder.filter(qty="many")
        assert caught.value.details.get("filter") == "qty"
        with pytest.raises(UnknownFieldError):
            AdvOrder.filter(qtty=1)
        with pytest.raises(UnknownLookupError):
            AdvOrder.filter(qty__near=1)


def test_checked_names_do_not_skip_what_the_check_looks_at() -> None:
    """A condition's names are checked once per key; values that are expressions and filters across foreign
    keys are still checked where they are written."""
    assert AdvOrder.filter(qty=1)._spec.where
    assert AdvOrder.filter(qty=2)._spec.where  # names known
    with pytest.raises(UnknownFieldError):
        AdvOrder.filter(qty=F("nope"))
    assert RPost.filter(author__name="a")._spec.where
    with pytest.raises(ValidationError):
        RPost.filter(author__name=object())


class PlainReading(Model):
    id = IntegerField(primary_key=True)
    value = FloatField(null=True)

    _table_name = "plain_reading"
    _database = "test"


async def test_a_key_whose_values_the_walk_sees_differently_keeps_taking_the_walk(db: str) -> None:
    """NaN is not equal to itself, so a NaN converted anew (from the text "nan") cannot be shown to be the value
    the walk read: the key is marked for the walk, and its queries still read the right rows."""
    await create_all(db, models=[PlainReading])
    await executor.execute(db, 'TRUNCATE "plain_reading"', [])
    await PlainReading.bulk_create([{"id": 1, "value": math.nan}, {"id": 2, "value": 1.5}])
    qs = PlainReading.filter(value="nan")
    assert [r.id for r in await qs] == [1]
    shape = plain_shape(qs._spec, PlainReading._meta.field_names, "rows")
    assert shape is not None and compiler.plans[shape.key] is None
    assert [r.id for r in await PlainReading.filter(value=1.5)] == [2]
    assert [r.id for r in await PlainReading.filter(value=math.nan)] == [1]


class PlainTagged(Model):
    id = IntegerField(primary_key=True)
    tags = ArrayField(CharField(max_length=10), null=True)

    _table_name = "plain_tagged"
    _database = "test"


async def test_a_value_that_can_be_read_once_is_read_once(db: str) -> None:
    """A generator, ``map`` or ``iter`` as a filter value is read into a tuple when the filter is written:
    checking, compiling and running the query read it more than once. Cold (empty caches) and warm."""
    await create_all(db, models=[PlainTagged])
    await executor.execute(db, 'TRUNCATE "plain_tagged"', [])
    await PlainTagged.bulk_create(
        [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": ["c"]}, {"id": 3, "tags": []}]
    )
    low_qty = sorted(o["id"] for o in ORDERS if 2 <= o["qty"] <= 3)
    for _ in range(2):
        compiler.clear_cache()
        for _warm in range(2):
            assert sorted(
                await PlainTagged.filter(tags__contains=(t for t in ["b"])).values_list("id", flat=True)
            ) == [1]
            assert sorted(
                await PlainTagged.filter(tags__overlap=map(str.lower, ["C", "A"])).values_list(
                    "id", flat=True
                )
            ) == [1, 2]
            assert (
                sorted(await AdvOrder.filter(qty__range=iter((2, 3))).values_list("id", flat=True)) == low_qty
            )
            assert sorted(
                await AdvOrder.filter(id__in=(i for i in (3, 5, 99))).values_list("id", flat=True)
            ) == [3, 5]
    qs = AdvOrder.filter(id__in=(i for i in (7,)))
    assert await qs.values_list("id", flat=True) == [7]
    assert await qs.values_list("id", flat=True) == [7]  # the same builder again


class PlanRow(Model):
    id = IntegerField(primary_key=True)
    rank = IntegerField(index=True)

    _table_name = "plan_row"
    _database = "test"


async def _plan_rows(db: str, count: int) -> None:
    """``plan_row`` holding ranks 1 to ``count`` (id = rank)."""
    await create_all(db, models=[PlanRow])
    await executor.execute(db, 'TRUNCATE "plan_row"', [])
    await executor.execute(
        db, 'INSERT INTO "plan_row" SELECT g, g FROM generate_series(1, $1::int) AS g', [count]
    )
    await executor.execute(db, 'ANALYZE "plan_row"', [])


async def test_a_sliced_query_keeps_its_plan_from_run_to_run(db: str) -> None:
    """PostgreSQL plans a prepared statement once for all its runs only when its parameters cannot change the
    plan's cost. A LIMIT written as a parameter does (an unknown LIMIT is costed as a tenth of the rows), so
    ``order_by(...)[:n]`` over an index was planned again on every run; with the limit in the SQL, runs after
    the fifth use the one generic plan (``pg_prepared_statements`` counts them on the connection)."""
    await _plan_rows(db, 5000)
    async with connection(db):
        for start in range(100, 108):
            got = await PlanRow.filter(rank__gte=start).order_by("rank")[:5].values_list("rank", flat=True)
            assert got == list(range(start, start + 5))
        plans = await PlanRow.raw_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE $1",
            "SELECT plan_row.rank %",
        )
    assert len(plans) == 1
    assert plans[0]["generic_plans"] >= 3 and plans[0]["custom_plans"] <= 5


async def test_limits_and_offsets_reach_bigint(db: str) -> None:
    """LIMIT and OFFSET are bigints in PostgreSQL: values past 2**31 (once sent as int4 and refused by the
    driver) read the rows they ask for."""
    await _plan_rows(db, 50)
    ranks = PlanRow.all().order_by("rank")
    assert await ranks.limit(2**31).values_list("rank", flat=True) == list(range(1, 51))
    assert await ranks.limit(2**63 - 1)[45:].values_list("rank", flat=True) == [46, 47, 48, 49, 50]
    assert await ranks[2**31 :].values_list("rank", flat=True) == []
    assert await ranks.offset(2**63 - 1).values_list("rank", flat=True) == []


async def test_first_of_an_empty_slice_is_none(db: str) -> None:
    """``first()`` keeps a slice's limit when it is below one (it used to ask for one row whatever the slice)."""
    await _plan_rows(db, 20)
    ranks = PlanRow.filter(rank__gte=5).order_by("rank")
    for empty in (ranks[:0], ranks[3:3], ranks.limit(0), ranks[:2][5:], PlanRow.all()[:0]):
        assert await empty.first() is None
        assert await empty.last() is None
    assert (await ranks[3:9].first()).rank == 8  # type: ignore[union-attr]
    assert (await ranks[3:9].last()).rank == 13  # type: ignore[union-attr]
    assert (await PlanRow.all()[19:].first()).rank == 20  # type: ignore[union-attr]
