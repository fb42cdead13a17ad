"""``StatementLock``: the lock a shared connection's statements take, with its synchronous ``take()``."""

from __future__ import annotations

import asyncio

import pytest

from matrx_orm.db.locks import StatementLock


async def test_take_succeeds_only_on_a_free_lock_nobody_waits_for() -> None:
    lock = StatementLock()
    assert lock.take() and lock.locked()
    assert not lock.take()
    lock.release()
    assert not lock.locked()
    assert lock.take()
    lock.release()


async def test_take_never_jumps_ahead_of_a_task_already_woken_to_take_the_lock() -> None:
    lock = StatementLock()
    assert lock.take()
    order: list[str] = []

    async def waiter() -> None:
        async with lock:
            order.append("waiter")
            await asyncio.sleep(0)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)  # the waiter is queued
    lock.release()  # wakes it: it has not run yet, and the lock is free for a moment
    assert not lock.locked()
    assert not lock.take()  # it must not be taken from the woken waiter
    await task
    assert order == ["waiter"] and not lock.locked()
    assert lock.take()
    lock.release()


async def test_a_cancelled_waiter_passes_the_lock_on_to_the_next() -> None:
    lock = StatementLock()
    assert lock.take()
    got: list[str] = []

    async def wait(name: str) -> None:
        await lock.acquire()
        got.append(name)
        lock.release()

    first, second = asyncio.create_task(wait("first")), asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    lock.release()  # wakes the first
    first.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(first, second, return_exceptions=True)
    assert first.cancelled() and got == ["second"] and not lock.locked()


async def test_releasing_a_free_lock_is_an_error() -> None:
    lock = StatementLock()
    with pytest.raises(RuntimeError):
        lock.release()
    assert lock.take()
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


async def test_many_tasks_mixing_take_and_acquire_never_overlap() -> None:
    lock = StatementLock()
    inside = 0
    most = 0
    done = 0

    async def statement(step: int) -> None:
        nonlocal inside, most, done
        for _ in range(20):
            if not lock.take():
                await lock.acquire()
            try:
                inside += 1
                most = max(most, inside)
                for _ in range(step % 3):
                    await asyncio.sleep(0)
                inside -= 1
                done += 1
            finally:
                lock.release()
            await asyncio.sleep(0)

    await asyncio.gather(*(statement(step) for step in range(12)))
    assert most == 1 and done == 240 and not lock.locked()
