"""The benchmark scenarios: raw asyncpg vs matrx-orm doing the same work on the same rows.

To add one: write ``raw_*`` and ``orm_*`` coroutines taking ``(ctx, data)``, optionally ``setup`` (once),
``prepare`` (before every timed block, untimed; returns ``data``) and ``check`` (validates a result once after
warm-up), then add a :class:`Scenario` to ``SCENARIOS``. Execution order is the dict's order. Every scenario
whose raw side goes through the pool also runs that raw side on asyncpg's default-reset pool (the
``asyncpg (default reset)`` contestant); the SQLAlchemy and Tortoise peers live in ``peers_*.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
from _harness import Contestant, RunFn, Scenario
from _setup import (
    COLUMNS,
    DATABASE_PROJECT,
    TABLE,
    TAG_LABELS,
    TAG_TABLE,
    Context,
    PoolView,
    ensure_seeded,
    ensure_tagged,
)

DEFAULT_RESET = "asyncpg (default reset)"

SELECT_COLS = ", ".join(COLUMNS)
GET_SQL = f"SELECT {SELECT_COLS} FROM {TABLE} WHERE id = $1"
FILTER_SQL = f"SELECT {SELECT_COLS} FROM {TABLE} WHERE group_id = $1"
INSERT_SQL = f"INSERT INTO {TABLE} ({SELECT_COLS}) VALUES ($1, $2, $3, $4, $5)"
UPDATE_SQL = f"UPDATE {TABLE} SET flag = $1 WHERE group_id = $2"
UPDATE_RETURNING_SQL = f"{UPDATE_SQL} RETURNING {SELECT_COLS}"


def _field(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping | asyncpg.Record) else getattr(obj, name)


def on_default_reset_pool(fn: RunFn) -> RunFn:
    """``fn`` (a raw contestant) run on asyncpg's default pool, which resets every connection it takes back."""

    async def run(ctx: Context, data: Any) -> Any:
        return await fn(PoolView(ctx, ctx.default_reset_pool), data)

    return run


# -- get-by-pk ----------------------------------------------------------------------------------------------


async def prepare_ids(ctx: Context, round_no: int) -> list[str]:
    return random.Random(round_no).choices(ctx.ids, k=ctx.sizes.gets)


async def raw_get(ctx: Context, ids: list[str]) -> list[Any]:
    fetchrow = ctx.pool.fetchrow
    return [await fetchrow(GET_SQL, i) for i in ids]


async def orm_get(ctx: Context, ids: list[str]) -> list[Any]:
    get = ctx.orm_model.get
    return [await get(use_cache=False, id=i) for i in ids]


async def check_gets(ctx: Context, who: Contestant, ids: list[str], result: list[Any]) -> str | None:
    if len(result) != len(ids):
        return f"{len(result)} results for {len(ids)} ids"
    for i, row in zip(ids, result, strict=True):
        if row is None or str(_field(row, "id")) != i:
            return f"id {i} returned {row!r}"
    return None


# -- cached-get -----------------------------------------------------------------------------------------------


_raw_row_cache: dict[str, asyncpg.Record] = {}  # cached-get's hand-written cache: id -> record


async def prepare_cached(ctx: Context, round_no: int) -> list[str]:
    """``cached_gets`` ids drawn from ``cached_ids`` seed ids, every one of them cached on both sides."""
    rng = random.Random(30_000 + round_no)
    chosen = rng.sample(ctx.ids, ctx.sizes.cached_ids)
    for i in chosen:
        if i not in _raw_row_cache:
            _raw_row_cache[i] = await ctx.pool.fetchrow(GET_SQL, i)
    if ctx.orm_model is not None:
        get = ctx.orm_model.get
        for i in chosen:
            await get(id=i)  # a miss reads the row and caches it; a hit costs nothing
    return rng.choices(chosen, k=ctx.sizes.cached_gets)


async def raw_cached(ctx: Context, ids: list[str]) -> list[dict[str, Any]]:
    """The hand-written equivalent of the row cache: a dict of records, a fresh dict per call."""
    cache = _raw_row_cache
    fetchrow = ctx.pool.fetchrow
    out = []
    for i in ids:
        record = cache.get(i)
        if record is None:
            record = cache[i] = await fetchrow(GET_SQL, i)
        out.append(dict(record))
    return out


async def orm_cached(ctx: Context, ids: list[str]) -> list[Any]:
    get = ctx.orm_model.get
    return [await get(id=i) for i in ids]


# -- filter-1000 --------------------------------------------------------------------------------------------


async def prepare_groups(ctx: Context, round_no: int) -> list[int]:
    return [(round_no + k) % ctx.sizes.groups for k in range(ctx.sizes.filter_reps)]


async def raw_filter(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(FILTER_SQL, g)] for g in groups]


async def orm_filter(ctx: Context, groups: list[int]) -> list[list[Any]]:
    model = ctx.orm_model
    return [await model.filter(group_id=g).all() for g in groups]


async def check_filter(
    ctx: Context, who: Contestant, groups: list[int], result: list[list[Any]]
) -> str | None:
    for g, rows in zip(groups, result, strict=True):
        if len(rows) != ctx.sizes.rows_per_group:
            return f"group {g}: {len(rows)} rows, expected {ctx.sizes.rows_per_group}"
        if any(_field(r, "group_id") != g for r in rows):
            return f"group {g}: rows of another group"
    if who == "matrx-orm" and not isinstance(result[0][0], ctx.orm_model):  # the others: dicts, rows, objects
        return f"expected Bench instances, got {type(result[0][0]).__name__}"
    return None


# -- bulk_create --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkRows:
    tuples: list[tuple[str, str, int, int, bool]]
    dicts: list[dict[str, Any]]


async def setup_bulk(ctx: Context) -> None:
    ctx.seeded = False  # this scenario empties the table; later read scenarios re-seed


async def prepare_bulk(ctx: Context, round_no: int) -> BulkRows:
    await ctx.pool.execute(f"TRUNCATE {TABLE}")
    rng = random.Random(10_000 + round_no)
    tuples = [
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"new-{i}",
            i % 50,
            rng.randrange(1000),
            i % 2 == 0,
        )
        for i in range(ctx.sizes.bulk_rows)
    ]
    dicts = [dict(zip(COLUMNS, t, strict=True)) for t in tuples]
    return BulkRows(tuples, dicts)


async def raw_bulk(ctx: Context, rows: BulkRows) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.executemany(INSERT_SQL, rows.tuples)


async def raw_copy(ctx: Context, rows: BulkRows) -> None:
    async with ctx.pool.acquire() as conn:
        await conn.copy_records_to_table(TABLE, records=rows.tuples, columns=list(COLUMNS))


async def orm_bulk(ctx: Context, rows: BulkRows) -> Any:
    return await ctx.orm_model.bulk_create(rows.dicts)


async def check_bulk(ctx: Context, who: Contestant, rows: BulkRows, result: Any) -> str | None:
    stored = await ctx.pool.fetchval(f"SELECT count(*) FROM {TABLE}")
    if stored != len(rows.tuples):
        return f"{stored} rows stored, expected {len(rows.tuples)}"
    if who == "matrx-orm" and (result is None or len(result) != len(rows.dicts)):
        return f"bulk_create returned {type(result).__name__} of length {len(result) if result else 0}"
    return None


# -- bulk_create-mixed --------------------------------------------------------------------------------------

MIXED_TABLE = "bench_mixed"
MIXED_COLUMNS = ("id", "name", "price", "opens", "lasts", "tags", "ip", "meta")
MIXED_INSERT_SQL = (
    f"INSERT INTO {MIXED_TABLE} ({', '.join(MIXED_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(MIXED_COLUMNS) + 1))})"
)
_mixed_models: dict[str, Any] = {}


def mixed_model() -> Any:
    """``BenchMixed``: a decimal, a time, an interval, a text array, an inet and a jsonb besides id/name."""
    if "model" not in _mixed_models:
        from matrx_orm import (
            ArrayField,
            CharField,
            DecimalField,
            IPAddressField,
            JSONBField,
            Model,
            TextField,
            TimeDeltaField,
            TimeField,
            UUIDField,
        )

        class BenchMixed(Model):
            id = UUIDField(primary_key=True)
            name = CharField(max_length=100)
            price = DecimalField(max_digits=10, decimal_places=2)
            opens = TimeField()
            lasts = TimeDeltaField()
            tags = ArrayField(TextField())
            ip = IPAddressField()
            meta = JSONBField()

            _table_name = MIXED_TABLE
            _database = DATABASE_PROJECT

        _mixed_models["model"] = BenchMixed
    return _mixed_models["model"]


async def setup_mixed(ctx: Context) -> None:
    if ctx.orm_model is None:  # the ORM is unavailable: the raw side still needs the table
        await ctx.pool.execute(
            f"CREATE TABLE IF NOT EXISTS {MIXED_TABLE} (id uuid PRIMARY KEY, name varchar(100) NOT NULL, "
            "price numeric(10, 2), opens time, lasts interval, tags text[], ip inet, meta jsonb)"
        )
        return
    import matrx_orm

    await matrx_orm.create_all(DATABASE_PROJECT, models=[mixed_model()])


@dataclass(frozen=True)
class MixedRows:
    tuples: list[tuple[Any, ...]]  # as asyncpg takes them, except meta (a dict: dumped in the timed block)
    dicts: list[dict[str, Any]]


async def prepare_mixed(ctx: Context, round_no: int) -> MixedRows:
    await ctx.pool.execute(f"TRUNCATE {MIXED_TABLE}")
    rng = random.Random(20_000 + round_no)
    tuples = [
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"item-{i}",
            Decimal(rng.randrange(-(10**9), 10**9)).scaleb(-2),
            dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60), rng.randrange(10**6)),
            dt.timedelta(days=rng.randrange(-5, 30), seconds=rng.randrange(86_400), microseconds=i),
            ["sale", f"cat-{i % 17}", 'say "hi", {ok}'] if i % 10 else [],
            ipaddress.IPv4Address(rng.getrandbits(32)),
            {"n": i, "src": "web", "ok": i % 3 == 0},
        )
        for i in range(ctx.sizes.bulk_rows)
    ]
    dicts = [dict(zip(MIXED_COLUMNS, t, strict=True)) for t in tuples]
    return MixedRows(tuples, dicts)


async def raw_mixed(ctx: Context, rows: MixedRows) -> None:
    dumps = json.dumps
    args = [(*t[:-1], dumps(t[-1])) for t in rows.tuples]  # plain asyncpg sends jsonb as text
    async with ctx.pool.acquire() as conn:
        await conn.executemany(MIXED_INSERT_SQL, args)


async def orm_mixed(ctx: Context, rows: MixedRows) -> Any:
    return await mixed_model().bulk_create(rows.dicts)


async def check_mixed(ctx: Context, who: Contestant, rows: MixedRows, result: Any) -> str | None:
    first = rows.tuples[0]
    stored = await ctx.pool.fetch(
        f"SELECT count(*) OVER () AS n, {', '.join(MIXED_COLUMNS[:-1])} FROM {MIXED_TABLE} WHERE id = $1",
        first[0],
    )
    count = await ctx.pool.fetchval(f"SELECT count(*) FROM {MIXED_TABLE}")
    if count != len(rows.tuples):
        return f"{count} rows stored, expected {len(rows.tuples)}"
    got = tuple(stored[0])[1:] if stored else None
    if got is None or (str(got[0]), *got[1:]) != (first[0], *first[1:-1]):
        return f"first row stored as {got!r}, expected {first[:-1]!r}"
    if who == "matrx-orm" and (result is None or len(result) != len(rows.dicts)):
        return f"bulk_create returned {type(result).__name__} of length {len(result) if result else 0}"
    return None


# -- update_where -------------------------------------------------------------------------------------------


async def prepare_update(ctx: Context, round_no: int) -> list[int]:
    await ctx.pool.execute(f"VACUUM {TABLE}")  # the same amount of dead tuples before every block
    return [(round_no + k) % ctx.sizes.groups for k in range(ctx.sizes.update_groups)]


async def raw_update(ctx: Context, groups: list[int]) -> list[str]:
    execute = ctx.pool.execute
    return [await execute(UPDATE_SQL, True, g) for g in groups]


async def orm_update(ctx: Context, groups: list[int]) -> list[Any]:
    update_where = ctx.orm_model.update_where
    return [await update_where({"group_id": g}, flag=True) for g in groups]


def _updated_count(result: Any) -> int:
    """Rows one update touched, whatever the contestant returned: a status string (``UPDATE 1000``), a
    count, the updated rows, or matrx-orm's result (``rows_affected``)."""
    if isinstance(result, str):
        return int(result.split()[-1])
    if isinstance(result, int):
        return result
    if isinstance(result, list):
        return len(result)
    return _field(result, "rows_affected")


async def check_update(ctx: Context, who: Contestant, groups: list[int], result: list[Any]) -> str | None:
    expected = ctx.sizes.rows_per_group
    for g, status in zip(groups, result, strict=True):
        count = _updated_count(status)
        if count != expected:
            return f"group {g}: {count} rows updated, expected {expected} (result {status!r:.200})"
    return None


# update_where returns the updated rows (contract: {"rows_affected": n, "updated_rows": [...]}), so it runs
# UPDATE ... RETURNING; the instances are built when ``updated_rows`` is first read. The two scenarios below
# split that cost from the ORM's own overhead: "vs-returning" reads every updated row on both sides.


async def raw_update_returning(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(UPDATE_RETURNING_SQL, True, g)] for g in groups]


async def orm_update_read_rows(ctx: Context, groups: list[int]) -> list[Any]:
    update_where = ctx.orm_model.update_where
    results = []
    for g in groups:
        result = await update_where({"group_id": g}, flag=True)
        result.updated_rows  # noqa: B018 (build the instances, as the raw side builds its dicts)
        results.append(result)
    return results


async def orm_filter_update(ctx: Context, groups: list[int]) -> list[int]:
    model = ctx.orm_model
    return [await model.filter(group_id=g).update(flag=True) for g in groups]


# -- concurrent-gets-200 ----------------------------------------------------------------------------------------


async def prepare_batches(ctx: Context, round_no: int) -> list[list[str]]:
    rng = random.Random(20_000 + round_no)
    return [rng.choices(ctx.ids, k=ctx.sizes.concurrent) for _ in range(ctx.sizes.concurrent_batches)]


async def raw_concurrent(ctx: Context, batches: list[list[str]]) -> list[Any]:
    fetchrow = ctx.pool.fetchrow
    out: list[Any] = []
    for batch in batches:
        out += await asyncio.gather(*(fetchrow(GET_SQL, i) for i in batch))
    return out


async def orm_concurrent(ctx: Context, batches: list[list[str]]) -> list[Any]:
    get = ctx.orm_model.get
    out: list[Any] = []
    for batch in batches:
        out += await asyncio.gather(*(get(use_cache=False, id=i) for i in batch))
    return out


async def check_concurrent(
    ctx: Context, who: Contestant, batches: list[list[str]], result: list[Any]
) -> str | None:
    return await check_gets(ctx, who, [i for b in batches for i in b], result)


# -- advanced path: aggregate(), group_by().annotate().values(), annotate(function), windows -----------------

AGGREGATE_SQL = f"SELECT sum(score) AS total, count(id) AS n FROM {TABLE} WHERE group_id = $1"
GROUPED_SQL = (
    f"SELECT group_id, count(id) AS n, sum(score) AS total FROM {TABLE} "
    "WHERE group_id >= $1 AND group_id < $2 GROUP BY group_id ORDER BY group_id"
)
LOWER_SQL = f"SELECT id, lower(name) AS lower FROM {TABLE} WHERE group_id = $1"
WINDOW_SQL = (
    f"SELECT id, row_number() OVER (ORDER BY score DESC) AS rank FROM {TABLE} "
    "WHERE group_id = $1 AND score >= $2"
)


async def prepare_advanced(ctx: Context, round_no: int) -> list[int]:
    return [(round_no + k) % ctx.sizes.groups for k in range(ctx.sizes.advanced_reps)]


async def raw_aggregate(ctx: Context, groups: list[int]) -> list[dict[str, Any]]:
    fetchrow = ctx.pool.fetchrow
    return [dict(await fetchrow(AGGREGATE_SQL, g)) for g in groups]


async def orm_aggregate(ctx: Context, groups: list[int]) -> list[dict[str, Any]]:
    from matrx_orm import Count, Sum

    model = ctx.orm_model
    return [await model.filter(group_id=g).aggregate(total=Sum("score"), n=Count("id")) for g in groups]


async def check_aggregate(
    ctx: Context, who: Contestant, groups: list[int], result: list[dict[str, Any]]
) -> str | None:
    for g, row in zip(groups, result, strict=True):
        expected = await ctx.pool.fetchval(f"SELECT sum(score) FROM {TABLE} WHERE group_id = $1", g)
        if row.get("n") != ctx.sizes.rows_per_group or row.get("total") != expected:
            return f"group {g}: got {row!r}, expected n={ctx.sizes.rows_per_group} total={expected}"
    return None


def group_window(ctx: Context, g: int) -> tuple[int, int]:
    start = min(g, ctx.sizes.groups - 2)
    return start, start + 2


async def raw_grouped(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(GROUPED_SQL, *group_window(ctx, g))] for g in groups]


async def orm_grouped(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    from matrx_orm import Count, Sum

    model = ctx.orm_model
    out = []
    for g in groups:
        low, high = group_window(ctx, g)
        qs = model.filter(group_id__gte=low, group_id__lt=high).group_by("group_id")
        qs = qs.annotate(n=Count("id"), total=Sum("score")).order_by("group_id")
        out.append(await qs.values("group_id", "n", "total"))
    return out


async def check_grouped(
    ctx: Context, who: Contestant, groups: list[int], result: list[list[dict[str, Any]]]
) -> str | None:
    for g, rows in zip(groups, result, strict=True):
        low, high = group_window(ctx, g)
        if [r["group_id"] for r in rows] != list(range(low, high)):
            return f"groups {low}..{high}: got {rows!r:.200}"
        if any(r["n"] != ctx.sizes.rows_per_group for r in rows):
            return f"groups {low}..{high}: wrong counts {rows!r:.200}"
    return None


async def raw_lower(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(LOWER_SQL, g)] for g in groups]


async def orm_lower(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    from matrx_orm import Lower

    model = ctx.orm_model
    return [
        await model.filter(group_id=g).annotate(lower=Lower("name")).values("id", "lower") for g in groups
    ]


async def check_lower(
    ctx: Context, who: Contestant, groups: list[int], result: list[list[dict[str, Any]]]
) -> str | None:
    for g, rows in zip(groups, result, strict=True):
        if len(rows) != ctx.sizes.rows_per_group:
            return f"group {g}: {len(rows)} rows, expected {ctx.sizes.rows_per_group}"
        if any(set(r) != {"id", "lower"} or r["lower"] != r["lower"].lower() for r in rows):
            return f"group {g}: unexpected rows {rows[:2]!r}"
    return None


async def raw_window(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(WINDOW_SQL, g, 990_000)] for g in groups]


async def orm_window(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    from matrx_orm import RowNumber, Window

    model = ctx.orm_model
    out = []
    for g in groups:
        qs = model.filter(group_id=g, score__gte=990_000)
        qs = qs.annotate(rank=Window(RowNumber(), order_by="-score"))
        out.append(await qs.values("id", "rank"))
    return out


async def check_window(
    ctx: Context, who: Contestant, groups: list[int], result: list[list[dict[str, Any]]]
) -> str | None:
    for g, rows in zip(groups, result, strict=True):
        expected = await ctx.pool.fetchval(
            f"SELECT count(*) FROM {TABLE} WHERE group_id = $1 AND score >= 990000", g
        )
        if sorted(r["rank"] for r in rows) != list(range(1, expected + 1)):
            return f"group {g}: ranks {sorted(r['rank'] for r in rows)!r:.200}, expected 1..{expected}"
    return None


# -- relation filter and subqueries (bench_tag: one tag per 10th bench row, labels t0..t4) -----------------

RELATION_SQL = (
    f"SELECT t.id, t.label FROM {TAG_TABLE} t "
    f"WHERE EXISTS (SELECT 1 FROM {TABLE} b WHERE b.id = t.bench_id AND b.group_id = $1)"
)
EXISTS_SQL = (
    f"SELECT b.id, b.name FROM {TABLE} b WHERE b.group_id = $1 "
    f"AND EXISTS (SELECT 1 FROM {TAG_TABLE} t WHERE t.bench_id = b.id AND t.label = $2)"
)
IN_SQL = (
    f"SELECT id, name FROM {TABLE} WHERE group_id = $1 "
    f"AND id IN (SELECT bench_id FROM {TAG_TABLE} WHERE label = $2)"
)


def tag_label(g: int) -> str:
    return f"t{g % TAG_LABELS}"


async def raw_relation(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(RELATION_SQL, g)] for g in groups]


async def orm_relation(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    tag = ctx.orm_tag_model
    return [await tag.filter(bench__group_id=g).values("id", "label") for g in groups]


async def check_relation(
    ctx: Context, who: Contestant, groups: list[int], result: list[list[dict[str, Any]]]
) -> str | None:
    for g, rows in zip(groups, result, strict=True):
        expected = ctx.sizes.rows_per_group // 10
        if len(rows) != expected or any(set(r) != {"id", "label"} for r in rows):
            return f"group {g}: {len(rows)} tags, expected {expected}: {rows[:2]!r}"
    return None


async def raw_exists(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(EXISTS_SQL, g, tag_label(g))] for g in groups]


async def orm_exists(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    from matrx_orm import Exists, OuterRef

    bench, tag = ctx.orm_model, ctx.orm_tag_model
    out = []
    for g in groups:
        tagged = Exists(tag.filter(bench_id=OuterRef("id"), label=tag_label(g)))
        out.append(await bench.filter(tagged, group_id=g).values("id", "name"))
    return out


async def raw_in(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    fetch = ctx.pool.fetch
    return [[dict(r) for r in await fetch(IN_SQL, g, tag_label(g))] for g in groups]


async def orm_in(ctx: Context, groups: list[int]) -> list[list[dict[str, Any]]]:
    bench, tag = ctx.orm_model, ctx.orm_tag_model
    return [
        await bench.filter(group_id=g, id__in=tag.filter(label=tag_label(g)).select("bench_id")).values(
            "id", "name"
        )
        for g in groups
    ]


async def check_tagged_rows(
    ctx: Context, who: Contestant, groups: list[int], result: list[list[dict[str, Any]]]
) -> str | None:
    for g, rows in zip(groups, result, strict=True):
        expected = await ctx.pool.fetch(EXISTS_SQL, g, tag_label(g))
        if sorted(str(r["id"]) for r in rows) != sorted(str(r["id"]) for r in expected) or not rows:
            return f"group {g}: {len(rows)} rows, expected {len(expected)}"
    return None


# -- the registry -------------------------------------------------------------------------------------------

# scenarios whose raw side does not go through the pool per statement the way the others do: no
# default-reset contestant (cached-get's raw side is a dict; copy is measured against executemany already)
NO_DEFAULT_RESET = {"cached-get", "bulk_create-vs-copy"}

_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="get-by-pk",
        description="sequential gets of random existing ids (orm: get(use_cache=False, id=...))",
        raw_fn=raw_get,
        orm_fn=orm_get,
        target=1.15,
        setup=ensure_seeded,
        prepare=prepare_ids,
        check=check_gets,
        ops=lambda ctx: ctx.sizes.gets,
    ),
    Scenario(
        name="cached-get",
        description="gets answered by the row cache (get(id=...), cached) vs a dict of records; us per call",
        raw_fn=raw_cached,
        orm_fn=orm_cached,
        target=1.0,
        target_us=5.0,
        setup=ensure_seeded,
        prepare=prepare_cached,
        check=check_gets,
        ops=lambda ctx: ctx.sizes.cached_gets,
    ),
    Scenario(
        name="filter-1000",
        description="fetch 1,000 rows by an indexed int column, hydrated (dicts vs model instances)",
        raw_fn=raw_filter,
        orm_fn=orm_filter,
        target=1.15,
        setup=ensure_seeded,
        prepare=prepare_groups,
        check=check_filter,
        ops=lambda ctx: ctx.sizes.filter_reps,
    ),
    Scenario(
        name="bulk_create",
        description="insert rows into an emptied table (executemany vs bulk_create(list of dicts))",
        raw_fn=raw_bulk,
        orm_fn=orm_bulk,
        target=1.0,
        setup=setup_bulk,
        prepare=prepare_bulk,
        check=check_bulk,
        ops=lambda ctx: 1,
    ),
    Scenario(
        name="bulk_create-vs-copy",
        description="as bulk_create, against copy_records_to_table (asyncpg's fastest insert)",
        raw_fn=raw_copy,
        orm_fn=orm_bulk,
        target=1.15,
        setup=setup_bulk,
        prepare=prepare_bulk,
        check=check_bulk,
        ops=lambda ctx: 1,
    ),
    Scenario(
        name="bulk_create-mixed",
        description="bulk_create of rows with decimal, time, interval, text[], inet and jsonb columns",
        raw_fn=raw_mixed,
        orm_fn=orm_mixed,
        target=1.0,
        setup=setup_mixed,
        prepare=prepare_mixed,
        check=check_mixed,
        ops=lambda ctx: 1,
    ),
    Scenario(
        name="update_where",
        description="UPDATE ... SET flag WHERE group_id (1,000 rows each) vs update_where",
        raw_fn=raw_update,
        orm_fn=orm_update,
        target=1.1,
        setup=ensure_seeded,
        prepare=prepare_update,
        check=check_update,
        ops=lambda ctx: ctx.sizes.update_groups,
    ),
    Scenario(
        name="update_where-vs-returning",
        description="extra: update_where reading updated_rows vs raw UPDATE ... RETURNING as dicts (same work)",
        raw_fn=raw_update_returning,
        orm_fn=orm_update_read_rows,
        target=1.1,
        setup=ensure_seeded,
        prepare=prepare_update,
        check=check_update,
        ops=lambda ctx: ctx.sizes.update_groups,
    ),
    Scenario(
        name="filter().update",
        description="extra: raw UPDATE status vs filter(group_id=g).update(flag=True) (a count, no RETURNING)",
        raw_fn=raw_update,
        orm_fn=orm_filter_update,
        target=1.1,
        setup=ensure_seeded,
        prepare=prepare_update,
        check=check_update,
        ops=lambda ctx: ctx.sizes.update_groups,
    ),
    Scenario(
        name="concurrent-gets-200",
        description="asyncio.gather of 200 concurrent gets through a pool of 10 connections",
        raw_fn=raw_concurrent,
        orm_fn=orm_concurrent,
        target=1.10,
        setup=ensure_seeded,
        prepare=prepare_batches,
        check=check_concurrent,
        ops=lambda ctx: ctx.sizes.concurrent * ctx.sizes.concurrent_batches,
    ),
    Scenario(
        name="aggregate-group",
        description="aggregate(total=Sum, n=Count) over the 1,000 rows of a group vs SELECT sum, count",
        raw_fn=raw_aggregate,
        orm_fn=orm_aggregate,
        target=1.25,
        setup=ensure_seeded,
        prepare=prepare_advanced,
        check=check_aggregate,
        ops=lambda ctx: ctx.sizes.advanced_reps,
    ),
    Scenario(
        name="grouped-values",
        description="group_by().annotate(Count, Sum).order_by().values() over 2 groups vs GROUP BY",
        raw_fn=raw_grouped,
        orm_fn=orm_grouped,
        target=1.25,
        setup=ensure_seeded,
        prepare=prepare_advanced,
        check=check_grouped,
        ops=lambda ctx: ctx.sizes.advanced_reps,
    ),
    Scenario(
        name="annotate-lower-1000",
        description="annotate(lower=Lower('name')).values('id', 'lower'): 1,000 rows per query",
        raw_fn=raw_lower,
        orm_fn=orm_lower,
        target=1.25,
        setup=ensure_seeded,
        prepare=prepare_groups,
        check=check_lower,
        ops=lambda ctx: ctx.sizes.filter_reps,
    ),
    Scenario(
        name="window-rank",
        description="annotate(rank=Window(RowNumber(), order_by='-score')).values() over ~10 rows",
        raw_fn=raw_window,
        orm_fn=orm_window,
        target=1.25,
        setup=ensure_seeded,
        prepare=prepare_advanced,
        check=check_window,
        ops=lambda ctx: ctx.sizes.advanced_reps,
    ),
    Scenario(
        name="relation-filter",
        description="BenchTag.filter(bench__group_id=g).values() (a correlated EXISTS) over 100 tags",
        raw_fn=raw_relation,
        orm_fn=orm_relation,
        target=1.25,
        setup=ensure_tagged,
        prepare=prepare_advanced,
        check=check_relation,
        ops=lambda ctx: ctx.sizes.advanced_reps,
    ),
    Scenario(
        name="exists-subquery",
        description="filter(Exists(BenchTag.filter(bench_id=OuterRef('id'), label=l)), group_id=g).values()",
        raw_fn=raw_exists,
        orm_fn=orm_exists,
        target=1.25,
        setup=ensure_tagged,
        prepare=prepare_advanced,
        check=check_tagged_rows,
        ops=lambda ctx: ctx.sizes.advanced_reps,
    ),
    Scenario(
        name="in-subquery",
        description="filter(group_id=g, id__in=BenchTag.filter(label=l).select('bench_id')).values()",
        raw_fn=raw_in,
        orm_fn=orm_in,
        target=1.25,
        setup=ensure_tagged,
        prepare=prepare_advanced,
        check=check_tagged_rows,
        ops=lambda ctx: ctx.sizes.advanced_reps,
    ),
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    if s.name in NO_DEFAULT_RESET
    else s.with_peers({DEFAULT_RESET: on_default_reset_pool(s.raw_fn)})
    for s in _SCENARIOS
}
