"""Which connection the current task's statements use: its open transactions, one per database.

The transactions a task holds live in a ContextVar (a :class:`Held`: database name -> :class:`OpenTransaction`,
plus the ``transaction()`` block without a database name that is open, if any), so concurrent tasks never
share one and a statement for another database goes to that database's pool. Inside ``transaction()`` with
no name, the first statement for a database opens that database's transaction (:func:`transaction_for`).
Tasks started inside a block inherit it; their statements are serialised on the one connection by the
transaction's lock, because an asyncpg connection runs one statement at a time.

A nested block (a savepoint) owns the connection while it is open (a :class:`Scope`): statements of the
block and of tasks started inside it take the scope's lock, everybody else waits for the block to end, so
rolling the savepoint back undoes only the block's own work. When the outermost block ends, statements of
tasks that inherited the transaction and outlived it raise :class:`~matrx_orm.TransactionEndedError`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextvars import Context, ContextVar, Token, copy_context
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import get_database_config
from ..exceptions import ConfigurationError, TransactionEndedError
from .locks import StatementLock

__all__ = [
    "Held",
    "OpenTransaction",
    "Scope",
    "borrow_connection",
    "current_transaction",
    "detached_context",
    "each",
    "held",
    "in_transaction",
    "owning",
    "pin_blocks",
    "project_name",
    "transaction_for",
]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class OpenTransaction:
    """A connection checked out for one database's transaction, and the lock that serialises it."""

    database: str
    connection: Any
    #: the pool the connection goes back to (None for a connection the caller owns)
    pool: Any = None
    lock: StatementLock = field(default_factory=StatementLock)
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
    #: the outermost block has ended (committed or rolled back): statements of tasks that outlived it fail
    ended: bool = False

    def use(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the connection for one statement: the lock of the innermost block owning it in the current
        context (``lock`` when none does); raises :class:`~matrx_orm.TransactionEndedError` once the
        transaction has ended."""
        return _Using(self)


class _Using:
    """``async with tx.use():`` (see :meth:`OpenTransaction.use`)."""

    __slots__ = ("lock", "tx")

    def __init__(self, tx: OpenTransaction) -> None:
        self.tx = tx
        self.lock = statement_lock(tx)

    async def __aenter__(self) -> None:
        if not self.lock.take():
            await self.lock.acquire()
        if self.tx.ended:
            self.lock.release()
            raise ended_error(self.tx.database)

    async def __aexit__(self, *exc: object) -> None:
        self.lock.release()


def ended_error(database: str) -> TransactionEndedError:
    """The error for a statement of a task that outlived the transaction it inherited."""
    return TransactionEndedError(
        f"The transaction on {database!r} this statement belonged to has ended (committed or rolled back): "
        "the task running it was started inside the transaction() block and outlived it. Nothing was sent; "
        "await such tasks inside the block, or start them outside it",
        operation="transaction",
        details={"database": database},
    )


@dataclass(eq=False)
class Scope:
    """The transactions a nested block (a savepoint) owns while it is open: their connections serve only
    the block's statements and those of tasks started inside it, one at a time (``locks``, the block's
    own lock per transaction), while everybody else waits on the lock the block holds (``held``)."""

    parent: Scope | None
    locks: dict[OpenTransaction, StatementLock] = field(default_factory=dict)
    held: list[StatementLock] = field(default_factory=list)

    def lock_for(self, tx: OpenTransaction) -> StatementLock | None:
        """The lock statements on ``tx`` take in this scope (None when no enclosing block owns ``tx``)."""
        scope: Scope | None = self
        while scope is not None:
            lock = scope.locks.get(tx)
            if lock is not None:
                return lock
            scope = scope.parent
        return None

    async def own(self, tx: OpenTransaction) -> None:
        """Take ``tx``'s connection for this scope: waits for statements and blocks of others on it."""
        if tx in self.locks:
            return
        outer = (self.parent.lock_for(tx) if self.parent is not None else None) or tx.lock
        await outer.acquire()
        if tx.ended:
            outer.release()
            raise ended_error(tx.database)
        self.held.append(outer)
        self.locks[tx] = StatementLock()

    def disown(self) -> None:
        """Give every owned connection back to the enclosing scope."""
        self.locks.clear()
        held, self.held = self.held, []
        for lock in reversed(held):
            lock.release()


_scope: ContextVar[Scope | None] = ContextVar("matrx_orm_scope", default=None)


def statement_lock(tx: OpenTransaction) -> StatementLock:
    """The lock a statement on ``tx`` takes in the current context."""
    scope = _scope.get()
    lock = scope.lock_for(tx) if scope is not None else None
    return lock if lock is not None else tx.lock


@contextlib.contextmanager
def in_scope(scope: Scope, *, warn: bool = True) -> Iterator[None]:
    """Make ``scope`` the current context's innermost scope while the block runs (``warn``: see
    :func:`_restore`)."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _restore(_scope, token, warn=warn)


def _restore(variable: ContextVar[Any], token: Token[Any], *, warn: bool = True) -> None:
    """Put ``variable`` back as it was before ``token``'s ``set``. A block left in another context than it
    was entered in (an abandoned async generator, closed later by the event loop in a task of its own) has
    nothing to put back there, but what the generator's caller ran meanwhile may have landed in the block:
    a warning says so, unless ``warn`` is off (a block restoring two variables warns once)."""
    try:
        variable.reset(token)
    except ValueError:
        if not warn:
            return
        logger.warning(
            "a transaction() block was left in another context than it was entered in: an async generator "
            "stopped inside it was closed later by the event loop, rolling the transaction back. Any "
            "statement its caller ran in between ran inside that transaction and was rolled back too; close "
            "such a generator (await gen.aclose()) where you stop iterating it"
        )


def new_scope() -> Scope:
    """A scope nested in the current context's."""
    return Scope(_scope.get())


@contextlib.asynccontextmanager
async def owning(transactions: Iterable[OpenTransaction]) -> AsyncIterator[None]:
    """Own the connections of ``transactions`` (in order) while the block runs (see :class:`Scope`)."""
    scope = new_scope()
    try:
        for tx in transactions:
            await scope.own(tx)
        with in_scope(scope):
            yield
    finally:
        scope.disown()


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
#: the innermost open ``connection()`` block (a :class:`~.pinning.PinBlock`), kept here with the other
#: variables saying which connection a statement uses
pin_blocks: ContextVar[Any] = ContextVar("matrx_orm_pins", default=None)


#: ``held()``: what the current task holds (None outside every transaction); the variable's own ``get``,
#: called before every statement
held: Callable[[], Held | None] = _held.get


def project_name(database: str) -> str:
    """The project name for a project name or alias (as given when not registered: its statement fails
    with the registry's error)."""
    try:
        return get_database_config(database).name
    except ConfigurationError:
        return database


def _held_transaction(state: Held, database: str) -> OpenTransaction | None:
    tx = state.transactions.get(database)
    if tx is None and state.transactions:
        name = project_name(database)
        if name != database:  # an alias
            tx = state.transactions.get(name)
    return tx


def current_transaction(database: str) -> OpenTransaction | None:
    """The transaction the current task holds on ``database``, if any (one not opened yet by a
    ``transaction()`` block without a name is not: see :func:`transaction_for`)."""
    state = _held.get()
    return _held_transaction(state, database) if state is not None else None


def in_transaction(database: str) -> bool:
    """Whether the current task's statements for ``database`` run in a transaction (held, or opened on
    first use by an enclosing ``transaction()`` block without a name)."""
    state = _held.get()
    return state is not None and (state.joining is not None or _held_transaction(state, database) is not None)


async def transaction_for(database: str) -> OpenTransaction | None:
    """The transaction the current task's next statement for ``database`` runs in: the one it holds, one a
    ``transaction()`` block without a name opens now, or None (the statement uses the pool)."""
    state = _held.get()
    if state is None:
        return None
    tx = _held_transaction(state, database)
    if tx is None and state.joining is not None:
        tx = await state.joining.join(project_name(database))
    return tx


@contextlib.contextmanager
def enter(state: Held) -> Iterator[None]:
    """Make ``state`` what the current task holds while the block runs."""
    token = _held.set(state)
    try:
        yield
    finally:
        _restore(_held, token)


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


def detached_context() -> Context:
    """A copy of the current context outside every transaction and ``connection()`` block: for work that
    must not join the caller's (async ``on_query`` callbacks)."""
    context = copy_context()
    context.run(_detach)
    return context


def _detach() -> None:
    _held.set(None)
    _scope.set(None)
    pin_blocks.set(None)


async def each(steps: Iterable[Callable[[], Awaitable[None]]]) -> None:
    """Run every step, also after one fails or is cancelled (connections to give back, say); the first
    exception is raised at the end."""
    first: BaseException | None = None
    for step in steps:
        try:
            await step()
        except BaseException as exc:  # noqa: BLE001 - raised below, after the other steps ran
            first = first or exc
    if first is not None:
        raise first
