"""Which connection the current task's statements use: its open transactions, one per database.

The open transactions of a task live in a ContextVar (database name -> :class:`OpenTransaction`), so
concurrent tasks never share one and a statement for another database goes to that database's pool. Tasks
started inside a transaction block inherit it; their statements are serialised on the one connection by the
transaction's lock, because an asyncpg connection runs one statement at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OpenTransaction", "borrow_connection", "current_transaction", "open_transactions"]


@dataclass(eq=False)
class OpenTransaction:
    """A connection checked out for one database's transaction, and the lock that serialises it."""

    database: str
    connection: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    depth: int = 0
    #: user-written SQL ran: the session is fully reset before the pool gets the connection back
    user_sql: bool = False
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


_open: ContextVar[dict[str, OpenTransaction] | None] = ContextVar("matrx_orm_transactions", default=None)


def current_transaction(database: str) -> OpenTransaction | None:
    """The transaction the current task holds on ``database``, if any."""
    held = _open.get()
    return held.get(database) if held else None


def open_transactions() -> dict[str, OpenTransaction]:
    """Every transaction the current task holds, by database (a copy)."""
    return dict(_open.get() or {})


@contextlib.contextmanager
def borrow_connection(tx: OpenTransaction) -> Iterator[None]:
    """Route the current task's statements for ``tx.database`` to ``tx`` while the block runs.

    ``transaction()`` registers its transactions this way; ``iterator()`` lends its cursor's connection to
    the relation loads of each chunk. Nothing is committed or released here.
    """
    token = _open.set({**(_open.get() or {}), tx.database: tx})
    try:
        yield
    finally:
        _open.reset(token)
