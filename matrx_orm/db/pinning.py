"""``connection()``: hold one pooled connection for the current task's statements in a block.

A web request that runs twenty queries otherwise checks a connection out of the pool and back twenty
times. Inside ``async with connection():`` the first statement for a database checks one out, and every
later statement of the block (and of tasks started in it) for that database runs on it, one at a time; the
block gives it back when it ends, also on an error or a cancellation. No transaction is opened: each
statement commits on its own, as outside the block.

* ``connection("shop")`` pins only that project's statements; ``connection()`` pins every project the block
  touches, each on its first statement (a block that runs none takes no connection).
* A ``transaction()`` inside the block runs on the pinned connection; while it is open, statements of other
  tasks sharing the block take pooled connections as usual (they must not land inside the transaction).
* ``iterator()`` takes a connection of its own (its cursor lives in a read-only transaction).
* Nested blocks reuse the connection of the outermost open block covering the project, past blocks between
  that are named for another project; so does a block of a task started in the block, until the block ends
  (then it pins its own).
* Statements of tasks started in the block that run after it ended use the pool, as outside any block; one
  still running on the block's connection when the block ends is waited for before the connection goes back
  (the block's task cancelled meanwhile closes every connection still busy).
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import get_database_config
from .context import each, pin_blocks, project_name
from .engine import checkout, discard, release, release_at_once
from .locks import StatementLock

__all__ = [
    "Pin",
    "PinBlock",
    "PinScope",
    "connection",
    "current_pins",
    "covering_block",
    "discard_pin",
    "unpin",
]


@dataclass(eq=False, slots=True)
class Pin:
    """One pinned connection: the pool it came from, and the lock that serialises its statements."""

    pool: Any
    connection: Any
    lock: StatementLock = field(default_factory=StatementLock)
    #: user-written SQL ran on it: the session is fully reset before the pool gets it back
    user_sql: bool = False
    #: a transaction() is open on it (its statements go through the transaction, others' to the pool)
    in_transaction: bool = False
    #: its block ended while a transaction() was open on it: the transaction's end gives it back
    orphaned: bool = False
    #: the block let go of it (gave it back, or dropped it as dead or of unknown state): statements still
    #: waiting for its lock look again (the block's new connection, else a pooled one)
    released: bool = False
    #: the block that pinned it
    block: PinBlock | None = None


class PinBlock:
    """An open ``connection()`` block: the connections it pinned, by project (or replica) name."""

    def __init__(self, parent: PinBlock | None, only: str | None) -> None:
        self.parent = parent
        self.only = only
        self.pins: dict[str, Pin] = {}
        #: servers a connection is being checked out for: the Event a second statement waits on (None until
        #: one waits)
        self._pending: dict[str, asyncio.Event | None] = {}
        #: pools whose pinned connection was found dead: their idle connections are replaced first
        self._stale: dict[str, Any] = {}
        self.closed = False

    def covers(self, server: str) -> bool:
        """Whether statements for ``server`` (a project, an alias or one of its replicas) are pinned by
        this block."""
        if self.only is None:
            return True
        project = server.split("~", 1)[0]
        return project == self.only or project_name(project) == self.only

    def covering(self, server: str) -> PinBlock | None:
        """The innermost block covering ``server``: this one, or the nearest enclosing one (a
        ``connection("a")`` nested in a ``connection()`` leaves other projects to the outer block); None
        when no block of the chain covers ``server``."""
        if self.only is None or self.only == server:
            return self
        block: PinBlock | None = self
        while block is not None and not block.covers(server):
            block = block.parent
        return block

    def _owner(self, server: str) -> PinBlock:
        """Where statements for ``server`` get their pinned connection: the outermost open block enclosing
        this one that covers ``server`` (blocks between that do not cover it are passed over), else this
        one."""
        owner = self
        block = self.parent
        while block is not None:
            if not block.closed and block.covers(server):
                owner = block
            block = block.parent
        return owner

    def pinned(self, server: str) -> Pin | None:
        """The connection already pinned for ``server`` and free of any transaction, found without
        awaiting; None when :meth:`pin_for` has to decide (nothing pinned yet, or the block has ended)."""
        block = self if self.parent is None else self._owner(server)
        if block.closed:
            return None
        pin = block.pins.get(server)
        return None if pin is None or pin.in_transaction else pin

    def free(self, server: str) -> Pin | None:
        """The connection pinned for ``server`` when a statement can have it without waiting (no
        transaction open on it, no statement running on it), its lock taken for the caller to release;
        None otherwise (then :meth:`pin_for` and the lock's ``acquire()``)."""
        pin = self.pinned(server)
        return pin if pin is not None and pin.lock.take() else None

    async def pin_for(self, server: str) -> Pin | None:
        """The pinned connection for ``server`` (checked out now if need be), or None when the block does
        not cover it, has ended, or its connection is busy in another task's transaction."""
        owner = self if self.parent is None else self._owner(server)
        if owner is not self:
            return await owner.pin_for(server)
        if self.closed or not self.covers(server):
            return None
        pin = self.pins.get(server)
        if pin is None:
            server = server if "~" in server else project_name(server)
            pin = self.pins.get(server) or await self._pin(server)
        return None if pin is None or pin.in_transaction else pin

    async def _pin(self, server: str) -> Pin | None:
        """Check a connection out for ``server`` (once, when several statements ask at the same time: the
        others wait for it, and try themselves if that checkout failed)."""
        while server in self._pending:
            waiting = self._pending[server]
            if waiting is None:
                waiting = self._pending[server] = asyncio.Event()
            await waiting.wait()
        pin = self.pins.get(server)
        if pin is not None:
            return pin
        self._pending[server] = None
        try:
            stale = self._stale.pop(server, None)
            if stale is not None:
                await stale.expire_connections()  # after a restart its idle connections are dead too
            pool, conn = await checkout(server)
            if self.closed:  # the block ended meanwhile: the statement uses the connection unpinned
                await release(pool, conn)
                return None
            pin = self.pins[server] = Pin(pool, conn, block=self)
            return pin
        finally:
            waiting = self._pending.pop(server)
            if waiting is not None:
                waiting.set()

    def drop(self, server: str, pin: Pin, *, dead: bool = False) -> None:
        """Forget a pinned connection whose state is unknown (statements waiting for it, and the next one,
        run on a new one the block pins); ``dead``: it was found dead, so the pool's idle
        connections are replaced before that."""
        pin.released = True
        owner = pin.block if pin.block is not None else self._owner(server)
        for name, pinned in list(owner.pins.items()):
            if pinned is pin:
                del owner.pins[name]
                if dead:
                    owner._stale[name] = pin.pool

    def close(self) -> Awaitable[None] | None:
        """End the block; returns what gives every connection it pinned back to its pool, to await (None
        when it pinned none, or gave its one connection back at once). One a transaction is still open on
        (in a task that outlived the block) is given back when that transaction ends."""
        self.closed = True
        if not self.pins:
            return None
        pins, self.pins = list(self.pins.values()), {}
        for pin in pins:
            pin.orphaned = pin.in_transaction
        # the usual block, one database: an orphaned connection waits for its transaction's end, a free one
        # goes back now
        if len(pins) == 1 and (pins[0].orphaned or _given_back_at_once(pins[0])):
            return None
        return _give_back(pins)


def _given_back_at_once(pin: Pin) -> bool:
    """:func:`unpin` without awaiting, when nothing needs to wait (no statement running on the connection,
    no session reset to send): the connection goes straight back to its pool. False when it did not."""
    if pin.user_sql or pin.lock.locked() or not release_at_once(pin.pool, pin.connection):
        return False
    pin.released = True
    return True


async def _give_back(pins: list[Pin]) -> None:
    """:func:`unpin` each of ``pins`` not orphaned (each one, even when giving one back fails or is
    cancelled)."""
    if len(pins) == 1:  # the usual block, when its connection could not go back at once (see close())
        await unpin(pins[0])
        return
    cancelled = False

    async def give_back(pin: Pin) -> None:  # once cancelled, the others are not waited for either
        nonlocal cancelled
        try:
            await unpin(pin, wait=not cancelled)
        except asyncio.CancelledError:
            cancelled = True
            raise

    await each(functools.partial(give_back, pin) for pin in pins if not pin.orphaned)


async def unpin(pin: Pin, *, wait: bool = True) -> None:
    """Give a pinned connection back to its pool, once the statement running on it has ended (a task started
    in the block may still be running one when the block ends). Statements still waiting for it take another
    (an enclosing block's, else a pooled one). Cancelled while it waits, or told not to ``wait``, it closes
    a busy connection, which ends that statement with a connection error, rather than return it to the pool
    busy."""
    if _given_back_at_once(pin):
        return
    pin.released = True
    lock = pin.lock
    if not lock.locked():
        await release(pin.pool, pin.connection, full_reset=pin.user_sql)
        return
    if not wait:
        await _close_busy(pin)
        return
    try:
        await lock.acquire()
    except asyncio.CancelledError:
        await _close_busy(pin)
        raise
    try:
        await release(pin.pool, pin.connection, full_reset=pin.user_sql)
    finally:
        lock.release()


async def _close_busy(pin: Pin) -> None:
    """Close a pinned connection a statement is still running on, and give it back to its pool."""
    discard(pin.connection)
    await release(pin.pool, pin.connection)


#: ``current_pins()``: the innermost open ``connection()`` block of the current task, if any (the variable's
#: own ``get``, called before every statement)
current_pins: Callable[[], PinBlock | None] = pin_blocks.get


class PinScope:
    """The ``async with`` of :func:`connection` (a class: entering and leaving a block is on the path of
    every request behind the middleware, and an async generator costs more).

    One object may be entered several times at once (tasks sharing it, or nested in itself): each exit
    closes the block its own ``async with`` opened, told apart by the frame running that statement (looked
    up at an exit only while the object is open more than once), also when the exit runs in another context
    (an abandoned async generator closed later by the event loop)."""

    __slots__ = ("_first", "_first_frame", "_more", "_only")

    def __init__(self, only: str | None) -> None:
        self._only = only
        #: the open block entered first, and the id of the frame that entered it
        self._first: PinBlock | None = None
        self._first_frame = 0
        #: the other open blocks, each with the id of the frame that entered it (alive, suspended in the
        #: block, until the block is left)
        self._more: list[tuple[int, PinBlock]] | None = None

    async def __aenter__(self) -> None:
        block = PinBlock(pin_blocks.get(), self._only)
        frame = id(sys._getframe(1))
        if self._first is None and not self._more:  # (later entries stay in order in _more)
            self._first, self._first_frame = block, frame
        else:
            if self._more is None:
                self._more = []
            self._more.append((frame, block))
        pin_blocks.set(block)

    async def __aexit__(self, *exc_info: object) -> None:
        block = self._left(id(sys._getframe(1))) if self._more else self._take_first()
        if block is None:
            return
        current = pin_blocks.get()
        while current is not None and current is not block:  # a block an async generator left open here
            current = current.parent
        if current is block:
            pin_blocks.set(block.parent)
        giving_back = block.close()
        if giving_back is not None:  # (a block that ran no statement has no coroutine to await)
            await giving_back

    def _take_first(self) -> PinBlock | None:
        block, self._first = self._first, None
        return block

    def _left(self, frame: int) -> PinBlock | None:
        """The open block the frame ``frame`` entered last, no longer counted as open. When that frame
        entered none (an ``AsyncExitStack`` enters and leaves from frames of its own): the one opened last."""
        more = self._more
        assert more
        for i in range(len(more) - 1, -1, -1):
            if more[i][0] == frame:
                return more.pop(i)[1]
        if self._first is not None and frame == self._first_frame:
            return self._take_first()
        return more.pop()[1]


def connection(database: str | None = None) -> PinScope:
    """``async with connection():`` — the block's statements share one pooled connection per database
    (see the module docstring); ``database`` limits it to one project."""
    return PinScope(get_database_config(database).name if database is not None else None)


def covering_block(server: str) -> PinBlock | None:
    """The innermost open ``connection()`` block of the current task that covers ``server``, if any."""
    block = current_pins()
    return block.covering(server) if block is not None else None


def discard_pin(block: PinBlock, server: str, pin: Pin) -> None:
    """Close a pinned connection found dead and forget it."""
    discard(pin.connection)
    block.drop(server, pin, dead=True)
