"""F / Value / functions / Case-When / aggregates / grouping / JSONB lookups / F in UPDATE, on a real
PostgreSQL; every result is checked against the same computation done in Python."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from advanced_models import AdvCustomer, AdvOrder, customer_rows, load, order_rows

from matrx_orm import (
    Abs,
    Avg,
    Case,
    Cast,
    Coalesce,
    Concat,
    Count,
    Extract,
    F,
    Greatest,
    Least,
    Length,
    Lower,
    Max,
    Min,
    Now,
    ParameterError,
    Q,
    QueryError,
    Round,
    Sum,
    UnknownFieldError,
    Upper,
    Value,
    When,
)
from matrx_orm.exceptions import UnknownLookupError


@pytest.fixture(autouse=True)
async def data(db: str) -> None:
    await load(db)


ORDERS = order_rows()
CUSTOMERS = customer_rows()


def paid() -> list[dict[str, Any]]:
    return [o for o in ORDERS if o["status"] == "paid"]


# -- aggregates ---------------------------------------------------------------------------------------------------


async def test_aggregate_returns_one_mapping_of_aliases() -> None:
    result = await AdvOrder.filter(status="paid").aggregate(
        total=Sum("amount"),
        avg_amount=Avg("amount"),
        order_count=Count("id"),
        low=Min("qty"),
        high=Max("qty"),
    )
    rows = paid()
    assert result == {
        "total": sum(o["amount"] for o in rows),
        "avg_amount": pytest.approx(sum(o["amount"] for o in rows) / len(rows)),
        "order_count": len(rows),
        "low": min(o["qty"] for o in rows),
        "high": max(o["qty"] for o in rows),
    }


async def test_aggregate_distinct_filter_and_count_star() -> None:
    result = await AdvOrder.all().aggregate(
        customers=Count("customer_id", distinct=True),
        rows=Count(),
        paid_rows=Count("id", filter=Q(status="paid")),
        paid_north=Sum("amount", filter=Q(status="paid", region="north")),
        distinct_qty_sum=Sum("qty", distinct=True),
    )
    assert result["customers"] == len({o["customer_id"] for o in ORDERS})
    assert result["rows"] == len(ORDERS)
    assert result["paid_rows"] == len(paid())
    assert result["paid_north"] == sum(o["amount"] for o in paid() if o["region"] == "north")
    assert result["distinct_qty_sum"] == sum({o["qty"] for o in ORDERS})


async def test_aggregate_over_sliced_query_wraps_a_subquery() -> None:
    result = await AdvOrder.all().order_by("-amount", "id")[:5].aggregate(total=Sum("amount"), n=Count())
    top = sorted(ORDERS, key=lambda o: (-o["amount"], o["id"]))[:5]
    assert result == {"total": sum(o["amount"] for o in top), "n": 5}


async def test_aggregate_of_empty_set_is_none_and_zero() -> None:
    result = await AdvOrder.filter(status="nope").aggregate(total=Sum("amount"), n=Count("id"))
    assert result == {"total": None, "n": 0}


async def test_group_by_annotate_values() -> None:
    rows = await (
        AdvOrder.filter(status="paid")
        .group_by("customer_id")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by("customer_id")
        .values("customer_id", "total", "n")
    )
    expected: dict[int, list[Decimal]] = defaultdict(list)
    for o in paid():
        expected[o["customer_id"]].append(o["amount"])
    assert rows == [{"customer_id": c, "total": sum(v), "n": len(v)} for c, v in sorted(expected.items())]


async def test_values_with_aggregate_groups_by_the_other_selected_fields() -> None:
    rows = await AdvOrder.all().annotate(total=Sum("qty")).order_by("region").values("region", "total")
    expected: dict[str, int] = defaultdict(int)
    for o in ORDERS:
        expected[o["region"]] += o["qty"]
    assert rows == [{"region": r, "total": t} for r, t in sorted(expected.items())]


async def test_filter_on_aggregate_annotation_is_having_and_order_by_annotation() -> None:
    qs = (
        AdvOrder.all()
        .group_by("customer_id")
        .annotate(total=Sum("amount"))
        .filter(total__gt=100)
        .order_by("-total")
    )
    rows = await qs.values("customer_id", "total")
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for o in ORDERS:
        totals[o["customer_id"]] += o["amount"]
    expected = sorted(((c, t) for c, t in totals.items() if t > 100), key=lambda x: -x[1])
    assert [(r["customer_id"], r["total"]) for r in rows] == expected
    assert "HAVING" in qs.sql()
    assert await qs.count() == len(expected)


async def test_filter_on_non_aggregate_annotation_is_where() -> None:
    qs = AdvOrder.all().annotate(double=F("qty") * 2).filter(double__gte=12).exclude(region="north")
    rows = await qs.order_by("id").all()
    assert [(r.id, r.double) for r in rows] == [
        (o["id"], o["qty"] * 2) for o in ORDERS if o["qty"] * 2 >= 12 and o["region"] != "north"
    ]
    assert "HAVING" not in qs.sql()


async def test_annotation_in_q_with_or() -> None:
    qs = AdvOrder.all().annotate(double=F("qty") * 2).filter(Q(double=2) | Q(id=3))
    ids = sorted(o.id for o in await qs)
    assert ids == sorted(o["id"] for o in ORDERS if o["qty"] * 2 == 2 or o["id"] == 3)


# -- F and Value --------------------------------------------------------------------------------------------------


async def test_f_arithmetic_in_filters_and_annotations() -> None:
    rows = (
        await AdvOrder.filter(amount__gt=F("qty") * 3)
        .annotate(
            per_item=F("amount") / F("qty"),
            plus=F("qty") + 1,
            minus=10 - F("qty"),
            neg=-F("qty"),
            mod=F("qty") % 4,
        )
        .order_by("id")
    )
    expected = [o for o in ORDERS if o["amount"] > o["qty"] * 3]
    assert [r.id for r in rows] == [o["id"] for o in expected]
    for row, o in zip(rows, expected, strict=True):
        assert row.per_item == pytest.approx(o["amount"] / o["qty"])
        assert (row.plus, row.minus, row.neg, row.mod) == (
            o["qty"] + 1,
            10 - o["qty"],
            -o["qty"],
            o["qty"] % 4,
        )


async def test_f_compares_two_columns() -> None:
    ids = await AdvOrder.filter(qty__gte=F("customer_id")).values_list("id", flat=True)
    assert sorted(ids) == sorted(o["id"] for o in ORDERS if o["qty"] >= o["customer_id"])


async def test_value_annotation_and_unknown_f_field() -> None:
    rows = (
        await AdvCustomer.filter(id__lte=2)
        .annotate(label=Value("vip"), n=Value(7))
        .order_by("id")
        .values("id", "label", "n")
    )
    assert rows == [{"id": 1, "label": "vip", "n": 7}, {"id": 2, "label": "vip", "n": 7}]
    with pytest.raises(UnknownFieldError) as info:
        AdvOrder.all().annotate(x=F("amout") + 1)
    assert "amount" in str(info.value)
    with pytest.raises(UnknownFieldError):
        AdvOrder.filter(qty__gt=F("nope"))
    with pytest.raises(UnknownFieldError):
        await AdvOrder.all().aggregate(total=Sum("nope"))


async def test_update_with_f_expression_and_now() -> None:
    before = dt.datetime.now(dt.UTC)
    changed = await AdvOrder.filter(region="north").update(qty=F("qty") + 10)
    north = [o for o in ORDERS if o["region"] == "north"]
    assert changed == len(north)
    got = dict(await AdvOrder.filter(region="north").values_list("id", "qty"))
    assert got == {o["id"]: o["qty"] + 10 for o in north}
    result = await AdvOrder.update_where({"shipped_at__isnull": True}, shipped_at=Now())
    unshipped = [o["id"] for o in ORDERS if o["shipped_at"] is None]
    assert sorted(r.id for r in result.updated_rows) == sorted(unshipped)
    assert all(r.shipped_at >= before - dt.timedelta(seconds=5) for r in result.updated_rows)
    assert await AdvOrder.filter(shipped_at__isnull=True).count() == 0
    # the statement shape is cached: a second call with another value still binds it
    await AdvOrder.filter(region="south").update(qty=F("qty") + 100)
    south = [o for o in ORDERS if o["region"] == "south"]
    got = dict(await AdvOrder.filter(region="south").values_list("id", "qty"))
    assert got == {o["id"]: o["qty"] + 100 for o in south}


async def test_update_rejects_aggregates_and_unknown_fields() -> None:
    with pytest.raises(ParameterError):
        await AdvOrder.all().update(qty=Sum("qty"))
    with pytest.raises(UnknownFieldError):
        await AdvOrder.all().update(qty=F("qtyy") + 1)
    assert sorted(await AdvOrder.all().values_list("qty", flat=True)) == sorted(o["qty"] for o in ORDERS)


# -- functions ----------------------------------------------------------------------------------------------------


async def test_text_functions() -> None:
    rows = (
        await AdvCustomer.all()
        .annotate(
            lower=Lower("name"),
            upper=Upper("name"),
            length=Length("name"),
            display=Coalesce("nickname", "name"),
            joined=Concat("name", Value("/"), "nickname"),
            default=Coalesce("nickname", Value("anonymous")),
        )
        .order_by("id")
        .values("id", "lower", "upper", "length", "display", "joined", "default")
    )
    assert rows == [
        {
            "id": c["id"],
            "lower": c["name"].lower(),
            "upper": c["name"].upper(),
            "length": len(c["name"]),
            "display": c["nickname"] or c["name"],
            "joined": c["name"] + "/" + (c["nickname"] or ""),
            "default": c["nickname"] or "anonymous",
        }
        for c in CUSTOMERS
    ]


async def test_numeric_and_date_functions() -> None:
    rows = (
        await AdvOrder.all()
        .annotate(
            neg_abs=Abs(Value(0) - F("qty")),
            rounded=Round("amount"),
            rounded1=Round("amount", 1),
            big=Greatest("qty", Value(5)),
            small=Least("qty", Value(5)),
            month=Extract("created_at", "month"),
            year=Extract("created_at", "year"),
            as_text=Cast("qty", "text"),
            as_int=Cast("amount", "integer"),
        )
        .order_by("id")
    )
    for row, o in zip(rows, ORDERS, strict=True):
        assert row.neg_abs == o["qty"]
        assert row.rounded == o["amount"].quantize(Decimal("1"), rounding="ROUND_HALF_UP")
        assert row.rounded1 == o["amount"].quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")
        assert (row.big, row.small) == (max(o["qty"], 5), min(o["qty"], 5))
        assert (row.month, row.year) == (o["created_at"].month, o["created_at"].year)
        assert row.as_text == str(o["qty"])
        assert row.as_int == int(o["amount"].quantize(Decimal("1"), rounding="ROUND_HALF_UP"))


async def test_function_argument_errors() -> None:
    with pytest.raises(ParameterError):
        Lower("a", "b")
    with pytest.raises(ParameterError):
        Coalesce("a")
    with pytest.raises(ParameterError):
        Extract("created_at", "fortnight")
    with pytest.raises(ParameterError):
        Extract("created_at", "year; DROP TABLE adv_order")
    with pytest.raises(ParameterError):
        Cast("qty", "integer); DROP TABLE adv_order; --")
    with pytest.raises(ParameterError):
        Round("amount", 1.5)  # type: ignore[arg-type]
    with pytest.raises(UnknownFieldError):
        AdvCustomer.all().annotate(x=Lower("nmae"))
    with pytest.raises(ParameterError):
        AdvCustomer.all().annotate(name=Lower("name"))  # collides with a field
    with pytest.raises(ParameterError):
        AdvCustomer.all().annotate(x="name")  # a plain value is not an expression


# -- Case / When -------------------------------------------------------------------------------------------------


async def test_case_when() -> None:
    rows = (
        await AdvOrder.all()
        .annotate(
            size=Case(
                When(amount__gte=30, then=Value("large")),
                When(Q(amount__gte=10) & ~Q(region="north"), then=Value("medium")),
                default=Value("small"),
            ),
            bonus=Case(When(status="paid", then=F("qty") * 2), default=Value(0)),
        )
        .order_by("id")
    )

    def size(o: dict[str, Any]) -> str:
        if o["amount"] >= 30:
            return "large"
        if o["amount"] >= 10 and o["region"] != "north":
            return "medium"
        return "small"

    assert [(r.size, r.bonus) for r in rows] == [
        (size(o), o["qty"] * 2 if o["status"] == "paid" else 0) for o in ORDERS
    ]
    with pytest.raises(ParameterError):
        Case()
    with pytest.raises(ParameterError):
        When(then=Value(1))


# -- JSONB ------------------------------------------------------------------------------------------------------


def json_ids(predicate: Any) -> list[int]:
    return sorted(o["id"] for o in ORDERS if o["data"] is not None and predicate(o["data"]))


async def ids(qs: Any) -> list[int]:
    return sorted(await qs.values_list("id", flat=True))


async def test_json_key_lookups() -> None:
    assert await ids(AdvOrder.filter(data__json_has_key="email")) == json_ids(lambda d: "email" in d)
    assert await ids(AdvOrder.filter(data__json_has_any=["email", "phone"])) == json_ids(
        lambda d: "email" in d or "phone" in d
    )
    assert await ids(AdvOrder.filter(data__json_has_all=["email", "phone"])) == json_ids(
        lambda d: "email" in d and "phone" in d
    )


async def test_json_contains_and_contained_by() -> None:
    assert await ids(AdvOrder.filter(data__json_contains={"settings": {"theme": "dark"}})) == json_ids(
        lambda d: d["settings"]["theme"] == "dark"
    )
    assert await ids(AdvOrder.filter(data__json_contains={"tags": ["t1"]})) == json_ids(
        lambda d: "t1" in d["tags"]
    )
    small = {"settings": {"theme": "dark", "size": 1}, "tags": ["t0", "t1", "t2"]}
    assert await ids(AdvOrder.filter(data__json_contained_by=small)) == json_ids(
        lambda d: set(d) <= {"settings", "tags"} and d["settings"] == {"theme": "dark", "size": 1}
    )


async def test_json_path_exists_and_compare() -> None:
    assert await ids(AdvOrder.filter(data__json_path=("settings", "theme"))) == json_ids(lambda d: True)
    assert await ids(AdvOrder.filter(data__json_path=("settings", "missing"))) == []
    assert await ids(AdvOrder.filter(data__json_path=(("settings", "theme"), "dark"))) == json_ids(
        lambda d: d["settings"]["theme"] == "dark"
    )
    assert await ids(AdvOrder.filter(data__json_path=(("settings", "size"), 3))) == json_ids(
        lambda d: d["settings"]["size"] == 3
    )
    assert await ids(AdvOrder.filter(data__json_path=(("tags", 0), "t2"))) == json_ids(
        lambda d: d["tags"][0] == "t2"
    )


async def test_json_key_traversal_in_filter_keywords() -> None:
    assert await ids(AdvOrder.filter(data__settings__theme="dark")) == json_ids(
        lambda d: d["settings"]["theme"] == "dark"
    )
    assert await ids(AdvOrder.filter(data__settings__size__gt=2)) == json_ids(
        lambda d: d["settings"]["size"] > 2
    )
    assert await ids(AdvOrder.filter(data__settings__size__in=[0, 4])) == json_ids(
        lambda d: d["settings"]["size"] in (0, 4)
    )
    assert await ids(AdvOrder.filter(data__email__isnull=False)) == json_ids(lambda d: "email" in d)
    assert await ids(AdvOrder.filter(data__email__endswith="0@example.com")) == json_ids(
        lambda d: d.get("email", "").endswith("0@example.com")
    )
    assert await ids(AdvOrder.filter(data__settings__theme__icontains="DAR")) == json_ids(
        lambda d: d["settings"]["theme"] == "dark"
    )


async def test_json_keys_are_bound_never_spliced() -> None:
    evil = "theme'; DROP TABLE adv_order; --"
    assert await AdvOrder.filter(data__json_has_key=evil).count() == 0
    assert await AdvOrder.filter(data__json_path=(("settings", evil), "dark")).count() == 0
    assert await AdvOrder.filter(**{f"data__{evil}": "x"}).count() == 0
    assert await AdvOrder.filter(data__json_has_any=[evil, "email"]).count() == len(
        json_ids(lambda d: "email" in d)
    )
    sql = AdvOrder.filter(**{f"data__settings__{evil}": 1}).sql()
    assert "DROP" not in sql
    assert await AdvOrder.all().count() == len(ORDERS)


async def test_json_lookup_bad_inputs() -> None:
    with pytest.raises(ParameterError):
        await AdvOrder.filter(data__json_has_key=1).all()
    with pytest.raises(ParameterError):
        await AdvOrder.filter(data__json_has_any="email").all()
    with pytest.raises(ParameterError):
        await AdvOrder.filter(data__json_path="settings.theme").all()
    with pytest.raises(ParameterError):
        await AdvOrder.filter(data__json_path=()).all()
    with pytest.raises(ParameterError):
        await AdvOrder.filter(data__json_path=(("settings", 1.5), "x")).all()
    with pytest.raises(ParameterError):
        await AdvOrder.filter(data__json_contains=None).all()
    with pytest.raises(UnknownLookupError):
        AdvOrder.filter(qty__json_has_key="x")  # not a JSON field
    with pytest.raises(QueryError):
        AdvOrder.filter(region__settings="x")


# -- compiled-statement cache ----------------------------------------------------------------------------------------


async def test_advanced_queries_compile_once_per_shape() -> None:
    from matrx_orm.sql.compiler import cache as compiler

    def qs(region: str, minimum: int) -> Any:
        return (
            AdvOrder.filter(region=region)
            .annotate(total=Sum("amount"), big=Count("id", filter=Q(qty__gte=minimum)))
            .group_by("customer_id")
            .order_by("customer_id")
        )

    first = await qs("north", 5).values("customer_id", "total", "big")
    size = len(compiler._cache)
    for region, minimum in [("south", 3), ("east", 8), ("north", 5)]:
        rows = await qs(region, minimum).values("customer_id", "total", "big")
        expected: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for o in ORDERS:
            if o["region"] == region:
                expected[o["customer_id"]].append(o)
        assert rows == [
            {
                "customer_id": c,
                "total": sum(o["amount"] for o in g),
                "big": sum(o["qty"] >= minimum for o in g),
            }
            for c, g in sorted(expected.items())
        ]
    assert len(compiler._cache) == size  # same shape: no new compilation
    assert rows == first


async def test_annotated_first_get_and_last() -> None:
    qs = AdvOrder.all().annotate(double=F("qty") * 2).order_by("-double", "id")
    top = await qs.first()
    best = sorted(ORDERS, key=lambda o: (-o["qty"], o["id"]))
    assert top is not None and (top.id, top.double) == (best[0]["id"], best[0]["qty"] * 2)
    bottom = await qs.last()
    assert bottom is not None and bottom.id == best[-1]["id"]
    one = await AdvOrder.all().annotate(double=F("qty") * 2).get(id=7)
    assert one.double == next(o["qty"] for o in ORDERS if o["id"] == 7) * 2


# -- grouped instances, `in` on annotations ----------------------------------------------------------------------


async def test_grouped_query_as_instances_is_a_clear_error_before_sql() -> None:
    from matrx_orm import capture_queries

    grouped = AdvOrder.all().group_by("region").annotate(n=Count("id")).order_by("region")
    for terminal in (grouped.all, grouped.first, grouped.last):
        with capture_queries() as queries, pytest.raises(QueryError, match=r"values\(\.\.\.\)") as info:
            await terminal()
        assert queries == []
        assert "'id'" in str(info.value) and "'region'" not in str(info.value).split("so ", 1)[1]
    # what sql()/repr show for it is what values() can read: the groups and the annotations
    assert "count(" in grouped.sql().lower() and "adv_order.qty" not in grouped.sql()
    assert "QueryBuilder" in repr(grouped)
    counts: dict[str, int] = defaultdict(int)
    for o in ORDERS:
        counts[o["region"]] += 1
    assert await grouped.values("region", "n") == [{"region": r, "n": counts[r]} for r in sorted(counts)]
    with pytest.raises(QueryError, match="'qty'"):
        await grouped.values("region", "qty")
    # grouped by the primary key, every column depends on it: instances are fine
    by_key = await AdvOrder.all().group_by("id").annotate(twice=Sum("qty") * 2).order_by("id")
    assert [(o.id, o.region, o.twice) for o in by_key] == [
        (o["id"], o["region"], 2 * o["qty"]) for o in ORDERS
    ]


async def test_in_lookup_on_annotations_without_output_field() -> None:
    lowered = AdvOrder.all().annotate(low=Lower("region")).filter(low__in=["north", "south"])
    expected = sorted(o["id"] for o in ORDERS if o["region"].lower() in ("north", "south"))
    assert sorted(o.id for o in await lowered) == expected
    doubled = AdvOrder.all().annotate(d=F("qty") * 2).filter(d__in=[2, 4, 6])
    assert await doubled.count() == sum(1 for o in ORDERS if o["qty"] * 2 in (2, 4, 6))
    assert await AdvOrder.all().annotate(low=Lower("region")).filter(low__in=[]).count() == 0


async def test_range_lookup_with_one_expression_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="range expects"):
        await AdvOrder.filter(qty__range=F("id")).count()
    assert await AdvOrder.filter(qty__range=(2, 4)).count() == sum(1 for o in ORDERS if 2 <= o["qty"] <= 4)
