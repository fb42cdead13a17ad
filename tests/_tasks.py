"""Tasks cancelled at a chosen point: after a given number of turns of the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any


async def cancelled_after(turns: int, work: Callable[[], Awaitable[Any]]) -> asyncio.Task[Any]:
    """Run ``work()`` in a task, cancel it after ``turns`` turns of the event loop and wait for it to end;
    the task (``task.cancelled()`` is False when it finished first)."""

    async def run() -> Any:
        return await work()

    task = asyncio.create_task(run())
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return task
