"""Connection pools and SQLAlchemy engines, per registered project and per running event loop.

The ORM runs its statements on an ``asyncpg.Pool`` (:func:`get_pool`); Alembic and the schema inspector use
a SQLAlchemy ``AsyncEngine`` (:func:`get_engine`). Both are created lazily, on first use, **for the running
event loop**: asyncpg connections belong to the loop that opened them, and a process may run many loops
(``asyncio.run()`` called repeatedly, pytest's loop per test). Resources of a loop that has been closed are
never handed out again; they are dropped without awaiting anything on the dead loop.

Every pooled asyncpg connection gets these codecs (see ``docs/internals.md``): ``json``/``jsonb`` <->
Python values (``json.dumps`` / ``json.loads``), ``uuid`` -> ``str`` (``str`` or ``uuid.UUID`` in), and
pgvector's binary codecs for ``vector``/``halfvec``/``sparsevec`` when the extension is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg
import pgvector.sqlalchemy  # noqa: F401  (registers vector/halfvec/sparsevec with the PostgreSQL inspector)
from pgvector.asyncpg import register_vector
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..config import DatabaseProjectConfig, add_registry_listener, get_database_config
from ..exceptions import map_database_error

__all__ = [
    "acquire",
    "create_engine_for",
    "json_default",
    "close_all_pools",
    "dispose_all",
    "dispose_all_sync",
    "forget",
    "get_engine",
    "get_pool",
    "reload_type_codecs",
]

logger = logging.getLogger(__name__)

#: how long dispose_all() waits for a pool's borrowed connections before terminating them
CLOSE_TIMEOUT = 10.0
ENGINE_POOL_SIZE = 2
ENGINE_MAX_OVERFLOW = 3

_EXTENSIONS_SQL = (
    "SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e "
    "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname IN ('vector', 'hstore')"
)


# -- codecs ------------------------------------------------------------------------------------------------------


def json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_json_dumps = partial(json.dumps, default=json_default)


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Set matrx-orm's type codecs on a new pooled connection."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=_json_dumps, decoder=json.loads, format="text"
        )
    await conn.set_type_codec("uuid", schema="pg_catalog", encoder=str, decoder=str, format="text")
    await _register_extension_codecs(conn)


async def _register_extension_codecs(conn: asyncpg.Connection) -> None:
    """Codecs for the ``vector`` and ``hstore`` extensions where installed (in whatever schema); else nothing.

    pgvector 0.5's ``register_vector`` registers ``vector`` and, when the installed extension has them,
    ``halfvec`` and ``sparsevec`` (it skips those on extensions older than 0.7).
    """
    schemas = {row[0]: row[1] for row in await conn.fetch(_EXTENSIONS_SQL)}
    if "vector" in schemas:
        await register_vector(conn, schema=schemas["vector"])
    if "hstore" in schemas:
        await conn.set_builtin_type_codec("hstore", schema=schemas["hstore"], codec_name="pg_contrib.hstore")


async def _light_reset(conn: asyncpg.Connection) -> None:
    """Pool release hook: asyncpg has already rolled back any open transaction; nothing else to undo.

    The ORM's own statements leave no session state behind (no LISTEN, advisory locks, cursors or SET
    outside a transaction), so the default ``RESET ALL; CLOSE ALL; ...`` round trip on every release is
    skipped. Connections lent to user code by :func:`acquire` get the full reset before they return.
    """


# -- per-loop bookkeeping ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _LoopResources:
    """What one event loop owns: pools and engines by project name (and by the alias used to ask)."""

    loop: asyncio.AbstractEventLoop | None
    pools: dict[str, asyncpg.Pool] = field(default_factory=dict)
    pool_owner: dict[str, str] = field(default_factory=dict)  # requested key -> project name
    creating: dict[str, asyncio.Task[asyncpg.Pool | None]] = field(default_factory=dict)
    engines: dict[str, AsyncEngine] = field(default_factory=dict)
    engine_owner: dict[str, str] = field(default_factory=dict)
    disposed: bool = False

    def take_project(self, name: str) -> tuple[list[asyncpg.Pool], list[AsyncEngine]]:
        """Remove ``name``'s pools and engines from the maps and return them (each object once)."""
        pools = _pop_owned(self.pools, self.pool_owner, name)
        engines = _pop_owned(self.engines, self.engine_owner, name)
        return pools, engines

    def take_all(self) -> tuple[list[asyncpg.Pool], list[AsyncEngine]]:
        pools = _unique(self.pools.values())
        engines = _unique(self.engines.values())
        self.pools.clear()
        self.pool_owner.clear()
        self.engines.clear()
        self.engine_owner.clear()
        return pools, engines


def _unique(items: Any) -> list[Any]:
    return list({id(item): item for item in items}.values())


def _pop_owned(store: dict[str, Any], owner: dict[str, str], name: str) -> list[Any]:
    keys = [key for key, project in owner.items() if project == name]
    taken = [store.pop(key) for key in keys if key in store]
    for key in keys:
        owner.pop(key, None)
    return _unique(taken)


_resources: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopResources] = weakref.WeakKeyDictionary()
#: engines created with no running loop (NullPool: they hold no loop-bound connections)
_loopless = _LoopResources(loop=None)
#: bumped by forget(name): a pool whose creation started under an older generation is not kept
_generation: dict[str, int] = {}
#: keeps fire-and-forget close tasks alive until they finish
_background: set[asyncio.Task[Any]] = set()


def _resources_for(loop: asyncio.AbstractEventLoop) -> _LoopResources:
    res = _resources.get(loop)
    if res is None:
        res = _resources[loop] = _LoopResources(loop=loop)
    return res


def _drop_dead_loops() -> None:
    """Forget the resources of every closed event loop (nothing is awaited on a dead loop)."""
    for loop, res in list(_resources.items()):
        if loop.is_closed():
            _resources.pop(loop, None)
            res.disposed = True
            _abandon(res)


def _abandon(res: _LoopResources) -> None:
    pools, engines = res.take_all()
    for task in list(res.creating.values()):
        with contextlib.suppress(Exception):
            task.cancel()
    res.creating.clear()
    for pool in pools:
        _abandon_pool(pool)
    for engine in engines:
        _abandon_engine(engine)


def _abandon_connection(conn: Any) -> None:
    """Close an asyncpg connection's socket without its (closed) event loop."""
    if conn is None:
        return
    transport = getattr(conn, "_transport", None)
    with contextlib.suppress(Exception):
        conn.terminate()  # marks it aborted; raises "Event loop is closed" before closing the socket
    sock = getattr(transport, "_sock", None)
    if sock is not None:
        with contextlib.suppress(Exception):
            sock.close()
        with contextlib.suppress(Exception):
            transport._sock = None  # type: ignore[union-attr]


def _abandon_pool(pool: asyncpg.Pool) -> None:
    try:
        loop = getattr(pool, "_loop", None)
        if loop is not None and not loop.is_closed():
            pool.terminate()
            return
    except Exception:
        pass
    for holder in list(getattr(pool, "_holders", ())):
        _abandon_connection(getattr(holder, "_con", None))
    with contextlib.suppress(Exception):
        pool._closed = True


def _abandon_engine(engine: AsyncEngine) -> None:
    queue = getattr(engine.sync_engine.pool, "_pool", None)  # QueuePool's idle connection records
    with contextlib.suppress(Exception):
        while queue is not None and not queue.empty():
            record = queue.get_nowait()
            adapted = getattr(record, "dbapi_connection", None)
            _abandon_connection(getattr(adapted, "_connection", None))
    with contextlib.suppress(Exception):
        engine.sync_engine.dispose(close=False)


# -- pools ----------------------------------------------------------------------------------------------------------


async def get_pool(database: str) -> asyncpg.Pool:
    """The asyncpg pool of project ``database`` (name or alias) for the running loop, created on first use.

    Concurrent first calls share one creation. Connection failures raise :class:`~matrx_orm.ConnectionError`;
    an unknown project raises :class:`~matrx_orm.ConfigurationError`.
    """
    res = _resources.get(asyncio.get_running_loop())
    if res is not None:
        pool = res.pools.get(database)
        if pool is not None and not pool.is_closing():
            return pool
    return await _get_pool_slow(database)


async def _get_pool_slow(database: str) -> asyncpg.Pool:
    loop = asyncio.get_running_loop()
    _drop_dead_loops()
    while True:
        config = get_database_config(database)
        name = config.name
        res = _resources_for(loop)
        pool = res.pools.get(name)
        if pool is not None and pool.is_closing():  # closed by hand: forget it, make a new one
            _pop_owned(res.pools, res.pool_owner, name)
            pool = None
        if pool is not None:
            res.pools[database] = pool
            res.pool_owner[database] = name
            return pool
        task = res.creating.get(name)
        if task is None:
            task = loop.create_task(_create_pool(res, config, _generation.get(name, 0)))
            task.add_done_callback(_retrieve_exception)
            res.creating[name] = task
        created = await asyncio.shield(task)
        if created is not None:
            res.pools[database] = created
            res.pool_owner[database] = name
            return created
        # the config was replaced or the loop's resources disposed meanwhile: start over


def _retrieve_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # mark it retrieved when every waiter has gone


async def _create_pool(
    res: _LoopResources, config: DatabaseProjectConfig, generation: int
) -> asyncpg.Pool | None:
    name = config.name
    try:
        pool = await asyncpg.create_pool(
            **config.asyncpg_connect_kwargs(),
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            init=_init_connection,
            reset=_light_reset,
        )
    except Exception as exc:
        raise map_database_error(
            exc, operation="connect", details={"database": name, "url": config.masked_url()}
        ) from exc
    finally:
        if res.creating.get(name) is asyncio.current_task():
            del res.creating[name]
    if res.disposed or _generation.get(name, 0) != generation:
        await _close_pool(pool)
        return None
    res.pools[name] = pool
    res.pool_owner[name] = name
    return pool


async def _close_pool(pool: asyncpg.Pool, timeout: float = CLOSE_TIMEOUT) -> None:
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except Exception:  # a stuck borrower or a broken connection: terminate instead
        with contextlib.suppress(Exception):
            pool.terminate()


@contextlib.asynccontextmanager
async def acquire(database: str) -> AsyncIterator[asyncpg.Connection]:
    """``async with acquire("db") as conn:`` — a pooled connection; waits at most ``connect_timeout``
    for one (the block itself is not timed). Does not join a ``transaction()`` the task holds."""
    pool = await get_pool(database)
    timeout = get_database_config(database).connect_timeout
    try:
        conn = await pool.acquire(timeout=timeout)
    except Exception as exc:
        raise map_database_error(exc, operation="acquire", details={"database": database}) from exc
    try:
        yield conn
    finally:
        try:
            if not conn.is_closed():
                await conn.reset(timeout=timeout)  # the user may have SET, LISTENed or locked
        finally:
            await pool.release(conn)


async def reload_type_codecs(database: str) -> None:
    """Make the running loop's pool replace its connections, so they pick up types created since (for
    example after ``CREATE EXTENSION vector``)."""
    res = _resources.get(asyncio.get_running_loop())
    if res is None:
        return
    name = get_database_config(database).name
    pool = res.pools.get(name)
    if pool is not None:
        await pool.expire_connections()


# -- SQLAlchemy engines ----------------------------------------------------------------------------------------------


def get_engine(database: str) -> AsyncEngine:
    """The SQLAlchemy ``AsyncEngine`` (asyncpg driver) of project ``database`` for the running loop.

    Called with no running loop it returns an engine without a connection pool (``NullPool``), which is
    safe to use from any loop later.
    """
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    res = _loopless if loop is None else _resources.get(loop)
    if res is not None:
        engine = res.engines.get(database)
        if engine is not None:
            return engine
    _drop_dead_loops()
    config = get_database_config(database)
    name = config.name
    res = _loopless if loop is None else _resources_for(loop)
    engine = res.engines.get(name)
    if engine is None:
        engine = create_engine_for(config, pooled=loop is not None)
        res.engines[name] = engine
        res.engine_owner[name] = name
    res.engines[database] = engine
    res.engine_owner[database] = name
    return engine


def _engine_connect_args(config: DatabaseProjectConfig) -> dict[str, Any]:
    args: dict[str, Any] = {"timeout": config.connect_timeout, "command_timeout": config.command_timeout}
    if config.ssl_argument is not None:
        args["ssl"] = config.ssl_argument
    if config.server_settings:
        args["server_settings"] = dict(config.server_settings)
    if config.pooler_mode == "transaction":
        args["statement_cache_size"] = 0
        args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid.uuid4()}__"
    elif config.statement_cache_size != 1024:
        args["statement_cache_size"] = config.statement_cache_size
    return args


def create_engine_for(
    config: DatabaseProjectConfig, *, pooled: bool, for_migrations: bool = False
) -> AsyncEngine:
    """A SQLAlchemy ``AsyncEngine`` for ``config``: with a small pool (``pooled``) or none (``NullPool``);
    ``for_migrations`` connects through ``migration_url`` when the project has one."""
    url = config.sqlalchemy_url(for_migrations=for_migrations)
    connect_args = _engine_connect_args(config)
    if pooled:
        return create_async_engine(
            url,
            pool_size=ENGINE_POOL_SIZE,
            max_overflow=ENGINE_MAX_OVERFLOW,
            pool_pre_ping=False,
            connect_args=connect_args,
        )
    return create_async_engine(url, poolclass=NullPool, connect_args=connect_args)


# -- disposal -------------------------------------------------------------------------------------------------------


async def _close_resources(pools: list[asyncpg.Pool], engines: list[AsyncEngine]) -> None:
    for pool in pools:
        await _close_pool(pool)
    for engine in engines:
        try:
            await engine.dispose()
        except Exception:
            _abandon_engine(engine)


async def dispose_all() -> None:
    """Close every pool and engine of the running loop and drop those of closed loops.

    The next :func:`get_pool` / :func:`get_engine` call creates fresh ones.
    """
    loop = asyncio.get_running_loop()
    _drop_dead_loops()
    res = _resources.pop(loop, None)
    loopless_engines = _loopless.take_all()[1]
    if res is not None:
        res.disposed = True
        pools, engines = res.take_all()
        await _close_resources(pools, engines)
    for engine in loopless_engines:
        await engine.dispose()
    pending = [task for task in _background if task.get_loop() is loop and not task.done()]
    if pending:  # closes started by forget() on this loop
        await asyncio.gather(*pending, return_exceptions=True)


close_all_pools = dispose_all


def dispose_all_sync() -> None:
    """Close every pool and engine of every loop, from synchronous code (for example at exit).

    Loops that are closed, or the one currently running, get their connections terminated; an idle open
    loop runs the graceful close; a loop running in another thread is asked to close them.
    """
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, res in list(_resources.items()):
        _resources.pop(loop, None)
        res.disposed = True
        if loop.is_closed() or loop is running:
            _abandon(res)
            continue
        pools, engines = res.take_all()
        try:
            if loop.is_running():
                future = asyncio.run_coroutine_threadsafe(_close_resources(pools, engines), loop)
                future.result(timeout=CLOSE_TIMEOUT + 5)
            else:
                loop.run_until_complete(_close_resources(pools, engines))
        except Exception:
            for pool in pools:
                _abandon_pool(pool)
            for engine in engines:
                _abandon_engine(engine)
    for engine in _loopless.take_all()[1]:
        with contextlib.suppress(Exception):
            engine.sync_engine.dispose()


def forget(name: str) -> None:
    """Drop project ``name``'s pools and engines on every loop (its config was replaced or unregistered).

    Pools of the running loop are closed gracefully in the background; those of closed loops are abandoned;
    on other live loops the close is scheduled there.
    """
    _generation[name] = _generation.get(name, 0) + 1
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, res in list(_resources.items()):
        pools, engines = res.take_project(name)
        if not pools and not engines:
            continue
        if loop.is_closed():
            for pool in pools:
                _abandon_pool(pool)
            for engine in engines:
                _abandon_engine(engine)
        elif loop is running:
            task = loop.create_task(_close_resources(pools, engines))
            _background.add(task)
            task.add_done_callback(_background.discard)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_schedule_close, loop, pools, engines)
    for engine in _loopless.take_project(name)[1]:
        with contextlib.suppress(Exception):
            engine.sync_engine.dispose()


def _schedule_close(
    loop: asyncio.AbstractEventLoop, pools: list[asyncpg.Pool], engines: list[AsyncEngine]
) -> None:
    task = loop.create_task(_close_resources(pools, engines))
    _background.add(task)
    task.add_done_callback(_background.discard)


add_registry_listener(forget)
