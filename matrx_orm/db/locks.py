"""The lock that lets one statement at a time use a connection tasks share (a transaction's, a pinned one)."""

from __future__ import annotations

import asyncio

__all__ = ["StatementLock"]


class StatementLock(asyncio.Lock):
    """An ``asyncio.Lock`` that a statement can also take without awaiting: most statements find their
    connection free, and :meth:`take` spares them the ``acquire()`` coroutine."""

    _locked: bool

    def take(self) -> bool:
        """Take the lock now when nobody holds it and no task waits for it (a task already woken to take it
        counts as waiting); False otherwise, and then ``await acquire()``."""
        if self._locked or self._waiters:
            return False
        self._locked = True
        return True

    def release(self) -> None:
        """Release the lock (waking the first waiting task, if any)."""
        if self._waiters or not self._locked:  # a task to wake, or the error of a lock not held
            super().release()
        else:
            self._locked = False
