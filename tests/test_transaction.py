"""transaction(): commit, rollback, savepoints, task isolation, other databases inside a block."""

from __future__ import annotations

import asyncio

import pytest
from example_models import ALL, Author
from test_crud import _quoted

from matrx_orm import IntegrityError, create_all, transaction
from matrx_orm.db import executor


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f"TRUNCATE {_quoted(model)} CASCADE", [])


async def test_commit_on_exit() -> None:
    async with transaction("test"):
        await Author.create(name="a")
        await Author.create(name="b")
    assert await Author.count() == 2


async def test_rollback_on_exception() -> None:
    with pytest.raises(RuntimeError):
        async with transaction("test"):
            await Author.create(name="a")
            assert await Author.count() == 1  # visible inside
            raise RuntimeError("boom")
    assert await Author.count() == 0


async def test_database_error_rolls_back_everything() -> None:
    with pytest.raises(IntegrityError):
        async with transaction():
            await Author.create(name="a")
            await Author.create(name="a")
    assert await Author.count() == 0


async def test_nested_block_is_a_savepoint() -> None:
    async with transaction("test"):
        await Author.create(name="outer")
        with pytest.raises(ValueError):
            async with transaction("test"):
                await Author.create(name="inner")
                raise ValueError
        async with transaction("test"):
            await Author.create(name="inner-kept")
    assert sorted(await Author.all().values_list("name", flat=True)) == ["inner-kept", "outer"]


async def test_concurrent_tasks_have_separate_transactions() -> None:
    started = asyncio.Event()

    async def failing() -> None:
        async with transaction("test"):
            await Author.create(name="from-failing")
            started.set()
            await asyncio.sleep(0.05)
            raise RuntimeError("fail")

    async def committing() -> None:
        await started.wait()
        async with transaction("test"):
            await Author.create(name="from-committing")
            # the other task's uncommitted row is invisible here
            assert await Author.count(name="from-failing") == 0

    results = await asyncio.gather(failing(), committing(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] is None
    assert await Author.all().values_list("name", flat=True) == ["from-committing"]


async def test_tasks_started_inside_share_the_connection_safely() -> None:
    async with transaction("test"):
        await asyncio.gather(*(Author.create(name=f"n{i}") for i in range(10)))
        assert await Author.count() == 10
    assert await Author.count() == 10


async def test_other_database_inside_block_goes_to_its_pool(db2: str) -> None:
    await create_all(db2, models=[Author])
    await executor.execute(db2, "TRUNCATE author CASCADE", [])
    with pytest.raises(RuntimeError):
        async with transaction("test"):
            await Author.create(name="rolled-back")
            await Author.objects().using(db2).count()  # runs on test2's pool, outside the transaction
            raise RuntimeError
    assert await Author.count() == 0
