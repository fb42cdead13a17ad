"""Which connection the current task's statements use: its open transactions, one per database.

The transactions a task holds live in a ContextVar (a :class:`Held`: database name -> :class:`OpenTransaction`,
plus the ``transaction()`` block without a database name that is open, if any), so concurrent tasks never
share one and a statement for another database goes to that database's pool. Inside ``transaction()`` with
no name, the first statement for a database opens that database's transaction (:func:`transaction_for`).
Tasks started inside a block inherit it; their statements are serialised on the one connection by the
transaction's lock, because an asyncpg connection runs one statement at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Held",
    "OpenTransaction",
    "borrow_connection",
    "current_transaction",
    "held",
    "in_transaction",
    "transaction_for",
]


@dataclass(eq=False)
class OpenTransaction:
    """A connection checked out for one database's transaction, and the lock that serialises it."""

    database: str
    connection: Any
    #: the pool the connection goes back to (None for a connection the caller owns)
    pool: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    depth: int = 0
    #: user-written SQL ran: the session is fully reset before the pool gets the connection back
    user_sql: bool = False
    #: the ``connection()`` pin the transaction runs on (the block keeps the connection afterwards)
    pin: Any = None
    #: the replica project the connection belongs to (an ``iterator()`` outside a transaction), else None
    server: str | None = None
    #: a statement found the connection dead (it has been discarded; the server rolled back)
    lost: bool = False
    #: called once when the outermost block ends, after commit or rollback (the row cache's invalidations)
    on_exit: list[Callable[[], None]] = field(default_factory=list)
    #: the task using the connection exclusively (inside :func:`~.transaction.exclusive_savepoint`): its
    #: statements skip ``lock``, which it holds; other tasks wait on ``lock``
    owner: asyncio.Task[Any] | None = None

    def use(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold the connection for one statement: ``lock``, unless the current task owns the connection."""
        if self.owner is not None and self.owner is asyncio.current_task():
            return contextlib.nullcontext()
        return self.lock


class Joining(Protocol):
    """An open ``transaction()`` block without a database name: it joins databases on first use."""

    def join(self, database: str) -> Awaitable[OpenTransaction]: ...


@dataclass(eq=False)
class Held:
    """What the current task holds: its transactions by database, and the innermost open ``transaction()``
    block without a database name (None outside one)."""

    transactions: dict[str, OpenTransaction]
    joining: Joining | None = None


_held: ContextVar[Held | None] = ContextVar("matrx_orm_transactions", default=None)


def held() -> Held | None:
    """What the current task holds (None outside every transaction)."""
    return _held.get()


def current_transaction(database: str) -> OpenTransaction | None:
    """The transaction the current task holds on ``database``, if any (one not opened yet by a
    ``transaction()`` block without a name is not: see :func:`transaction_for`)."""
    state = _held.get()
    return state.transactions.get(database) if state is not None else None


def in_transaction(database: str) -> bool:
    """Whether the current task's statements for ``database`` run in a transaction (held, or opened on
    first use by an enclosing ``transaction()`` block without a name)."""
    state = _held.get()
    return state is not None and (database in state.transactions or state.joining is not None)


async def transaction_for(database: str) -> OpenTransaction | None:
    """The transaction the current task's next statement for ``database`` runs in: the one it holds, one a
    ``transaction()`` block without a name opens now, or None (the statement uses the pool)."""
    state = _held.get()
    if state is None:
        return None
    tx = state.transactions.get(database)
    if tx is None and state.joining is not None:
        tx = await state.joining.join(database)
    return tx


@contextlib.contextmanager
def enter(state: Held) -> Iterator[None]:
    """Make ``state`` what the current task holds while the block runs."""
    token = _held.set(state)
    try:
        yield
    finally:
        _held.reset(token)


@contextlib.contextmanager
def borrow_connection(tx: OpenTransaction) -> Iterator[None]:
    """Route the current task's statements for ``tx.database`` to ``tx`` while the block runs.

    ``iterator()`` lends its cursor's connection to the relation loads of each chunk this way. Nothing is
    committed or released here.
    """
    state = _held.get()
    transactions = {**(state.transactions if state is not None else {}), tx.database: tx}
    with enter(Held(transactions, state.joining if state is not None else None)):
        yield
