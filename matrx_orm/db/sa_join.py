"""``transaction(connection=...)``: the ORM's statements inside a SQLAlchemy connection's transaction.

The block's statements for the project run on the asyncpg connection under the given ``AsyncConnection``
(an ``AsyncSession``'s connection), inside the transaction SQLAlchemy holds on it; a transaction is begun
there first when none is (as SQLAlchemy would on the connection's first statement). The ORM never commits
or rolls that transaction back: the caller's ``commit()`` / ``rollback()`` decides. Nested ``transaction()``
blocks are savepoints, as always. The row cache forgets what the block wrote when it ends and again when
the caller's transaction ends.

The project is the one named, else the one registered with the connection's engine, else the one whose
connection settings (host, port, database, user) are the engine's.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ..config import (
    DatabaseProjectConfig,
    get_all_database_project_names,
    get_database_config,
    resolve_database_name,
)
from ..exceptions import ConfigurationError, ParameterError, TransactionError
from .context import Held, OpenTransaction, current_transaction, enter, held
from .sa_pool import DriverConnection, driver_connection

__all__ = ["sqlalchemy_transaction"]

Savepoint = Callable[[OpenTransaction], contextlib.AbstractAsyncContextManager[None]]


@contextlib.asynccontextmanager
async def sqlalchemy_transaction(
    connection: Any, database: str | None, savepoint: Savepoint
) -> AsyncIterator[OpenTransaction]:
    """The block of ``transaction(database, connection=connection)`` (see the module docstring);
    ``savepoint(tx)`` is ``transaction()``'s savepoint block, used when the block is nested."""
    sa_connection = await _async_connection(connection)
    name = _project_of(sa_connection, database)
    driver = await _in_transaction(sa_connection)
    existing = current_transaction(name)
    if existing is not None:
        if existing.connection is not driver:
            raise TransactionError(
                f"transaction(connection=...) inside a transaction on {name!r} that runs on another "
                "connection: the block cannot be part of both",
                operation="transaction.begin",
                details={"database": name},
            )
        async with savepoint(existing):
            yield existing
        return
    tx = OpenTransaction(name, driver)  # no pool: the caller's connection, never released here
    state = held()
    transactions = {**(state.transactions if state is not None else {}), name: tx}
    try:
        with enter(Held(transactions, state.joining if state is not None else None)):
            yield tx
    finally:
        _ended(tx, sa_connection)


async def _async_connection(connection: Any) -> AsyncConnection:
    if isinstance(connection, AsyncConnection):
        return connection
    if isinstance(connection, AsyncSession):
        return await connection.connection()
    raise ParameterError(
        "transaction(connection=...) takes a SQLAlchemy AsyncConnection or AsyncSession; "
        f"got {type(connection).__name__}"
    )


def _project_of(connection: AsyncConnection, database: str | None) -> str:
    """The project whose statements the block runs on ``connection`` (see the module docstring)."""
    if database is not None:
        return resolve_database_name(database)
    configs = [get_database_config(name) for name in get_all_database_project_names()]
    pool = connection.sync_engine.pool
    found = [c.name for c in configs if c.engine is not None and c.engine.sync_engine.pool is pool]
    probe = DatabaseProjectConfig(name="probe", engine=connection.engine)  # the engine's URL, parsed
    if not found:
        found = [c.name for c in configs if _same_server(c, probe)]
    if len(found) == 1:
        return found[0]
    where = probe.masked_url()
    reason = "several projects use" if found else "no registered project uses"
    raise ConfigurationError(
        f"transaction(connection=...): {reason} this connection's database ({where})"
        + (f": {', '.join(map(repr, found))}" if found else "")
        + "; name the project: transaction('name', connection=...)"
    )


def _same_server(config: DatabaseProjectConfig, other: DatabaseProjectConfig) -> bool:
    return (config.host, config.port_int, config.database_name, config.user) == (
        other.host,
        other.port_int,
        other.database_name,
        other.user,
    )


async def _in_transaction(connection: AsyncConnection) -> DriverConnection:
    """The ORM's view of ``connection``'s asyncpg connection, inside a transaction SQLAlchemy began."""
    if not connection.in_transaction():
        await connection.begin()
    driver = driver_connection(await connection.get_raw_connection())
    if not driver.driver.is_in_transaction():
        # SQLAlchemy sends its BEGIN with the connection's first statement
        await connection.exec_driver_sql("SELECT 1")
        if not driver.driver.is_in_transaction():
            raise TransactionError(
                "transaction(connection=...) needs a connection in a transaction; this one is in AUTOCOMMIT "
                "mode, so each statement would commit on its own",
                operation="transaction.begin",
            )
    return driver


def _ended(tx: OpenTransaction, connection: AsyncConnection) -> None:
    """Run the block's end callbacks (the row cache's invalidations) now, and again when the caller's
    transaction commits or rolls back (a row read meanwhile may have been cached)."""
    callbacks = list(tx.on_exit)
    for callback in callbacks:
        callback()
    sync = connection.sync_connection
    if not callbacks or sync is None or not connection.in_transaction():
        return

    def again(*_: Any) -> None:
        for callback in callbacks:
            callback()

    event.listen(sync, "commit", again, once=True)
    event.listen(sync, "rollback", again, once=True)
