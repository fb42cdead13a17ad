"""``transaction()``: task-local transactions, with savepoints when nested.

``transaction("name")`` is one database's transaction. ``transaction()`` with no name joins each database
a statement inside the block touches: the first statement for a database opens its transaction (a
savepoint when an enclosing block already holds one), and at the end of the outermost block the
transactions commit in the order they were opened, or all roll back on an exception. Several databases
are not committed atomically (there is no two-phase commit): when a later commit fails, the earlier ones
stay committed, the rest are rolled back and :class:`~matrx_orm.exceptions.PartialCommitError` says which.

``BEGIN``, ``COMMIT``, ``ROLLBACK`` and the savepoint statements run through the executor like every other
statement (errors mapped, statements observed).

A nested block owns the transaction's connection while its savepoint is open (``context.Scope``): other
tasks sharing the transaction wait, so a savepoint rolled back undoes only its own block's work. A
transaction runs on a ``connection()`` pin only when the pinning block encloses the whole transaction
block. When the outermost block ends, the transaction is over for every task that inherited it: their
later statements raise :class:`~matrx_orm.TransactionEndedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from ..exceptions import (
    CommitOutcomeUnknownError,
    ConnectionError,
    ORMException,
    PartialCommitError,
    TransactionError,
)
from . import executor
from .context import (
    Held,
    OpenTransaction,
    each,
    ended_error,
    enter,
    held,
    in_scope,
    new_scope,
    owning,
    project_name,
    transaction_for,
)
from .engine import checkout, discard, is_gone, release
from .pinning import PinBlock, current_pins, unpin
from .routing import transaction_ended, wrote
from .sa_join import sqlalchemy_transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = ["JoiningBlock", "exclusive_savepoint", "run_discarded", "transaction"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_savepoint_names = (f"matrx_sp_{n}" for n in itertools.count(1))


@asynccontextmanager
async def transaction(
    database: str | None = None, *, connection: AsyncConnection | AsyncSession | None = None
) -> AsyncIterator[Any]:
    """Commit on exit, roll back on exception; a nested block is a savepoint.

    With ``database`` the block is that database's transaction; without one it joins every database a
    statement inside it touches (see the module docstring). With ``connection`` (a SQLAlchemy
    ``AsyncConnection`` or ``AsyncSession``) the block's statements run inside that connection's
    transaction, which its owner commits or rolls back (``db/sa_join.py``, docs/sqlalchemy.md).
    """
    if connection is not None:
        async with sqlalchemy_transaction(connection, database, _nested) as joined:
            yield joined
        return
    if database is None:
        async with _joining_block() as block:
            yield block
        return
    database = project_name(database)
    existing = await transaction_for(database)
    if existing is not None:
        async with _nested(existing):
            yield existing
        return
    tx = await _begin(database, current_pins())
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


async def _begin(database: str, pins: PinBlock | None) -> OpenTransaction:
    """A pooled connection with ``BEGIN`` sent: the database's transaction for the current task (on the
    connection ``pins``, the ``connection()`` block enclosing the transaction block, pinned, if any).

    A pooled connection found dead at ``BEGIN`` (the server closed it while it sat idle) is discarded and
    ``BEGIN`` is sent once more on a fresh one: nothing has happened in the transaction yet.
    """
    if pins is not None and (pins := pins.covering(database)) is not None:
        pinned = await _begin_pinned(database, pins)
        if pinned is not None:
            return pinned
    for attempt in (1, 2):
        pool, connection = await checkout(database)
        tx = OpenTransaction(database, connection, pool)
        try:
            async with tx.use():
                await executor.control(tx, "BEGIN", operation="transaction.begin")
            wrote(database)  # reads after it stay on the primary (read-your-writes)
            return tx
        except ORMException as exc:
            retry = attempt == 1 and is_gone(connection) and isinstance(exc, ConnectionError)
            discard(connection)
            await release(pool, connection)
            if not retry:
                raise
            logger.info(
                "a pooled connection of %r was found dead at BEGIN; BEGIN runs again on a new one", database
            )
            await pool.expire_connections()
        except BaseException:  # cancelled while BEGIN was under way: the connection's state is unknown
            discard(connection)
            await release(pool, connection)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _begin_pinned(database: str, pins: PinBlock) -> OpenTransaction | None:
    """``BEGIN`` on the connection ``pins`` pinned for ``database`` (None when it pins none now). While the
    transaction is open, other tasks of the block use the pool. A pinned connection found dead at ``BEGIN``
    is replaced and ``BEGIN`` sent once more, as for a pooled one."""
    for attempt in (1, 2):
        pin = await pins.pin_for(database)
        if pin is None:
            return None
        pin.in_transaction = True
        tx = OpenTransaction(database, pin.connection, None, lock=pin.lock, pin=pin)
        sent = False
        try:
            async with tx.use():  # after any statement of another task already running on it
                sent = True
                await executor.control(tx, "BEGIN", operation="transaction.begin")
        except ORMException as exc:
            await _release(tx)  # a dead one is forgotten, and the pool's idle connections replaced
            if attempt == 2 or not (isinstance(exc, ConnectionError) and tx.lost):
                raise
            logger.info(
                "the pinned connection of %r was found dead at BEGIN; BEGIN runs again on a new one", database
            )
        except BaseException:
            if sent:  # cancelled with BEGIN under way: whether it ran is unknown, so the connection goes
                discard(tx.connection)
            await _release(tx)
            raise
        else:
            wrote(database)
            return tx
    raise AssertionError("unreachable")  # pragma: no cover


async def _commit(tx: OpenTransaction) -> None:
    """``COMMIT``, shielded from cancellation (see :func:`_shielded`)."""
    await _shielded(_send_commit(tx))


async def _shielded(work: Awaitable[None]) -> None:
    """Await ``work`` to the end even if the task is cancelled meanwhile; the cancellation is delivered
    afterwards (``CancelledError``, whatever ``work``'s outcome: an error of ``work`` becomes its
    ``__cause__`` and is logged, since the caller sees only the cancellation)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError as cancelled:
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])  # never raises work's error: the cancellation must win
        failure = None if task.cancelled() else task.exception()
        if failure is None:
            raise
        logger.warning(
            "COMMIT failed while the task was being cancelled, so the transaction was not committed; the "
            "task gets the CancelledError, with this error as its __cause__: %s: %s",
            type(failure).__name__,
            failure,
        )
        raise cancelled from failure


@asynccontextmanager
async def _ending(tx: OpenTransaction) -> AsyncIterator[None]:
    """Own ``tx``'s connection while the transaction ends (``COMMIT`` or ``ROLLBACK``); then it has ended:
    statements of tasks that inherited it, waiting meanwhile or later, raise ``TransactionEndedError``."""
    try:
        async with owning([tx]):
            yield
    finally:
        tx.ended = True


async def _send_commit(tx: OpenTransaction) -> None:
    """``COMMIT``; a connection lost meanwhile raises :class:`~matrx_orm.CommitOutcomeUnknownError`, a
    transaction PostgreSQL had aborted (an error caught inside the block) a :class:`TransactionError`."""
    try:
        async with _ending(tx), tx.use():
            status = await executor.control(tx, "COMMIT", operation="transaction.commit")
    except ORMException as exc:
        if isinstance(exc, ConnectionError) or is_gone(tx.connection):
            raise CommitOutcomeUnknownError(
                f"The connection to {tx.database!r} was lost while COMMIT was under way: the transaction "
                "may or may not have been committed",
                operation="transaction.commit",
                details={"database": tx.database},
            ) from exc
        raise
    if status == "ROLLBACK":  # PostgreSQL ends an aborted transaction this way, silently
        raise TransactionError(
            f"The transaction on {tx.database!r} was rolled back, not committed: a statement in it failed "
            "earlier and the error was caught; nothing it wrote was kept",
            operation="transaction.commit",
            details={"database": tx.database},
        )


async def _rollback(tx: OpenTransaction) -> None:
    """Roll back; a failing rollback (a dead connection, say) never hides the error that caused it."""
    async with _ending(tx):
        await executor.rollback_quietly(tx)


async def _release(tx: OpenTransaction) -> None:
    """Run the end-of-transaction callbacks and give the connection back to its pool (fully reset when
    user SQL ran in the transaction; discarded when its state is unknown). Runs in the task owning the block,
    whose reads then stay on the primary for a while (read-your-writes, also for what tasks it started wrote)."""
    tx.ended = True
    transaction_ended(tx.database)
    try:
        for callback in tx.on_exit:
            callback()
    finally:
        if tx.pin is not None:
            await _unpin(tx)
        else:
            await release(tx.pool, tx.connection, full_reset=tx.user_sql)


async def _unpin(tx: OpenTransaction) -> None:
    """A transaction on a pinned connection ended: the block keeps the connection, unless its state is
    unknown (then it is closed and the block pins a new one when needed), or the block has ended meanwhile
    (then it goes back to the pool now)."""
    pin = tx.pin
    assert pin is not None
    pin.in_transaction = False
    pin.user_sql = pin.user_sql or tx.user_sql
    if is_gone(tx.connection) or tx.connection.is_in_transaction():
        discard(tx.connection)
        if pin.block is not None:
            pin.block.drop(tx.database, pin, dead=tx.lost)
    if pin.orphaned:
        await unpin(pin)


@asynccontextmanager
async def _nested(tx: OpenTransaction) -> AsyncIterator[None]:
    """A nested named block: a savepoint on ``tx``, owning its connection while open (see the module
    docstring)."""
    async with owning([tx]), _savepoint(tx):
        yield


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
    """``ROLLBACK TO SAVEPOINT``; with ``quietly`` its failure is not raised (the error that caused the
    rollback is what the caller sees; a transaction left aborted then fails at ``COMMIT``)."""
    try:
        async with tx.use():
            await executor.control(tx, f"ROLLBACK TO SAVEPOINT {name}", operation="transaction.rollback")
    except ORMException:
        if not quietly:
            raise


# -- every database a statement touches --------------------------------------------------------------------------


class JoiningBlock:
    """An open ``transaction()`` block without a database name.

    ``transactions`` holds the databases joined so far. The outermost block opens (and finally commits) a
    transaction for each database on its first statement; a nested block, or a block inside a named
    ``transaction()``, makes a savepoint on the enclosing transaction instead, owning its connection until
    the block ends (``scope``). Transactions pin connections only of ``pins``, the ``connection()`` block
    enclosing this one. Once the block has finished it joins nothing more: a statement of a task that
    outlived it runs in the enclosing block's transaction, or raises ``TransactionEndedError``.
    """

    def __init__(
        self, parent: JoiningBlock | None, outer: dict[str, OpenTransaction], pins: PinBlock | None
    ) -> None:
        self.parent = parent
        self.outer = outer  # held by enclosing named blocks when this block began
        self.pins = pins
        self.scope = new_scope()
        self.transactions: dict[str, OpenTransaction] = {}
        self.opened: list[OpenTransaction] = []  # by this block, in the order of first use
        self.savepoints: list[tuple[OpenTransaction, str]] = []
        self.finished = False
        self._locks: dict[str, asyncio.Lock] = {}

    async def join(self, database: str) -> OpenTransaction:
        """The transaction this block's statements for ``database`` run in (joined now if need be)."""
        lock = self._locks.setdefault(database, asyncio.Lock())
        async with lock:  # concurrent first statements join once
            tx = self.transactions.get(database)
            if tx is not None:
                return tx
            if self.finished:
                return await self._after_end(database)
            if self.parent is not None:
                tx = await self.parent.join(database)
            elif database in self.outer:
                tx = self.outer[database]
            else:
                tx = await _begin(database, self.pins)
                self.opened.append(tx)
                self.transactions[database] = tx
                return tx
            await self.scope.own(tx)
            self.savepoints.append((tx, await _open_savepoint(tx)))
            self.transactions[database] = tx
            return tx

    async def _after_end(self, database: str) -> OpenTransaction:
        """The transaction for a statement issued after this block finished: the enclosing one's."""
        if self.parent is not None:
            return await self.parent.join(database)
        tx = self.outer.get(database)
        if tx is None:
            raise ended_error(database)
        return tx

    async def finish(self, error: BaseException | None) -> None:
        """End the block: release (or, after ``error``, roll back) its savepoints, then commit (or roll back)
        the transactions it opened, in the order they were opened."""
        self.finished = True
        try:
            for lock in list(self._locks.values()):  # first statements under way finish joining
                async with lock:
                    pass
            for tx, name in reversed(self.savepoints):
                tx.depth -= 1
                if error is not None:
                    await _rollback_savepoint(tx, name)
                else:
                    await _release_savepoint(tx, name)
            if error is not None:
                await each(functools.partial(_rollback, tx) for tx in self.opened)
            else:
                await _shielded(self._commit_all())
        finally:
            self.scope.disown()
            await each(functools.partial(_release, tx) for tx in self.opened)

    async def _commit_all(self) -> None:
        committed: list[str] = []
        for index, tx in enumerate(self.opened):
            try:
                await _send_commit(tx)
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
    block = JoiningBlock(parent, outer, current_pins())
    with in_scope(block.scope, warn=False):  # leaving Held warns (once) when left in another context
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

    Owning a connection (see ``context.Scope``) keeps statements of other tasks sharing the transaction out
    of the savepoint, so rolling it back undoes only what ``run`` did (and what tasks it starts did), and
    savepoints of concurrent tasks never interleave on one connection. ``run``'s own error propagates; with
    ``keep=False`` what ``run`` did is rolled back even when it succeeds.
    """
    async with owning(held_transactions):
        return await _savepoints(held_transactions, run, keep)


async def _savepoints(transactions: list[OpenTransaction], run: Callable[[], Awaitable[T]], keep: bool) -> T:
    tx, rest = transactions[0], transactions[1:]
    async with _savepoint(tx, keep=keep):
        return await (_savepoints(rest, run, keep) if rest else run())


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
