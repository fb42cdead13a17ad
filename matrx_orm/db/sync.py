"""Run ORM coroutines from synchronous code: the engine behind every ``*_sync`` method.

Each thread that calls a ``*_sync`` method gets one private event loop, reused by every later call, so
its connection pool (pools are per event loop, see ``engine.py``) is opened once and reused rather than
opened per call. The loop's pools are closed gracefully when the thread ends or the interpreter exits, or
earlier with :func:`close_sync`. A ``*_sync`` method called while an event loop is running in the thread
raises :class:`~matrx_orm.SyncContextError` (await the async method instead): blocking inside a loop would
freeze it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..exceptions import SyncContextError
from .engine import dispose_all

__all__ = ["close_sync", "ensure_sync_context", "run_sync"]

T = TypeVar("T")


class _ThreadLoop:
    """Holds one thread's loop; its finalizer closes the loop's pools when the thread's locals go away."""

    __slots__ = ("loop", "__weakref__")

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, _shutdown, self.loop)


_local = threading.local()


def ensure_sync_context(name: str, async_name: str | None = None) -> None:
    """Raise :class:`SyncContextError` when an event loop is running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    target = async_name or (name[:-5] if name.endswith("_sync") else name)
    raise SyncContextError(
        f"{name}() cannot be called inside a running event loop (it would block the loop); "
        f"use `await {target}(...)` instead",
        operation=name,
    )


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]], name: str, async_name: str | None = None) -> T:
    """Run ``factory()`` to completion on this thread's sync loop; ``name`` is the calling ``*_sync`` method
    (for the error raised when a loop is already running here)."""
    ensure_sync_context(name, async_name)
    holder: _ThreadLoop | None = getattr(_local, "holder", None)
    if holder is None or holder.loop.is_closed():
        holder = _local.holder = _ThreadLoop()
    return holder.loop.run_until_complete(factory())


def close_sync() -> None:
    """Close this thread's sync loop and its pools now (the next ``*_sync`` call opens new ones)."""
    ensure_sync_context("close_sync", "matrx_orm.dispose_all")
    holder: _ThreadLoop | None = getattr(_local, "holder", None)
    if holder is not None:
        _local.holder = None
        _shutdown(holder.loop)


def _shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop``'s pools gracefully, then the loop (if another loop runs in this thread, just close
    it: the engine terminates the connections of closed loops)."""
    if loop.is_closed() or loop.is_running():
        return
    try:
        with contextlib.suppress(Exception):
            loop.run_until_complete(dispose_all())
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        with contextlib.suppress(Exception):
            loop.close()
