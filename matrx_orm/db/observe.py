"""What the package reports about each statement it runs: SQL log records, query events and trace spans.

The executor calls :func:`watching` after every statement (a few attribute reads when nothing listens) and,
when it is true, :func:`report`, which

* logs the statement on ``matrx_orm.sql`` (DEBUG; INFO for a project with ``echo=True``, which also gets a
  stderr handler), with ``record.sql``, ``record.database``, ``record.duration_ms`` and ``record.rows``;
  bound values only with ``log_parameters=True``;
* logs statements slower than the project's ``slow_query_ms`` at WARNING on ``matrx_orm.sql.slow``;
* calls the :func:`on_query` callbacks with a :class:`QueryEvent`;
* hands the event to the span hook :mod:`matrx_orm.opentelemetry` installs.

Statements run by a callback (or by tasks it starts) are not reported again, so a callback may query.
An async callback runs as a task outside the caller's transactions and ``connection()`` blocks: its
statements never join (or outlive) the transaction of the statement it is told about.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..config import add_registry_listener, get_database_config
from ..exceptions import ConfigurationError
from .context import detached_context

__all__ = [
    "QueryEvent",
    "QueryHook",
    "on_query",
    "report",
    "set_span_hook",
    "set_table_resolver",
    "statement_operation",
    "watching",
]

sql_logger = logging.getLogger("matrx_orm.sql")
slow_logger = logging.getLogger("matrx_orm.sql.slow")
_logger = logging.getLogger(__name__)

_DEBUG = logging.DEBUG


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """One statement the package ran, as :func:`on_query` callbacks receive it."""

    database: str
    sql: str
    #: bound values; only when the project has ``log_parameters=True``, else None
    parameters: tuple[Any, ...] | None
    duration_ms: float
    #: rows returned (SELECT, RETURNING) or affected (UPDATE, DELETE, COPY); None when unknown
    rows: int | None
    #: ``select``, ``insert``, ``update``, ``delete``, ``copy``, ``begin``, ``commit``, ``rollback``, ...
    operation: str
    #: the model class name for statements the ORM built for a model
    model: str | None
    #: the exception the caller got, when the statement failed
    error: BaseException | None
    in_transaction: bool
    #: the table the statement is about, when known (the model's table, COPY's target)
    table: str | None = None


Callback = Callable[[QueryEvent], "Awaitable[None] | None"]
SpanHook = Callable[[QueryEvent, int, int], None]

_callbacks: list[Callback] = []
_span_hook: list[SpanHook] = []  # zero or one
#: model name, project name -> table name (the model registry sets it; this layer knows no models)
_table_resolver: list[Callable[[str, str], str | None]] = []
#: project name or alias -> whether its config asks for echo or slow-statement logs (cleared on changes)
_watched: dict[str, bool] = {}
_reporting: ContextVar[bool] = ContextVar("matrx_orm_reporting", default=False)
_tasks: set[asyncio.Task[None]] = set()
_echo_handler: logging.Handler | None = None


class QueryHook:
    """What :func:`on_query` returns: ``remove()`` unregisters the callback."""

    def __init__(self, callback: Callback) -> None:
        self.callback = callback

    def remove(self) -> None:
        """Stop calling the callback (removing twice is harmless)."""
        with contextlib.suppress(ValueError):
            _callbacks.remove(self.callback)

    def __enter__(self) -> QueryHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def on_query(callback: Callback) -> QueryHook:
    """Call ``callback(event)`` after every statement the package runs (a plain function or a coroutine
    function; coroutines run as tasks, outside the caller's transactions and ``connection()`` blocks). An
    exception in a callback is logged, never raised to the query."""
    _callbacks.append(callback)
    return QueryHook(callback)


def set_span_hook(hook: SpanHook | None) -> None:
    """Install (or with None remove) the function that turns events into trace spans:
    ``hook(event, start_ns, end_ns)`` with wall-clock nanoseconds."""
    _span_hook.clear()
    if hook is not None:
        _span_hook.append(hook)


def set_table_resolver(resolver: Callable[[str, str], str | None]) -> None:
    """How a model name becomes a table name in reports (set once by the model registry)."""
    _table_resolver[:] = [resolver]


def watching(database: str) -> bool:
    """Whether anything wants to hear about the statement just run on ``database``."""
    if _callbacks or _span_hook or sql_logger.isEnabledFor(_DEBUG):
        return not _reporting.get()
    watched = _watched.get(database)
    if watched is None:
        try:
            config = get_database_config(database)
        except ConfigurationError:  # an unknown project: its statement failed before it ran
            return False
        watched = _watched[database] = config.echo or config.slow_query_ms is not None
    return watched and not _reporting.get()


def report(
    database: str,
    sql: str,
    params: Sequence[Any] | None,
    started: float,
    rows: int | None,
    *,
    model: Any = None,
    in_transaction: bool = False,
    error: BaseException | None = None,
    operation: str | None = None,
    table: str | None = None,
) -> None:
    """Log the statement and tell the callbacks and the span hook; ``started`` is its
    ``time.perf_counter()`` start."""
    ended = time.perf_counter()
    duration_ms = (ended - started) * 1000.0
    try:
        config = get_database_config(database)
    except ConfigurationError:
        return
    event = QueryEvent(
        database=config.name,
        sql=sql,
        parameters=tuple(params) if config.log_parameters and params is not None else None,
        duration_ms=duration_ms,
        rows=rows,
        operation=operation or statement_operation(sql),
        model=_model_name(model),
        error=error,
        in_transaction=in_transaction,
        table=table or _table_of(model, config.name),
    )
    _log(event, echo=config.echo, slow_ms=config.slow_query_ms)
    if _span_hook or _callbacks:
        with _reporting_now():
            if _span_hook:
                end_ns = time.time_ns()
                _call_safely(_span_hook[0], event, end_ns - int(duration_ms * 1_000_000), end_ns)
            for callback in list(_callbacks):
                _call_safely(callback, event)


add_registry_listener(lambda _name: _watched.clear())


# -- logging -------------------------------------------------------------------------------------------------


def _log(event: QueryEvent, *, echo: bool, slow_ms: float | None) -> None:
    if echo:
        _ensure_echo_handler()
    level = logging.INFO if echo else _DEBUG
    slow = slow_ms is not None and event.duration_ms >= slow_ms
    if not slow and not sql_logger.isEnabledFor(level):
        return
    extra = {
        "sql": event.sql,
        "database": event.database,
        "duration_ms": round(event.duration_ms, 3),
        "rows": event.rows,
        "operation": event.operation,
        "parameters": event.parameters,
        "echo": echo,
    }
    text = _describe(event)
    if sql_logger.isEnabledFor(level):
        sql_logger.log(level, "%s", text, extra=extra)
    if slow:
        slow_logger.warning("slow statement (over %g ms): %s", slow_ms, text, extra=extra)


def _describe(event: QueryEvent) -> str:
    rows = "" if event.rows is None else f", {event.rows} row{'' if event.rows == 1 else 's'}"
    failed = f", failed: {type(event.error).__name__}" if event.error is not None else ""
    params = f"\n  parameters: {event.parameters!r}" if event.parameters is not None else ""
    return f"[{event.database}] {event.sql}  ({event.duration_ms:.1f} ms{rows}{failed}){params}"


class _EchoFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return bool(getattr(record, "echo", False))


def _ensure_echo_handler() -> None:
    """``echo=True``: a stderr handler on ``matrx_orm.sql`` for echoing projects' records, and INFO enabled."""
    global _echo_handler
    if _echo_handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(_EchoFilter())
        sql_logger.addHandler(handler)
        _echo_handler = handler
    if not sql_logger.isEnabledFor(logging.INFO):
        sql_logger.setLevel(logging.INFO)


# -- callbacks --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _reporting_now() -> Iterator[None]:
    token = _reporting.set(True)
    try:
        yield
    finally:
        _reporting.reset(token)


def _call_safely(function: Callable[..., Any], *args: Any) -> None:
    try:
        result = function(*args)
        if inspect.isawaitable(result):
            task = asyncio.get_running_loop().create_task(_awaited(result), context=detached_context())
            _tasks.add(task)
            task.add_done_callback(_task_done)
    except Exception:
        _logger.exception("a query callback (%s) failed; the query itself succeeded", _name_of(function))


async def _awaited(result: Awaitable[None]) -> None:
    await result


def _task_done(task: asyncio.Task[None]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        _logger.error("an async query callback failed", exc_info=task.exception())


def _name_of(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


# -- what a statement is ---------------------------------------------------------------------------------------


def statement_operation(sql: str) -> str:
    """The statement's command, lower case: ``select``, ``insert``, ``begin``, ... (for ``WITH ...`` the
    command after the common table expressions)."""
    head = sql.lstrip()[:12].split(None, 1)
    word = head[0].lower() if head else ""
    if word != "with":
        return word.rstrip(";")
    return _command_after_ctes(sql)


def _command_after_ctes(sql: str) -> str:
    depth = 0
    index = 0
    quoted = ""
    while index < len(sql):
        char = sql[index]
        if quoted:
            if char == quoted:
                quoted = ""
        elif char in "'\"":
            quoted = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and char.isalpha():
            end = index
            while end < len(sql) and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            word = sql[index:end].lower()
            if word in ("select", "insert", "update", "delete", "merge", "values"):
                return word
            index = end
            continue
        index += 1
    return "with"


def _model_name(model: Any) -> str | None:
    if model is None:
        return None
    if isinstance(model, str):
        return model
    name = getattr(model, "__name__", None)
    return name if isinstance(name, str) else type(model).__name__


def _table_of(model: Any, database: str) -> str | None:
    meta = getattr(model, "_meta", None)
    table = getattr(meta, "table_name", None)
    if isinstance(table, str):
        return table
    if isinstance(model, str) and _table_resolver:
        return _table_resolver[0](model, database)
    return None
