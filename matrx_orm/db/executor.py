"""Runs compiled SQL on asyncpg: the task's open transaction for that database, else the pool.

Pooled connections skip asyncpg's ``RESET ALL``-style round trip on release (see ``engine._light_reset``):
statements the ORM builds leave no session state. User-written SQL (``raw``/``raw_sql``) may ``SET``
or ``LISTEN``, so pass ``user_sql=True`` and the connection is fully reset before it returns to the pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..engine import acquire, get_pool
from ..exceptions import map_database_error
from ..transaction import current_transaction
from .capture import ACTIVE as _capturing
from .capture import record as _record


async def fetch(
    database: str,
    sql: str,
    params: Sequence[Any],
    *,
    model: Any = None,
    operation: str = "",
    user_sql: bool = False,
) -> list[Any]:
    """Rows of a statement (``user_sql=True`` for SQL the ORM did not build)."""
    try:
        tx = current_transaction(database)
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
        raise _wrap(exc, database, sql, params, model, operation) from exc


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
        tx = current_transaction(database)
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
        raise _wrap(exc, database, sql, params, model, operation) from exc


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


async def _on_connection(
    database: str,
    sql: str,
    shown_params: Any,
    run: Callable[[Any], Awaitable[Any]],
    model: Any,
    operation: str,
) -> Any:
    """``await run(connection)`` on the task's transaction connection for ``database``, else on one pooled
    connection; recorded by ``capture_queries()`` as ``sql``, errors mapped with ``shown_params``.
    (``fetch``/``execute``, the hot path, inline the same steps.)"""
    try:
        tx = current_transaction(database)
        if logs := _capturing.get():
            _record(logs, database, sql, tx is not None)
        if tx is not None:
            async with tx.use():
                return await run(tx.connection)
        pool = await get_pool(database)
        async with pool.acquire() as connection:
            return await run(connection)
    except Exception as exc:
        raise _wrap(exc, database, sql, shown_params, model, operation) from exc


def affected_rows(status: str) -> int:
    """``UPDATE 3`` → 3; ``INSERT 0 5`` → 5."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _wrap(exc: Exception, database: str, sql: str, params: Any, model: Any, operation: str) -> Exception:
    return map_database_error(
        exc,
        model=model,
        operation=operation,
        query=sql,
        params=list(params),
        details={"database": database},
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
        return connection.copy_to_table(
            table, source=memoryview(data), columns=columns, schema_name=schema, format="text"
        )

    return await _on_connection(database, sql, [], run, model, operation)
