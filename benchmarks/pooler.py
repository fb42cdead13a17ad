"""What transaction-pooler mode costs: single-row gets and 100-row filters with the statement cache on
(session mode) and off (``pooler_mode="transaction"``), on the same server, next to raw asyncpg with the
same cache settings; and, when PgBouncer is installed, the same through a PgBouncer in transaction mode.

    python benchmarks/pooler.py [--rounds N] [--gets N]

Not part of the test suite: it prints and never asserts. See benchmarks/README.md ("Transaction poolers").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
from _setup import create_database, drop_database, server_url

PROJECT = "poolerbench"
TABLE = "pooler_bench"
ROWS = 10_000


def define_model() -> Any:
    from matrx_orm import CharField, IntegerField, Model

    class PoolerBench(Model):
        id = IntegerField(primary_key=True)
        name = CharField(max_length=100)
        group_id = IntegerField(index=True)
        _table_name = TABLE
        _database = PROJECT

    return PoolerBench


async def seed(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, name varchar(100) NOT NULL, group_id integer NOT NULL)"
        )
        await connection.execute(f"CREATE INDEX ON {TABLE} (group_id)")
        rows = [(n, f"name {n}", n % 100) for n in range(ROWS)]
        await connection.copy_records_to_table(TABLE, records=rows)
        await connection.execute(f"VACUUM ANALYZE {TABLE}")
    finally:
        await connection.close()


async def timed(block: Callable[[], Awaitable[None]], rounds: int) -> list[float]:
    await block()  # warm-up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await block()
        times.append(time.perf_counter() - started)
    return times


async def measure(url: str, pooled: bool, gets: int, rounds: int) -> dict[str, float]:
    """Median ms of ``gets`` gets and of 20 100-row filters, ORM and raw, with the cache on or off."""
    from matrx_orm import DatabaseProjectConfig, dispose_all, register_database, unregister_database

    model = define_model()
    register_database(
        DatabaseProjectConfig(
            name=PROJECT, url=url, pooler_mode="transaction" if pooled else "session", pool_max_size=4
        )
    )
    raw = await asyncpg.create_pool(url, min_size=4, max_size=4, statement_cache_size=0 if pooled else 1024)
    raw_get = f"SELECT id, name, group_id FROM {TABLE} WHERE id = $1"
    raw_filter = f"SELECT id, name, group_id FROM {TABLE} WHERE group_id = $1"

    async def orm_gets() -> None:
        for n in range(gets):
            await model.get(id=(n * 7919) % ROWS, use_cache=False)

    async def raw_gets() -> None:
        for n in range(gets):
            await raw.fetchrow(raw_get, (n * 7919) % ROWS)

    async def orm_filters() -> None:
        for group in range(20):
            await model.filter(group_id=group).all()

    async def raw_filters() -> None:
        for group in range(20):
            await raw.fetch(raw_filter, group)

    try:
        results = {}
        for name, block in (
            ("orm get", orm_gets),
            ("raw get", raw_gets),
            ("orm filter-100", orm_filters),
            ("raw filter-100", raw_filters),
        ):
            results[name] = statistics.median(await timed(block, rounds)) * 1000
        return results
    finally:
        await raw.close()
        await dispose_all()
        unregister_database(PROJECT)


def start_bouncer(database_url: str) -> Any:
    """A PgBouncer in transaction mode in front of a cluster of our own (the tests' helper), or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from _cluster import Bouncer, Cluster, server_bin_dir

    bin_dir = server_bin_dir()
    if bin_dir is None or not Bouncer.available():
        return None
    cluster = Cluster(bin_dir).init()
    cluster.start()
    bouncer = Bouncer(cluster, pool_size=4)
    bouncer.start()
    return cluster, bouncer


async def main(args: argparse.Namespace) -> None:
    admin_url, source = server_url()
    name = f"pooler_bench_{os.getpid()}"
    url = await create_database(admin_url, name)
    try:
        await seed(url)
        print(
            f"server: {source}; {args.gets} gets / 20 filters of 100 rows per block, median of {args.rounds}"
        )
        rows = {
            "direct, statement cache on (session)": await measure(url, False, args.gets, args.rounds),
            "direct, statement cache off (pooler_mode)": await measure(url, True, args.gets, args.rounds),
        }
    finally:
        await drop_database(admin_url, name)
    started = start_bouncer(url) if not args.no_bouncer else None
    if started is not None:
        cluster, bouncer = started
        try:
            direct = cluster.url("postgres")
            await seed(direct)
            rows["PgBouncer transaction mode"] = await measure(
                bouncer.url("postgres"), True, args.gets, args.rounds
            )
        finally:
            bouncer.stop()
            cluster.destroy()
    print(
        f"{'':44s} {'orm get':>9s} {'raw get':>9s} {'ratio':>6s} {'orm f100':>9s} {'raw f100':>9s} {'ratio':>6s}"
    )
    for label, r in rows.items():
        print(
            f"{label:44s} {r['orm get']:8.1f}ms {r['raw get']:8.1f}ms {r['orm get'] / r['raw get']:5.2f}x"
            f" {r['orm filter-100']:8.1f}ms {r['raw filter-100']:8.1f}ms"
            f" {r['orm filter-100'] / r['raw filter-100']:5.2f}x"
        )
    base = rows["direct, statement cache on (session)"]
    for label, r in rows.items():
        print(
            f"{label}: get {r['orm get'] / base['orm get']:.2f}x, filter-100 {r['orm filter-100'] / base['orm filter-100']:.2f}x of cache-on"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--no-bouncer", action="store_true", help="skip the PgBouncer row")
    asyncio.run(main(parser.parse_args()))
