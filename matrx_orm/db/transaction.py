"""``transaction()``: a task-local transaction per database, with savepoints when nested.

``BEGIN``, ``COMMIT``, ``ROLLBACK`` and the savepoint statements run through the executor like every other
statement (errors mapped, statements observed). The transactions a task holds live in ``db/context.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from ..config import get_all_database_project_names
from ..exceptions import ConfigurationError, ORMException, map_database_error
from . import executor
from .context import OpenTransaction, borrow_connection, current_transaction
from .engine import get_pool

__all__ = ["default_database", "exclusive_savepoint", "run_discarded", "transaction"]

T = TypeVar("T")

_savepoint_names = (f"matrx_sp_{n}" for n in itertools.count(1))


def default_database() -> str:
    """The database ``transaction()`` uses when none is named: ``default``, or the only registered one."""
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

    pool = await get_pool(name)
    try:
        connection = await pool.acquire()
    except Exception as exc:
        raise map_database_error(exc, operation="transaction.begin", details={"database": name}) from exc
    tx = OpenTransaction(name, connection)
    try:
        await executor.control(tx, "BEGIN", operation="transaction.begin")
        with borrow_connection(tx):
            try:
                yield tx
            except BaseException:
                async with tx.use():
                    await _quietly(executor.control(tx, "ROLLBACK", operation="transaction.rollback"))
                raise
            async with tx.use():
                await executor.control(tx, "COMMIT", operation="transaction.commit")
    finally:
        for callback in tx.on_exit:
            callback()
        if tx.user_sql and not connection.is_closed():
            await _quietly(connection.reset())
        await pool.release(connection)


@asynccontextmanager
async def _savepoint(tx: OpenTransaction, *, keep: bool = True) -> AsyncIterator[None]:
    """A savepoint around the block: released at the end (rolled back too when ``keep`` is False), rolled
    back on an exception."""
    name = next(_savepoint_names)
    async with tx.use():
        await executor.control(tx, f"SAVEPOINT {name}", operation="transaction.savepoint")
    tx.depth += 1
    try:
        yield
    except BaseException:
        async with tx.use():
            await _quietly(
                executor.control(tx, f"ROLLBACK TO SAVEPOINT {name}", operation="transaction.rollback")
            )
        raise
    else:
        async with tx.use():
            if not keep:
                await executor.control(tx, f"ROLLBACK TO SAVEPOINT {name}", operation="transaction.rollback")
            await executor.control(tx, f"RELEASE SAVEPOINT {name}", operation="transaction.savepoint")
    finally:
        tx.depth -= 1


async def exclusive_savepoint(
    held: list[OpenTransaction], run: Callable[[], Awaitable[T]], *, keep: bool = True
) -> T:
    """``await run()`` in a savepoint on each held transaction, owning their connections meanwhile.

    Owning a connection (its lock, held for the whole savepoint) keeps statements of other tasks sharing the
    transaction out of the savepoint, so rolling it back undoes only what ``run`` did, and savepoints of
    concurrent tasks never interleave on one connection. ``run``'s own error propagates; with ``keep=False``
    what ``run`` did is rolled back even when it succeeds.
    """
    tx, rest = held[0], held[1:]
    me = asyncio.current_task()
    if tx.owner is me:  # already exclusive (nested use): just the savepoint
        return await _owned_savepoint(tx, rest, run, keep)
    async with tx.lock:
        tx.owner = me
        try:
            return await _owned_savepoint(tx, rest, run, keep)
        finally:
            tx.owner = None


async def _owned_savepoint(
    tx: OpenTransaction, rest: list[OpenTransaction], run: Callable[[], Awaitable[T]], keep: bool
) -> T:
    async with _savepoint(tx, keep=keep):
        return await (exclusive_savepoint(rest, run, keep=keep) if rest else run())


class _Discard(Exception):
    """Ends the transaction of :func:`run_discarded` with a rollback."""


async def run_discarded(database: str, run: Callable[[], Awaitable[T]]) -> T:
    """``await run()`` in a transaction on ``database`` (a savepoint of the task's own, when it holds one)
    that is rolled back afterwards: for reads needing ``SET LOCAL`` settings of their own."""
    held = current_transaction(database)
    if held is not None:
        return await exclusive_savepoint([held], run, keep=False)
    result: list[T] = []
    try:
        async with transaction(database):
            result.append(await run())
            raise _Discard
    except _Discard:
        pass
    return result[0]


async def _quietly(awaitable: Awaitable[object]) -> None:
    """Await a rollback whose own failure must not hide the error that caused it."""
    with contextlib.suppress(ORMException, Exception):
        await awaitable
