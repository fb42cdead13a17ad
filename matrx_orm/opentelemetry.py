"""OpenTelemetry tracing: one CLIENT span per statement the package runs.

```python
import matrx_orm.opentelemetry

matrx_orm.opentelemetry.instrument()            # the global tracer provider
matrx_orm.opentelemetry.instrument(provider)    # or your own
```

Needs ``opentelemetry-api`` (``pip install 'matrx-orm[otel]'``). Spans follow the database semantic
conventions: named ``"{operation} {table}"`` (``SELECT post``; the operation alone when no table is known),
with ``db.system.name``, ``db.namespace``, ``db.operation.name``, ``db.collection.name``, ``db.query.text``
(the SQL, never the bound values), ``server.address`` and ``server.port``; a failed statement records the
exception, ``error.type`` and ``db.response.status_code`` (the SQLSTATE) and sets the ERROR status. Spans
are children of the caller's current span.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .config import get_database_config
from .db.observe import QueryEvent, set_span_hook
from .exceptions import ConfigurationError, ORMException

try:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ConfigurationError(
        "matrx_orm.opentelemetry needs the OpenTelemetry API: pip install 'matrx-orm[otel]'"
    ) from exc

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_state: dict[str, bool] = {"on": False}


def instrument(tracer_provider: Any = None) -> None:
    """Start tracing every statement (with ``tracer_provider``, else the global one); calling it again
    replaces the provider."""
    tracer = trace.get_tracer("matrx_orm", tracer_provider=tracer_provider)
    set_span_hook(partial(_record_span, tracer))
    _state["on"] = True


def uninstrument() -> None:
    """Stop tracing statements."""
    set_span_hook(None)
    _state["on"] = False


def is_instrumented() -> bool:
    return _state["on"]


def _record_span(tracer: Tracer, event: QueryEvent, start_ns: int, end_ns: int) -> None:
    operation = event.operation.upper()
    span = tracer.start_span(
        f"{operation} {event.table}" if event.table else operation,
        kind=SpanKind.CLIENT,
        start_time=start_ns,
        attributes=_attributes(event, operation),
    )
    if event.error is not None:
        span.set_attribute("error.type", type(event.error).__qualname__)
        sqlstate = event.error.details.get("sqlstate") if isinstance(event.error, ORMException) else None
        if sqlstate:
            span.set_attribute("db.response.status_code", str(sqlstate))
        span.record_exception(event.error, timestamp=end_ns)
        span.set_status(Status(StatusCode.ERROR, type(event.error).__name__))
    span.end(end_time=end_ns)


def _attributes(event: QueryEvent, operation: str) -> dict[str, Any]:
    config = get_database_config(event.database)
    attributes: dict[str, Any] = {
        "db.system.name": "postgresql",
        "db.namespace": config.database_name,
        "db.operation.name": operation,
        "db.query.text": event.sql,
        "server.address": config.host or "localhost",
        "server.port": config.port_int,
    }
    if event.table:
        attributes["db.collection.name"] = event.table
    if event.rows is not None:
        attributes["db.response.returned_rows"] = event.rows
    return attributes
