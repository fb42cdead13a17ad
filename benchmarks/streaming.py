"""Streaming: iterate 1,000,000 rows with ``qs.iterator(chunk_size)`` and report time and peak memory,
next to a raw asyncpg server-side cursor and (for contrast) ``await qs.all()``.

    python benchmarks/streaming.py [--rows N] [--chunk N] [--skip-all]

Peak memory is the peak of Python allocations (``tracemalloc``) during the iteration, measured in a
separate pass from the timing (tracemalloc slows allocation). Not part of the test suite: it prints and
never asserts. See benchmarks/README.md ("Streaming").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from _setup import create_database, drop_database, server_url

PROJECT = "streambench"
TABLE = "stream_bench"


def define_model() -> Any:
    from matrx_orm import BooleanField, CharField, IntegerField, Model

    class StreamBench(Model):
        id = IntegerField(primary_key=True)
        name = CharField(max_length=100)
        group_id = IntegerField()
        score = IntegerField()
        flag = BooleanField(default=False)

        _table_name = TABLE
        _database = PROJECT

    return StreamBench


async def seed(url: str, rows: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"CREATE TABLE {TABLE} (id integer PRIMARY KEY, name varchar(100), group_id integer, "
            "score integer, flag boolean)"
        )
        await conn.execute(
            f"INSERT INTO {TABLE} SELECT g, 'name-' || g, g % 100, (g % 1000) * 7 % 1000, g % 2 = 0 "
            "FROM generate_series(1, $1) AS g",
            rows,
        )
        await conn.execute(f"VACUUM ANALYZE {TABLE}")
    finally:
        await conn.close()


async def measure(label: str, run: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    start = time.perf_counter()
    count = await run()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    tracemalloc.reset_peak()
    await run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"label": label, "rows": count, "seconds": elapsed, "peak_mib": peak / 2**20}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--skip-all", action="store_true", help="do not load everything with .all()")
    args = parser.parse_args()

    admin_url, source = server_url()
    db_name = f"matrx_stream_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    from matrx_orm import DatabaseProjectConfig, dispose_all, register_database

    try:
        await seed(url, args.rows)
        register_database(DatabaseProjectConfig(name=PROJECT, url=url))
        model = define_model()
        qs = model.all()

        async def orm_iterator() -> int:
            n = 0
            async for _ in qs.iterator(chunk_size=args.chunk):
                n += 1
            return n

        async def raw_cursor() -> int:
            conn = await asyncpg.connect(url)
            n = 0
            try:
                async with conn.transaction():
                    cursor = await conn.cursor(f"SELECT id, name, group_id, score, flag FROM {TABLE}")
                    while True:
                        records = await cursor.fetch(args.chunk)
                        n += len(records)
                        if len(records) < args.chunk:
                            break
            finally:
                await conn.close()
            return n

        async def orm_all() -> int:
            return len(await qs.all())

        results = [
            await measure(f"asyncpg cursor (chunk {args.chunk})", raw_cursor),
            await measure(f"matrx-orm iterator(chunk_size={args.chunk})", orm_iterator),
        ]
        if not args.skip_all:
            results.append(await measure("matrx-orm .all() (everything in memory)", orm_all))
        print(f"server: {source}; {args.rows:,} rows of 5 columns")
        print(f"{'contestant':<45} {'rows':>10} {'seconds':>9} {'rows/s':>11} {'peak MiB':>9}")
        for r in results:
            print(
                f"{r['label']:<45} {r['rows']:>10,} {r['seconds']:>9.2f} {r['rows'] / r['seconds']:>11,.0f} "
                f"{r['peak_mib']:>9.1f}"
            )
    finally:
        await dispose_all()
        await drop_database(admin_url, db_name)


if __name__ == "__main__":
    asyncio.run(main())
