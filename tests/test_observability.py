"""What a service sees of the statements: the ``matrx_orm.sql`` logger, ``echo``, the slow-statement log,
``on_query`` events, OpenTelemetry spans, pool statistics and ``hide_parameters``, on the real server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from example_models import ALL, Author
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from test_crud import _quoted

import matrx_orm.opentelemetry
from matrx_orm import (
    DatabaseProjectConfig,
    IntegrityError,
    QueryEvent,
    all_pool_stats,
    create_all,
    on_query,
    pool_stats,
    register_database,
    transaction,
)
from matrx_orm.db import executor
from matrx_orm.db.observe import statement_operation


@pytest.fixture(autouse=True)
async def tables(db: str) -> None:
    await create_all(db, models=ALL)
    for model in ALL:
        await executor.execute(db, f"TRUNCATE {_quoted(model)} CASCADE", [])


def reconfigure(url: str, **settings: object) -> None:
    register_database(DatabaseProjectConfig(name="test", url=url, **settings))  # type: ignore[arg-type]


@pytest.fixture
def events() -> Iterator[list[QueryEvent]]:
    seen: list[QueryEvent] = []
    hook = on_query(seen.append)
    yield seen
    hook.remove()


def sql_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "matrx_orm.sql"]


# -- logging --------------------------------------------------------------------------------------------------


async def test_debug_log_has_one_record_per_statement_with_extras_and_no_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="matrx_orm.sql")
    await Author.create(name="secret-name-value", age=41)
    assert await Author.filter(age=41).count() == 1
    records = sql_records(caplog)
    assert [statement_operation(r.sql) for r in records] == ["insert", "select"]  # type: ignore[attr-defined]
    insert = records[0]
    assert insert.levelno == logging.DEBUG
    assert insert.database == "test"  # type: ignore[attr-defined]
    assert insert.rows == 1 and insert.duration_ms > 0  # type: ignore[attr-defined]
    assert insert.sql.startswith("INSERT INTO")  # type: ignore[attr-defined]
    assert "secret-name-value" not in insert.getMessage() and "41" not in insert.getMessage()
    assert insert.parameters is None  # type: ignore[attr-defined]
    assert "[test]" in insert.getMessage() and "ms" in insert.getMessage()


async def test_log_parameters_puts_values_in_records_and_events(
    pg_url: str, caplog: pytest.LogCaptureFixture, events: list[QueryEvent]
) -> None:
    reconfigure(pg_url, log_parameters=True)
    caplog.set_level(logging.DEBUG, logger="matrx_orm.sql")
    await Author.filter(name="visible-value").count()
    (record,) = sql_records(caplog)
    assert "visible-value" in record.getMessage()
    assert events[-1].parameters is not None and "visible-value" in events[-1].parameters


async def test_transaction_control_and_raw_sql_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="matrx_orm.sql")
    async with transaction("test"):
        await Author.create(name="a")
        async with transaction("test"):
            await Author.raw_sql("SELECT 1 AS one")
    operations = [statement_operation(r.sql) for r in sql_records(caplog)]  # type: ignore[attr-defined]
    assert operations == ["begin", "insert", "savepoint", "select", "release", "commit"]


async def test_echo_prints_the_projects_statements_on_stderr(
    pg_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    reconfigure(pg_url, echo=True)
    await Author.filter(name="x").count()
    err = capfd.readouterr().err
    assert "matrx_orm.sql" in err and "SELECT count(*)" in err and "[test]" in err


async def test_slow_statements_are_logged_at_warning(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    reconfigure(pg_url, slow_query_ms=50)
    caplog.set_level(logging.WARNING)
    await Author.raw_sql("SELECT pg_sleep(0.1)")
    await Author.filter(name="fast").count()
    slow = [r for r in caplog.records if r.name == "matrx_orm.sql.slow"]
    assert len(slow) == 1 and slow[0].levelno == logging.WARNING
    assert "pg_sleep" in slow[0].getMessage() and slow[0].duration_ms >= 50  # type: ignore[attr-defined]


# -- events ---------------------------------------------------------------------------------------------------


async def test_events_for_success_failure_and_transactions(events: list[QueryEvent]) -> None:
    await Author.create(name="dup")
    with pytest.raises(IntegrityError) as caught:
        await Author.create(name="dup")
    insert, failed = events[-2], events[-1]
    assert (insert.operation, insert.model, insert.rows, insert.error) == ("insert", "Author", 1, None)
    assert insert.table == "author" and not insert.in_transaction and insert.parameters is None
    assert failed.error is caught.value and failed.rows is None
    events.clear()
    async with transaction("test"):
        await Author.filter(name="dup").update(age=3)
    assert [(e.operation, e.in_transaction) for e in events] == [
        ("begin", True),
        ("update", True),
        ("commit", True),
    ]
    assert events[1].rows == 1


async def test_async_callbacks_and_failing_callbacks(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def record(event: QueryEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.operation)
        await Author.filter(name="from-callback").count()  # a callback may query; not reported again

    def broken(event: QueryEvent) -> None:
        raise RuntimeError("callback bug")

    hooks = [on_query(record), on_query(broken)]
    try:
        assert await Author.filter(name="x").count() == 0
        await asyncio.sleep(0.05)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == ["select"]
    assert any("callback bug" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    await Author.filter(name="after").count()
    assert seen == ["select"]  # removed


# -- OpenTelemetry ------------------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    matrx_orm.opentelemetry.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        matrx_orm.opentelemetry.uninstrument()
        provider.shutdown()


async def test_spans_follow_the_database_conventions_and_nest(
    spans: InMemorySpanExporter, pg_url: str
) -> None:
    tracer = spans_parent_tracer = TracerProvider()
    spans_parent_tracer.add_span_processor(SimpleSpanProcessor(spans))
    with tracer.get_tracer("app").start_as_current_span("handler") as parent:
        await Author.create(name="traced")
        await Author.filter(name="traced").count()
    finished = {span.name: span for span in spans.get_finished_spans()}
    select = finished["SELECT author"]
    assert "INSERT author" in finished
    assert select.kind is SpanKind.CLIENT
    assert select.parent is not None and select.parent.span_id == parent.get_span_context().span_id
    attributes = dict(select.attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.operation.name"] == "SELECT"
    assert attributes["db.collection.name"] == "author"
    assert attributes["db.namespace"] == DatabaseProjectConfig(name="x", url=pg_url).database_name
    assert "traced" not in str(attributes["db.query.text"])
    assert isinstance(attributes["server.port"], int) and attributes["server.address"]


async def test_failed_statement_span_records_the_error(spans: InMemorySpanExporter) -> None:
    await Author.create(name="twice")
    with pytest.raises(IntegrityError):
        await Author.create(name="twice")
    failed = [s for s in spans.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert len(failed) == 1
    attributes = dict(failed[0].attributes or {})
    assert attributes["error.type"] == "IntegrityError"
    assert attributes["db.response.status_code"] == "23505"
    assert any(event.name == "exception" for event in failed[0].events)


async def test_uninstrument_stops_spans(spans: InMemorySpanExporter) -> None:
    matrx_orm.opentelemetry.uninstrument()
    await Author.filter(name="x").count()
    assert spans.get_finished_spans() == ()


# -- pool statistics ------------------------------------------------------------------------------------------


async def test_pool_stats_while_connections_are_held(pg_url: str) -> None:
    reconfigure(pg_url, pool_min_size=1, pool_max_size=3, pool_timeout=5)
    assert pool_stats("test").size == 0  # no pool before first use
    gate = asyncio.Event()
    holding = 0

    async def hold() -> None:
        nonlocal holding
        async with transaction("test"):
            await Author.filter(name="x").count()
            holding += 1
            await gate.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(4)]
    while holding < 3:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    stats = pool_stats("test")
    assert (stats.size, stats.in_use, stats.idle, stats.waiting) == (3, 3, 0, 1)
    assert (stats.min_size, stats.max_size) == (1, 3)
    assert all_pool_stats()["test"] == stats
    gate.set()
    await asyncio.gather(*tasks)
    after = pool_stats("test")
    assert (after.in_use, after.waiting, after.idle) == (0, 0, after.size)


# -- hide_parameters --------------------------------------------------------------------------------------------


async def test_hide_parameters_keeps_values_out_of_errors(pg_url: str) -> None:
    await Author.create(name="private@example.com")
    with pytest.raises(IntegrityError) as shown:
        await Author.create(name="private@example.com")
    assert "private@example.com" in str(shown.value)  # the default: values help debugging
    reconfigure(pg_url, hide_parameters=True)
    with pytest.raises(IntegrityError) as hidden:
        await Author.create(name="private@example.com")
    error = hidden.value
    assert "private@example.com" not in str(error) and "private@example.com" not in repr(error)
    assert error.params is None and "private@example.com" not in repr(error.details)
    assert error.details.get("constraint_name")


@pytest.fixture(autouse=True)
async def _restore(pg_url: str) -> AsyncIterator[None]:
    yield
    reconfigure(pg_url)
