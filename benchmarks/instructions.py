"""Client CPU instructions per statement, counted by callgrind: steady where wall-clock time is not.

    python benchmarks/instructions.py --url postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/instructions.py --only get --only raw-fetchrow

Each mode runs its loop at two lengths under ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``, uvloop,
a fixed random seed), counting only while the loop runs (``callgrind_control`` switches counting on after 50
warm-up statements and off at the end), and prints the difference divided by the extra iterations: the
instructions one more statement costs this process. Counting the whole process instead let start-up vary
by tens of millions of instructions between identical runs (±15k per statement); counting the loop alone
gives figures that repeat within about 1 %. The server's work is not counted. The stream modes
(``raw-cursor``, ``iterator``, ``values-iterator``) count per row instead: each loop streams ten rows per
count (5,000 and 10,000 rows with the default lengths, in chunks of 1,000).
Needs valgrind; creates the tables ``instr_world`` (10,000 rows) and ``instr_fortune`` (12 rows) in the given
database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from _setup import ORM_COMMAND_TIMEOUT, no_reset

TABLE = "instr_world"
SQL_ALL = f"SELECT id, randomnumber FROM {TABLE}"
SQL = f"{SQL_ALL} WHERE id = $1"
FORTUNES = "instr_fortune"  # 12 rows, as in the web benchmark's /fortunes
FORTUNE_SQL = f"SELECT id, message FROM {FORTUNES}"
MODES = {
    "raw-fetchrow": "asyncpg: conn.fetchrow on one held connection (pool like the package's)",
    "get": "matrx-orm: Model.get(use_cache=False, id=...) inside connection()",
    "get-pooled": "matrx-orm: Model.get(use_cache=False, id=...), a pooled connection per statement",
    "raw-acquire": "asyncpg: pool.acquire() around each conn.fetchrow (a raw request with one read)",
    "get-block": "matrx-orm: a connection() block around each Model.get (a request with one read)",
    "empty-block": "matrx-orm: a connection() block that runs no statement",
    "filter-all": "matrx-orm: Model.filter(id=...).all() inside connection()",
    "filter-built": "matrx-orm: Model.filter(id=...) built and not run (a coroutine call included)",
    "raw-fetch-12": "asyncpg: conn.fetch of a 12-row table on one held connection",
    "all-12": "matrx-orm: await Model.all() of a 12-row table inside connection()",
    "raw-cursor": "asyncpg: a server-side cursor read with fetch(1000), per row (a row is the unit)",
    "iterator": "matrx-orm: async for over Model.all().iterator(chunk_size=1000), per row",
    "values-iterator": "matrx-orm: async for over values_list('id', 'randomnumber').iterator(1000), per row",
}
#: modes whose unit is a streamed row: each loop streams this many rows per count (whole chunks of 1,000)
STREAMS = ("raw-cursor", "iterator", "values-iterator")
ROWS_PER_COUNT = 10


async def _seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id int PRIMARY KEY, randomnumber int NOT NULL)"
        )
        if not await conn.fetchval(f"SELECT count(*) FROM {TABLE}"):
            rows = [(i, i * 7 % 10_000) for i in range(1, 10_001)]
            await conn.executemany(f"INSERT INTO {TABLE} VALUES ($1, $2)", rows)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {FORTUNES} (id int PRIMARY KEY, message text NOT NULL)"
        )
        if not await conn.fetchval(f"SELECT count(*) FROM {FORTUNES}"):
            messages = [(i, f"fortune number {i}: <script>alert('{i}')</script>") for i in range(1, 13)]
            await conn.executemany(f"INSERT INTO {FORTUNES} VALUES ($1, $2)", messages)
    finally:
        await conn.close()


async def _loop(url: str, mode: str, count: int) -> None:
    """``count`` statements of ``mode`` (after 50 untimed ones)."""
    from matrx_orm import (
        DatabaseProjectConfig,
        IntegerField,
        Model,
        TextField,
        connection,
        register_database,
    )

    register_database(DatabaseProjectConfig(name="instr", url=url, pool_min_size=1, pool_max_size=1))

    class World(Model):
        id = IntegerField(primary_key=True)
        randomnumber = IntegerField()
        _table_name = TABLE
        _database = "instr"

    class Fortune(Model):
        id = IntegerField(primary_key=True)
        message = TextField()
        _table_name = FORTUNES
        _database = "instr"

    async def in_block(key: int) -> Any:
        async with connection("instr"):
            return await World.get(use_cache=False, id=key)

    async def empty_block(key: int) -> None:
        async with connection("instr"):
            pass

    async def built(key: int) -> Any:
        return World.filter(id=key).model  # reading the model marks the builder used: no warning

    async def raw_acquire(key: int) -> Any:
        async with pool.acquire() as held:
            return await held.fetchrow(SQL, key)

    random.seed(1)
    ids = [random.randint(1, 10_000) for _ in range(count + 50)]
    # configured like the package's pools: no reset round trip on release (reset=None would send asyncpg's)
    pool = await asyncpg.create_pool(
        url, min_size=2, max_size=2, reset=no_reset, command_timeout=ORM_COMMAND_TIMEOUT
    )
    assert pool is not None
    if mode in STREAMS:
        await _streamed(pool, World, mode, count * ROWS_PER_COUNT)
        await pool.close()
        return
    async with pool.acquire() as conn:
        steps: dict[str, Callable[[int], Awaitable[Any]]] = {
            "raw-fetchrow": lambda i: conn.fetchrow(SQL, i),
            "get": lambda i: World.get(use_cache=False, id=i),
            "get-pooled": lambda i: World.get(use_cache=False, id=i),
            "raw-acquire": raw_acquire,
            "get-block": in_block,
            "empty-block": empty_block,
            "filter-all": lambda i: World.filter(id=i).all(),
            "filter-built": built,
            "raw-fetch-12": lambda i: conn.fetch(FORTUNE_SQL),
            "all-12": lambda i: Fortune.all().all(),
        }
        step = steps[mode]
        if mode in ("get-pooled", "get-block", "empty-block", "raw-acquire"):
            await _counted(step, ids)
        else:
            async with connection("instr"):
                await _counted(step, ids)
    await pool.close()


async def _streamed(pool: Any, model: Any, mode: str, rows: int) -> None:
    """Stream ``rows`` rows of the table (after an uncounted stream of 1,000), counting while they stream."""

    async def raw(limit: int) -> int:
        seen = 0
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            cursor = await conn.cursor(f"{SQL_ALL} WHERE id <= $1", limit)
            while records := await cursor.fetch(1000):
                for _ in records:
                    seen += 1
        return seen

    async def iterator(limit: int) -> int:
        seen = 0
        async for _ in model.filter(id__lte=limit).iterator(chunk_size=1000):
            seen += 1
        return seen

    async def values(limit: int) -> int:
        seen = 0
        async for _ in model.filter(id__lte=limit).values_list("id", "randomnumber").iterator(1000):
            seen += 1
        return seen

    run = {"raw-cursor": raw, "iterator": iterator, "values-iterator": values}[mode]
    await run(1000)
    _instrument("on")
    seen = await run(rows)
    _instrument("off")
    assert seen == rows, (seen, rows)


async def _counted(step: Callable[[int], Awaitable[Any]], ids: list[int]) -> None:
    """The statements of ``ids`` after the first 50, with callgrind counting only while they run."""
    for i in ids[:50]:
        await step(i)
    _instrument("on")
    for i in ids[50:]:
        await step(i)
    _instrument("off")


def _instrument(state: str) -> None:
    """Switch callgrind's counting on or off for this process (it starts off: ``--instr-atstart=no``)."""
    subprocess.run(
        ["callgrind_control", "--instr=" + state, str(os.getpid())], capture_output=True, check=True
    )


def _count(url: str, mode: str, loops: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--instr-atstart=no"]
    command += [sys.executable, __file__]
    command += ["--url", url, "--run", mode, str(loops)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or found is None:
        raise SystemExit(f"{mode}: the run under valgrind failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url", default=os.environ.get("MATRX_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--only", action="append", choices=list(MODES), help="repeatable; default every mode")
    parser.add_argument("--loops", type=int, nargs=2, default=(500, 1000), metavar=("SHORT", "LONG"))
    parser.add_argument("--run", nargs=2, metavar=("MODE", "COUNT"), help=argparse.SUPPRESS)  # one loop
    args = parser.parse_args()
    import uvloop

    if args.run:
        uvloop.run(_loop(args.url, args.run[0], int(args.run[1])))
        return 0
    asyncio.run(_seed(args.url))
    short, long = args.loops
    for mode in args.only or list(MODES):
        per = (_count(args.url, mode, long) - _count(args.url, mode, short)) / (long - short)
        if mode in STREAMS:
            per /= ROWS_PER_COUNT
        unit = "row" if mode in STREAMS else "statement"
        print(f"{mode:15} {per / 1000:8.2f}k instructions per {unit}  ({MODES[mode]})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
