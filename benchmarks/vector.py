"""Vector search: nearest-10 over 20,000 384-dimension vectors with an HNSW index, matrx-orm vs raw asyncpg.

    python benchmarks/vector.py [--quick] [--rounds N] [--queries N] [--json PATH]

Both contestants run in the same process on the same server, table, index and query vectors, in interleaved
rounds (the harness of ``run.py``). After the timing, recall@10 of each contestant's answers is measured
against an exact search computed with numpy. Not part of the test suite: it prints and never asserts.
See benchmarks/README.md ("Vector search").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from _harness import Scenario, ScenarioResult, format_table, run_scenario, write_json
from _setup import create_database, create_raw_pool, drop_database, server_url

PROJECT = "vecbench"
TABLE = "vec_bench"
INDEX = "vec_bench_embedding_hnsw"
K = 10
TUNED_EF = 100
RAW_SQL = (
    f"SELECT id, title, embedding, embedding <=> $1 AS distance FROM {TABLE} "
    f"ORDER BY embedding <=> $1 LIMIT {K}"
)
RAW_SQL_NO_VECTORS = (
    f"SELECT id, title, embedding <=> $1 AS distance FROM {TABLE} ORDER BY embedding <=> $1 LIMIT {K}"
)


@dataclass
class VecContext:
    url: str
    rows: int
    dim: int
    queries_per_block: int
    pool: asyncpg.Pool
    model: Any = None
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    query_sets: dict[int, list[list[float]]] = field(default_factory=dict)
    exact: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 rows, 50 queries per block, 2 rounds")
    parser.add_argument("--rows", type=int, default=None, help="vectors in the table (default 20,000)")
    parser.add_argument("--dim", type=int, default=384, help="dimensions (default 384)")
    parser.add_argument("--queries", type=int, default=None, help="nearest-10 queries per timed block (200)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 7, quick 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up blocks per contestant")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a block is abandoned")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results here")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the benchmark database")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-round progress lines")
    args = parser.parse_args(argv)
    args.rows = args.rows or (5_000 if args.quick else 20_000)
    args.queries = args.queries or (50 if args.quick else 200)
    args.rounds = args.rounds or (2 if args.quick else 7)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- data ---------------------------------------------------------------------------------------------------------


def make_vectors(rows: int, dim: int, seed: int = 1) -> np.ndarray:
    """Embedding-like data: 200 topic centres plus per-document noise (random gaussian data has no
    neighbourhood structure and is the worst case for any ANN index, unlike real embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dim))
    topic = rng.integers(0, len(centres), size=rows)
    return (centres[topic] + 0.6 * rng.normal(size=(rows, dim))).astype(np.float32)


def make_queries(vectors: np.ndarray, count: int, seed: int) -> list[list[float]]:
    """Fresh query vectors near stored documents, as plain float lists (what an embedding API returns)."""
    rng = np.random.default_rng(1000 + seed)
    picked = vectors[rng.integers(0, len(vectors), size=count)].astype(np.float64)
    return [list(map(float, row)) for row in picked + 0.6 * rng.normal(size=picked.shape)]


def exact_top_k(vectors: np.ndarray, query: list[float], k: int = K) -> list[int]:
    """Ids (row numbers) of the exact cosine top-k, by numpy."""
    q = np.asarray(query, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(q)
    distance = 1.0 - (vectors.astype(np.float64) @ q) / norms
    return [int(i) for i in np.argsort(distance, kind="stable")[:k]]


# -- setup ----------------------------------------------------------------------------------------------------


def define_orm(url: str, dim: int) -> Any:
    from matrx_orm import (
        CharField,
        DatabaseProjectConfig,
        IntegerField,
        Model,
        VectorField,
        register_database,
    )

    register_database(DatabaseProjectConfig(name=PROJECT, url=url, pool_min_size=4, pool_max_size=4))

    class VecBench(Model):
        id = IntegerField(primary_key=True)
        title = CharField(max_length=100)
        embedding = VectorField(dimensions=dim)

        _table_name = TABLE
        _database = PROJECT

    return VecBench


async def _init_raw(conn: asyncpg.Connection) -> None:
    from pgvector.asyncpg import register_vector

    await register_vector(conn)  # pgvector's binary codec: what a careful raw-asyncpg user registers


async def open_context(url: str, rows: int, dim: int, queries: int) -> VecContext:
    from matrx_orm import DDLGenerator, IndexDef, create_all

    admin = await asyncpg.connect(url)
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await admin.close()
    pool = await create_raw_pool(url, 4, init=_init_raw)  # no reset round trip, like matrx-orm's pool
    ctx = VecContext(url=url, rows=rows, dim=dim, queries_per_block=queries, pool=pool)
    ctx.model = define_orm(url, dim)
    await create_all(PROJECT, models=[ctx.model])
    ctx.vectors = make_vectors(rows, dim)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            TABLE,
            records=[(i, f"doc {i}", ctx.vectors[i]) for i in range(rows)],
            columns=["id", "title", "embedding"],
        )
        loaded = time.perf_counter()
        index = IndexDef(
            name=INDEX,
            table=TABLE,
            columns=["embedding"],
            method="hnsw",
            vector_ops="vector_cosine_ops",
            index_params={"m": 16, "ef_construction": 64},
        )
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute(DDLGenerator.add_index(index))
        await conn.execute("RESET maintenance_work_mem")  # the pool does not reset connections it takes back
        await conn.execute(f"VACUUM ANALYZE {TABLE}")
    built = time.perf_counter()
    ctx.notes.append(
        f"{rows:,} x {dim} vectors loaded in {loaded - started:.1f} s; HNSW (m=16, ef_construction=64, "
        f"vector_cosine_ops) built in {built - loaded:.1f} s"
    )
    return ctx


# -- scenarios ------------------------------------------------------------------------------------------------


async def prepare(ctx: VecContext, round_no: int) -> list[list[float]]:
    queries = ctx.query_sets.get(round_no)
    if queries is None:
        queries = ctx.query_sets[round_no] = make_queries(ctx.vectors, ctx.queries_per_block, round_no)
    return queries


def _as_lists(rows: list[Any]) -> list[dict[str, Any]]:
    """Rows as dicts with the embedding as ``list[float]`` (what the ORM hands out)."""
    out = []
    for row in rows:
        item = dict(row)
        item["embedding"] = item["embedding"].to_list()
        out.append(item)
    return out


async def raw_nearest(ctx: VecContext, queries: list[list[float]]) -> list[list[dict[str, Any]]]:
    pool = ctx.pool
    return [_as_lists(await pool.fetch(RAW_SQL, q)) for q in queries]


async def raw_nearest_vector_objects(
    ctx: VecContext, queries: list[list[float]]
) -> list[list[dict[str, Any]]]:
    pool = ctx.pool
    return [[dict(r) for r in await pool.fetch(RAW_SQL, q)] for q in queries]


async def orm_nearest(ctx: VecContext, queries: list[list[float]]) -> list[list[Any]]:
    model = ctx.model
    return [await model.nearest("embedding", q).limit(K).all() for q in queries]


async def raw_nearest_no_vectors(ctx: VecContext, queries: list[list[float]]) -> list[list[dict[str, Any]]]:
    pool = ctx.pool
    return [[dict(r) for r in await pool.fetch(RAW_SQL_NO_VECTORS, q)] for q in queries]


async def orm_nearest_no_vectors(ctx: VecContext, queries: list[list[float]]) -> list[list[Any]]:
    model = ctx.model
    return [await model.nearest("embedding", q).select("title").limit(K).all() for q in queries]


async def raw_nearest_tuned(ctx: VecContext, queries: list[list[float]]) -> list[list[dict[str, Any]]]:
    out = []
    for q in queries:
        async with ctx.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL hnsw.ef_search = {TUNED_EF}")
            out.append(_as_lists(await conn.fetch(RAW_SQL, q)))
    return out


async def orm_nearest_tuned(ctx: VecContext, queries: list[list[float]]) -> list[list[Any]]:
    model = ctx.model
    return [await model.nearest("embedding", q, ef_search=TUNED_EF).limit(K).all() for q in queries]


def ids_of(result: list[Any]) -> list[int]:
    return [r["id"] if isinstance(r, dict) else r.id for r in result]


async def check(ctx: VecContext, who: str, queries: list[list[float]], results: Any) -> str | None:
    """Every answer has K rows ordered by distance; the ORM returns list[float] embeddings."""
    if len(results) != len(queries):
        return f"{len(results)} answers for {len(queries)} queries"
    for result in results:
        if len(result) != K:
            return f"{len(result)} rows instead of {K}"
        distances = [r["distance"] if isinstance(r, dict) else r._vector_distance for r in result]
        if distances != sorted(distances):
            return "rows not ordered by distance"
        embeddings = [r.get("embedding") if isinstance(r, dict) else r.embedding for r in result]
        if who == "matrx-orm" and any(e is not None and type(e) is not list for e in embeddings):
            return "embedding not returned as list[float]"
    return None


async def check_same_as_raw(
    ctx: VecContext, who: str, queries: list[list[float]], results: Any
) -> str | None:
    """As :func:`check`, and the ORM finds exactly the rows the hand-written query finds."""
    problem = await check(ctx, who, queries, results)
    if problem is None and who == "matrx-orm":
        for query, result in zip(queries, results, strict=True):
            raw = [r["id"] for r in await ctx.pool.fetch(RAW_SQL, query)]
            if ids_of(result) != raw:
                return f"rows {ids_of(result)} differ from the raw query's {raw}"
    return problem


def scenarios(ctx: VecContext) -> list[Scenario]:
    n = ctx.queries_per_block

    def ops(c: VecContext) -> int:
        return c.queries_per_block

    def make(name: str, description: str, raw: Any, orm: Any, check_fn: Any = check) -> Scenario:
        return Scenario(name, description, raw, orm, 1.1, prepare=prepare, check=check_fn, ops=ops)

    return [
        make(
            "nearest-10",
            f"{n} sequential nearest-10 (cosine, HNSW, ef_search=40); rows with list[float] embeddings",
            raw_nearest,
            orm_nearest,
            check_same_as_raw,
        ),
        make(
            "nearest-10 raw-Vector",
            "as above, but the raw side keeps pgvector Vector objects (no list conversion)",
            raw_nearest_vector_objects,
            orm_nearest,
        ),
        make(
            "nearest-10 no-vectors",
            "id, title and distance only (ORM: .select('title'))",
            raw_nearest_no_vectors,
            orm_nearest_no_vectors,
        ),
        make(
            f"nearest-10 ef_search={TUNED_EF}",
            "SET LOCAL hnsw.ef_search in a transaction around each query (4 round trips each side)",
            raw_nearest_tuned,
            orm_nearest_tuned,
        ),
    ]


async def recall(ctx: VecContext, fn: Any, queries: list[list[float]]) -> float:
    results = await fn(ctx, queries)
    hits = 0
    for query, result in zip(queries, results, strict=True):
        hits += len(set(ids_of(result)) & set(exact_top_k(ctx.vectors, query)))
    return hits / (K * len(queries))


async def main(args: argparse.Namespace) -> int:
    admin_url, source = server_url()
    db_name = f"matrx_vecbench_{os.getpid()}"
    url = await create_database(admin_url, db_name)
    log(f"server: {source}; database {db_name}")
    outcomes: list[ScenarioResult] = []
    recalls: dict[str, float] = {}
    try:
        ctx = await open_context(url, args.rows, args.dim, args.queries)
        try:
            for note in ctx.notes:
                log(f"note: {note}")
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
            recall_queries = make_queries(ctx.vectors, 500, 999)
            for label, fn in (
                ("asyncpg, ef_search=40", raw_nearest),
                ("matrx-orm, ef_search=40", orm_nearest),
                (f"asyncpg, ef_search={TUNED_EF}", raw_nearest_tuned),
                (f"matrx-orm, ef_search={TUNED_EF}", orm_nearest_tuned),
            ):
                recalls[label] = await recall(ctx, fn, recall_queries)
            version = await ctx.pool.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            server_version = await ctx.pool.fetchval("SHOW server_version")
        finally:
            from matrx_orm.db.engine import dispose_all

            await dispose_all()
            await ctx.pool.close()
    finally:
        if not args.keep_db:
            await drop_database(admin_url, db_name)

    meta = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "dim": args.dim,
        "queries_per_block": args.queries,
        "rounds": args.rounds,
        "postgresql": server_version,
        "pgvector": version,
        "server": source,
        "cpus": os.cpu_count(),
        "notes": ctx.notes,
        "recall_at_10": recalls,
    }
    print()
    print(
        f"vector search: matrx-orm vs asyncpg - {args.rows:,} x {args.dim}-dim vectors, HNSW, "
        f"{args.rounds} rounds of {args.queries} queries (pgvector {version}, PostgreSQL {server_version})"
    )
    print(format_table(outcomes))
    print()
    print("recall@10 against exact search (numpy), 500 queries:")
    for label, value in recalls.items():
        print(f"  {label:<28} {value:.3f}")
    if args.json:
        write_json(args.json, meta, outcomes)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=r".*XDG_RUNTIME_DIR.*")
    sys.exit(asyncio.run(main(parse_args())))
