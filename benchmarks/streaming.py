"""Streaming: iterate 1,000,000 narrow rows with ``qs.iterator(chunk_size)`` and
``qs.values_list(...).iterator(chunk_size)``, next to a raw asyncpg server-side cursor on a pool configured
like matrx-orm's, and (for contrast) ``await qs.all()``. Reports the median time of interleaved rounds, the ratio to the cursor and peak memory.

    python benchmarks/streaming.py [--rows N] [--chunk N] [--rounds N] [--skip-all] [--json PATH]

Peak memory is the peak of Python allocations (``tracemalloc``) during one extra pass of each contestant
(tracemalloc slows allocation, so it is never timed). Not part of the test suite: it prints and never
asserts. See benchmarks/README.md ("Streaming").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from _harness import describe_error, render_table
from _setup import create_database, create_raw_pool, drop_database, server_url

PROJECT = "streambench"
TABLE = "stream_bench"
COLUMNS = ("id", "name", "group_id", "score", "flag")
CURSOR = "asyncpg cursor"
CURSOR_ASYNC_FOR = "asyncpg cursor, async for"
ITERATOR = "matrx-orm iterator()"
VALUES_LIST = "matrx-orm values_list().iterator()"
ALL = "matrx-orm .all()"
TARGETS = {ITERATOR: 2.0, VALUES_LIST: 1.2}  # median / the cursor's median


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


# -- contestants: each pass returns the number of rows it saw -----------------------------------------------------

Pass = Callable[[], Awaitable[int]]


SELECT_SQL = f"SELECT {', '.join(COLUMNS)} FROM {TABLE}"


def raw_cursor(pool: asyncpg.Pool, chunk: int) -> Pass:
    """A server-side cursor in a read-only transaction, ``chunk`` records per fetch (what the ORM's iterator
    does), the consumer visiting every record (as every other contestant's consumer does)."""

    async def run() -> int:
        n = 0
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(SELECT_SQL)
            while records := await cursor.fetch(chunk):
                for _ in records:
                    n += 1
        return n

    return run


def raw_cursor_iteration(pool: asyncpg.Pool, chunk: int) -> Pass:
    """asyncpg's own per-row iteration: ``async for record in conn.cursor(sql, prefetch=chunk)``."""

    async def run() -> int:
        n = 0
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            async for _ in conn.cursor(SELECT_SQL, prefetch=chunk):
                n += 1
        return n

    return run


def orm_iterator(qs: Any, chunk: int) -> Pass:
    async def run() -> int:
        n = 0
        async for _ in qs.iterator(chunk_size=chunk):
            n += 1
        return n

    return run


def orm_values_list(qs: Any, chunk: int) -> Pass:
    """``qs.values_list(*COLUMNS).iterator(chunk_size=...)``: tuples through the same server-side cursor."""

    async def run() -> int:
        n = 0
        async for _ in qs.values_list(*COLUMNS).iterator(chunk_size=chunk):
            n += 1
        return n

    return run


def orm_all(qs: Any) -> Pass:
    async def run() -> int:
        return len(await qs.all())

    return run


# -- measuring -------------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    label: str
    seconds: list[float] = field(default_factory=list)
    rows: int = 0
    peak_mib: float | None = None
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and self.error is None else None


async def timed_pass(run: Pass) -> tuple[float, int]:
    started = time.perf_counter()
    rows = await run()
    return time.perf_counter() - started, rows


async def peak_memory(run: Pass) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


async def measure_all(passes: dict[str, Pass], rounds: int) -> dict[str, Measured]:
    """One untimed pass each (checked: every row seen), then ``rounds`` interleaved rounds (the order
    alternates), then one pass each under tracemalloc."""
    results = {label: Measured(label) for label in passes}
    for label, run in passes.items():
        try:
            _, results[label].rows = await timed_pass(run)
        except Exception as exc:
            results[label].error = describe_error(exc)
    live = [label for label in passes if results[label].error is None]
    for round_no in range(rounds):
        for label in live if round_no % 2 == 0 else live[::-1]:
            seconds, _ = await timed_pass(passes[label])
            results[label].seconds.append(seconds)
        log(
            f"  round {round_no + 1}/{rounds}: "
            + " | ".join(f"{x} {results[x].seconds[-1]:.2f} s" for x in live)
        )
    for label in live:
        results[label].peak_mib = await peak_memory(passes[label])
    return results


# -- report ------------------------------------------------------------------------------------------------------------


def ratio(results: dict[str, Measured], label: str) -> float | None:
    base, mine = results[CURSOR].median, results[label].median
    return None if base is None or mine is None else mine / base


def format_results(results: dict[str, Measured]) -> str:
    header = [
        "contestant",
        "rows",
        "median s",
        "min s",
        "spread",
        "rows/s",
        "peak MiB",
        "x cursor",
        "target",
        "ok?",
    ]
    rows = []
    for label, m in results.items():
        r, target, median = ratio(results, label), TARGETS.get(label), m.median
        rows.append(
            [
                label,
                f"{m.rows:,}",
                "-" if median is None else f"{median:.2f}",
                f"{min(m.seconds):.2f}" if m.seconds else "-",
                f"{(max(m.seconds) - min(m.seconds)) / median * 100:.0f}%" if median else "-",
                f"{m.rows / median:,.0f}" if median else "-",
                "-" if m.peak_mib is None else f"{m.peak_mib:.1f}",
                "failed" if m.error else ("-" if r is None else f"{r:.2f}x"),
                "" if target is None else f"<= {target:.2f}x",
                "" if target is None or r is None else ("yes" if r <= target else "NO"),
            ]
        )
    text = render_table(header, rows)
    errors = [f"  - {m.label}: {m.error}" for m in results.values() if m.error]
    return text + ("\n\nErrors:\n" + "\n".join(errors) if errors else "")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> None:
    admin_url, source = server_url()
    db_name = f"matrx_stream_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    from matrx_orm import DatabaseProjectConfig, dispose_all, register_database

    pool = await create_raw_pool(url, 2)
    try:
        await seed(url, args.rows)
        register_database(DatabaseProjectConfig(name=PROJECT, url=url, pool_min_size=2, pool_max_size=2))
        qs = define_model().all()
        passes = {
            CURSOR: raw_cursor(pool, args.chunk),
            CURSOR_ASYNC_FOR: raw_cursor_iteration(pool, args.chunk),
            ITERATOR: orm_iterator(qs, args.chunk),
            VALUES_LIST: orm_values_list(qs, args.chunk),
        }
        if not args.skip_all:
            passes[ALL] = orm_all(qs)
        results = await measure_all(passes, args.rounds)
    finally:
        await pool.close()
        await dispose_all()
        await drop_database(admin_url, db_name)

    print(
        f"\nserver: {source}; {args.rows:,} rows of 5 columns, chunks of {args.chunk:,}; "
        f"median of {args.rounds} interleaved rounds (x cursor: median / the cursor's median)"
    )
    print(format_results(results))
    if args.json:
        payload = {
            "meta": {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "server": source,
                **vars(args),
            },
            "contestants": {
                m.label: {**vars(m), "median": m.median, "ratio": ratio(results, m.label)}
                for m in results.values()
            },
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per contestant (default 3)")
    parser.add_argument("--skip-all", action="store_true", help="do not load everything with .all()")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    return parser.parse_args()


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    asyncio.run(main(parse_args()))
