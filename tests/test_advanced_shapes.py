"""The per-shape compiled cache of the advanced SELECT (query/shapes.py, query/select.py): repeated shapes
bind new values and give the right rows, different shapes never share SQL, errors stay the same."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from advanced_models import AdvCustomer, AdvOrder, customer_rows, load, order_rows

from matrx_orm import (
    Case,
    Coalesce,
    Count,
    F,
    Lag,
    Lower,
    OuterRef,
    ParameterError,
    Q,
    QueryError,
    Round,
    RowNumber,
    Subquery,
    Sum,
    Upper,
    Value,
    When,
    Window,
    transaction,
)
from matrx_orm.exceptions import ValidationError
from matrx_orm.query import compiler, select
from matrx_orm.query.expressions import Resolver

ORDERS = order_rows()
CUSTOMERS = customer_rows()


@pytest.fixture(autouse=True)
async def data(db: str) -> None:
    await load(db)


def resolver_path(qs: Any, names: tuple[str, ...], kind: str = "values") -> tuple[str, list[Any]]:
    """SQL and parameters as the SQLAlchemy path (resolve every time) makes them."""
    values: list[Any] = []
    statement_kind = kind if kind in ("count", "exists") else "rows"
    statement = select.select_statement(
        qs._state, Resolver(qs._state.model, values), names, statement_kind, distance=kind == "rows"
    )
    compiled = compiler.compile_statement(statement)
    return compiled.sql, compiled.params(values)


# -- the shape walk agrees with the resolver ----------------------------------------------------------------------

SHAPED_QUERIES = [
    (AdvOrder.filter(region="north").annotate(low=Lower("status")), ("id", "low")),
    (AdvOrder.all().annotate(x=Coalesce("status", Value("none"))).filter(x="paid"), ("id", "x")),
    (AdvOrder.all().annotate(x=F("qty") * Value(3) + F("id")).filter(x__gt=40).order_by("-x"), ("id", "x")),
    (
        AdvOrder.filter(qty__gte=2)
        .group_by("region")
        .annotate(total=Sum("amount"), n=Count("id", filter=Q(status="paid") | ~Q(qty__lt=3)))
        .filter(total__gt=Decimal("10"))
        .order_by("-total"),
        ("region", "total", "n"),
    ),
    (
        AdvOrder.all().annotate(
            size=Case(When(amount__gte=30, then=Value("large")), default=Value("small")),
            r=Round(F("amount"), 1),
        ),
        ("id", "size", "r"),
    ),
    (
        AdvOrder.filter(customer_id=3).annotate(
            rank=Window(RowNumber(), partition_by="region", order_by="-amount"),
            prev=Window(Lag("qty", 2, default=Value(0)), order_by="id"),
            running=Window(Sum("qty"), order_by="id", frame=("rows", -2, 1)),
        ),
        ("id", "rank", "prev", "running"),
    ),
    (AdvOrder.all().annotate(n=Count("id")).order_by("region")[1:3], ("region", "n")),
    (AdvOrder.all().distinct("customer_id").order_by("customer_id", "-created_at"), ("id", "customer_id")),
]


@pytest.mark.parametrize("index", range(len(SHAPED_QUERIES)))
def test_cached_shape_gives_the_resolver_sql_and_parameters(index: int) -> None:
    qs, names = SHAPED_QUERIES[index]
    before = select.shape_mismatches
    first, params = qs._select(names, "values")
    again, params_again = qs._select(names, "values")
    assert again is first and params_again == params  # the second call is a cache hit
    assert (first.sql, params) == resolver_path(qs, names)
    assert select.shape_mismatches == before


def test_values_stay_bound_in_cached_shapes() -> None:
    evil = "'; DROP TABLE adv_order; --"
    qs = AdvOrder.filter(status=evil[:20]).annotate(x=Coalesce("status", Value(evil)), low=Lower(Value(evil)))
    statement, params = qs._select(("id", "x", "low"), "values")
    assert "DROP" not in statement.sql
    assert params.count(evil) == 2 and params[-1] == evil[:20]


# -- same shape, new values ---------------------------------------------------------------------------------------


async def test_aggregate_same_shape_new_values() -> None:
    await AdvOrder.filter(region="east").aggregate(total=Sum("amount"), n=Count("id"))
    size = len(compiler._cache)
    for region in ("north", "south", "east", "nowhere"):
        got = await AdvOrder.filter(region=region).aggregate(total=Sum("amount"), n=Count("id"))
        rows = [o for o in ORDERS if o["region"] == region]
        assert got == {"total": sum(o["amount"] for o in rows) if rows else None, "n": len(rows)}
    assert len(compiler._cache) == size  # no new statement compiled for the other regions


async def test_having_threshold_and_limit_change_between_calls() -> None:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for o in ORDERS:
        totals[o["region"]] += o["amount"]
    for threshold in (Decimal(0), Decimal(300), Decimal(10_000)):
        for limit in (1, 3):
            rows = await (
                AdvOrder.all()
                .group_by("region")
                .annotate(total=Sum("amount"))
                .filter(total__gt=threshold)
                .order_by("-total")[:limit]
                .values("region", "total")
            )
            expected = sorted(((r, t) for r, t in totals.items() if t > threshold), key=lambda p: -p[1])
            assert [(r["region"], r["total"]) for r in rows] == expected[:limit]


async def test_window_frame_offsets_are_values() -> None:
    ordered = sorted(ORDERS, key=lambda o: o["id"])
    for back in (1, 3):
        rows = (
            await AdvOrder.all()
            .annotate(running=Window(Sum("qty"), order_by="id", frame=("rows", -back, 0)))
            .values_list("id", "running")
        )
        expected = [
            (o["id"], sum(p["qty"] for p in ordered[max(0, i - back) : i + 1])) for i, o in enumerate(ordered)
        ]
        assert sorted(rows) == expected


# -- different shapes do not collide ------------------------------------------------------------------------------


async def test_function_arguments_and_functions_are_part_of_the_shape() -> None:
    names = await AdvCustomer.all().order_by("id").annotate(x=Lower("name")).values_list("x", flat=True)
    nicks = await AdvCustomer.all().order_by("id").annotate(x=Lower("nickname")).values_list("x", flat=True)
    upper = await AdvCustomer.all().order_by("id").annotate(x=Upper("name")).values_list("x", flat=True)
    assert names == [c["name"].lower() for c in CUSTOMERS]
    assert nicks == [c["nickname"] and c["nickname"].lower() for c in CUSTOMERS]
    assert upper == [c["name"].upper() for c in CUSTOMERS]


async def test_aliases_are_part_of_the_shape() -> None:
    a = await AdvCustomer.filter(id=1).annotate(a=Lower("name")).values("id", "a")
    b = await AdvCustomer.filter(id=1).annotate(b=Lower("name")).values("id", "b")
    assert a == [{"id": 1, "a": "customer1"}] and b == [{"id": 1, "b": "customer1"}]
    agg_a = await AdvOrder.filter(region="north").aggregate(a=Count("id"))
    agg_b = await AdvOrder.filter(region="north").aggregate(b=Count("id"))
    assert agg_a == {"a": agg_b["b"]} and agg_a["a"] == sum(o["region"] == "north" for o in ORDERS)


async def test_value_constants_that_change_the_sql() -> None:
    by_id = {c["id"]: c for c in CUSTOMERS}
    for default in ("anon", "someone", None):
        rows = await AdvCustomer.all().annotate(x=Coalesce("nickname", Value(default))).values_list("id", "x")
        assert dict(rows) == {
            i: c["nickname"] if c["nickname"] is not None else default for i, c in by_id.items()
        }
    ints = await AdvOrder.filter(id=1).annotate(x=F("qty") + Value(1)).values_list("x", flat=True)
    floats = await AdvOrder.filter(id=1).annotate(x=F("qty") + Value(1.5)).values_list("x", flat=True)
    assert ints == [ORDERS[0]["qty"] + 1] and isinstance(ints[0], int)
    assert floats == [ORDERS[0]["qty"] + 1.5] and isinstance(floats[0], float)
    whole = await AdvOrder.filter(id=3).annotate(r=Round("amount")).values_list("r", flat=True)
    tenth = await AdvOrder.filter(id=3).annotate(r=Round("amount", 1)).values_list("r", flat=True)
    assert whole == [round(ORDERS[2]["amount"])] and tenth == [round(ORDERS[2]["amount"], 1)]


async def test_nested_q_in_aggregate_filter() -> None:
    cases = [
        (Q(status="paid") | Q(region="north"), lambda o: o["status"] == "paid" or o["region"] == "north"),
        (Q(status="paid") & Q(region="north"), lambda o: o["status"] == "paid" and o["region"] == "north"),
        (~(Q(status="paid") | Q(qty__gt=5)), lambda o: not (o["status"] == "paid" or o["qty"] > 5)),
        (
            Q(Q(status="refunded") | Q(qty=1), region="south"),
            lambda o: o["region"] == "south" and (o["status"] == "refunded" or o["qty"] == 1),
        ),
    ]
    for condition, predicate in cases:
        got = await AdvOrder.all().aggregate(
            n=Count("id", filter=condition), d=Count("customer_id", distinct=True)
        )
        assert got == {"n": sum(map(predicate, ORDERS)), "d": len({o["customer_id"] for o in ORDERS})}


async def test_ordering_direction_is_part_of_the_shape() -> None:
    up = await AdvOrder.all().annotate(n=Count("id")).order_by("region").values_list("region", flat=True)
    down = await AdvOrder.all().annotate(n=Count("id")).order_by("-region").values_list("region", flat=True)
    assert up == sorted({o["region"] for o in ORDERS}) and down == up[::-1]


# -- errors are unchanged -----------------------------------------------------------------------------------------


async def test_bad_filter_value_still_fails_after_the_shape_is_cached() -> None:
    qs = AdvOrder.all().annotate(low=Lower("status"))
    assert len(await qs.filter(qty=1).values("id", "low")) == sum(o["qty"] == 1 for o in ORDERS)
    for _ in range(2):
        with pytest.raises(ValidationError):
            await qs.filter(qty="many").values("id", "low")


async def test_distinct_on_order_check_distinguishes_names_from_expressions() -> None:
    good = AdvOrder.all().distinct("customer_id").order_by("customer_id", "-created_at")
    assert len(await good.values("id")) == len({o["customer_id"] for o in ORDERS})
    with pytest.raises(ParameterError):
        await (
            AdvOrder.all()
            .distinct("customer_id")
            .order_by(F("customer_id").asc(), "-created_at")
            .values("id")
        )


async def test_lock_refused_for_windowed_query_whatever_is_cached() -> None:
    async with transaction():
        plain = AdvOrder.filter(region="north").order_by("id").select_for_update()
        assert len(await plain.values("id")) == sum(o["region"] == "north" for o in ORDERS)
        windowed = plain.annotate(r=Window(RowNumber(), order_by="id"))
        for _ in range(2):
            with pytest.raises(QueryError):
                await windowed.values("id")


async def test_subquery_annotations_still_use_the_resolver() -> None:
    for status in ("paid", "refunded"):
        count = AdvOrder.filter(customer_id=OuterRef("id"), status=status).group_by("customer_id")
        rows = await (
            AdvCustomer.all()
            .annotate(n=Subquery(count.annotate(n=Count("id")), column="n"), low=Lower("name"))
            .order_by("id")
            .values("id", "n", "low")
        )
        counts: dict[int, int] = defaultdict(int)
        for o in ORDERS:
            counts[o["customer_id"]] += o["status"] == status
        assert rows == [
            {"id": c["id"], "n": counts[c["id"]] or None, "low": c["name"].lower()} for c in CUSTOMERS
        ]


# -- values() / values_list() conversion --------------------------------------------------------------------------


async def test_values_convert_fields_and_leave_annotations(db: str) -> None:
    from example_models import ALL, Author, Mood
    from test_crud import _quoted

    from matrx_orm import create_all
    from matrx_orm.query import executor

    await create_all(db, models=ALL)
    await executor.execute(db, f"TRUNCATE {_quoted(Author)} CASCADE", [])
    moods = [Mood.HAPPY, None, Mood.SAD]
    await Author.bulk_create([{"name": f"m{i}", "mood": mood, "age": i} for i, mood in enumerate(moods)])
    qs = Author.all().order_by("age").annotate(up=Upper("name"))
    assert await qs.values("mood", "up") == [{"mood": m, "up": f"M{i}"} for i, m in enumerate(moods)]
    assert await qs.values_list("up", "mood") == [(f"M{i}", m) for i, m in enumerate(moods)]
    assert await qs.values_list("mood", flat=True) == moods
    assert await Author.filter(age__lt=2).order_by("age").values_list("mood", flat=True) == moods[:2]
