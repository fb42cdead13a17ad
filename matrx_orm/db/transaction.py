"""``transaction()``: task-local transactions, with savepoints when nested.

``transaction("name")`` is one database's transaction. ``transaction()`` with no name joins each database
a statement inside the block touches: the first statement for a database opens its transaction (a
savepoint when an enclosing block already holds one), and at the end of the outermost block the
transactions commit in the order they were opened, or all roll back on an exception. Several databases
are not committed atomically (there is no two-phase commit): when a later commit fails, the earlier ones
stay committed, the rest are rolled back and :class:`~matrx_orm.exceptions.PartialCommitError` says which.

``BEGIN``, ``COMMIT``, ``ROLLBACK`` and the savepoint statements run through the executor like every other
statement (errors mapped, statements observed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from ..exceptions import ORMException, PartialCommitError, map_database_error
from . import executor
from .context import Held, OpenTransaction, enter, held, transaction_for
from .engine import get_pool

__all__ = ["JoiningBlock", "exclusive_savepoint", "run_discarded", "transaction"]

T = TypeVar("T")

_savepoint_names = (f"matrx_sp_{n}" for n in itertools.count(1))


@asynccontextmanager
async def transaction(database: str | None = None) -> AsyncIterator[Any]:
    """Commit on exit, roll back on exception; a nested block is a savepoint.

    With ``database`` the block is that database's transaction; without one it joins every database a
    statement inside it touches (see the module docstring).
    """
    if database is None:
        async with _joining_block() as block:
            yield block
        return
    existing = await transaction_for(database)
    if existing is not None:
        async with _savepoint(existing):
            yield existing
        return
    tx = await _begin(database)
    state = held()
    try:
        with enter(Held({**(state.transactions if state else {}), database: tx})):
            try:
                yield tx
            except BaseException:
                await _rollback(tx)
                raise
            await _commit(tx)
    finally:
        await _release(tx)


# -- one database -------------------------------------------------------------------------------------------


async def _begin(database: str) -> OpenTransaction:
    """A pooled connection with ``BEGIN`` sent: the database's transaction for the current task."""
    pool = await get_pool(database)
    try:
        connection = await pool.acquire()
    except Exception as exc:
        raise map_database_error(exc, operation="transaction.begin", details={"database": database}) from exc
    tx = OpenTransaction(database, connection, pool)
    try:
        await executor.control(tx, "BEGIN", operation="transaction.begin")
    except BaseException:
        await _release(tx)
        raise
    return tx


async def _commit(tx: OpenTransaction) -> None:
    async with tx.use():
        await executor.control(tx, "COMMIT", operation="transaction.commit")


async def _rollback(tx: OpenTransaction) -> None:
    """Roll back; a failing rollback (a dead connection, say) never hides the error that caused it."""
    async with tx.use():
        await _quietly(executor.control(tx, "ROLLBACK", operation="transaction.rollback"))


async def _release(tx: OpenTransaction) -> None:
    """Run the end-of-transaction callbacks and give the connection back to its pool."""
    for callback in tx.on_exit:
        callback()
    connection = tx.connection
    if tx.user_sql and not connection.is_closed():
        await _quietly(connection.reset())
    await tx.pool.release(connection)


@asynccontextmanager
async def _savepoint(tx: OpenTransaction, *, keep: bool = True) -> AsyncIterator[None]:
    """A savepoint around the block: released at the end (rolled back too when ``keep`` is False), rolled
    back on an exception."""
    name = await _open_savepoint(tx)
    try:
        yield
    except BaseException:
        await _rollback_savepoint(tx, name)
        raise
    else:
        if not keep:
            await _rollback_savepoint(tx, name, quietly=False)
        await _release_savepoint(tx, name)
    finally:
        tx.depth -= 1


async def _open_savepoint(tx: OpenTransaction) -> str:
    name = next(_savepoint_names)
    async with tx.use():
        await executor.control(tx, f"SAVEPOINT {name}", operation="transaction.savepoint")
    tx.depth += 1
    return name


async def _release_savepoint(tx: OpenTransaction, name: str) -> None:
    async with tx.use():
        await executor.control(tx, f"RELEASE SAVEPOINT {name}", operation="transaction.savepoint")


async def _rollback_savepoint(tx: OpenTransaction, name: str, *, quietly: bool = True) -> None:
    statement = executor.control(tx, f"ROLLBACK TO SAVEPOINT {name}", operation="transaction.rollback")
    async with tx.use():
        await (_quietly(statement) if quietly else statement)


# -- every database a statement touches --------------------------------------------------------------------------


class JoiningBlock:
    """An open ``transaction()`` block without a database name.

    ``transactions`` holds the databases joined so far. The outermost block opens (and finally commits) a
    transaction for each database on its first statement; a nested block, or a block inside a named
    ``transaction()``, makes a savepoint on the enclosing transaction instead.
    """

    def __init__(self, parent: JoiningBlock | None, outer: dict[str, OpenTransaction]) -> None:
        self.parent = parent
        self.outer = outer  # held by enclosing named blocks when this block began
        self.transactions: dict[str, OpenTransaction] = {}
        self.opened: list[OpenTransaction] = []  # by this block, in the order of first use
        self.savepoints: list[tuple[OpenTransaction, str]] = []
        self._locks: dict[str, asyncio.Lock] = {}

    async def join(self, database: str) -> OpenTransaction:
        """The transaction this block's statements for ``database`` run in (joined now if need be)."""
        lock = self._locks.setdefault(database, asyncio.Lock())
        async with lock:  # concurrent first statements join once
            tx = self.transactions.get(database)
            if tx is not None:
                return tx
            if self.parent is not None:
                tx = await self.parent.join(database)
            elif database in self.outer:
                tx = self.outer[database]
            else:
                tx = await _begin(database)
                self.opened.append(tx)
                self.transactions[database] = tx
                return tx
            self.savepoints.append((tx, await _open_savepoint(tx)))
            self.transactions[database] = tx
            return tx

    async def finish(self, error: BaseException | None) -> None:
        """End the block: release (or, after ``error``, roll back) its savepoints, then commit (or roll back)
        the transactions it opened, in the order they were opened."""
        try:
            for tx, name in reversed(self.savepoints):
                tx.depth -= 1
                if error is not None:
                    await _rollback_savepoint(tx, name)
                else:
                    await _release_savepoint(tx, name)
            if error is not None:
                for tx in self.opened:
                    await _rollback(tx)
            else:
                await self._commit_all()
        finally:
            for tx in self.opened:
                await _release(tx)

    async def _commit_all(self) -> None:
        committed: list[str] = []
        for index, tx in enumerate(self.opened):
            try:
                await _commit(tx)
            except ORMException as exc:
                rest = self.opened[index + 1 :]
                for other in rest:
                    await _rollback(other)
                if not committed:
                    raise
                raise PartialCommitError(
                    f"the commit of database {tx.database!r} failed after {', '.join(map(repr, committed))} "
                    f"committed: their changes are kept; {tx.database!r}"
                    + "".join(f", {other.database!r}" for other in rest)
                    + " rolled back",
                    operation="transaction.commit",
                    details={
                        "committed": committed,
                        "rolled_back": [tx.database, *(other.database for other in rest)],
                    },
                ) from exc
            committed.append(tx.database)


@asynccontextmanager
async def _joining_block() -> AsyncIterator[JoiningBlock]:
    state = held()
    outer = dict(state.transactions) if state is not None else {}
    parent = state.joining if state is not None and isinstance(state.joining, JoiningBlock) else None
    block = JoiningBlock(parent, outer)
    with enter(Held(block.transactions, block)):
        try:
            yield block
        except BaseException as error:
            await block.finish(error)
            raise
    await block.finish(None)


# -- helpers for reads that need a transaction of their own ------------------------------------------------------


async def exclusive_savepoint(
    held_transactions: list[OpenTransaction], run: Callable[[], Awaitable[T]], *, keep: bool = True
) -> T:
    """``await run()`` in a savepoint on each held transaction, owning their connections meanwhile.

    Owning a connection (its lock, held for the whole savepoint) keeps statements of other tasks sharing the
    transaction out of the savepoint, so rolling it back undoes only what ``run`` did, and savepoints of
    concurrent tasks never interleave on one connection. ``run``'s own error propagates; with ``keep=False``
    what ``run`` did is rolled back even when it succeeds.
    """
    tx, rest = held_transactions[0], held_transactions[1:]
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
    existing = await transaction_for(database)
    if existing is not None:
        return await exclusive_savepoint([existing], run, keep=False)
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
    with contextlib.suppress(Exception):
        await awaitable
