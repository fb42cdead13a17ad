"""DISTINCT / DISTINCT ON, row locks, windows, CTEs, subqueries, raw SQL, only/defer, set operations,
streaming and the Paginator, on a real PostgreSQL; results checked against Python computations."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from advanced_models import CATEGORY_ROWS, AdvCategory, AdvCustomer, AdvOrder, customer_rows, load, order_rows

from matrx_orm import (
    CTE,
    Count,
    CumeDist,
    DenseRank,
    EmptyPage,
    Exists,
    F,
    FirstValue,
    InvalidPage,
    Lag,
    LastValue,
    Lead,
    Lower,
    Max,
    Min,
    NthValue,
    Ntile,
    OuterRef,
    Paginator,
    ParameterError,
    PercentRank,
    Q,
    QueryError,
    Rank,
    RowNumber,
    Subquery,
    Sum,
    UnknownFieldError,
    Window,
    transaction,
)
from matrx_orm.exceptions import DatabaseError

ORDERS = order_rows()
CUSTOMERS = customer_rows()


@pytest.fixture(autouse=True)
async def data(db: str) -> None:
    await load(db)


def by(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    return groups


# -- DISTINCT -----------------------------------------------------------------------------------------------------


async def test_distinct_values() -> None:
    rows = await AdvOrder.filter(status="paid").distinct().order_by("region").values("region")
    assert rows == [{"region": r} for r in sorted({o["region"] for o in ORDERS if o["status"] == "paid"})]
    assert await AdvOrder.all().distinct().values_list("status", flat=True) is not None
    assert sorted(await AdvOrder.all().distinct().values_list("status", flat=True)) == sorted(
        {o["status"] for o in ORDERS}
    )


async def test_distinct_on_keeps_first_row_per_group() -> None:
    rows = await AdvOrder.all().distinct("customer_id").order_by("customer_id", "-created_at").all()
    expected = {
        c: max(group, key=lambda o: o["created_at"])["id"] for c, group in by(ORDERS, "customer_id").items()
    }
    assert {r.customer_id: r.id for r in rows} == expected
    assert len(rows) == len(expected)
    assert await AdvOrder.all().distinct("customer_id").order_by("customer_id", "-created_at").count() == len(
        expected
    )


async def test_distinct_on_cannot_update_or_delete() -> None:
    """A ``distinct(fields)`` query reads one row per group; UPDATE and DELETE have no DISTINCT ON and would
    write every matching row, so they are refused (as on a sliced query) and nothing changes."""
    qs = AdvOrder.all().distinct("region").order_by("region", "id")
    assert await qs.count() == len({o["region"] for o in ORDERS})
    for write in (lambda: qs.update(qty=0), lambda: qs.update_returning(qty=0), qs.delete):
        with pytest.raises(QueryError, match="distinct"):
            await write()
    assert sorted(await AdvOrder.all().values_list("qty", flat=True)) == sorted(o["qty"] for o in ORDERS)


async def test_distinct_on_needs_matching_order() -> None:
    with pytest.raises(ParameterError):
        await AdvOrder.all().distinct("customer_id").order_by("-created_at").all()
    with pytest.raises(UnknownFieldError):
        AdvOrder.all().distinct("customerid")


# -- row locking ------------------------------------------------------------------------------------------------


async def test_select_for_update_locks_rows_and_skip_locked(db: str) -> None:
    first_locked = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> int:
        async with transaction(db):
            row = await AdvOrder.filter(status="pending").order_by("id").select_for_update().first()
            assert row is not None
            first_locked.set()
            await release.wait()
            await row.update(qty=row.qty + 1)
            return row.id

    task = asyncio.create_task(holder())
    await first_locked.wait()
    pending = sorted(o["id"] for o in ORDERS if o["status"] == "pending")
    async with transaction(db):
        job = (
            await AdvOrder.filter(status="pending").order_by("id").select_for_update(skip_locked=True).first()
        )
        assert job is not None and job.id == pending[1]  # the first one is locked by the other task
    with pytest.raises(DatabaseError):
        async with transaction(db):
            await AdvOrder.filter(id=pending[0]).select_for_update(nowait=True).all()
    release.set()
    locked_id = await task
    assert locked_id == pending[0]
    qty = next(o["qty"] for o in ORDERS if o["id"] == locked_id)
    assert (await AdvOrder.get(id=locked_id)).qty == qty + 1


async def test_select_for_update_sql_and_errors(db: str) -> None:
    qs = AdvOrder.filter(status="paid").select_for_update(skip_locked=True, of=AdvOrder)
    async with transaction(db):
        assert "FOR UPDATE OF adv_order SKIP LOCKED" in qs.sql().replace('"', "")
    with pytest.raises(QueryError):  # outside a transaction the lock would be released at once
        await qs.all()
    for stream in (qs.iterator(), qs.values_list("id", flat=True).iterator()):
        with pytest.raises(QueryError, match="inside transaction"):
            await anext(stream)
    async with transaction(db):
        streamed = [order.id async for order in qs.iterator(chunk_size=2)]
    assert sorted(streamed) == sorted(o["id"] for o in ORDERS if o["status"] == "paid")
    with pytest.raises(ParameterError):
        AdvOrder.all().select_for_update(nowait=True, skip_locked=True)
    with pytest.raises(ParameterError):
        AdvOrder.all().select_for_update(of=["adv_order"])
    with pytest.raises(QueryError):
        async with transaction(db):
            await AdvOrder.all().distinct().select_for_update().all()


# -- windows --------------------------------------------------------------------------------------------------------


def ranked(rows: list[dict[str, Any]], key: Any) -> dict[int, int]:
    """row id -> ROW_NUMBER over ``rows`` sorted by ``key``."""
    return {o["id"]: i + 1 for i, o in enumerate(sorted(rows, key=key))}


async def test_row_number_rank_dense_rank() -> None:
    rows = (
        await AdvOrder.all()
        .annotate(
            row_num=Window(RowNumber(), partition_by="region", order_by=["-amount", "id"]),
            rank=Window(Rank(), order_by="qty"),
            dense=Window(DenseRank(), partition_by=["region"], order_by="qty"),
        )
        .order_by("id")
    )
    expected_rn: dict[int, int] = {}
    for group in by(ORDERS, "region").values():
        expected_rn.update(ranked(group, lambda o: (-o["amount"], o["id"])))
    qtys = sorted(o["qty"] for o in ORDERS)
    for row in rows:
        assert row.row_num == expected_rn[row.id]
        assert row.rank == qtys.index(row.qty) + 1
        region_qtys = sorted({o["qty"] for o in ORDERS if o["region"] == row.region})
        assert row.dense == region_qtys.index(row.qty) + 1


async def test_running_total_and_lag_lead() -> None:
    rows = await AdvOrder.all().annotate(
        running=Window(Sum("amount"), partition_by="customer_id", order_by=["created_at"]),
        prev=Window(Lag("amount"), partition_by="customer_id", order_by="created_at"),
        nxt=Window(Lead("qty", offset=2, default=-1), partition_by="customer_id", order_by="created_at"),
        first=Window(FirstValue("id"), partition_by="customer_id", order_by="created_at"),
        last=Window(
            LastValue("id"),
            partition_by="customer_id",
            order_by="created_at",
            frame="ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING",
        ),
        second=Window(
            NthValue("id", 2), partition_by="customer_id", order_by="created_at", frame=("rows", None, None)
        ),
        moving=Window(Sum("qty"), order_by="id", frame="ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING"),
    )
    got = {r.id: r for r in rows}
    for group in by(ORDERS, "customer_id").values():
        ordered = sorted(group, key=lambda o: o["created_at"])
        total = 0
        for i, o in enumerate(ordered):
            total += o["amount"]
            row = got[o["id"]]
            assert row.running == total
            assert row.prev == (ordered[i - 1]["amount"] if i else None)
            assert row.nxt == (ordered[i + 2]["qty"] if i + 2 < len(ordered) else -1)
            assert row.first == ordered[0]["id"]
            assert row.last == ordered[-1]["id"]
            assert row.second == (ordered[1]["id"] if len(ordered) > 1 else None)
    by_id = sorted(ORDERS, key=lambda o: o["id"])
    for i, o in enumerate(by_id):
        assert got[o["id"]].moving == sum(x["qty"] for x in by_id[max(i - 1, 0) : i + 2])


async def test_ntile_cume_dist_percent_rank() -> None:
    rows = (
        await AdvOrder.all()
        .annotate(
            bucket=Window(Ntile(4), order_by="id"),
            cume=Window(CumeDist(), order_by="qty"),
            pct=Window(PercentRank(), order_by="qty"),
        )
        .order_by("id")
    )
    n = len(ORDERS)
    qtys = sorted(o["qty"] for o in ORDERS)
    for i, row in enumerate(rows):
        assert row.bucket == i * 4 // n + 1
        assert row.cume == pytest.approx(sum(q <= row.qty for q in qtys) / n)
        assert row.pct == pytest.approx(qtys.index(row.qty) / (n - 1))


async def test_window_annotation_readable_with_values_and_not_filterable() -> None:
    rows = (
        await AdvCustomer.all()
        .annotate(pos=Window(RowNumber(), order_by="-id"))
        .order_by("id")
        .values("id", "pos")
    )
    assert rows == [{"id": c["id"], "pos": len(CUSTOMERS) - i} for i, c in enumerate(CUSTOMERS)]
    with pytest.raises(QueryError):
        AdvCustomer.all().annotate(pos=Window(RowNumber(), order_by="id")).filter(pos__lte=3)


async def test_window_bad_inputs() -> None:
    with pytest.raises(ParameterError):
        Window(RowNumber())  # needs order_by
    with pytest.raises(ParameterError):
        Window(Lag("amount"), partition_by="region")
    with pytest.raises(ParameterError):
        Window(Lower("region"), order_by="id")  # not a window function
    with pytest.raises(ParameterError):
        AdvOrder.all().annotate(r=RowNumber())  # outside Window
    for frame in [
        "ROWS BETWEEN CURRENT ROW AND 1 PRECEDING",
        "ROWS BETWEEN UNBOUNDED FOLLOWING AND CURRENT ROW",
        "ROWS UNBOUNDED; DROP TABLE adv_order",
        "ROWS BETWEEN -1 PRECEDING AND CURRENT ROW",
        "SLICES BETWEEN 1 PRECEDING AND CURRENT ROW",
        ("rows", 1, -1),
        ("cols", None, 0),
        ("rows", "1", 0),
        42,
    ]:
        with pytest.raises(ParameterError):
            Window(Sum("qty"), order_by="id", frame=frame)
    with pytest.raises(ParameterError):
        Ntile(0)
    with pytest.raises(ParameterError):
        Lag("amount", offset=-1)
    with pytest.raises(UnknownFieldError):
        AdvOrder.all().annotate(r=Window(RowNumber(), order_by="nope"))


# -- CTEs -----------------------------------------------------------------------------------------------------------


async def test_raw_sql_cte_attached_and_used_in_filter() -> None:
    big = CTE("big_orders", "SELECT id, customer_id FROM adv_order WHERE amount > 30 AND region <> 'x:y'")
    ids = await AdvOrder.filter(id__in=big.values("id")).with_cte(big).values_list("id", flat=True)
    assert sorted(ids) == sorted(o["id"] for o in ORDERS if o["amount"] > 30)
    # attaching alone keeps the main query's rows
    assert await AdvOrder.filter(status="paid").with_cte(big).count() == sum(
        o["status"] == "paid" for o in ORDERS
    )


async def test_querybuilder_cte_with_bound_values_and_from_cte() -> None:
    active = CTE("active_customers", AdvCustomer.filter(is_active=True, score__gte=3).only("id", "name"))
    rows = await AdvCustomer.all().from_cte(active).order_by("id").all()
    expected = [c for c in CUSTOMERS if c["is_active"] and c["score"] is not None and c["score"] >= 3]
    assert [(r.id, r.name, r.tenant) for r in rows] == [(c["id"], c["name"], None) for c in expected]
    orders = await AdvOrder.filter(customer_id__in=active.values("id")).with_cte(active).count()
    assert orders == sum(o["customer_id"] in {c["id"] for c in expected} for o in ORDERS)


async def test_recursive_cte_from_raw_sql() -> None:
    tree = CTE(
        "category_tree",
        """
        SELECT id, parent_id, name, 0 AS depth FROM adv_category WHERE parent_id IS NULL
        UNION ALL
        SELECT c.id, c.parent_id, c.name, t.depth + 1
        FROM adv_category c JOIN category_tree t ON c.parent_id = t.id
        """,
        recursive=True,
    )
    rows = await AdvCategory.all().from_cte(tree).annotate(depth=tree.col("depth")).order_by("id").all()

    def depth(row: dict[str, Any]) -> int:
        parent = row["parent_id"]
        return 0 if parent is None else 1 + depth(next(c for c in CATEGORY_ROWS if c["id"] == parent))

    assert [(r.id, r.name, r.depth) for r in rows] == [(c["id"], c["name"], depth(c)) for c in CATEGORY_ROWS]
    deep = (
        await AdvCategory.all()
        .from_cte(tree)
        .filter(id__in=[4, 5])
        .annotate(depth=tree.col("depth"))
        .order_by("-id")
        .values("id", "depth")
    )
    assert deep == [{"id": 5, "depth": 3}, {"id": 4, "depth": 2}]


async def test_multiple_ctes_and_errors() -> None:
    a = CTE("cte_a", "SELECT 1 AS x")
    b = CTE("cte_b", AdvOrder.filter(region="north"))
    assert await AdvOrder.all().with_cte(a, b).count() == len(ORDERS)
    for bad in ["bad name", "1abc", "x; DROP TABLE adv_order", "", "a" * 64]:
        with pytest.raises(ParameterError):
            CTE(bad, "SELECT 1")
    with pytest.raises(ParameterError):
        CTE("ok", "SELECT $1")
    with pytest.raises(ParameterError):
        CTE("ok", 42)
    with pytest.raises(ParameterError):
        AdvOrder.all().with_cte(a, CTE("cte_a", "SELECT 2"))
    with pytest.raises(ParameterError):
        AdvOrder.all().with_cte("cte_a")  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        await AdvOrder.all().with_cte(b).filter(region="north").delete()


# -- subqueries -------------------------------------------------------------------------------------------------


async def test_exists_and_not_exists() -> None:
    paid_orders = AdvOrder.filter(customer_id=OuterRef("id"), status="paid")
    with_paid = sorted({o["customer_id"] for o in ORDERS if o["status"] == "paid"})
    assert (
        await AdvCustomer.filter(Exists(paid_orders)).order_by("id").values_list("id", flat=True) == with_paid
    )
    without = await AdvCustomer.filter(~Exists(paid_orders)).order_by("id").values_list("id", flat=True)
    assert without == [c["id"] for c in CUSTOMERS if c["id"] not in with_paid]
    # the cached statement is reused with other values
    refunded = AdvOrder.filter(customer_id=OuterRef("id"), status="refunded")
    assert await AdvCustomer.filter(Exists(refunded)).order_by("id").values_list("id", flat=True) == sorted(
        {o["customer_id"] for o in ORDERS if o["status"] == "refunded"}
    )


async def test_scalar_subquery_annotation() -> None:
    latest = AdvOrder.filter(customer_id=OuterRef("id")).order_by("-created_at").limit(1).select("amount")
    n_orders = AdvOrder.filter(customer_id=OuterRef("id")).group_by("customer_id").annotate(n=Count("id"))
    rows = (
        await AdvCustomer.filter(is_active=True)
        .annotate(last_total=Subquery(latest), n=Subquery(n_orders, column="n"))
        .order_by("id")
        .values("id", "last_total", "n")
    )
    groups = by(ORDERS, "customer_id")
    assert rows == [
        {
            "id": c["id"],
            "last_total": max(groups[c["id"]], key=lambda o: o["created_at"])["amount"]
            if c["id"] in groups
            else None,
            "n": len(groups[c["id"]]) if c["id"] in groups else None,
        }
        for c in CUSTOMERS
        if c["is_active"]
    ]


async def test_in_querybuilder_is_a_subquery() -> None:
    inactive = AdvCustomer.filter(is_active=False)
    ids = await AdvOrder.filter(customer_id__in=inactive).values_list("id", flat=True)
    inactive_ids = {c["id"] for c in CUSTOMERS if not c["is_active"]}
    assert sorted(ids) == sorted(o["id"] for o in ORDERS if o["customer_id"] in inactive_ids)
    tenants = AdvCustomer.filter(tenant=1).select("id")
    assert await AdvOrder.filter(customer_id__in=tenants).count() == sum(
        o["customer_id"] in {c["id"] for c in CUSTOMERS if c["tenant"] == 1} for o in ORDERS
    )
    # also in UPDATE / DELETE
    deleted = await AdvOrder.filter(customer_id__in=inactive).delete()
    assert deleted == len(ids)


async def test_correlated_subquery_over_same_model() -> None:
    bigger = AdvOrder.filter(customer_id=OuterRef("customer_id"), amount__gt=OuterRef("amount"))
    rows = await AdvOrder.filter(~Exists(bigger)).values_list("id", flat=True)
    expected = [
        o["id"]
        for o in ORDERS
        if not any(x["customer_id"] == o["customer_id"] and x["amount"] > o["amount"] for x in ORDERS)
    ]
    assert sorted(rows) == sorted(expected)


async def test_subquery_errors() -> None:
    with pytest.raises(ParameterError):
        Subquery(AdvOrder.all().select("amount", "qty"))
    with pytest.raises(ParameterError):
        Exists([1, 2])
    with pytest.raises(QueryError):
        await AdvOrder.filter(customer_id=OuterRef("id")).all()  # OuterRef outside a subquery
    with pytest.raises(ParameterError):
        AdvOrder.filter(customer_id__in=F("qty"))


# -- raw SQL --------------------------------------------------------------------------------------------------------


async def test_raw_returns_instances_with_extra_columns() -> None:
    rows = await AdvOrder.raw("SELECT *, amount * 2 AS doubled FROM adv_order WHERE qty > $1 ORDER BY id", 5)
    expected = [o for o in ORDERS if o["qty"] > 5]
    assert [r.id for r in rows] == [o["id"] for o in expected]
    assert all(isinstance(r, AdvOrder) for r in rows)
    assert [(r.amount, r.doubled, r.data) for r in rows] == [
        (o["amount"], o["amount"] * 2, o["data"]) for o in expected
    ]
    assert await AdvOrder.raw("SELECT * FROM adv_order WHERE id = $1", -1) == []


async def test_raw_sql_returns_dicts() -> None:
    rows = await AdvOrder.raw_sql(
        "SELECT count(*) AS cnt, region FROM adv_order WHERE status = $1 GROUP BY region ORDER BY region",
        "paid",
    )
    counts = {r: len(g) for r, g in by([o for o in ORDERS if o["status"] == "paid"], "region").items()}
    assert rows == [{"cnt": counts[r], "region": r} for r in sorted(counts)]
    with pytest.raises(ParameterError):
        await AdvOrder.raw_sql("")


# -- only / defer ---------------------------------------------------------------------------------------------------


async def test_only_and_defer() -> None:
    rows = await AdvOrder.filter(region="east").only("status", "qty").order_by("id").all()
    east = [o for o in ORDERS if o["region"] == "east"]
    assert [(r.id, r.status, r.qty, r.amount, r.data) for r in rows] == [
        (o["id"], o["status"], o["qty"], None, None) for o in east
    ]
    rows = await AdvOrder.filter(region="east").defer("data", "amount", "id").order_by("id").all()
    assert [(r.id, r.region, r.amount, r.data) for r in rows] == [
        (o["id"], o["region"], None, None) for o in east
    ]
    with pytest.raises(UnknownFieldError):
        AdvOrder.all().defer("nope")
    with pytest.raises(ParameterError):
        AdvOrder.all().only()


# -- set operations ---------------------------------------------------------------------------------------------------


async def test_union_intersection_difference() -> None:
    north = AdvOrder.filter(region="north")
    paid = AdvOrder.filter(status="paid")
    n_ids = {o["id"] for o in ORDERS if o["region"] == "north"}
    p_ids = {o["id"] for o in ORDERS if o["status"] == "paid"}
    assert [o.id for o in await north.union(paid).order_by("id")] == sorted(n_ids | p_ids)
    assert sorted(await north.intersection(paid).values_list("id", flat=True)) == sorted(n_ids & p_ids)
    assert sorted(await north.difference(paid).values_list("id", flat=True)) == sorted(n_ids - p_ids)
    assert await north.union(paid, all=True).count() == len(n_ids) + len(p_ids)
    top = await north.union(paid).order_by("-id")[:3].values_list("id", flat=True)
    assert top == sorted(n_ids | p_ids, reverse=True)[:3]
    with pytest.raises(ParameterError):
        north.order_by("id").union(paid)
    with pytest.raises(ParameterError):
        north.union(AdvCustomer.all())
    with pytest.raises(QueryError):
        await north.union(paid).filter(qty=1).all()


# -- streaming ---------------------------------------------------------------------------------------------------------


async def test_iterator_streams_all_rows_in_chunks(db: str) -> None:
    seen = [o.id async for o in AdvOrder.filter(status="paid").order_by("id").iterator(chunk_size=3)]
    assert seen == sorted(o["id"] for o in ORDERS if o["status"] == "paid")
    annotated = [
        (o.id, o.double)
        async for o in AdvOrder.all().annotate(double=F("qty") * 2).order_by("id").iterator(7)
    ]
    assert annotated == [(o["id"], o["qty"] * 2) for o in ORDERS]
    async with transaction(db):
        count = 0
        async for order in AdvOrder.all().order_by("id").iterator(chunk_size=4):
            count += 1
            if order.id == 5:
                await order.update(qty=99)  # other statements can run between chunks
        assert count == len(ORDERS)
    assert (await AdvOrder.get(id=5)).qty == 99
    async for _ in AdvOrder.all().iterator(chunk_size=2):
        break  # leaving early releases the connection
    with pytest.raises(ParameterError):
        async for _ in AdvOrder.all().iterator(chunk_size=0):
            pass


# -- paginator -------------------------------------------------------------------------------------------------------


async def test_paginator_pages() -> None:
    paid = sorted((o for o in ORDERS if o["status"] == "paid"), key=lambda o: (-o["amount"], o["id"]))
    paginator: Paginator[AdvOrder] = Paginator(
        AdvOrder.filter(status="paid").order_by("-amount", "id"), per_page=5
    )
    pages = -(-len(paid) // 5)
    page = await paginator.page(1)
    assert [o.id for o in page.items] == [o["id"] for o in paid[:5]]
    assert (page.number, page.total_count, page.total_pages) == (1, len(paid), pages)
    assert (page.has_next, page.has_previous, page.next_number, page.previous_number) == (
        True,
        False,
        2,
        None,
    )
    assert (page.start_index, page.end_index) == (1, 5)
    last = await paginator.page(pages)
    assert [o.id for o in last] == [o["id"] for o in paid[(pages - 1) * 5 :]]
    assert (last.has_next, last.next_number, last.previous_number) == (False, None, pages - 1)
    assert (last.start_index, last.end_index) == ((pages - 1) * 5 + 1, len(paid))
    collected = []
    async for p in paginator:
        collected.extend(o.id for o in p)
    assert collected == [o["id"] for o in paid]


async def test_paginator_errors_and_empty() -> None:
    paginator = Paginator(AdvOrder.filter(status="paid"), per_page=10)
    for bad in [0, -1, 1.5, "2", True]:
        with pytest.raises(InvalidPage):
            await paginator.page(bad)  # type: ignore[arg-type]
    with pytest.raises(EmptyPage):
        await paginator.page(99)
    with pytest.raises(ParameterError):
        Paginator(AdvOrder.all(), per_page=0)
    with pytest.raises(ParameterError):
        Paginator([1, 2, 3], per_page=2)
    empty = Paginator(AdvOrder.filter(status="nope"), per_page=10)
    page = await empty.page(1)
    assert (page.items, page.total_count, page.total_pages, page.has_next, page.start_index) == (
        [],
        0,
        0,
        False,
        0,
    )
    assert [p async for p in empty] == []
    unordered = Paginator(AdvCustomer.all(), per_page=3)
    assert [c.id for c in await unordered.page(2)] == [4, 5, 6]


# -- fields with their own column names (db_column) ----------------------------------------------------------------


async def test_db_column_fields_through_every_path() -> None:
    from advanced_models import NOTE_ROWS, AdvNote

    rows = (
        await AdvNote.all()
        .annotate(m=F("n") + 1, r=Window(RowNumber(), order_by=["-n", "id"]))
        .order_by("id")
    )
    order = sorted(NOTE_ROWS, key=lambda x: (-x["n"], x["id"]))
    assert [(r.id, r.body, r.m, r.r) for r in rows] == [
        (x["id"], x["body"], x["n"] + 1, order.index(x) + 1) for x in NOTE_ROWS
    ]
    assert await AdvNote.all().aggregate(total=Sum("n")) == {"total": sum(x["n"] for x in NOTE_ROWS)}
    grouped = (
        await AdvNote.all().group_by("body").annotate(total=Sum("n")).order_by("body").values("body", "total")
    )
    totals = by(NOTE_ROWS, "body")
    assert grouped == [{"body": b, "total": sum(x["n"] for x in g)} for b, g in sorted(totals.items())]
    maxed = await AdvNote.filter(
        ~Exists(AdvNote.filter(body=OuterRef("body"), n__gt=OuterRef("n")))
    ).values_list("id", flat=True)
    assert sorted(maxed) == sorted(
        x["id"] for x in NOTE_ROWS if not any(y["body"] == x["body"] and y["n"] > x["n"] for y in NOTE_ROWS)
    )
    small = CTE("small_notes", AdvNote.filter(n__lt=3))
    assert [x.id for x in await AdvNote.all().from_cte(small).order_by("id")] == [
        x["id"] for x in NOTE_ROWS if x["n"] < 3
    ]
    raw = await AdvNote.raw("SELECT note_id, body_text, num FROM adv_note WHERE num > $1 ORDER BY note_id", 3)
    assert [(x.id, x.body, x.n) for x in raw] == [
        (x["id"], x["body"], x["n"]) for x in NOTE_ROWS if x["n"] > 3
    ]
    combined = (
        await AdvNote.filter(n=0).union(AdvNote.filter(n=6)).order_by("-id").values_list("id", flat=True)
    )
    assert combined == sorted((x["id"] for x in NOTE_ROWS if x["n"] in (0, 6)), reverse=True)
    distinct = await AdvNote.all().distinct("body").order_by("body", "-n").values("body", "n")
    assert distinct == [{"body": b, "n": max(x["n"] for x in g)} for b, g in sorted(totals.items())]


async def test_aggregate_over_a_grouped_query_reads_its_groups() -> None:
    """``aggregate()`` of a ``group_by()`` query aggregates its groups (the inner query selects the groups and
    the annotations: selecting every column failed with a GroupingError), sliced or not."""
    totals = sorted(
        ((region, sum(o["qty"] for o in rows)) for region, rows in by(ORDERS, "region").items()),
        key=lambda pair: pair[0],
    )
    grouped = AdvOrder.all().annotate(total=Sum("qty"), n=Count("id")).group_by("region").order_by("region")
    assert await grouped.aggregate(top=Max("total"), low=Min("total")) == {
        "top": max(t for _, t in totals),
        "low": min(t for _, t in totals),
    }
    assert await grouped[:2].aggregate(top=Max("total")) == {"top": max(t for _, t in totals[:2])}
    assert await grouped.aggregate(groups=Count("region")) == {"groups": len(totals)}


async def test_a_none_in_an_in_list_matches_nothing_and_excludes_nothing() -> None:
    """``in`` leaves a None out (no column equals NULL): ``filter(score__in=[x, None])`` is
    ``filter(score__in=[x])``, and its ``exclude()`` keeps every row with another non-NULL score (a NULL in
    the array made ``NOT (score = ANY(...))`` NULL for all of them, so it matched none)."""
    score = CUSTOMERS[0]["score"]
    with_score = sorted(c["id"] for c in CUSTOMERS if c["score"] == score)
    others = sorted(c["id"] for c in CUSTOMERS if c["score"] is not None and c["score"] != score)
    ids = AdvCustomer.all().order_by("id")
    assert await ids.filter(score__in=[score, None]).values_list("id", flat=True) == with_score
    assert await ids.exclude(score__in=[score, None]).values_list("id", flat=True) == others
    assert await ids.filter(score__in=[None]).values_list("id", flat=True) == []
    everyone = [c["id"] for c in CUSTOMERS]
    assert await ids.exclude(score__in=[None]).values_list("id", flat=True) == everyone


async def test_an_empty_q_asks_for_nothing_even_negated() -> None:
    everyone = [c["id"] for c in CUSTOMERS]
    ids = AdvCustomer.all().order_by("id")
    for qs in (
        ids.filter(Q()),
        ids.exclude(Q()),
        ids.filter(~Q()),
        ids.filter(~Q(Q(), ~Q())),
        ids.exclude(Q(), Q()),
    ):
        assert await qs.values_list("id", flat=True) == everyone
    active = [c["id"] for c in CUSTOMERS if c["is_active"]]
    assert await ids.exclude(Q(), is_active=False).values_list("id", flat=True) == active
    assert await ids.filter(~Q(), is_active=True).values_list("id", flat=True) == active


async def test_exists_combines_with_q_objects() -> None:
    """``Exists(...) | Q(...)``, ``Q(...) | Exists(...)`` and ``Exists & Exists`` are conditions, as
    ``Q(Exists(...)) | Q(...)`` is."""
    ordered = Exists(AdvOrder.filter(customer_id=OuterRef("id")))
    big = Exists(AdvOrder.filter(customer_id=OuterRef("id"), qty__gte=9))
    buyers = {o["customer_id"] for o in ORDERS}
    big_buyers = {o["customer_id"] for o in ORDERS if o["qty"] >= 9}
    ids = AdvCustomer.all().order_by("id")
    assert await ids.filter(ordered | Q(id=8)).values_list("id", flat=True) == sorted(buyers | {8})
    assert await ids.filter(Q(id=8) | ~ordered).values_list("id", flat=True) == [8]
    assert await ids.filter(ordered & big).values_list("id", flat=True) == sorted(big_buyers)
    assert await ids.filter(Q(id__lte=3) & big).values_list("id", flat=True) == sorted(
        i for i in big_buyers if i <= 3
    )
    with pytest.raises(ParameterError):
        ordered | 3  # noqa: B018
