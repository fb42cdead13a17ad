"""``transaction()``: a task-local transaction per database, with savepoints when nested.

The open transactions of the current task live in a ContextVar (database name -> connection state), so
concurrent tasks never share one, and a query for another database inside the block goes to that database's
pool. Tasks started inside the block inherit it; their statements are serialised on the one connection by a
lock, because an asyncpg connection runs one query at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigurationError, map_database_error


@dataclass(eq=False)
class OpenTransaction:
    """A connection checked out for one database's transaction, and the lock that serialises it."""

    database: str
    connection: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    depth: int = 0
    user_sql: bool = False  # user-written SQL ran: fully reset the session before the pool gets it back
    #: called once when the outermost block ends, after commit or rollback (the state cache's invalidations)
    on_exit: list[Callable[[], None]] = field(default_factory=list)
    #: the task using the connection exclusively (a resilient relation load in its savepoint, see
    #: relations/fanout.py): its statements skip ``lock``, which it holds; other tasks wait on ``lock``
    owner: asyncio.Task[Any] | None = None

    def use(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold the connection for one statement: ``lock``, unless the current task owns the connection."""
        if self.owner is not None and self.owner is asyncio.current_task():
            return contextlib.nullcontext()
        return self.lock


_open: ContextVar[dict[str, OpenTransaction] | None] = ContextVar("matrx_orm_transactions", default=None)


def current_transaction(database: str) -> OpenTransaction | None:
    """The transaction the current task holds on ``database``, if any."""
    held = _open.get()
    return held.get(database) if held else None


@contextlib.contextmanager
def borrow_connection(state: OpenTransaction) -> Iterator[None]:
    """Route the current task's statements for ``state.database`` to ``state.connection`` while the block
    runs (``iterator()`` loads relations on its cursor's connection this way). The caller owns the
    connection and its transaction; nothing is committed or released here."""
    token = _open.set({**(_open.get() or {}), state.database: state})
    try:
        yield
    finally:
        _open.reset(token)


def default_database() -> str:
    """The database ``transaction()`` uses when none is named: ``default``, or the only registered one."""
    from .config import get_all_database_project_names

    names = get_all_database_project_names()
    if "default" in names:
        return "default"
    if len(names) == 1:
        return names[0]
    raise ConfigurationError(
        "transaction() needs a database name when several databases are registered: "
        f"transaction('my_project'); registered: {names or 'none'}"
    )


@asynccontextmanager
async def transaction(database: str | None = None) -> AsyncIterator[OpenTransaction]:
    """Commit on exit, roll back on exception; a nested block on the same database is a savepoint."""
    name = database or default_database()
    existing = current_transaction(name)
    if existing is not None:
        async with _savepoint(existing):
            yield existing
        return

    from .engine import get_pool

    pool = await get_pool(name)
    try:
        connection = await pool.acquire()
    except Exception as exc:
        raise map_database_error(exc, operation="transaction.begin", details={"database": name}) from exc
    state = OpenTransaction(name, connection)
    tx = connection.transaction()
    token = _open.set({**(_open.get() or {}), name: state})
    try:
        await tx.start()
        try:
            yield state
        except BaseException:
            async with state.use():
                await _quietly(tx.rollback())
            raise
        async with state.use():
            try:
                await tx.commit()
            except Exception as exc:
                raise map_database_error(exc, operation="transaction.commit") from exc
    finally:
        _open.reset(token)
        for callback in state.on_exit:
            callback()
        if state.user_sql and not connection.is_closed():
            await _quietly(connection.reset())
        await pool.release(connection)


@asynccontextmanager
async def _savepoint(state: OpenTransaction) -> AsyncIterator[None]:
    async with state.use():
        savepoint = state.connection.transaction()
        await savepoint.start()
    state.depth += 1
    try:
        yield
    except BaseException:
        async with state.use():
            await _quietly(savepoint.rollback())
        raise
    else:
        async with state.use():
            await savepoint.commit()
    finally:
        state.depth -= 1


async def _quietly(awaitable: Any) -> None:
    """Await a rollback whose own failure must not hide the error that caused it."""
    with contextlib.suppress(Exception):
        await awaitable
