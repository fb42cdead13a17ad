"""Results of many rows (past ``MANY_ROWS``, where building their objects pauses the cyclic GC): the same
values as a few rows give, and the collector's state afterwards is the caller's."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from matrx_orm import BooleanField, CharField, IntegerField, JSONBField, Model, create_all
from matrx_orm.db import executor
from matrx_orm.meta.rows import MANY_ROWS, gc_paused

ROWS = MANY_ROWS + 137


class ManyRow(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=40)
    flag = BooleanField(default=False)
    doc = JSONBField(null=True)

    _table_name = "many_rows"
    _database = "test"


def expected(i: int) -> tuple[int, str, bool, dict[str, int] | None]:
    return i, f"row-{i}", i % 3 == 0, {"i": i} if i % 2 else None


@pytest.fixture
async def rows(db: str) -> None:
    await create_all(db, models=[ManyRow])
    await executor.execute(db, "TRUNCATE many_rows", [])
    await ManyRow.bulk_create(
        [dict(zip(("id", "name", "flag", "doc"), expected(i), strict=True)) for i in range(ROWS)]
    )


@pytest.fixture
def collector_disabled() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_many_rows_load_as_a_few_do_and_the_collector_runs_again(rows: None) -> None:
    everything = [expected(i) for i in range(ROWS)]
    instances = await ManyRow.all().order_by("id")
    assert [(m.id, m.name, m.flag, m.doc) for m in instances] == everything
    assert all(m._persisted for m in instances) and gc.isenabled()
    assert await ManyRow.all().order_by("id").values_list("id", "name", "flag", "doc") == everything
    assert gc.isenabled()
    dicts = await ManyRow.all().order_by("id").values("id", "doc")
    assert dicts == [{"id": i, "doc": doc} for i, _, _, doc in everything] and gc.isenabled()
    assert await ManyRow.all().order_by("id").values_list("name", flat=True) == [e[1] for e in everything]
    streamed = [
        (m.id, m.name, m.flag, m.doc)
        async for m in ManyRow.all().order_by("id").iterator(chunk_size=ROWS - 1)
    ]
    assert streamed == everything and gc.isenabled()


async def test_a_collector_the_caller_disabled_stays_disabled(rows: None, collector_disabled: None) -> None:
    assert len(await ManyRow.all()) == ROWS
    assert len(await ManyRow.all().values_list("id")) == ROWS
    assert not gc.isenabled()


def test_the_collector_runs_again_after_an_error_inside_the_pause() -> None:
    with pytest.raises(ZeroDivisionError), gc_paused():
        assert not gc.isenabled()
        _ = 1 / 0
    assert gc.isenabled()


def test_pauses_in_two_threads_keep_the_collector_off_until_the_last_one_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with gc_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with gc_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first pause ended, this one goes on: still off

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False] and gc.isenabled()


async def test_an_iterator_makes_each_instance_as_the_loop_takes_it(rows: None) -> None:
    stream = ManyRow.all().order_by("id").iterator(chunk_size=100)
    gc.collect()  # no instance of the fixture's left over in a cycle
    first = await stream.__anext__()
    alive = [obj for obj in gc.get_objects() if type(obj) is ManyRow]
    assert alive == [first]  # not the other 99 of its chunk: a chunk's instances never pile up at once
    taken = [first] + [row async for row in stream]
    assert [(m.id, m.name, m.flag, m.doc) for m in taken] == [expected(i) for i in range(ROWS)]
    assert gc.isenabled()
