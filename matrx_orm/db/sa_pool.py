"""A SQLAlchemy ``AsyncEngine``'s pool as a project's pool, and SQLAlchemy's connections as the ORM's.

:class:`EnginePool` has the part of ``asyncpg.Pool``'s API that ``engine.py`` and ``executor.py`` use;
``engine.py`` makes one (instead of an asyncpg pool) for a project registered with ``engine=``. Each
``acquire()`` checks a connection out of the engine's pool and lends its asyncpg connection (SQLAlchemy's
``driver_connection``), so the ORM keeps running its compiled SQL on asyncpg and one pool serves both.
``release()`` checks it back in: SQLAlchemy's reset-on-return is a ``rollback()`` that sends nothing unless
SQLAlchemy itself began a transaction on the connection, which it never does on a connection lent here.

SQLAlchemy's asyncpg dialect sets its connections up differently from the ORM's pools: ``json``/``jsonb``
take JSON text (the fields send :class:`~matrx_orm.fields.json_text.JsonText`, which both accept), ``uuid``
comes back as ``uuid.UUID``, and pgvector types and ``hstore`` go through asyncpg's text format.
:class:`DriverConnection` bridges the rest, on those connections only (the ORM's own pools pay nothing):
pgvector values and hstore dicts are sent as their text, and UUIDs in rows (arrays too) come back as
``str``. Vector text is read by the fields at the stored precision; the connection's codecs are never
changed, so SQLAlchemy's own statements on it behave as before.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import asyncpg
import numpy
from pgvector import HalfVector, SparseVector, Vector
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import PoolProxiedConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn

__all__ = ["DriverConnection", "EnginePool", "Row", "driver_connection", "plain_value"]

#: ``fairy.info`` keys (the dict lives as long as the DBAPI connection): the connection's
#: :func:`driver_connection`, and (its asyncpg connection, when the ORM's pool first lent it)
_LENT = "matrx_orm.connection"
_FIRST_SEEN = "matrx_orm.first_seen"
#: what get_max_size() reports for a pool without a limit (QueuePool with max_overflow=-1)
NO_LIMIT = 2**31 - 1


# -- values ---------------------------------------------------------------------------------------------------


def _vector_text(value: Any) -> str:
    return Vector(value).to_text()


_hstore_text = postgresql.HSTORE().bind_processor(postgresql.dialect())
assert _hstore_text is not None

#: parameters asyncpg's text format needs as text on SQLAlchemy's connections (no codec for these types)
_AS_TEXT: dict[type, Callable[[Any], Any]] = {
    numpy.ndarray: _vector_text,  # VectorField/HalfVectorField send float32 arrays
    Vector: Vector.to_text,
    HalfVector: HalfVector.to_text,
    SparseVector: SparseVector.to_text,
    dict: _hstore_text,  # JSON goes as JsonText, so a dict parameter is an hstore
}


def _params(args: Sequence[Any]) -> Sequence[Any]:
    """``args`` with pgvector values and hstore dicts as text (``args`` itself when none is there)."""
    for value in args:
        if value.__class__ in _AS_TEXT:
            break
    else:
        return args
    return [_AS_TEXT[value.__class__](value) if value.__class__ in _AS_TEXT else value for value in args]


def plain_value(value: Any) -> Any:
    """``value`` as the ORM's pools return it: a ``uuid.UUID`` as ``str``, in lists too."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if value.__class__ is list:
        return [plain_value(item) for item in value]
    return value


def _converts(value: Any) -> bool | None:
    """Whether a column holding ``value`` (not None) needs :func:`plain_value`: True for a UUID (a UUID
    array), False for other values; None when it cannot tell yet (an array with no element)."""
    if value.__class__ is not list:
        return isinstance(value, uuid.UUID)
    for item in value:
        if item is not None:
            found = _converts(item)
            if found is not None:
                return found
    return None


def _uuid_columns(records: list[Any]) -> list[int]:
    """Positions of the columns holding UUIDs (or UUID arrays), told by their first telling value."""
    unknown = list(range(len(records[0])))
    found: list[int] = []
    for record in records:
        for position in list(unknown):
            value = record[position]
            converts = None if value is None else _converts(value)
            if converts is not None:
                unknown.remove(position)
                if converts:
                    found.append(position)
        if not unknown:
            break
    return sorted(found)


class Row(tuple[Any, ...]):
    """A record with its values made plain (:func:`plain_value`): read like an ``asyncpg.Record``, by
    position, slice or column name, with ``keys()``, ``values()``, ``items()`` and ``get()``."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if key.__class__ is str:
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        index = self._index.get(key)
        return default if index is None else tuple.__getitem__(self, index)

    def keys(self) -> Iterator[str]:
        return iter(self._index)

    def values(self) -> Iterator[Any]:
        return iter(self)

    def items(self) -> Iterator[tuple[str, Any]]:
        return zip(self._index, self, strict=True)

    def __repr__(self) -> str:
        return "<Row " + " ".join(f"{key}={value!r}" for key, value in self.items()) + ">"


@functools.lru_cache(maxsize=1024)
def _row_type(keys: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for position, key in enumerate(keys):
        index.setdefault(key, position)  # a repeated name reads the first column, as asyncpg's records do
    return type("Row", (Row,), {"__slots__": (), "_index": index})


def _rows(records: list[Any]) -> list[Any]:
    """``records`` as the ORM's pools give them: with UUID columns, :class:`Row` s holding ``str`` s."""
    positions = _uuid_columns(records) if records else ()
    if not positions:
        return records
    make = _row_type(tuple(records[0].keys()))
    rows = []
    for record in records:
        values = list(record)
        for position in positions:
            value = values[position]
            if value is not None:
                values[position] = plain_value(value) if value.__class__ is list else str(value)
        rows.append(make(values))
    return rows


# -- connections ------------------------------------------------------------------------------------------------


class _Released:
    """What a :class:`DriverConnection` lends once released: any use raises, as asyncpg's pool proxies do."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise asyncpg.InterfaceError(
            f"cannot call Connection.{name}(): connection has been released back to the pool"
        )

    def __repr__(self) -> str:
        return "<released>"


_RELEASED = _Released()


class DriverConnection:
    """The asyncpg connection of a SQLAlchemy connection, as the ORM's statements use it (see the module
    docstring): parameters and rows are converted where the two setups differ; everything else is the
    asyncpg connection's (``driver``). One is made per checkout; :meth:`EnginePool.release` detaches it, so
    a statement sent on it afterwards (a task that outlived its transaction) raises instead of running on a
    connection that may be in someone else's transaction by then."""

    __slots__ = ("driver",)

    def __init__(self, driver: asyncpg.Connection) -> None:
        self.driver: asyncpg.Connection | _Released = driver

    def detach(self) -> asyncpg.Connection | _Released:
        """Stop lending the asyncpg connection; returns it."""
        driver, self.driver = self.driver, _RELEASED
        return driver

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        status: str = await self.driver.execute(query, *_params(args), timeout=timeout)
        return status

    async def executemany(self, command: str, args: Any, *, timeout: float | None = None) -> None:
        await self.driver.executemany(command, [_params(row) for row in args], timeout=timeout)

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]:
        return _rows(await self.driver.fetch(query, *_params(args), timeout=timeout))

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any:
        record = await self.driver.fetchrow(query, *_params(args), timeout=timeout)
        return None if record is None else _rows([record])[0]

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any:
        return plain_value(await self.driver.fetchval(query, *_params(args), column=column, timeout=timeout))

    async def fetchmany(self, query: str, args: Any, *, timeout: float | None = None) -> list[Any]:
        return _rows(await self.driver.fetchmany(query, [_params(row) for row in args], timeout=timeout))

    def cursor(
        self, query: str, *args: Any, prefetch: int | None = None, timeout: float | None = None
    ) -> Any:
        """``await connection.cursor(query, *args)``: a cursor whose rows are converted like :meth:`fetch`'s."""
        return self._cursor(query, _params(args), prefetch, timeout)

    async def _cursor(
        self, query: str, args: Sequence[Any], prefetch: int | None, timeout: float | None
    ) -> Any:
        return _Cursor(await self.driver.cursor(query, *args, prefetch=prefetch, timeout=timeout))

    def __repr__(self) -> str:
        return f"<DriverConnection {self.driver!r}>"


class _Cursor:
    """An asyncpg cursor whose ``fetch``/``fetchrow`` convert rows like :meth:`DriverConnection.fetch`."""

    __slots__ = ("cursor",)

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)

    async def fetch(self, n: int, *, timeout: float | None = None) -> list[Any]:
        return _rows(await self.cursor.fetch(n, timeout=timeout))

    async def fetchrow(self, *, timeout: float | None = None) -> Any:
        record = await self.cursor.fetchrow(timeout=timeout)
        return None if record is None else _rows([record])[0]


def driver_connection(fairy: PoolProxiedConnection) -> DriverConnection:
    """The :class:`DriverConnection` of a connection the application checked out of a SQLAlchemy pool (one
    per DBAPI connection, kept in its ``info``; ``transaction(connection=...)`` tells its blocks by it)."""
    info = fairy.info
    lent = info.get(_LENT)
    if lent is None or lent.driver is not fairy.driver_connection:  # (SQLAlchemy clears info on reconnect)
        lent = info[_LENT] = DriverConnection(fairy.driver_connection)
    return lent


def _first_seen(fairy: PoolProxiedConnection) -> float:
    """When :class:`EnginePool` first lent ``fairy``'s asyncpg connection (kept in ``info``; a reconnect is
    told by a different asyncpg connection)."""
    seen = fairy.info.get(_FIRST_SEEN)
    if seen is None or seen[0] is not fairy.driver_connection:
        seen = fairy.info[_FIRST_SEEN] = (fairy.driver_connection, time.monotonic())
    moment: float = seen[1]
    return moment


# -- the pool -------------------------------------------------------------------------------------------------


class EnginePool:
    """A SQLAlchemy engine's pool with the asyncpg ``Pool`` API the ORM uses (see the module docstring).

    Closing it never closes the engine or its connections: they are the application's.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._loop = asyncio.get_running_loop()  # engine.py terminates pools of a loop being abandoned
        self._closed = False
        self._lent: dict[DriverConnection, PoolProxiedConnection] = {}
        #: connections first seen before this moment are replaced when next acquired (expire_connections)
        self._expired_before = 0.0

    async def acquire(self, *, timeout: float | None = None) -> DriverConnection:
        """Check a connection out of the engine's pool (waiting at most ``timeout`` seconds)."""
        if self._closed:
            raise asyncpg.InterfaceError("the pool is closed")
        while True:
            fairy = await self._check_out(timeout)
            if _first_seen(fairy) >= self._expired_before:
                connection = DriverConnection(fairy.driver_connection)  # its own, detached on release
                self._lent[connection] = fairy
                return connection
            await _check_in(fairy, invalidate=True)

    async def _check_out(self, timeout: float | None) -> PoolProxiedConnection:
        try:
            if timeout is None:  # (no timer: checkout() found a free connection)
                return await self.engine.raw_connection()
            async with asyncio.timeout(timeout):
                return await self.engine.raw_connection()
        except sa_exc.TimeoutError as exc:  # the engine's own pool_timeout came first
            raise TimeoutError(str(exc)) from exc

    async def release(self, connection: DriverConnection, *, timeout: float | None = None) -> None:
        """Check ``connection`` back in, detached (see :class:`DriverConnection`); one that is closed is
        invalidated (the engine replaces it)."""
        fairy = self._lent.pop(connection, None)
        if fairy is not None:
            await _check_in(fairy, invalidate=connection.detach().is_closed())

    async def expire_connections(self) -> None:
        """Replace every connection opened so far, each when it is next acquired (as asyncpg's pool does)."""
        self._expired_before = time.monotonic()

    def _queue(self) -> QueuePool | None:
        pool = self.engine.sync_engine.pool
        return pool if isinstance(pool, QueuePool) else None

    def get_size(self) -> int:
        """Open connections of the engine's pool (idle + in use, by the ORM or SQLAlchemy)."""
        pool = self._queue()
        return len(self._lent) if pool is None else pool.checkedin() + pool.checkedout()

    def get_idle_size(self) -> int:
        pool = self._queue()
        return 0 if pool is None else pool.checkedin()

    def get_min_size(self) -> int:
        return 0  # SQLAlchemy's pools open connections on demand

    def get_max_size(self) -> int:
        pool = self._queue()
        if pool is None:
            return NO_LIMIT
        overflow: int = getattr(pool, "_max_overflow", 0)  # QueuePool keeps it private
        return NO_LIMIT if overflow < 0 else pool.size() + overflow

    def is_closing(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Stop lending connections; those lent are checked in when released."""
        self._closed = True

    def terminate(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"<EnginePool {self.engine!r} lent={len(self._lent)}>"


async def _check_in(fairy: PoolProxiedConnection, *, invalidate: bool) -> None:
    """Return ``fairy`` to its pool (closing a SQLAlchemy connection may await, so in SQLAlchemy's greenlet)."""
    await greenlet_spawn(_close_fairy, fairy, invalidate)


def _close_fairy(fairy: PoolProxiedConnection, invalidate: bool) -> None:
    if invalidate:
        fairy.invalidate()
    fairy.close()
