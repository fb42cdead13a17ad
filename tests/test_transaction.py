"""transaction(): commit, rollback, savepoints, task isolation, other databases inside a block, and the block
without a name that joins every database it touches."""

from __future__ import annotations

import asyncio

import pytest
from example_models import ALL, Author
from test_crud import _quoted

from matrx_orm import CharField, IntegerField, IntegrityError, Model, create_all, transaction
from matrx_orm.db import executor
from matrx_orm.db.context import current_transaction
from matrx_orm.exceptions import PartialCommitError


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


# -- transaction() without a name: every database a statement touches ------------------------------------------


class TxNote(Model):
    id = IntegerField(primary_key=True)
    text = CharField(max_length=50)

    _table_name = "tx_note"
    _database = "test2"


class TxDeferred(Model):
    id = IntegerField(primary_key=True)
    code = IntegerField()

    _table_name = "tx_deferred"
    _database = "test2"


@pytest.fixture
async def second(db2: str) -> str:
    await executor.execute(db2, "DROP TABLE IF EXISTS tx_note, tx_deferred", [])
    await create_all(db2, models=[TxNote])
    await executor.execute(
        db2,
        "CREATE TABLE tx_deferred (id integer PRIMARY KEY, code integer, "
        "CONSTRAINT tx_deferred_code UNIQUE (code) DEFERRABLE INITIALLY DEFERRED)",
        [],
    )
    return db2


async def test_unnamed_block_joins_each_database_on_first_use_and_commits_both(second: str) -> None:
    async with transaction() as block:
        assert block.transactions == {}  # nothing opened before a statement needs it
        await Author.create(name="in-test")
        assert list(block.transactions) == ["test"]
        await TxNote.create(id=1, text="in-test2")
        assert list(block.transactions) == ["test", "test2"]
        assert current_transaction("test2") is block.transactions["test2"]
        async with transaction("test2") as named:  # a named block inside joins, as a savepoint
            assert named is block.transactions["test2"]
            await TxNote.create(id=2, text="named")
    assert await Author.count() == 1 and await TxNote.count() == 2
    assert current_transaction("test") is None and current_transaction("test2") is None


async def test_unnamed_block_rolls_back_every_database_on_an_exception(second: str) -> None:
    with pytest.raises(RuntimeError):
        async with transaction():
            await Author.create(name="gone")
            await TxNote.create(id=1, text="gone")
            raise RuntimeError
    assert await Author.count() == 0 and await TxNote.count() == 0


async def test_nested_unnamed_blocks_are_savepoints_on_each_database(second: str) -> None:
    async with transaction():
        await Author.create(name="kept")
        with pytest.raises(ValueError):
            async with transaction():
                await Author.create(name="undone")
                await TxNote.create(id=7, text="undone")  # first use of test2: inside the inner block
                raise ValueError
        await TxNote.create(id=8, text="kept")
        async with transaction():
            await TxNote.create(id=9, text="kept too")
    assert sorted(await Author.all().values_list("name", flat=True)) == ["kept"]
    assert sorted(await TxNote.all().values_list("id", flat=True)) == [8, 9]


async def test_unnamed_block_inside_a_named_one_is_a_savepoint(second: str) -> None:
    async with transaction("test"):
        await Author.create(name="outer")
        with pytest.raises(ValueError):
            async with transaction():
                await Author.create(name="inner")
                raise ValueError
    assert await Author.all().values_list("name", flat=True) == ["outer"]


async def test_concurrent_first_statements_open_one_transaction(second: str) -> None:
    async with transaction() as block:
        await asyncio.gather(*(TxNote.create(id=i, text=f"t{i}") for i in range(8)))
        assert list(block.transactions) == ["test2"]
        assert await TxNote.count() == 8
    assert await TxNote.count() == 8


async def test_a_later_commit_failing_keeps_the_earlier_ones_and_says_so(second: str) -> None:
    with pytest.raises(PartialCommitError) as failed:
        async with transaction():
            await Author.create(name="committed")  # test: opened first, committed first
            await TxDeferred.bulk_create([{"id": 1, "code": 5}, {"id": 2, "code": 5}])  # checked at COMMIT
    assert failed.value.details == {"committed": ["test"], "rolled_back": ["test2"]}
    assert isinstance(failed.value.__cause__, IntegrityError)
    assert await Author.all().values_list("name", flat=True) == ["committed"]
    assert await TxDeferred.count() == 0


async def test_the_first_commit_failing_rolls_back_the_rest(second: str) -> None:
    with pytest.raises(IntegrityError):
        async with transaction():
            await TxDeferred.bulk_create([{"id": 1, "code": 5}, {"id": 2, "code": 5}])  # test2 first
            await Author.create(name="rolled back")
    assert await Author.count() == 0 and await TxDeferred.count() == 0
