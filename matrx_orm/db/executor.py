"""Runs statements on asyncpg: the one place every statement of the package goes through.

A statement runs on the current task's transaction connection for its database (``db/context.py``), else
on a pooled connection. Driver errors become :class:`~matrx_orm.ORMException` subclasses here, and
``capture_queries()`` sees each statement once.

Pooled connections skip asyncpg's ``RESET ALL``-style round trip on release (see ``engine._light_reset``):
statements the package builds leave no session state. User-written SQL (``raw``/``raw_sql``) may ``SET``
or ``LISTEN``, so pass ``user_sql=True`` and the connection is fully reset before it returns to the pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..exceptions import ORMException, map_database_error
from .capture import ACTIVE as _capturing
from .capture import record as _record
from .context import OpenTransaction, borrow_connection, held, transaction_for
from .engine import acquire, get_pool

__all__ = [
    "affected_rows",
    "control",
    "copy_in",
    "execute",
    "executemany",
    "fetch",
    "fetchmany",
    "stream",
]

T = TypeVar("T")


async def fetch(
    database: str,
    sql: str,
    params: Sequence[Any],
    *,
    model: Any = None,
    operation: str = "",
    user_sql: bool = False,
) -> list[Any]:
    """Rows of a statement (``user_sql=True`` for SQL the package did not build)."""
    try:
        tx = None if held() is None else await transaction_for(database)
        if logs := _capturing.get():
            _record(logs, database, sql, tx is not None)
        if tx is not None:
            tx.user_sql = tx.user_sql or user_sql
            async with tx.use():
                return await tx.connection.fetch(sql, *params)  # type: ignore[no-any-return]
        if user_sql:
            async with acquire(database) as connection:
                return await connection.fetch(sql, *params)  # type: ignore[no-any-return]
        pool = await get_pool(database)
        return await pool.fetch(sql, *params)  # type: ignore[no-any-return]
    except Exception as exc:
        raise _mapped(exc, database, sql, params, model, operation) from exc


async def execute(
    database: str,
    sql: str,
    params: Sequence[Any],
    *,
    model: Any = None,
    operation: str = "",
    user_sql: bool = False,
) -> str:
    """Run a statement; returns the command status (``UPDATE 3``). ``user_sql`` as in :func:`fetch`."""
    try:
        tx = None if held() is None else await transaction_for(database)
        if logs := _capturing.get():
            _record(logs, database, sql, tx is not None)
        if tx is not None:
            tx.user_sql = tx.user_sql or user_sql
            async with tx.use():
                return await tx.connection.execute(sql, *params)  # type: ignore[no-any-return]
        if user_sql:
            async with acquire(database) as connection:
                return await connection.execute(sql, *params)  # type: ignore[no-any-return]
        pool = await get_pool(database)
        return await pool.execute(sql, *params)  # type: ignore[no-any-return]
    except Exception as exc:
        raise _mapped(exc, database, sql, params, model, operation) from exc


async def fetchmany(
    database: str, sql: str, rows: Sequence[Sequence[Any]], *, model: Any = None, operation: str = ""
) -> list[Any]:
    """Run a statement once per parameter row in one pipelined batch; returns RETURNING rows."""
    return await _on_connection(
        database, sql, rows[:3], lambda connection: connection.fetchmany(sql, rows), model, operation
    )


async def executemany(
    database: str, sql: str, rows: Sequence[Sequence[Any]], *, model: Any = None, operation: str = ""
) -> None:
    """Run a statement once per parameter row in one pipelined batch (atomic)."""
    await _on_connection(
        database, sql, rows[:3], lambda connection: connection.executemany(sql, rows), model, operation
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

    return await _on_connection(database, sql, [], run, model, operation)


async def _on_connection(
    database: str,
    sql: str,
    shown_params: Any,
    run: Callable[[Any], Awaitable[T]],
    model: Any,
    operation: str,
) -> T:
    """``await run(connection)`` on the task's transaction connection for ``database``, else on one pooled
    connection; recorded as ``sql``, errors mapped with ``shown_params``. (:func:`fetch` and
    :func:`execute`, the hot path, inline the same steps.)"""
    try:
        tx = None if held() is None else await transaction_for(database)
        if logs := _capturing.get():
            _record(logs, database, sql, tx is not None)
        if tx is not None:
            async with tx.use():
                return await run(tx.connection)
        pool = await get_pool(database)
        async with pool.acquire() as connection:
            return await run(connection)
    except Exception as exc:
        raise _mapped(exc, database, sql, shown_params, model, operation) from exc


async def control(tx: OpenTransaction, sql: str, *, operation: str) -> None:
    """Run transaction control (``BEGIN``, ``COMMIT``, ``SAVEPOINT ...``) on ``tx``'s connection.

    The caller holds the connection (``tx.use()``) when other tasks may share it.
    """
    try:
        await tx.connection.execute(sql)
    except Exception as exc:
        raise _mapped(exc, tx.database, sql, None, None, operation) from exc


async def stream(
    database: str,
    sql: str,
    params: Sequence[Any],
    chunk_size: int,
    on_chunk: Callable[[list[Any]], Awaitable[list[T]]],
    *,
    model: Any = None,
    operation: str = "iterator",
) -> AsyncIterator[T]:
    """The rows of a SELECT from a server-side cursor, ``chunk_size`` per round trip: yields what
    ``on_chunk(records)`` makes of each chunk, item by item.

    Inside the task's transaction the cursor uses its connection; otherwise one pooled connection is held,
    in a read-only transaction, until the iteration ends or the consumer stops, and ``on_chunk`` runs with
    that connection lent to the task (relation loads of the chunk use it).
    """
    context = {"model": model, "operation": operation, "query": sql}
    try:
        tx = await transaction_for(database)
    except Exception as exc:
        raise map_database_error(exc, **context) from exc
    if logs := _capturing.get():
        _record(logs, database, sql, tx is not None)
    if tx is not None:
        async for item in _stream_in(tx, sql, params, chunk_size, on_chunk, context):
            yield item
        return
    async with acquire(database) as connection:
        own = OpenTransaction(database, connection)
        await control(own, "BEGIN READ ONLY", operation=operation)
        try:
            async for item in _stream_in(own, sql, params, chunk_size, on_chunk, context, lend=True):
                yield item
        except BaseException:  # an error, the consumer stopping early (GeneratorExit) or a cancellation
            await _rollback_quietly(own)
            raise
        await control(own, "COMMIT", operation=operation)


async def _stream_in(
    tx: OpenTransaction,
    sql: str,
    params: Sequence[Any],
    chunk_size: int,
    on_chunk: Callable[[list[Any]], Awaitable[list[T]]],
    context: dict[str, Any],
    *,
    lend: bool = False,
) -> AsyncIterator[T]:
    """The cursor loop on ``tx``'s connection; ``lend`` routes ``on_chunk``'s statements to it."""
    try:
        async with tx.use():
            cursor = await tx.connection.cursor(sql, *params)
    except Exception as exc:
        raise map_database_error(exc, params=list(params), **context) from exc
    while True:
        try:
            async with tx.use():  # other statements of a shared transaction may run between chunks
                records = await cursor.fetch(chunk_size)
        except Exception as exc:
            raise map_database_error(exc, **context) from exc
        if lend:
            with borrow_connection(tx):
                items = await on_chunk(records)
        else:
            items = await on_chunk(records)
        for item in items:
            yield item
        if len(records) < chunk_size:
            return


async def _rollback_quietly(tx: OpenTransaction) -> None:
    """Roll back after a failure; a failing rollback never hides the error that caused it."""
    with contextlib.suppress(ORMException):
        await control(tx, "ROLLBACK", operation="rollback")


def affected_rows(status: str) -> int:
    """``UPDATE 3`` → 3; ``INSERT 0 5`` → 5."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _mapped(exc: Exception, database: str, sql: str, params: Any, model: Any, operation: str) -> ORMException:
    return map_database_error(
        exc,
        model=model,
        operation=operation,
        query=sql,
        params=list(params) if params is not None else None,
        details={"database": database},
    )
