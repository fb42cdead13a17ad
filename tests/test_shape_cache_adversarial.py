"""Adversarial probes of the compiled-SQL cache (sql/compiler/cache.py, sql/compiler/select.py):
queries that differ only in what must change the SQL never share a statement, values are always bound in the
order the SQL reads them, and the results match what Python computes from the seeded rows."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from advanced_models import NOTE_ROWS, AdvCustomer, AdvNote, AdvOrder, customer_rows, load, order_rows

from matrx_orm import CTE, CharField, F, IntegerField, Lower, Model, Q, Sum, Value, create_all
from matrx_orm.db import executor
from matrx_orm.meta import memo
from matrx_orm.meta import rows as hydrate
from matrx_orm.sql.compiler import cache as compiler
from matrx_orm.sql.compiler import filters

ORDERS = order_rows()
CUSTOMERS = customer_rows()


@pytest.fixture(autouse=True)
async def data(db: str) -> None:
    await load(db)


def _grouped_by_modulo(modulo: int, threshold: int) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for order in ORDERS:
        totals[order["qty"] % modulo] += order["qty"]
    return {key: total for key, total in totals.items() if total > threshold}


# -- values are bound in SQL order on the resolver (uncached-walk) path ---------------------------------------------


@pytest.mark.parametrize("with_cte", [False, True])
async def test_group_by_value_and_having_value_keep_their_places(with_cte: bool) -> None:
    """GROUP BY is resolved after HAVING but written before it: the parameters must follow the SQL text.
    A CTE sends the query down the resolver path (the shape walk does not describe CTEs)."""
    compiler.clear_cache()
    for modulo, threshold in ((3, 40), (4, 20), (40, 3)):
        qs = (
            AdvOrder.all()
            .group_by(F("qty") % Value(modulo))
            .annotate(total=Sum("qty"))
            .filter(total__gt=threshold)
        )
        if with_cte:
            qs = qs.with_cte(CTE("unused_cte", "SELECT 1 AS x"))
        totals = await qs.values_list("total", flat=True)
        assert sorted(totals) == sorted(_grouped_by_modulo(modulo, threshold).values())


@pytest.mark.parametrize("with_cte", [False, True])
async def test_value_bound_but_dropped_from_the_sql_is_not_sent(with_cte: bool) -> None:
    """``annotation__in=[]`` renders ``false``: the annotation's value is bound while resolving but appears
    nowhere in the SQL, so it must not be passed to PostgreSQL."""
    qs = AdvOrder.all().annotate(t=F("qty") + Value(1))
    if with_cte:
        qs = qs.with_cte(CTE("unused_cte", "SELECT 1 AS x"))
    assert await qs.filter(t__in=[]).values_list("id", flat=True) == []
    wanted = sorted(o["id"] for o in ORDERS if o["qty"] + 1 in (2, 5))
    assert sorted(await qs.filter(t__in=[2, 5]).values_list("id", flat=True)) == wanted


# -- every cache stays bounded, whatever names the filters and selections use --------------------------------------


async def test_caches_stay_bounded_under_user_chosen_json_keys_and_field_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JSON key traversal (``data__<key>=...``) and ``values(*fields)`` take names from callers (an API's query
    string): each distinct one must not grow a cache for ever. Results stay right across the clears."""
    monkeypatch.setattr(memo, "CACHE_LIMIT", 16)
    caches = (
        compiler._cache,
        filters._resolved,
        filters._paths,
        hydrate._loaders,
        hydrate._row_converters,
    )
    for cache in caches:  # earlier tests filled them; a cache this test never adds to would not shrink
        cache.clear()
    for i in range(60):
        key = ("email", "phone", f"missing{i}")[i % 3]
        found = await AdvOrder.filter(**{f"data__{key}__isnull": False}).values_list("id", flat=True)
        assert sorted(found) == sorted(o["id"] for o in ORDERS if o["data"] is not None and key in o["data"])
        names = ("id", "qty", "region", "status")[: 1 + i % 4]
        rows = await AdvOrder.filter(id=1 + i % 40).values(*names[::-1] if i % 2 else names)
        assert rows == [{name: ORDERS[i % 40][name] for name in names}]
        loaded = await AdvOrder.filter(id=1 + i % 40).select(*names[1:]).all()
        assert [(o.id, o.qty if "qty" in names else None) for o in loaded] == [
            (ORDERS[i % 40]["id"], ORDERS[i % 40]["qty"] if "qty" in names else None)
        ]
        assert all(len(cache) <= 16 for cache in caches), [len(cache) for cache in caches]


# -- set operations ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nulls_last", [None, True, False])
@pytest.mark.parametrize("descending", [False, True])
async def test_union_ordering_keeps_nulls_placement(descending: bool, nulls_last: bool | None) -> None:
    """``union(...).order_by(F("x").desc(nulls_last=True))``: NULLS FIRST/LAST is part of the SQL (and of the
    shape), run one after the other on the same cache."""
    both = AdvCustomer.filter(tenant=0).union(AdvCustomer.filter(tenant__gt=0))
    field = F("nickname")
    ordering = field.desc(nulls_last=nulls_last) if descending else field.asc(nulls_last=nulls_last)
    rows = await both.order_by(ordering, "id").values_list("nickname", "id")
    if nulls_last is None:
        nulls_last = not descending  # PostgreSQL's default: NULLs are the largest values
    present = sorted(
        ((c["nickname"], c["id"]) for c in CUSTOMERS if c["nickname"] is not None), reverse=descending
    )
    present = sorted(present, key=lambda pair: pair[1])  # ids ascending within equal nicknames
    present = sorted(present, key=lambda pair: pair[0], reverse=descending)
    missing = sorted((None, c["id"]) for c in CUSTOMERS if c["nickname"] is None)
    assert rows == (present + missing if nulls_last else missing + present)


# -- near misses on the real database: same structure, different SQL ---------------------------------------------


def _near_misses() -> list[tuple[Any, Any]]:
    """(query, expected ids computed in Python) pairs of one structure differing in what changes the SQL."""
    o = ORDERS
    data = [r for r in o if r["data"] is not None]
    return [
        (AdvOrder.filter(shipped_at__isnull=True), [r["id"] for r in o if r["shipped_at"] is None]),
        (AdvOrder.filter(shipped_at__isnull=False), [r["id"] for r in o if r["shipped_at"] is not None]),
        (AdvOrder.filter(shipped_at=None), [r["id"] for r in o if r["shipped_at"] is None]),
        (AdvOrder.filter(qty__in=[]), []),
        (AdvOrder.filter(qty__in=[2, 3]), [r["id"] for r in o if r["qty"] in (2, 3)]),
        (AdvOrder.exclude(qty__in=[]), [r["id"] for r in o]),
        (
            AdvOrder.filter(Q(qty=2) | Q(region="east")),
            [r["id"] for r in o if r["qty"] == 2 or r["region"] == "east"],
        ),
        (
            AdvOrder.filter(Q(qty=2) & Q(region="east")),
            [r["id"] for r in o if r["qty"] == 2 and r["region"] == "east"],
        ),
        (
            AdvOrder.filter(~Q(qty=2) | Q(region="east")),
            [r["id"] for r in o if r["qty"] != 2 or r["region"] == "east"],
        ),
        (
            AdvOrder.filter(data__settings__size=2),
            [r["id"] for r in data if r["data"]["settings"]["size"] == 2],
        ),
        (AdvOrder.filter(data__settings=2), []),
        (
            AdvOrder.filter(data__settings__size__gt=2),
            [r["id"] for r in data if r["data"]["settings"]["size"] > 2],
        ),
        (
            AdvOrder.filter(data__settings__theme__startswith="d"),
            [r["id"] for r in data if r["data"]["settings"]["theme"] == "dark"],
        ),
        (AdvOrder.filter(qty__gt=F("customer_id")), [r["id"] for r in o if r["qty"] > r["customer_id"]]),
        (AdvOrder.filter(qty__gt=F("id")), [r["id"] for r in o if r["qty"] > r["id"]]),
        (
            AdvOrder.all().annotate(t=F("qty") + Value(1)).filter(t__gt=5),
            [r["id"] for r in o if r["qty"] + 1 > 5],
        ),
        (
            AdvOrder.all().annotate(t=F("qty") * Value(2)).filter(t__gt=5),
            [r["id"] for r in o if r["qty"] * 2 > 5],
        ),
        (
            AdvOrder.all().annotate(t=F("qty") + Value(Decimal("0.5"))).filter(t__gt=5),
            [r["id"] for r in o if r["qty"] + Decimal("0.5") > 5],
        ),
        (AdvOrder.all().annotate(t=F("qty") + Value(1)).filter(t__isnull=True), []),
        (
            AdvOrder.all().annotate(t=Lower("region")).filter(t="east"),
            [r["id"] for r in o if r["region"] == "east"],
        ),
        (AdvOrder.all().annotate(t=Lower("status")).filter(t="east"), []),
        (AdvOrder.all().annotate(t=Lower("status")).filter(t__in=[]), []),
        (
            AdvOrder.all().annotate(t=Lower("status")).exclude(t="paid"),
            [r["id"] for r in o if r["status"] != "paid"],
        ),
    ]


async def test_near_miss_queries_return_their_own_rows() -> None:
    cases = _near_misses()
    for _ in range(2):  # second round: every shape is cached, values rebound
        for qs, expected in cases:
            assert sorted(await qs.values_list("id", flat=True)) == sorted(expected), qs


async def test_many_tasks_building_different_shapes_at_once() -> None:
    """asyncio tasks interleave at every await: shapes compiled by one task while others run their queries."""
    compiler.clear_cache()
    cases = _near_misses() * 3
    results = await asyncio.gather(*(qs.values_list("id", flat=True) for qs, _ in cases))
    assert [sorted(r) for r in results] == [sorted(expected) for _, expected in cases]


async def test_db_column_fields_in_pk_get_and_filters() -> None:
    for row in NOTE_ROWS[:3]:
        note = await AdvNote.get(id=row["id"])
        assert (note.id, note.body, note.n) == (row["id"], row["body"], row["n"])
    got = await AdvNote.filter(n__gt=F("id")).annotate(b=Lower("body")).values_list("id", "b")
    assert sorted(got) == sorted((r["id"], r["body"]) for r in NOTE_ROWS if r["n"] > r["id"])


async def test_model_redefined_with_the_same_name_and_table(db: str) -> None:
    """Tests (and re-imports) define a model again: the cached SQL of the old class must not serve the new."""

    def define(swapped: bool) -> Any:
        class Twin(Model):
            id = IntegerField(primary_key=True)
            a = IntegerField(null=False) if not swapped else CharField(max_length=10, null=False)
            b = CharField(max_length=10, null=False) if not swapped else IntegerField(null=False)

            _table_name = "adv_twin"
            _database = "test"

        return Twin

    results = []
    for swapped in (False, True):
        twin = define(swapped)
        await executor.execute(db, "DROP TABLE IF EXISTS adv_twin", [])
        await create_all(db, models=[twin])
        rows = [{"id": 1, "a": 5, "b": "x"}, {"id": 2, "a": 7, "b": "y"}]
        if swapped:
            rows = [{"id": 1, "a": "x", "b": 5}, {"id": 2, "a": "y", "b": 7}]
        await twin.bulk_create(rows)
        filters = {"b": 7} if swapped else {"a": 7}
        results.append(await twin.filter(**filters).values("id", "a", "b"))
    assert results == [[{"id": 2, "a": 7, "b": "y"}], [{"id": 2, "a": "y", "b": 7}]]
