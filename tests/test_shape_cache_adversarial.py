"""Adversarial probes of the compiled-SQL cache (query/compiler.py, query/shapes.py, query/select.py):
queries that differ only in what must change the SQL never share a statement, values are always bound in the
order the SQL reads them, and the results match what Python computes from the seeded rows."""

from __future__ import annotations

from collections import defaultdict

import pytest
from advanced_models import AdvCustomer, AdvOrder, customer_rows, load, order_rows

from matrx_orm import CTE, F, Sum, Value
from matrx_orm.query import compiler, hydrate, relation_filters

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
    monkeypatch.setattr(compiler, "CACHE_LIMIT", 16)
    caches = (
        compiler._cache,
        compiler._resolved,
        relation_filters._paths,
        hydrate._loaders,
        hydrate._row_converters,
    )
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
