"""A project on a SQLAlchemy ``AsyncEngine`` (``DatabaseProjectConfig(engine=...)``) vs one on matrx-orm's
own asyncpg pool, with raw asyncpg as the baseline.

    python benchmarks/engine_pool.py [--quick] [--rounds N] [--json PATH]

Three contestants in the same process, on the same server and the same rows, in interleaved rounds (the
harness of ``run.py``): ``asyncpg`` (a raw pool without the reset round trip), ``matrx-orm`` (a project on
its own pool) and ``matrx-orm on engine`` (a project on an ``AsyncEngine``'s ``QueuePool``, the same size).
Each project has its own copy of the table (UUID key, JSON column), so both read UUIDs and JSON. Not part of
the test suite: it prints and never asserts. See docs/sqlalchemy.md ("What it costs").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from _harness import (
    BASELINE,
    SUBJECT,
    Scenario,
    ScenarioResult,
    format_contestants,
    render_table,
    run_scenario,
    write_json,
)
from _setup import create_database, create_raw_pool, drop_database, server_url

ON_ENGINE = "matrx-orm on engine"
GROUPS = 10
PER_GROUP = 1000
POOL_SIZE = 10


@dataclass
class Context:
    url: str
    gets: int
    filters: int
    writes: int
    pool: asyncpg.Pool
    engine: Any = None
    models: dict[str, Any] = field(default_factory=dict)  # contestant -> model
    ids: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer operations per block, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7, quick 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up blocks per contestant")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a block is abandoned")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-round progress lines")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- setup ----------------------------------------------------------------------------------------------------


def define_models(url: str) -> tuple[Any, dict[str, Any]]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    from matrx_orm import (
        CharField,
        DatabaseProjectConfig,
        IntegerField,
        JSONField,
        Model,
        UUIDField,
        register_database,
    )

    engine = create_async_engine(
        make_url(url).set(drivername="postgresql+asyncpg"), pool_size=POOL_SIZE, max_overflow=0
    )
    register_database(
        DatabaseProjectConfig(name="own_pool", url=url, pool_min_size=POOL_SIZE, pool_max_size=POOL_SIZE)
    )
    register_database(DatabaseProjectConfig(name="on_engine", engine=engine))
    models = {}
    for contestant, project in ((SUBJECT, "own_pool"), (ON_ENGINE, "on_engine")):
        namespace = {
            "id": UUIDField(primary_key=True),
            "name": CharField(max_length=100),
            "group_id": IntegerField(index=True),
            "score": IntegerField(),
            "doc": JSONField(null=True),
            "_table_name": f"bench_{project}",
            "_database": project,
        }
        models[contestant] = type(f"Bench_{project}", (Model,), namespace)
    return engine, models


async def open_context(url: str, args: argparse.Namespace) -> Context:
    from matrx_orm import create_all

    pool = await create_raw_pool(url, POOL_SIZE)
    quick = args.quick
    ctx = Context(
        url,
        gets=500 if quick else 2000,
        filters=20 if quick else 50,
        writes=200 if quick else 1000,
        pool=pool,
    )
    ctx.engine, ctx.models = define_models(url)
    ctx.ids = [str(uuid.UUID(int=n + 1)) for n in range(GROUPS * PER_GROUP)]
    rows = [(key, f"row {n}", n % GROUPS, n, f'{{"n": {n}}}') for n, key in enumerate(ctx.ids)]
    for model in ctx.models.values():
        await create_all(model._meta.database, models=[model])
        table = model._meta.table_name
        async with pool.acquire() as conn:
            await conn.execute(f"TRUNCATE {table}")
            await conn.copy_records_to_table(
                table,
                records=[(uuid.UUID(r[0]), *r[1:]) for r in rows],
                columns=["id", "name", "group_id", "score", "doc"],
            )
            await conn.execute(f"VACUUM ANALYZE {table}")
    return ctx


# -- scenarios ------------------------------------------------------------------------------------------------


def scenarios(ctx: Context) -> list[Scenario]:
    def orm(body: Any) -> tuple[Any, dict[str, Any]]:
        """The subject and the engine peer: ``body(model, ctx)`` on each project's model."""

        async def subject(c: Context, data: Any) -> Any:
            return await body(c.models[SUBJECT], c, data)

        async def engine(c: Context, data: Any) -> Any:
            return await body(c.models[ON_ENGINE], c, data)

        return subject, {ON_ENGINE: engine}

    async def gets(model: Any, c: Context, data: Any) -> None:
        for key in c.ids[: c.gets]:
            await model.get(id=key, use_cache=False)

    async def raw_gets(c: Context, data: Any) -> None:
        table = "bench_own_pool"
        for key in c.ids[: c.gets]:
            await c.pool.fetchrow(f"SELECT id, name, group_id, score, doc FROM {table} WHERE id = $1", key)

    async def filters(model: Any, c: Context, data: Any) -> None:
        for n in range(c.filters):
            await model.filter(group_id=n % GROUPS).order_by("score")[:100]

    async def raw_filters(c: Context, data: Any) -> None:
        for n in range(c.filters):
            await c.pool.fetch(
                "SELECT id, name, group_id, score, doc FROM bench_own_pool WHERE group_id = $1 ORDER BY score LIMIT 100",
                n % GROUPS,
            )

    async def filters_1000(model: Any, c: Context, data: Any) -> None:
        for n in range(max(c.filters // 5, 1)):
            await model.filter(group_id=n % GROUPS)

    async def raw_filters_1000(c: Context, data: Any) -> None:
        for n in range(max(c.filters // 5, 1)):
            await c.pool.fetch(
                "SELECT id, name, group_id, score, doc FROM bench_own_pool WHERE group_id = $1", n % GROUPS
            )

    async def updates(model: Any, c: Context, data: Any) -> None:
        for n, key in enumerate(c.ids[: c.writes]):
            await model.filter(id=key).update(score=n, doc={"n": n})

    async def raw_updates(c: Context, data: Any) -> None:
        for n, key in enumerate(c.ids[: c.writes]):
            await c.pool.execute(
                "UPDATE bench_own_pool SET score = $1, doc = $2 WHERE id = $3", n, f'{{"n": {n}}}', key
            )

    async def transactions(model: Any, c: Context, data: Any) -> None:
        from matrx_orm import transaction

        for key in c.ids[: c.writes // 4]:
            async with transaction(model._meta.database):
                row = await model.get(id=key, use_cache=False)
                await model.filter(id=key).update(score=row.score + 1)

    async def raw_transactions(c: Context, data: Any) -> None:
        for key in c.ids[: c.writes // 4]:
            async with c.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT id, name, group_id, score, doc FROM bench_own_pool WHERE id = $1", key
                )
                await conn.execute(
                    "UPDATE bench_own_pool SET score = $1 WHERE id = $2", row["score"] + 1, key
                )

    made = []
    for name, description, body, raw, ops in (
        ("get-by-pk", "sequential get(id=...) of one row", gets, raw_gets, lambda c: c.gets),
        (
            "filter-100",
            "filter(group).order_by()[:100]: 100 instances",
            filters,
            raw_filters,
            lambda c: c.filters,
        ),
        (
            "filter-1000",
            "filter(group): 1,000 instances",
            filters_1000,
            raw_filters_1000,
            lambda c: max(c.filters // 5, 1),
        ),
        ("update", "filter(id=...).update(score, doc)", updates, raw_updates, lambda c: c.writes),
        (
            "transaction",
            "transaction(): get + update",
            transactions,
            raw_transactions,
            lambda c: c.writes // 4,
        ),
    ):
        subject, peers = orm(body)
        made.append(Scenario(name, description, raw, subject, target=99.0, ops=ops, peers=peers))
    return made


def format_engine_cost(outcomes: list[ScenarioResult]) -> str:
    """µs per operation on each project, and what the engine's pool adds."""
    rows = []
    for out in outcomes:
        own, engine = out.us_per_op(SUBJECT), out.us_per_op(ON_ENGINE)
        raw = out.us_per_op(BASELINE)
        extra = "-" if own is None or engine is None else f"{engine - own:+.1f} us ({engine / own:.2f}x)"
        rows.append(
            [
                out.name,
                "-" if raw is None else f"{raw:.1f}",
                "-" if own is None else f"{own:.1f}",
                "-" if engine is None else f"{engine:.1f}",
                extra,
            ]
        )
    return render_table(
        ["scenario", "asyncpg us/op", "own pool us/op", "engine us/op", "engine vs own pool"], rows
    )


async def main(args: argparse.Namespace) -> int:
    admin_url, source = server_url()
    db_name = f"matrx_enginebench_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    log(f"server: {source}; database {db_name}")
    outcomes: list[ScenarioResult] = []
    try:
        ctx = await open_context(url, args)
        try:
            for scenario in scenarios(ctx):
                log(f"{scenario.name}: {scenario.description}")
                outcomes.append(
                    await run_scenario(
                        scenario,
                        ctx,
                        rounds=args.rounds,
                        warmup=args.warmup,
                        timeout=args.timeout,
                        unavailable={},
                        log=(lambda _m: None) if args.quiet else log,
                    )
                )
            server_version = await ctx.pool.fetchval("SHOW server_version")
        finally:
            from matrx_orm.db.engine import dispose_all

            await dispose_all()
            await ctx.engine.dispose()
            await ctx.pool.close()
    finally:
        await drop_database(admin_url, db_name)
    print()
    print(
        f"a project on a SQLAlchemy AsyncEngine vs on matrx-orm's own pool (pool size {POOL_SIZE} each; "
        f"median of {args.rounds} rounds; PostgreSQL {server_version}, {source})"
    )
    print(format_engine_cost(outcomes))
    print()
    print(format_contestants(outcomes))
    if args.json:
        write_json(
            args.json, {"rounds": args.rounds, "postgresql": server_version, "server": source}, outcomes
        )
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    sys.exit(asyncio.run(main(parse_args())))
