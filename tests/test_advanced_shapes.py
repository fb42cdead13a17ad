"""The per-shape compiled SQL cache (sql/compiler/select.py, sql/compiler/cache.py): a cached statement is
the one a fresh build makes, repeated shapes bind new values and give the right rows, different shapes
never share SQL, errors stay the same."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from advanced_models import AdvCategory, AdvCustomer, AdvOrder, customer_rows, load, order_rows
from relation_models import RComment, RPost, RUser

from matrx_orm import (
    Case,
    Coalesce,
    Count,
    Exists,
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
from matrx_orm.exceptions import UnknownFieldError, ValidationError
from matrx_orm.sql.compiler import cache as compiler

ORDERS = order_rows()
CUSTOMERS = customer_rows()


@pytest.fixture(autouse=True)
async def data(db: str) -> None:
    await load(db)


def fresh_build(qs: Any, names: tuple[str, ...], kind: str = "values") -> tuple[str, list[Any]]:
    """SQL and parameters of the statement built and compiled anew (an empty cache)."""
    compiler.clear_cache()
    statement, params = qs._select(names, kind)
    compiler.clear_cache()
    return statement.sql, params


# -- a cached statement is the one a fresh build makes ----------------------------------------------------------------------

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
    # subqueries, relation filters and set operations
    (
        AdvCustomer.filter(tenant=2)
        .annotate(
            n=Subquery(
                AdvOrder.filter(customer_id=OuterRef("id"), status="paid")
                .group_by("customer_id")
                .annotate(n=Count("id")),
                column="n",
            ),
            low=Lower("name"),
        )
        .order_by("id"),
        ("id", "n", "low"),
    ),
    (
        AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("id"), qty__gt=3)), is_active=True)
        .annotate(low=Lower("name"))
        .order_by("-id")[:3],
        ("id", "low"),
    ),
    (
        AdvCustomer.filter(~Exists(AdvOrder.filter(customer_id=OuterRef("id"), region="east"))).annotate(
            up=Upper("name")
        ),
        ("id", "up"),
    ),
    (
        AdvCustomer.filter(id__in=AdvOrder.filter(region="north", qty__lt=4).select("customer_id")).annotate(
            low=Lower("nickname")
        ),
        ("id", "low"),
    ),
    (  # nested: EXISTS over orders whose id is IN a third SELECT, with values at every level
        AdvCustomer.filter(
            Exists(
                AdvOrder.filter(
                    customer_id=OuterRef("id"),
                    id__in=AdvOrder.filter(status="paid", amount__gt=Decimal("5")).select("id"),
                ).filter(qty__gte=2)
            ),
            tenant__lt=9,
        ).annotate(low=Lower("name")),
        ("id", "low"),
    ),
    (  # correlated over its own table: the subquery reads an alias
        AdvCategory.filter(Exists(AdvCategory.filter(parent_id=OuterRef("id"), name__startswith="c")))
        .annotate(low=Lower("name"))
        .order_by("id"),
        ("id", "low"),
    ),
    (  # OuterRef to an annotation of the enclosing query: its values are bound inside the subquery
        AdvCustomer.all()
        .annotate(t=F("tenant") + Value(1))
        .annotate(
            n=Subquery(AdvOrder.filter(qty=OuterRef("t"), region="north").annotate(c=Count("id")), "c")
        ),
        ("id", "t", "n"),
    ),
    (
        AdvOrder.filter(region="north").union(AdvOrder.filter(qty__gt=3), all=True).order_by("-id")[1:6],
        ("id", "qty"),
    ),
    (
        AdvOrder.filter(qty__gt=1)
        .intersection(AdvOrder.filter(status="paid"))
        .difference(AdvOrder.filter(region="east")),
        ("id", "region"),
    ),
    (RPost.filter(author__name="user3", id__lt=50).annotate(low=Lower("title")), ("id", "low")),
    (
        RComment.filter(post__author__name__in=["a", "b"])
        .exclude(post__title="t")
        .annotate(up=Upper("body")),
        ("id", "up"),
    ),
    (
        RPost.filter(id__lt=12).annotate(
            flag=Case(When(author__status="away", then=Value(1)), default=Value(0)),
            n=Window(Count("id", filter=Q(reviewer__name="user1") | Q(title="x")), partition_by="status"),
        ),
        ("id", "flag", "n"),
    ),
]

#: non-advanced queries whose conditions hold expressions: the builder's plain path with the shape walk
PLAIN_QUERIES = [
    (RPost.filter(author__name="user3"), ("id", "title")),
    (RPost.filter(author_id__name="user3", title__startswith="p").order_by("-id")[:5], ("id",)),
    (RComment.filter(post__author__name__in=["user0", "user3"]), ("id", "body")),
    (RPost.exclude(reviewer__name="user1"), ("id",)),
    (RPost.filter(Q(author__name="user2") | Q(title="post5"), id__gte=3), ("id",)),
    (AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("id"), qty__gt=3))), ("id", "name")),
    (AdvCustomer.filter(~Exists(AdvOrder.filter(customer_id=OuterRef("tenant")))), ("id",)),
    (AdvCustomer.filter(tenant=1, id__in=AdvOrder.filter(region="north").select("customer_id")), ("id",)),
    (
        AdvCustomer.filter(
            Exists(AdvOrder.filter(customer_id=OuterRef("id"), id__in=AdvOrder.filter(qty=2).select("id")))
        ),
        ("id",),
    ),
    (AdvCategory.filter(Exists(AdvCategory.filter(parent_id=OuterRef("id")))), ("id", "name")),
    (AdvOrder.filter(qty__gt=F("customer_id") + 1, region="south"), ("id",)),
]


@pytest.mark.parametrize("index", range(len(SHAPED_QUERIES)))
def test_cached_shape_gives_the_resolver_sql_and_parameters(index: int) -> None:
    qs, names = SHAPED_QUERIES[index]
    reference = fresh_build(qs, names)
    first, params = qs._select(names, "values")
    again, params_again = qs._select(names, "values")
    assert again is first and params_again == params  # the second call is a cache hit
    assert (first.sql, params) == reference


@pytest.mark.parametrize("index", range(len(PLAIN_QUERIES)))
def test_plain_query_cached_shape_gives_the_fresh_sql_and_parameters(index: int) -> None:
    qs, names = PLAIN_QUERIES[index]
    reference = fresh_build(qs, names)
    first, params = qs._select(names, "values")
    again, params_again = qs._select(names, "values")
    assert again is first and params_again == params
    assert (first.sql, params) == reference


def _outer_orders(**inner: Any) -> Any:
    return AdvOrder.filter(Exists(AdvOrder.filter(**inner)))


NEAR_MISSES = [
    # relation paths, fields and lookups
    (RPost.filter(author__name="x"), ("id",)),
    (RPost.filter(reviewer__name="x"), ("id",)),
    (RPost.filter(author__status="x"), ("id",)),
    (RPost.filter(author__name__startswith="x"), ("id",)),
    (RPost.filter(author__name__in=["x"]), ("id",)),
    (RPost.exclude(author__name="x"), ("id",)),
    (RComment.filter(post__author__name="x"), ("id",)),
    (RComment.filter(post__reviewer__name="x"), ("id",)),
    (RComment.filter(post__title="x"), ("id",)),
    (RPost.filter(author__name="x").annotate(low=Lower("title")), ("id", "low")),
    (RPost.filter(reviewer__name="x").annotate(low=Lower("title")), ("id", "low")),
    # inner filters, OuterRef targets, correlated vs uncorrelated, negation
    (AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("id"), qty__gt=1))), ("id",)),
    (AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("id"), qty__lt=1))), ("id",)),
    (AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("tenant"), qty__gt=1))), ("id",)),
    (AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("score"), qty__gt=1))), ("id",)),
    (AdvCustomer.filter(~Exists(AdvOrder.filter(customer_id=OuterRef("id"), qty__gt=1))), ("id",)),
    (_outer_orders(qty=OuterRef("qty")), ("id",)),
    (_outer_orders(qty=F("qty")), ("id",)),
    (_outer_orders(qty=OuterRef("customer_id")), ("id",)),
    (_outer_orders(customer_id=OuterRef("qty")), ("id",)),
    # IN subqueries: selected column, nesting
    (AdvCustomer.filter(id__in=AdvOrder.filter(qty=1).select("customer_id")), ("id",)),
    (AdvCustomer.filter(id__in=AdvOrder.filter(qty=1).select("qty")), ("id",)),
    (AdvCustomer.filter(id__in=AdvOrder.filter(qty=1)), ("id",)),
    (
        AdvCustomer.filter(id__in=AdvOrder.filter(id__in=AdvOrder.filter(qty=1)).select("customer_id")),
        ("id",),
    ),
    (AdvCustomer.filter(id__in=AdvOrder.filter(id__in=AdvOrder.filter(qty=1).select("qty"))), ("id",)),
    (AdvCustomer.filter(tenant__in=AdvOrder.filter(qty=1).select("customer_id")), ("id",)),
    # set operations
    (AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2)), ("id",)),
    (AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2), all=True), ("id",)),
    (AdvOrder.filter(qty=1).intersection(AdvOrder.filter(qty=2)), ("id",)),
    (AdvOrder.filter(qty=1).difference(AdvOrder.filter(qty=2)), ("id",)),
    (AdvOrder.filter(qty=1).union(AdvOrder.filter(qty__gt=2)), ("id",)),
    (AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2)).order_by("id"), ("id",)),
    (AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2)).order_by("-id"), ("id",)),
    (AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2))[:2], ("id",)),
]


def test_near_miss_shapes_never_share_sql() -> None:
    references = [fresh_build(qs, names) for qs, names in NEAR_MISSES]
    assert len({sql for sql, _ in references}) == len(NEAR_MISSES)  # they are all different statements
    for _ in range(2):  # one shared cache: a colliding key would hand one query another's SQL
        for (qs, names), reference in zip(NEAR_MISSES, references, strict=True):
            statement, params = qs._select(names, "values")
            assert (statement.sql, params) == reference


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


async def test_relation_filter_exists_and_in_same_shape_new_values(db: str) -> None:
    by_customer: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for o in ORDERS:
        by_customer[o["customer_id"]].append(o)
    size = None
    for region in ("north", "south", "east", "nowhere"):
        for qty in (1, 3):
            tagged = Exists(AdvOrder.filter(customer_id=OuterRef("id"), region=region, qty__gte=qty))
            exists = await AdvCustomer.filter(tagged).order_by("id").values_list("id", flat=True)
            inside = AdvOrder.filter(region=region, qty__gte=qty).select("customer_id")
            within = await AdvCustomer.filter(id__in=inside).order_by("id").values_list("id", flat=True)
            expected = [
                c["id"]
                for c in CUSTOMERS
                if any(o["region"] == region and o["qty"] >= qty for o in by_customer[c["id"]])
            ]
            assert exists == within == expected
            if size is None:
                size = len(compiler._cache)
    assert len(compiler._cache) == size  # the other values reused both statements


async def test_relation_filters_bind_new_values_on_a_cached_shape(db: str) -> None:
    from relation_models import reset_tables

    await reset_tables(db)
    users = await RUser.bulk_create(
        [RUser(name=f"u{i}", status="away" if i % 2 else "active") for i in range(4)]
    )
    await RPost.bulk_create(
        [RPost(id=i, title=f"p{i}", author_id=users[i % 4].id, reviewer_id=None) for i in range(12)]
    )
    size = None
    for i, user in enumerate(users):
        found = await RPost.filter(author__name=user.name).order_by("id").values_list("id", flat=True)
        assert found == [p for p in range(12) if p % 4 == i]
        annotated = (
            await RPost.filter(author__name=user.name, id__gt=3)
            .annotate(low=Lower("title"))
            .order_by("id")
            .values_list("low", flat=True)
        )
        assert annotated == [f"p{p}" for p in range(4, 12) if p % 4 == i]
        size = size or len(compiler._cache)
    assert len(compiler._cache) == size  # the other names reused both statements
    assert await RPost.filter(author__name="nobody").count() == 0


async def test_set_operation_same_shape_new_values() -> None:
    for a, b in (("north", 2), ("south", 4)):
        rows = await (
            AdvOrder.filter(region=a)
            .union(AdvOrder.filter(qty__gt=b))
            .order_by("-id")[:4]
            .values_list("id", flat=True)
        )
        expected = sorted({o["id"] for o in ORDERS if o["region"] == a or o["qty"] > b}, reverse=True)[:4]
        assert rows == expected


async def test_subquery_errors_are_unchanged() -> None:
    with pytest.raises(UnknownFieldError):
        AdvCustomer.filter(Exists(AdvOrder.filter(customer_id=OuterRef("nope"))))
    with pytest.raises(ValidationError):
        RComment.filter(post__id="not a number")
    with pytest.raises(ValidationError):
        AdvCustomer.filter(id__in=AdvOrder.filter(qty="many").select("customer_id"))
    for _ in range(2):
        with pytest.raises(QueryError, match="OuterRef"):
            await AdvCustomer.filter(id=OuterRef("id")).values("id")
        with pytest.raises(QueryError, match="OuterRef"):
            await AdvCustomer.filter(id=OuterRef("id")).annotate(low=Lower("name")).values("id")
        with pytest.raises(ParameterError, match="distinct"):
            inner = AdvOrder.filter(customer_id=OuterRef("id")).distinct("region").order_by("qty")
            await AdvCustomer.filter(Exists(inner)).annotate(low=Lower("name")).values("id")
        with pytest.raises(QueryError, match="union"):
            await AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2)).filter(qty=3).values("id")
        with pytest.raises(QueryError, match="orders only"):
            await AdvOrder.filter(qty=1).union(AdvOrder.filter(qty=2)).order_by("region").values("id")


# -- values() / values_list() conversion --------------------------------------------------------------------------


async def test_values_convert_fields_and_leave_annotations(db: str) -> None:
    from example_models import ALL, Author, Mood
    from test_crud import _quoted

    from matrx_orm import create_all
    from matrx_orm.db import executor

    await create_all(db, models=ALL)
    await executor.execute(db, f"TRUNCATE {_quoted(Author)} CASCADE", [])
    moods = [Mood.HAPPY, None, Mood.SAD]
    await Author.bulk_create([{"name": f"m{i}", "mood": mood, "age": i} for i, mood in enumerate(moods)])
    qs = Author.all().order_by("age").annotate(up=Upper("name"))
    assert await qs.values("mood", "up") == [{"mood": m, "up": f"M{i}"} for i, m in enumerate(moods)]
    assert await qs.values_list("up", "mood") == [(f"M{i}", m) for i, m in enumerate(moods)]
    assert await qs.values_list("mood", flat=True) == moods
    assert await Author.filter(age__lt=2).order_by("age").values_list("mood", flat=True) == moods[:2]
