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
* Nested blocks reuse the outer block's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..config import get_database_config
from .engine import checkout, discard, release

__all__ = ["Pin", "PinBlock", "connection", "current_pins", "discard_pin"]


@dataclass(eq=False)
class Pin:
    """One pinned connection: the pool it came from, and the lock that serialises its statements."""

    pool: Any
    connection: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: user-written SQL ran on it: the session is fully reset before the pool gets it back
    user_sql: bool = False
    #: a transaction() is open on it (its statements go through the transaction, others' to the pool)
    in_transaction: bool = False


class PinBlock:
    """An open ``connection()`` block: the connections it pinned, by project (or replica) name."""

    def __init__(self, parent: PinBlock | None, only: str | None) -> None:
        self.parent = parent
        self.only = only
        self.pins: dict[str, Pin] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def covers(self, server: str) -> bool:
        """Whether statements for ``server`` (a project or one of its replicas) are pinned by this block."""
        if self.only is None:
            return True
        project = server.split("~", 1)[0]
        return project == self.only

    async def pin_for(self, server: str) -> Pin | None:
        """The pinned connection for ``server`` (checked out now if need be), or None when the block does
        not cover it or its connection is busy in another task's transaction."""
        if self.parent is not None and self.parent.covers(server):
            return await self.parent.pin_for(server)
        if not self.covers(server):
            return None
        pin = self.pins.get(server)
        if pin is None:
            lock = self._locks.setdefault(server, asyncio.Lock())
            async with lock:  # concurrent first statements pin once
                pin = self.pins.get(server)
                if pin is None:
                    pool, conn = await checkout(server)
                    pin = self.pins[server] = Pin(pool, conn)
        return None if pin.in_transaction else pin

    def drop(self, server: str, pin: Pin) -> None:
        """Forget a pinned connection found dead (the next statement pins a new one)."""
        owner = self.parent if self.parent is not None and self.parent.covers(server) else self
        if owner.pins.get(server) is pin:
            del owner.pins[server]

    async def close(self) -> None:
        """Give every connection this block pinned back to its pool."""
        pins, self.pins = list(self.pins.values()), {}
        for pin in pins:
            await release(pin.pool, pin.connection, full_reset=pin.user_sql)


_pins: ContextVar[PinBlock | None] = ContextVar("matrx_orm_pins", default=None)


def current_pins() -> PinBlock | None:
    """The innermost open ``connection()`` block of the current task, if any."""
    return _pins.get()


@contextlib.asynccontextmanager
async def connection(database: str | None = None) -> AsyncIterator[None]:
    """``async with connection():`` — the block's statements share one pooled connection per database
    (see the module docstring); ``database`` limits it to one project."""
    only = get_database_config(database).name if database is not None else None
    block = PinBlock(_pins.get(), only)
    token = _pins.set(block)
    try:
        yield
    finally:
        _pins.reset(token)
        await block.close()


def discard_pin(block: PinBlock, server: str, pin: Pin) -> None:
    """Close a pinned connection whose state is unknown and forget it."""
    discard(pin.connection)
    block.drop(server, pin)
