"""Connection pools and SQLAlchemy engines, per registered project and per running event loop.

The ORM runs its statements on an ``asyncpg.Pool`` (:func:`get_pool`); Alembic and the schema inspector use
a SQLAlchemy ``AsyncEngine`` (:func:`get_engine`). Both are created lazily, on first use, **for the running
event loop**: asyncpg connections belong to the loop that opened them, and a process may run many loops
(``asyncio.run()`` called repeatedly, pytest's loop per test). Resources of a loop that has been closed are
never handed out again; they are dropped without awaiting anything on the dead loop.

Every pooled asyncpg connection gets these codecs (see ``docs/internals.md``): ``json``/``jsonb`` <->
Python values (``json.dumps`` / ``json.loads``), ``uuid`` -> ``str`` (``str`` or ``uuid.UUID`` in), and
pgvector's binary codecs for ``vector``/``halfvec``/``sparsevec`` when the extension is installed.

A project registered with ``engine=`` (a SQLAlchemy ``AsyncEngine``) gets no asyncpg pool: its "pool" is
:class:`~.sa_pool.EnginePool`, over the engine's own pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import asyncpg
import pgvector.sqlalchemy  # noqa: F401  (registers vector/halfvec/sparsevec with the PostgreSQL inspector)
from pgvector.asyncpg import register_vector
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ..config import (
    DatabaseProjectConfig,
    add_registry_listener,
    get_all_database_project_names,
    get_database_config,
)
from ..exceptions import PoolExhaustedError, map_database_error, mask_url_passwords
from ..fields.json_text import JsonText, json_default
from .sa_pool import EnginePool

__all__ = [
    "PoolStats",
    "acquire",
    "all_pool_stats",
    "checkout",
    "discard",
    "pool_stats",
    "release",
    "release_at_once",
    "create_engine_for",
    "engine_connection",
    "json_default",
    "close_all_pools",
    "dispose_all",
    "dispose_all_sync",
    "forget",
    "is_gone",
    "get_engine",
    "get_pool",
    "reload_type_codecs",
]

logger = logging.getLogger(__name__)

#: how long a connection lent to user SQL may take to reset before it is discarded
RESET_TIMEOUT = 10.0
#: how long dispose_all() waits for a pool's borrowed connections before terminating them
CLOSE_TIMEOUT = 10.0
ENGINE_POOL_SIZE = 2
ENGINE_MAX_OVERFLOW = 3

_EXTENSIONS_SQL = (
    "SELECT e.extname, n.nspname FROM pg_catalog.pg_extension e "
    "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname IN ('vector', 'hstore')"
)


# -- codecs ------------------------------------------------------------------------------------------------------


_json_dumps = partial(json.dumps, default=json_default)


def _json_encode(value: Any) -> str:
    """The json/jsonb codec's encoder: a field's :class:`JsonText` as is, any other value serialized."""
    return value if value.__class__ is JsonText else _json_dumps(value)


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Set matrx-orm's type codecs on a new pooled connection."""
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=_json_encode, decoder=json.loads, format="text"
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


class _FloorRetryLine(logging.Filter):
    """asyncpg logs a full traceback each time it fails to reopen a pool's minimum connections (while the
    server is down, every few seconds); this turns each into one line on ``matrx_orm.db.engine``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Failed to restore the pool connection floor"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        reason = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        logger.warning(
            "a connection pool cannot reopen its minimum connections (%s); retrying",
            mask_url_passwords(reason),
        )
        return False


logging.getLogger("asyncpg.pool").addFilter(_FloorRetryLine())


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
    #: statements waiting for a connection, by id() of the pool they wait on
    waiting: dict[int, int] = field(default_factory=dict)
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
        if config.engine is not None:  # the user's SQLAlchemy engine: its pool serves the project too
            pool = cast(asyncpg.Pool, EnginePool(config.engine))  # asyncpg.Pool's API, the part used here
        else:
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


async def checkout(database: str) -> tuple[asyncpg.Pool, asyncpg.Connection]:
    """A connection from project ``database``'s pool, and the pool to :func:`release` it to.

    Waits at most the project's ``pool_timeout`` for a free connection: a full pool raises
    :class:`~matrx_orm.PoolExhaustedError`, a server that cannot be reached :class:`~matrx_orm.ConnectionError`.
    """
    res = _resources.get(asyncio.get_running_loop())
    pool = res.pools.get(database) if res is not None else None
    if pool is None or pool.is_closing():
        pool = await _get_pool_slow(database)
        res = _resources[asyncio.get_running_loop()]
    assert res is not None
    if _has_free_slot(pool):  # no wait ahead: skip the timer (asyncio.wait_for costs a task per call)
        try:
            return pool, await _acquire_free(pool)
        except Exception as exc:
            raise map_database_error(exc, operation="acquire", details={"database": database}) from exc
    key = id(pool)
    res.waiting[key] = res.waiting.get(key, 0) + 1
    try:
        async with asyncio.timeout(get_database_config(database).pool_timeout):  # no task per wait
            return pool, await pool.acquire()
    except TimeoutError as exc:
        raise _timed_out(exc, database, pool, res.waiting.get(key, 1)) from exc
    except Exception as exc:
        raise map_database_error(exc, operation="acquire", details={"database": database}) from exc
    finally:
        res.waiting[key] -= 1


async def _acquire_free(pool: Any) -> asyncpg.Connection:
    """``pool.acquire()`` when a free slot is queued: the steps asyncpg's ``Pool.acquire`` takes, without its
    three layers of coroutines and its context object (see :func:`release_at_once`)."""
    if not _FAST_POOL or pool.__class__ is not asyncpg.Pool or pool._closing:  # an engine's pool: its own
        return await pool.acquire()
    pool._check_init()
    holder = pool._queue.get_nowait()
    try:
        proxy = await holder.acquire()
    except BaseException:
        pool._queue.put_nowait(holder)
        maintain = getattr(pool, "_schedule_min_size_maintenance", None)  # asyncpg >= 0.31
        if maintain is not None:
            maintain()
        raise
    holder._timeout = None
    return proxy


def _has_free_slot(pool: asyncpg.Pool) -> bool:
    """Whether ``acquire()`` returns without waiting for another task: a free slot (a connection, or room
    to open one, whose connect time ``connect_timeout`` bounds) is in the pool's queue."""
    queue = getattr(pool, "_queue", None)  # asyncpg's queue of free slots; get_idle_size() is O(pool size)
    if isinstance(queue, asyncio.Queue):
        return not queue.empty()
    return bool(pool.get_idle_size())


def _timed_out(exc: BaseException, database: str, pool: asyncpg.Pool, waiting: int) -> Exception:
    """The error for an acquire that timed out: a full pool, or a server too slow to accept a connection."""
    size, idle, limit = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
    if size >= limit and idle == 0:
        timeout = get_database_config(database).pool_timeout
        return PoolExhaustedError(
            f"No free connection in the pool of {database!r} after {timeout:g} s: all {limit} connections "
            f"are in use and {waiting} statements are waiting. Raise pool_max_size or pool_timeout, or hold "
            "connections for less time (a transaction() or iterator() holds one until it ends)",
            operation="acquire",
            details={"database": database, "pool_size": limit, "in_use": size - idle, "waiting": waiting},
        )
    return map_database_error(exc, operation="connect", details={"database": database})


def is_gone(connection: asyncpg.Connection) -> bool:
    """Whether ``connection`` is closed (by the server, the network or :func:`discard`), or, a pooled
    connection, already back in its pool."""
    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:  # a pool proxy whose connection was closed and handed back
        return True


def discard(connection: asyncpg.Connection) -> None:
    """Close ``connection`` at once, without a round trip: its state is unknown (a lost connection, a
    statement interrupted by a cancellation). The pool opens a new connection in its place when needed."""
    if not is_gone(connection):
        connection.terminate()


async def release(pool: asyncpg.Pool, connection: asyncpg.Connection, *, full_reset: bool = False) -> None:
    """Give ``connection`` back to ``pool``. ``full_reset`` clears session state user SQL may have left
    (``SET``, ``LISTEN``, advisory locks). A connection still inside a transaction (a ``COMMIT`` or
    ``ROLLBACK`` that failed or was interrupted) or that cannot be reset is discarded, not reused."""
    if not full_reset and release_at_once(pool, connection):
        return
    try:
        if is_gone(connection):
            pass
        elif connection.is_in_transaction():
            discard(connection)
        elif full_reset:
            await connection.reset(timeout=RESET_TIMEOUT)
    except Exception:
        discard(connection)
    except asyncio.CancelledError:
        discard(connection)
        raise
    finally:
        await pool.release(connection)


def release_at_once(pool: Any, connection: Any) -> bool:
    """Put a connection that needs no round trip straight back into its pool, without awaiting; False
    (nothing done) when ``Pool.release`` must handle it (then await :func:`release`).

    asyncpg's ``Pool.release`` always runs its work in a new task (``asyncio.shield``), which costs an event
    loop iteration per statement even when there is nothing to send. For a healthy connection of a pool with
    the no-op reset, outside a transaction, with no listeners and not due to be closed, releasing is pure
    bookkeeping: the same steps ``Pool.release`` takes, done here without the task (see
    ``docs/internals.md``). Any unexpected asyncpg internals disable this path.
    """
    if not _FAST_POOL:
        return False
    try:
        holder = connection._holder
        con = connection._con
        if (
            con is None
            or holder._pool is not pool
            or holder._in_use is None
            or pool._reset is not _light_reset
            or pool.is_closing()
            or con.is_closed()
            or con._top_xact is not None
            or con._listeners
            or con._log_listeners
            or holder._generation != pool._generation
        ):
            return False
        protocol = con._protocol
        if (
            protocol.is_in_transaction()
            or protocol._is_cancelling()
            or protocol.queries_count >= holder._max_queries
        ):
            return False
    except (AttributeError, asyncpg.InterfaceError):  # not a live asyncpg pool proxy, or other internals
        return False
    con._on_release()
    holder._timeout = None
    holder._release()
    holder._setup_inactive_callback()
    return True


def _fast_pool_supported() -> bool:
    """Whether the installed asyncpg has the internals :func:`_acquire_free` and :func:`release_at_once`
    rely on."""
    holder = getattr(asyncpg.pool, "PoolConnectionHolder", None)
    return (
        holder is not None
        and callable(getattr(holder, "acquire", None))
        and callable(getattr(holder, "_release", None))
        and callable(getattr(holder, "_setup_inactive_callback", None))
        and callable(getattr(asyncpg.connection.Connection, "_on_release", None))
        and callable(getattr(asyncpg.Pool, "is_closing", None))
        and callable(getattr(asyncpg.Pool, "_check_init", None))
    )


_FAST_POOL = _fast_pool_supported()


@contextlib.asynccontextmanager
async def acquire(database: str) -> AsyncIterator[asyncpg.Connection]:
    """``async with acquire("db") as conn:`` — a pooled connection of your own for SQL the ORM does not
    build; waits at most ``pool_timeout`` for it. Does not join a ``transaction()`` the task holds; the
    session is fully reset when the block ends."""
    pool, connection = await checkout(database)
    try:
        yield connection
    finally:
        await release(pool, connection, full_reset=True)


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of one project's connection pool on the running event loop."""

    database: str
    #: open connections (idle + in use)
    size: int
    min_size: int
    max_size: int
    idle: int
    in_use: int
    #: statements waiting for a free connection
    waiting: int


def pool_stats(database: str) -> PoolStats:
    """The running loop's pool of project ``database`` (name or alias); all zeros before its first use."""
    config = get_database_config(database)
    try:
        res = _resources.get(asyncio.get_running_loop())
    except RuntimeError:  # no running loop: no pool
        res = None
    pool = res.pools.get(config.name) if res is not None else None
    if res is None or pool is None or pool.is_closing():
        return PoolStats(config.name, 0, config.pool_min_size, config.pool_max_size, 0, 0, 0)
    size, idle = pool.get_size(), pool.get_idle_size()
    return PoolStats(
        config.name,
        size,
        pool.get_min_size(),
        pool.get_max_size(),
        idle,
        size - idle,
        res.waiting.get(id(pool), 0),
    )


def all_pool_stats() -> dict[str, PoolStats]:
    """:func:`pool_stats` of every registered project, by project name."""
    return {name: pool_stats(name) for name in get_all_database_project_names()}


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
    safe to use from any loop later. A project registered with ``engine=`` gets that engine.
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
    if config.engine is not None:  # the user's own engine (never disposed here)
        return config.engine
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


#: errors inside an engine_connection() block that are the database's (others, e.g. Alembic's, pass through)
_ENGINE_BLOCK_ERRORS = (sa_exc.DBAPIError, sa_exc.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _shown_url(config: DatabaseProjectConfig, for_migrations: bool) -> str:
    """The masked URL an engine of ``config`` connects to (``migration_url`` when ``for_migrations``)."""
    if for_migrations and config.migration_url:
        return DatabaseProjectConfig(name=config.name, url=config.migration_url).masked_url()
    return config.masked_url()


@contextlib.asynccontextmanager
async def engine_connection(
    database: str, *, operation: str, begin: bool = False, for_migrations: bool = False
) -> AsyncIterator[AsyncConnection]:
    """``async with engine_connection("db", operation="create_all") as conn:`` — a SQLAlchemy connection of
    project ``database``, in a transaction committed at the end of the block when ``begin``.

    It uses :func:`get_engine`, or with ``for_migrations`` an engine without a pool on the migration URL,
    disposed at the end. Failing to connect, and database errors inside the block, raise the same
    :class:`~matrx_orm.ORMException` subclasses and messages as the ORM's own statements.
    """
    config = get_database_config(database)
    own = create_engine_for(config, pooled=False, for_migrations=True) if for_migrations else None
    try:
        try:
            connection = await (own or get_engine(database)).connect()
        except Exception as exc:
            details = {"database": config.name, "url": _shown_url(config, for_migrations)}
            raise map_database_error(exc, operation="connect", details=details) from exc
        block: contextlib.AbstractAsyncContextManager[Any] = (
            connection.begin() if begin else contextlib.nullcontext()
        )
        try:
            async with contextlib.aclosing(connection), block:
                yield connection
        except _ENGINE_BLOCK_ERRORS as exc:
            raise map_database_error(exc, operation=operation, details={"database": config.name}) from exc
    finally:
        if own is not None:
            await own.dispose()


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
