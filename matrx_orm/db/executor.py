"""Runs statements on asyncpg: the one place every statement of the package goes through.

A statement runs on the current task's transaction connection for its database (``db/context.py``), else
on a pooled connection (waiting at most the project's ``pool_timeout`` for one). Here, for every statement:

* driver errors become :class:`~matrx_orm.ORMException` subclasses; a connection found dead is a
  :class:`~matrx_orm.ConnectionError` and is discarded, never reused;
* a read the ORM built (``SELECT ...``) that finds its pooled connection dead is run once more on a newly
  opened connection — never a write, never user SQL, never inside a transaction. The pool then replaces
  its other idle connections too (after a restart or failover they are dead as well);
* ``capture_queries()`` sees it, and :mod:`.observe` logs it, tells ``on_query`` callbacks and traces it.

Pooled connections skip asyncpg's ``RESET ALL``-style round trip on release (see ``engine._light_reset``):
statements the package builds leave no session state. User-written SQL (``raw``/``raw_sql``) may ``SET``
or ``LISTEN``, so pass ``user_sql=True`` and the connection is fully reset before it returns to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

import asyncpg
from asyncpg.exceptions import _base as pg_base

from ..config import get_database_config
from ..exceptions import (
    ConfigurationError,
    ConnectionError,
    ORMException,
    ParameterError,
    PoolExhaustedError,
    hide_values,
    map_database_error,
)
from .capture import ACTIVE as _capturing
from .capture import record as _record
from .context import OpenTransaction, borrow_connection, held, transaction_for
from .engine import checkout, discard, is_gone, release
from .observe import report, watching
from .pinning import Pin, PinBlock, covering_block, discard_pin
from .routing import replica_failed, route, wrote

__all__ = [
    "affected_rows",
    "connection_broken",
    "control",
    "copy_in",
    "execute",
    "executemany",
    "fetch",
    "fetchmany",
    "stream",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
#: ``run(connection, *args)``: what a statement does with the connection it is given
Run = Callable[..., Awaitable[T]]

_perf = time.perf_counter


def fetch(
    database: str,
    sql: str,
    params: Sequence[Any],
    *,
    model: Any = None,
    operation: str = "",
    user_sql: bool = False,
) -> Coroutine[Any, Any, list[Any]]:
    """Rows of a statement (``user_sql=True`` for SQL the package did not build), to await."""
    return _statement(database, sql, params, model, operation, user_sql, _fetch)


def execute(
    database: str,
    sql: str,
    params: Sequence[Any],
    *,
    model: Any = None,
    operation: str = "",
    user_sql: bool = False,
) -> Coroutine[Any, Any, str]:
    """Run a statement; the command status (``UPDATE 3``), to await. ``user_sql`` as in :func:`fetch`."""
    return _statement(database, sql, params, model, operation, user_sql, _execute)


async def _statement(
    database: str, sql: str, params: Sequence[Any], model: Any, operation: str, user_sql: bool, run: Run[T]
) -> T:
    """``await run(connection, sql, params)`` for :func:`fetch` and :func:`execute` (the hot path: the steps
    of :func:`_on_pool` are taken here, and a free pinned connection is used without a further coroutine)."""
    started = _perf()
    tx: OpenTransaction | None = None
    server = database
    try:
        tx = None if held() is None else await transaction_for(database)
        if logs := _capturing.get():
            _record(logs, database, sql, tx is not None)
        if tx is not None:
            tx.user_sql = tx.user_sql or user_sql
            async with tx.use():
                result = await run(tx.connection, sql, params)
        else:
            server = route(database, sql, user_sql)
            if server != database:
                result, server = await _on_replica(server, database, user_sql, run, sql, params)
            elif (pins := covering_block(database)) is None:
                result = await _checked_out(database, user_sql, _retryable(sql, user_sql), run, (sql, params))
            elif (pin := pins.free(database)) is None:
                result = await _on_pin(
                    pins, database, user_sql, _retryable(sql, user_sql), run, (sql, params)
                )
            else:
                failure: Exception | None = None
                try:
                    pin.user_sql = pin.user_sql or user_sql
                    result = await run(pin.connection, sql, params)
                except Exception as exc:
                    failure = exc
                finally:
                    pin.lock.release()
                if failure is not None:
                    result = await _pin_failed(
                        failure, pins, pin, database, user_sql, sql, run, (sql, params)
                    )
    except Exception as exc:
        error = _failed(exc, server, sql, params, model, operation, started, tx)
        raise error from error.__cause__
    if watching(server):
        rows = affected_rows(result) if isinstance(result, str) else len(result)  # type: ignore[arg-type]
        report(server, sql, params, started, rows, model=model, in_transaction=tx is not None)
    return result


async def fetchmany(
    database: str, sql: str, rows: Sequence[Sequence[Any]], *, model: Any = None, operation: str = ""
) -> list[Any]:
    """Run a statement once per parameter row in one pipelined batch; returns RETURNING rows."""
    result: list[Any] = await _on_connection(
        database, sql, rows, lambda connection: connection.fetchmany(sql, rows), model, operation
    )
    return result


async def executemany(
    database: str, sql: str, rows: Sequence[Sequence[Any]], *, model: Any = None, operation: str = ""
) -> None:
    """Run a statement once per parameter row in one pipelined batch (atomic)."""
    await _on_connection(
        database, sql, rows, lambda connection: connection.executemany(sql, rows), model, operation
    )


async def copy_in(
    database: str,
    table: str,
    schema: str | None,
    columns: Sequence[str],
    data: bytes,
    *,
    model: Any = None,
    operation: str = "",
) -> str:
    """``COPY table (columns) FROM STDIN`` with ``data`` in the text format; returns the status (``COPY 5``)."""
    sql = f"COPY {schema + '.' if schema else ''}{table} ({', '.join(columns)}) FROM STDIN"  # for logs only

    def run(connection: Any) -> Awaitable[str]:
        return connection.copy_to_table(  # type: ignore[no-any-return]
            table, source=memoryview(data), columns=columns, schema_name=schema, format="text"
        )

    status: str = await _on_connection(database, sql, None, run, model, operation, table=table)
    return status


#: asyncpg's binary COPY of records, with the encoders taken from a statement of our choosing rather than
#: from the table itself (``copy_records_to_table`` does the same with the table's own column types)
BINARY_COPY = hasattr(asyncpg.Connection, "_prepare") and hasattr(asyncpg.protocol.Protocol, "copy_in")


async def result_types(database: str, sql: str, *, model: Any = None, operation: str = "") -> tuple[int, ...]:
    """The type OIDs of ``sql``'s result columns, as the server sees the tables now: the statement is
    prepared unnamed and uncached, never run (nor reported, unless it fails)."""

    async def run(connection: Any) -> tuple[int, ...]:
        statement = await connection._prepare(sql, name=False, use_cache=False)
        return tuple(attribute.type.oid for attribute in statement.get_attributes())

    started = _perf()
    tx: OpenTransaction | None = None
    try:
        tx = None if held() is None else await transaction_for(database)
        if tx is None:
            return await _on_pool(database, False, True, run)
        async with tx.use():
            return await run(tx.connection)
    except Exception as exc:
        error = _failed(exc, database, sql, None, model, operation, started, tx)
        raise error from error.__cause__


async def copy_records(
    database: str,
    copy_sql: str,
    shape_sql: str,
    rows: Sequence[Sequence[Any]],
    *,
    table: str,
    model: Any = None,
    operation: str = "",
) -> str:
    """``copy_sql`` (a binary ``COPY ... FROM STDIN``) with ``rows`` encoded by asyncpg's binary codecs for the
    result columns of ``shape_sql`` (prepared once per connection, never run: it must not read any table,
    whose column types could change under the cached statement); returns the status (``COPY 5``). Only
    when :data:`BINARY_COPY`."""

    async def run(connection: Any) -> str:
        shape = await connection._prepare(shape_sql, use_cache=True)
        status: str = await connection._protocol.copy_in(copy_sql, None, None, rows, shape._state, None)
        return status

    return await _on_connection(database, copy_sql, None, run, model, operation, table=table)


async def _on_connection(
    database: str,
    sql: str,
    batch: Sequence[Sequence[Any]] | None,
    run: Run[T],
    model: Any,
    operation: str,
    *,
    table: str | None = None,
) -> T:
    """``await run(connection)`` on the task's transaction connection for ``database``, else on one pooled
    connection (a write: never retried); observed as ``sql``. (:func:`_statement`, the hot path, takes the
    same steps, and routes reads to replicas.)"""
    started = _perf()
    tx: OpenTransaction | None = None
    shown = batch[:3] if batch is not None else None
    try:
        tx = None if held() is None else await transaction_for(database)
        if logs := _capturing.get():
            _record(logs, database, sql, tx is not None)
        if tx is not None:
            async with tx.use():
                result = await run(tx.connection)
        else:
            wrote(database)
            result = await _on_pool(database, False, False, run)
    except Exception as exc:
        error = _failed(exc, database, sql, shown, model, operation, started, tx, table=table)
        raise error from error.__cause__
    if watching(database):
        if isinstance(result, str):
            rows: int | None = affected_rows(result)
        else:
            rows = len(result) if isinstance(result, list) else len(batch or ())
        report(database, sql, shown, started, rows, model=model, in_transaction=tx is not None, table=table)
    return result


async def _on_replica(server: str, database: str, user_sql: bool, run: Run[T], *args: Any) -> tuple[T, str]:
    """A read on replica ``server`` of ``database``; returns the result and the server that produced it. A
    replica that cannot be reached is left out for a while and the read runs on ``database``."""
    try:
        return await _on_pool(server, user_sql, True, run, *args), server
    except ConnectionError as exc:
        if isinstance(exc, PoolExhaustedError):
            raise
        replica_failed(server, exc)
    return await _on_pool(database, user_sql, True, run, *args), database


def _fetch(connection: Any, sql: str, params: Sequence[Any]) -> Awaitable[list[Any]]:
    return connection.fetch(sql, *params)  # type: ignore[no-any-return]


def _execute(connection: Any, sql: str, params: Sequence[Any]) -> Awaitable[str]:
    return connection.execute(sql, *params)  # type: ignore[no-any-return]


def _on_pool(database: str, user_sql: bool, read: bool, run: Run[T], *args: Any) -> Awaitable[T]:
    """``run(connection, *args)`` on a pooled connection (the one a ``connection()`` block pinned, if any), to
    await. A connection found dead is discarded and the caller gets a :class:`~matrx_orm.ConnectionError`;
    a ``read`` first runs once more on a fresh one. (Not a coroutine itself: one awaited layer less.)"""
    pins = covering_block(database)
    if pins is not None:
        return _on_pin(pins, database, user_sql, read, run, args)
    return _checked_out(database, user_sql, read, run, args)


async def _checked_out(database: str, user_sql: bool, read: bool, run: Run[T], args: tuple[Any, ...]) -> T:
    """``await run(connection, *args)`` on a connection checked out of the pool for this statement only."""
    attempts = 2 if read else 1
    while True:
        attempts -= 1
        pool, connection = await checkout(database)
        try:
            return await run(connection, *args)
        except Exception as exc:
            if not connection_broken(exc, connection):
                raise
            discard(connection)
            if not attempts:
                raise _lost(exc) from exc
            logger.info(
                "a pooled connection of %r was found dead; the read runs again on a new one", database
            )
            await pool.expire_connections()  # its idle siblings may be dead too: the retry gets a new one
        finally:
            await release(pool, connection, full_reset=user_sql)


async def _on_pin(
    pins: PinBlock,
    database: str,
    user_sql: bool,
    read: bool,
    run: Run[T],
    args: tuple[Any, ...],
    *,
    attempts: int = 0,
) -> T:
    """``await run(connection, *args)`` on the connection ``pins`` holds for ``database`` (pinned now if need be);
    the pooled path when that connection is busy in another task's transaction or being given back.
    ``attempts``: runs on pinned connections that may find them dead (default 2 for a read, else 1)."""
    attempts = attempts or (2 if read else 1)
    while True:
        attempts -= 1
        pin = pins.pinned(database) or await pins.pin_for(database)
        if pin is None:
            return await _checked_out(database, user_sql, read, run, args)
        lock = pin.lock
        if not lock.take():
            await lock.acquire()
        if pin.in_transaction or pin.released:
            # it changed while this statement waited: a transaction's statements or the give-back need the
            # lock, or it was found dead. Let go of the lock (the pool may have no other connection) and look
            # again: the block's new connection, else the pool. (This pin is no longer the block's, so the
            # next look finds another or none.)
            lock.release()
            attempts += 1
            continue
        try:
            pin.user_sql = pin.user_sql or user_sql
            try:
                return await run(pin.connection, *args)
            except Exception as exc:
                if not connection_broken(exc, pin.connection):
                    raise
                discard_pin(pins, database, pin)
                if not attempts:
                    raise _lost(exc) from exc
        finally:
            lock.release()


async def _pin_failed(
    exc: Exception,
    pins: PinBlock,
    pin: Pin,
    database: str,
    user_sql: bool,
    sql: str,
    run: Run[T],
    args: tuple[Any, ...],
) -> T:
    """A statement :func:`_statement` ran on the free pinned connection ``pin`` (its lock given back since)
    raised ``exc``: raised again, unless the connection was found dead. Then the block drops it and a read
    takes its second try as :func:`_on_pin` would (on the block's new connection, or a pooled one); a write
    raises :class:`~matrx_orm.ConnectionError`."""
    if not connection_broken(exc, pin.connection):
        raise exc
    discard_pin(pins, database, pin)
    if not _retryable(sql, user_sql):
        raise _lost(exc) from exc
    return await _on_pin(pins, database, user_sql, True, run, args, attempts=1)


def _retryable(sql: str, user_sql: bool) -> bool:
    """A statement safe to run again after its connection was found dead: a SELECT the ORM built."""
    return not user_sql and sql.startswith("SELECT ")


def connection_broken(exc: BaseException, connection: Any) -> bool:
    """Whether ``exc`` means ``connection`` is unusable (closed by the server, the network, or left in a
    state the driver cannot continue from) rather than that the statement failed.

    A statement that ran past ``command_timeout`` (``TimeoutError``, an ``OSError`` since Python 3.11) is a
    failed statement: asyncpg cancels it and keeps the connection, closing it itself when the cancel cannot
    be delivered (then it is gone)."""
    if isinstance(exc, ORMException):
        return False
    if is_gone(connection):
        return True
    if isinstance(exc, TimeoutError):
        return False
    if isinstance(exc, asyncpg.ConnectionDoesNotExistError | OSError):
        return True
    return isinstance(exc, pg_base.InternalClientError) and "another operation" in str(exc)


async def control(tx: OpenTransaction, sql: str, *, operation: str) -> str:
    """Run transaction control (``BEGIN``, ``COMMIT``, ``SAVEPOINT ...``) on ``tx``'s connection; returns
    the command status (``COMMIT``, or ``ROLLBACK`` for a COMMIT of an aborted transaction).

    The caller holds the connection (``tx.use()``) when other tasks may share it.
    """
    started = _perf()
    try:
        status: str = await tx.connection.execute(sql)
    except Exception as exc:
        error = _failed(exc, tx.server or tx.database, sql, None, None, operation, started, tx)
        raise error from error.__cause__
    server = tx.server or tx.database
    if watching(server):
        report(server, sql, None, started, None, in_transaction=True)
    return status


#: what a stream makes of each chunk of records: a list, or an iterator making the items as they are taken
OnChunk = Callable[[list[Any]], Awaitable[Iterable[T]]]


class Compiled(Protocol):
    """A compiled statement (``sql.compiler``): its text, and its parameters in the text's order."""

    @property
    def sql(self) -> str: ...

    def params(self, values: list[Any]) -> list[Any]: ...


class Tuning(NamedTuple):
    """Session settings a stream's reads run with (pgvector's index tuning)."""

    names: tuple[str, ...]
    values: tuple[str, ...]
    #: ``current_setting(name, true)`` for each name: the values the settings have
    read: Compiled
    #: ``set_config(name, value, true)`` for each name
    apply: Compiled

    def bound(self, values: Sequence[str | None]) -> list[Any]:
        """``apply``'s parameters for setting ``values`` (None: back to the default)."""
        return self.apply.params([item for pair in zip(self.names, values, strict=True) for item in pair])


async def stream(
    database: str,
    chunk_size: int,
    prepare: Callable[[], tuple[str, Sequence[Any], OnChunk[T]]],
    *,
    model: Any = None,
    operation: str = "iterator",
    tuning: Tuning | None = None,
) -> AsyncGenerator[T, None]:
    """The items of a SELECT's rows, read from a server-side cursor ``chunk_size`` rows per round trip.
    ``prepare()`` gives the statement, its parameters and what turns a chunk of records into items; it
    runs at the first step, so a bad query raises where the loop begins. Opening the cursor and each of its
    reads run with ``tuning``'s settings, which are set back right after each (so the statements that run
    between the reads, on a shared transaction's connection, never see them).

    Inside the task's transaction the cursor uses its connection; otherwise one pooled connection is held,
    in a read-only transaction, until the iteration ends or the consumer stops (``aclose()`` gives it back
    before it returns), and the chunk's conversion runs with that connection lent to the task (relation
    loads of the chunk use it). The statement is reported once, when the iteration ends, with the rows
    fetched and the time spent fetching them. One generator, stepped once per item: a generator around it
    would be closed by the event loop at the same time as this one when the loop shuts down.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ParameterError(
            f"iterator(chunk_size=...) must be a positive int; got {chunk_size!r}", model=model
        )
    sql, params, on_chunk = prepare()
    context = {"model": model, "operation": operation, "query": sql}
    try:
        tx = await transaction_for(database)
    except Exception as exc:
        error = map_database_error(exc, **context)
        raise error from error.__cause__
    if logs := _capturing.get():
        _record(logs, database, sql, tx is not None)
    if tx is not None:
        async for items in _stream_in(tx, sql, params, chunk_size, on_chunk, context, tuning, own=False):
            for item in items:
                yield item
        return
    pool, connection, server = await _stream_checkout(database, sql)
    # the primary's name, so the chunk's relation loads borrow the connection; server: where it lives
    own = OpenTransaction(database, connection, pool, server=None if server == database else server)
    try:
        await control(own, "BEGIN READ ONLY", operation=operation)
        async for items in _stream_in(own, sql, params, chunk_size, on_chunk, context, tuning, own=True):
            for item in items:
                yield item
        await control(own, "COMMIT", operation=operation)
    except BaseException:  # an error, the consumer stopping early (GeneratorExit) or a cancellation
        await rollback_quietly(own)
        raise
    finally:
        await release(pool, connection)


async def _stream_checkout(database: str, sql: str) -> tuple[Any, Any, str]:
    """A pooled connection for a stream outside a transaction, on a replica when the project has them:
    the pool, the connection and the server's project name."""
    server = route(database, sql, False)
    if server != database:
        try:
            return (*await checkout(server), server)
        except ConnectionError as exc:
            if isinstance(exc, PoolExhaustedError):
                raise
            replica_failed(server, exc)
    return (*await checkout(database), database)


class _SqlCursor:
    """A cursor made with ``DECLARE ... CURSOR`` and read with ``FETCH``: plain statements, so it works
    through a transaction pooler, where asyncpg's cursors (named prepared statements) do not."""

    def __init__(self, connection: Any, name: str) -> None:
        self.connection = connection
        self.name = name

    @classmethod
    async def open(cls, connection: Any, sql: str, params: Sequence[Any]) -> _SqlCursor:
        name = f"matrx_cursor_{next(_cursor_numbers)}"
        await connection.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}", *params)
        return cls(connection, name)

    async def fetch(self, count: int) -> list[Any]:
        rows: list[Any] = await self.connection.fetch(f"FETCH FORWARD {int(count)} FROM {self.name}")
        return rows

    async def close(self) -> None:
        await self.connection.execute(f"CLOSE {self.name}")


_cursor_numbers = itertools.count(1)


async def _open_cursor(tx: OpenTransaction, sql: str, params: Sequence[Any]) -> Any:
    """An asyncpg cursor, or a :class:`_SqlCursor` behind a transaction pooler."""
    config = get_database_config(tx.database)
    if config.pooler_mode == "transaction" and not config.pooler_prepared_statements:
        return await _SqlCursor.open(tx.connection, sql, params)
    return await tx.connection.cursor(sql, *params)


async def _stream_in(
    tx: OpenTransaction,
    sql: str,
    params: Sequence[Any],
    chunk_size: int,
    on_chunk: OnChunk[T],
    context: dict[str, Any],
    tuning: Tuning | None,
    *,
    own: bool,
) -> AsyncIterator[Iterable[T]]:
    """The cursor loop on ``tx``'s connection; with ``own`` (the stream's own connection) ``on_chunk``'s
    statements are routed to it."""
    spent = 0.0
    fetched = 0
    error: ORMException | None = None
    try:
        started = _perf()
        try:
            async with tx.use(), _tuned(tx, tuning, context, own):
                cursor = await _open_cursor(tx, sql, params)
        except Exception as exc:
            error = _failed(
                exc, tx.database, sql, params, context["model"], context["operation"], started, tx
            )
            raise error from error.__cause__
        finally:
            spent += _perf() - started
        while True:
            started = _perf()
            try:
                # the lock is taken per chunk: a shared transaction's statements may run between chunks
                async with tx.use(), _tuned(tx, tuning, context, own):
                    records = await cursor.fetch(chunk_size)
            except Exception as exc:
                error = _failed(
                    exc, tx.database, sql, None, context["model"], context["operation"], started, tx
                )
                raise error from error.__cause__
            finally:
                spent += _perf() - started
            fetched += len(records)
            if own:
                with borrow_connection(tx):
                    items = await on_chunk(records)
            else:
                items = await on_chunk(records)
            if items:
                yield items
            if len(records) < chunk_size:
                if not own and isinstance(cursor, _SqlCursor):  # the caller's transaction goes on
                    async with tx.use():
                        await cursor.close()
                return
    finally:
        if error is None and watching(tx.server or tx.database):
            report(
                tx.server or tx.database,
                sql,
                params,
                _perf() - spent,
                fetched,
                model=context["model"],
                in_transaction=not own,
            )


def _tuned(
    tx: OpenTransaction, tuning: Tuning | None, context: dict[str, Any], own: bool
) -> contextlib.AbstractAsyncContextManager[None]:
    """The block's statement runs with ``tuning``'s settings, and the values they replaced are set back
    after it, also when it is cancelled (the caller holds ``tx``'s connection). A statement that fails on
    the server leaves them to the rollback its failure brings (of the transaction, or of its savepoint)."""
    return _UNTUNED if tuning is None else _tuning_applied(tx, tuning, context, own)


_UNTUNED = contextlib.nullcontext()


@contextlib.asynccontextmanager
async def _tuning_applied(
    tx: OpenTransaction, tuning: Tuning, context: dict[str, Any], own: bool
) -> AsyncIterator[None]:
    run = _setting_statement
    earlier = tuple(await run(tx, tuning.read, tuning.read.params(list(tuning.names)), context, own))
    try:
        await run(tx, tuning.apply, tuning.bound(tuning.values), context, own)
        yield
        await run(tx, tuning.apply, tuning.bound(earlier), context, own)
    except (asyncio.CancelledError, TimeoutError):  # the server may have finished: the transaction goes on
        with contextlib.suppress(Exception):
            await run(tx, tuning.apply, tuning.bound(earlier), context, own)
        raise


async def _setting_statement(
    tx: OpenTransaction, statement: Compiled, params: list[Any], context: dict[str, Any], own: bool
) -> Any:
    """The row of one of a tuning's statements, run on ``tx``'s connection (held by the caller) and
    reported like the stream's own statement; a failure is mapped by the caller, as the stream's."""
    server = tx.server or tx.database
    if logs := _capturing.get():
        _record(logs, server, statement.sql, not own)
    started = _perf()
    row = await tx.connection.fetchrow(statement.sql, *params)
    if watching(server):
        report(server, statement.sql, params, started, 1, model=context["model"], in_transaction=not own)
    return row


async def rollback_quietly(tx: OpenTransaction) -> None:
    """Roll back after a failure: a rollback that fails or is interrupted never hides the error that
    caused it; the connection is then discarded (the server rolls back when it goes)."""
    if is_gone(tx.connection):
        return
    try:
        async with tx.use():
            await control(tx, "ROLLBACK", operation="rollback")
    except ORMException:
        discard(tx.connection)
    except BaseException:  # a second cancellation while rolling back
        discard(tx.connection)
        raise


def affected_rows(status: str) -> int:
    """``UPDATE 3`` → 3; ``INSERT 0 5`` → 5."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _failed(
    exc: Exception,
    database: str,
    sql: str,
    params: Any,
    model: Any,
    operation: str,
    started: float,
    tx: OpenTransaction | None,
    *,
    table: str | None = None,
) -> ORMException:
    """The ORMException for ``exc``, reported to the observers. A dead transaction connection is closed at
    once, so nothing waits on it and the transaction's end rolls back without a round trip; so is one whose
    ``COMMIT`` timed out (it may or may not have committed). ``hide_parameters`` takes ``params`` out."""
    if _pooler_symptom(exc, database):
        exc = _pooler_error(exc, database)
    elif tx is not None and connection_broken(exc, tx.connection):
        exc = _lost(exc, earlier=tx.lost)
        tx.lost = True
        discard(tx.connection)
    elif tx is not None and sql == "COMMIT" and isinstance(exc, TimeoutError):
        discard(tx.connection)  # committed or not is unknown: the transaction reports the outcome unknown
    hide = _hides_parameters(database)
    error = map_database_error(
        exc,
        model=model,
        operation=operation,
        query=sql,
        params=None if hide or params is None else list(params),
        details={"database": database},
    )
    if hide:
        _drop_values(error, params)
    if watching(database):
        report(
            database,
            sql,
            params,
            started,
            None,
            model=model,
            in_transaction=tx is not None,
            error=error,
            table=table,
        )
    return error


def _pooler_symptom(exc: BaseException, database: str) -> bool:
    """A prepared-statement error that only a transaction pooler causes, on a project not set up for one."""
    if not isinstance(exc, asyncpg.InvalidSQLStatementNameError | asyncpg.DuplicatePreparedStatementError):
        return False
    with contextlib.suppress(ORMException):
        return get_database_config(database).pooler_mode != "transaction"
    return False


def _pooler_error(exc: BaseException, database: str) -> ConfigurationError:
    error = ConfigurationError(
        f"The server of {database!r} lost a prepared statement ({type(exc).__name__}: {exc}). This looks like "
        "a transaction pooler (PgBouncer in pool_mode=transaction, Supabase's port 6543): set "
        "pooler_mode='transaction' on the project (or ?pgbouncer=true in its URL)",
        details={"database": database},
    )
    error.__cause__ = exc
    error.__suppress_context__ = True
    return error


def _lost(exc: BaseException, *, earlier: bool = False) -> ConnectionError:
    """The error for a statement whose connection turned out to be dead (``earlier``: a transaction's
    connection already found dead by an earlier statement of it)."""
    if earlier:
        text = "The transaction's connection was lost earlier; nothing in the transaction was committed"
    else:
        text = f"The connection to the database was lost ({type(exc).__name__}: {exc})"
    error = ConnectionError(text)
    error.__cause__ = exc
    error.__suppress_context__ = True
    return error


def _hides_parameters(database: str) -> bool:
    with contextlib.suppress(ORMException):
        return get_database_config(database).hide_parameters
    return False


def _drop_values(error: ORMException, params: Any) -> None:
    """``hide_parameters``: no bound value in ``error``, its details or its driver error; the message
    still says which argument failed and why (see :func:`~matrx_orm.exceptions.hide_values`)."""
    hide_values(error, params)
