"""The ASGI app of ``techempower.py``: the four TechEmpower tests, once per contestant, in one Starlette app.

    MATRX_TE_URL=postgresql://... uvicorn --factory techempower_app:create_app --app-dir benchmarks

Every contestant is mounted under its own prefix (``/raw-conn/db``, ``/orm-pinned/fortunes``, ...) and they
never run at the same time, so they share two pools of ``MATRX_TE_POOL`` connections (default 8): a raw
asyncpg pool configured like matrx-orm's (no reset round trip on release) and matrx-orm's own.
``/status`` tells which contestants cannot run (an API the installed matrx-orm does not have yet).

Tests (https://github.com/TechEmpower/FrameworkBenchmarks/wiki/Project-Information-Framework-Tests-Overview):
``/db`` one random ``world`` row as JSON; ``/queries?q=N`` N random rows, one query each; ``/updates?q=N`` N
random rows read one by one, then written back with new random numbers in one statement; ``/fortunes`` every
``fortune`` row plus one added at request time, sorted by message, as an escaped HTML table.
"""

from __future__ import annotations

import contextlib
import html
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from _setup import create_raw_pool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp

PROJECT = "techempower"
WORLD_ROWS = 10_000
ADDED_FORTUNE = "Additional fortune added at request time."
WORLD_SQL = "SELECT id, randomnumber FROM world WHERE id = $1"
FORTUNE_SQL = "SELECT id, message FROM fortune"
# the statement matrx-orm's bulk_update sends for integer columns, so both sides write the same way
UPDATE_SQL = (
    "UPDATE world SET randomnumber = v.randomnumber "
    "FROM unnest($1::integer[], $2::integer[]) AS v(id, randomnumber) WHERE world.id = v.id"
)

Body = Callable[..., Awaitable[Any]]  # a test's work: (db or nothing, q) -> data for the response


@dataclass
class State:
    pool: asyncpg.Pool | None = None
    world: Any = None  # the matrx-orm models
    fortune: Any = None
    connection: Any = None  # matrx_orm.connection (None while the package lacks it)
    unavailable: dict[str, str] = field(default_factory=dict)


STATE = State()


# -- what every contestant returns ----------------------------------------------------------------------------


def random_id() -> int:
    return random.randint(1, WORLD_ROWS)


def query_count(request: Request) -> int:
    """TechEmpower's ``q``: an integer clamped to 1..500, 1 when missing or not a number."""
    try:
        return min(max(int(request.query_params.get("queries", request.query_params.get("q", 1))), 1), 500)
    except ValueError:
        return 1


def render_fortunes(rows: list[tuple[int, str]]) -> str:
    rows = [*rows, (0, ADDED_FORTUNE)]
    rows.sort(key=lambda row: row[1])
    cells = "".join(f"<tr><td>{i}</td><td>{html.escape(message)}</td></tr>" for i, message in rows)
    return (
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        f"<tr><th>id</th><th>message</th></tr>{cells}</table></body></html>"
    )


# -- raw asyncpg: ``db`` is the pool (a connection per query) or one acquired connection ----------------------


async def raw_db(db: Any, q: int) -> dict[str, int]:
    row = await db.fetchrow(WORLD_SQL, random_id())
    return {"id": row[0], "randomNumber": row[1]}


async def raw_queries(db: Any, q: int) -> list[dict[str, int]]:
    fetchrow = db.fetchrow
    rows = [await fetchrow(WORLD_SQL, random_id()) for _ in range(q)]
    return [{"id": row[0], "randomNumber": row[1]} for row in rows]


async def raw_updates(db: Any, q: int) -> list[dict[str, int]]:
    ids = sorted(random.sample(range(1, WORLD_ROWS + 1), q))  # sorted: no deadlock between requests
    fetchrow = db.fetchrow
    worlds = [{"id": row[0], "randomNumber": row[1]} for row in [await fetchrow(WORLD_SQL, i) for i in ids]]
    for world in worlds:
        world["randomNumber"] = random_id()
    await db.execute(UPDATE_SQL, ids, [w["randomNumber"] for w in worlds])
    return worlds


async def raw_fortunes(db: Any, q: int) -> str:
    return render_fortunes([(row[0], row[1]) for row in await db.fetch(FORTUNE_SQL)])


# -- matrx-orm ----------------------------------------------------------------------------------------------------


async def orm_db(q: int) -> dict[str, int]:
    world = await STATE.world.get(use_cache=False, id=random_id())
    return {"id": world.id, "randomNumber": world.randomnumber}


async def orm_queries(q: int) -> list[dict[str, int]]:
    get = STATE.world.get
    worlds = [await get(use_cache=False, id=random_id()) for _ in range(q)]
    return [{"id": w.id, "randomNumber": w.randomnumber} for w in worlds]


async def orm_updates(q: int) -> list[dict[str, int]]:
    model = STATE.world
    ids = sorted(random.sample(range(1, WORLD_ROWS + 1), q))
    worlds = [await model.get(use_cache=False, id=i) for i in ids]
    for world in worlds:
        world.randomnumber = random_id()
    await model.bulk_update(worlds, ["randomnumber"])
    return [{"id": w.id, "randomNumber": w.randomnumber} for w in worlds]


async def orm_fortunes(q: int) -> str:
    return render_fortunes([(f.id, f.message) for f in await STATE.fortune.all()])


RAW_TESTS: dict[str, Body] = {
    "db": raw_db,
    "queries": raw_queries,
    "updates": raw_updates,
    "fortunes": raw_fortunes,
}
ORM_TESTS: dict[str, Body] = {
    "db": orm_db,
    "queries": orm_queries,
    "updates": orm_updates,
    "fortunes": orm_fortunes,
}


# -- contestants: how a request's body is run -----------------------------------------------------------------------


async def raw_holding_connection(body: Body, q: int) -> Any:
    async with STATE.pool.acquire() as conn:  # type: ignore[union-attr]
        return await body(conn, q)


async def raw_per_query(body: Body, q: int) -> Any:
    return await body(STATE.pool, q)


async def orm_plain(body: Body, q: int) -> Any:
    return await body(q)


async def orm_pinned(body: Body, q: int) -> Any:
    async with STATE.connection():  # matrx_orm.connection, looked up once by load_orm()
        return await body(q)


Runner = Callable[[Body, int], Awaitable[Any]]
# contestant -> (how the body runs, which bodies); the middleware contestant is orm_plain behind the middleware
CONTESTANTS: dict[str, tuple[Runner, dict[str, Body]]] = {
    "raw-conn": (raw_holding_connection, RAW_TESTS),
    "raw-pool": (raw_per_query, RAW_TESTS),
    "orm": (orm_plain, ORM_TESTS),
    "orm-pinned": (orm_pinned, ORM_TESTS),
    "orm-middleware": (orm_plain, ORM_TESTS),
}
DESCRIPTIONS = {
    "raw-conn": "asyncpg, one connection held for the request (async with pool.acquire())",
    "raw-pool": "asyncpg, pool.fetchrow / pool.execute per query",
    "orm": "matrx-orm, each statement takes a pooled connection",
    "orm-pinned": "matrx-orm inside async with matrx_orm.connection()",
    "orm-middleware": "matrx-orm behind PinConnectionMiddleware (matrx_orm.asgi, also in matrx_orm.fastapi)",
}


def endpoint(test: str, body: Body, run: Runner) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        data = await run(body, query_count(request))
        return HTMLResponse(data) if test == "fortunes" else JSONResponse(data)

    return handle


def contestant_router(name: str) -> ASGIApp:
    run, bodies = CONTESTANTS[name]
    router: ASGIApp = Router([Route(f"/{test}", endpoint(test, body, run)) for test, body in bodies.items()])
    if name == "orm-middleware" and name not in STATE.unavailable:
        router = pin_connection_middleware()(router)
    return router


def pin_connection_middleware() -> Any:
    """matrx-orm's ``PinConnectionMiddleware``: from ``matrx_orm.asgi`` (no FastAPI needed), else from
    ``matrx_orm.fastapi``; raises ImportError when the installed package has neither."""
    try:
        from matrx_orm.asgi import PinConnectionMiddleware
    except ImportError:
        from matrx_orm.fastapi import PinConnectionMiddleware
    return PinConnectionMiddleware


# -- app ------------------------------------------------------------------------------------------------------------


def load_orm(url: str, pool_size: int) -> None:
    """Register the project, define the models and note which pinning APIs the installed package lacks."""
    from matrx_orm import DatabaseProjectConfig, IntegerField, Model, TextField, register_database

    register_database(
        DatabaseProjectConfig(name=PROJECT, url=url, pool_min_size=pool_size, pool_max_size=pool_size)
    )

    class World(Model):
        id = IntegerField(primary_key=True)
        randomnumber = IntegerField()
        _table_name = "world"
        _database = PROJECT

    class Fortune(Model):
        id = IntegerField(primary_key=True)
        message = TextField()
        _table_name = "fortune"
        _database = PROJECT

    STATE.world, STATE.fortune = World, Fortune
    try:
        from matrx_orm import connection
    except ImportError as exc:
        STATE.unavailable["orm-pinned"] = f"matrx_orm.connection unavailable: {exc}"
    else:
        STATE.connection = connection
    try:
        pin_connection_middleware()
    except ImportError as exc:
        STATE.unavailable["orm-middleware"] = f"PinConnectionMiddleware unavailable: {exc}"


async def status(request: Request) -> Response:
    return JSONResponse({"unavailable": STATE.unavailable, "descriptions": DESCRIPTIONS})


def create_app() -> Starlette:
    """The app (uvicorn ``--factory``): database URL from ``MATRX_TE_URL``, pool size ``MATRX_TE_POOL``."""
    url = os.environ["MATRX_TE_URL"]
    pool_size = int(os.environ.get("MATRX_TE_POOL", "8"))
    try:
        load_orm(url, pool_size)
    except Exception as exc:  # the package cannot be imported: the raw contestants still run
        for name, (_, bodies) in CONTESTANTS.items():
            if bodies is ORM_TESTS:
                STATE.unavailable[name] = f"matrx_orm unavailable: {type(exc).__name__}: {exc}"

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        STATE.pool = await create_raw_pool(url, pool_size)
        try:
            yield
        finally:
            await STATE.pool.close()
            if STATE.world is not None:
                from matrx_orm import dispose_all

                await dispose_all()

    routes = [Route("/status", status)]
    routes += [Mount(f"/{name}", app=contestant_router(name)) for name in CONTESTANTS]
    return Starlette(routes=routes, lifespan=lifespan)
