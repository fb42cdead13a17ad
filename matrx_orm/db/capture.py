"""``capture_queries()``: record the statements the ORM sends, for tests and N+1 hunting.

    from matrx_orm import capture_queries

    with capture_queries() as log:
        posts = await Post.filter(is_published=True).prefetch_related("tags").all()
    assert len(log) == 2
    print(log.statements)

Capture is task-local (a ContextVar): tasks started inside the block are recorded too, other tasks are not.
Every statement that goes through the executor (``db/executor.py``) is recorded once, when it is sent, and an
``iterator()`` cursor once when it opens (not per chunk); transaction control (BEGIN, SAVEPOINT, COMMIT) is
not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["CapturedQuery", "QueryLog", "capture_queries"]


@dataclass(frozen=True, slots=True)
class CapturedQuery:
    """One statement: the database it ran on, its SQL text, and whether it ran inside ``transaction()``."""

    database: str
    sql: str
    in_transaction: bool


class QueryLog(list[CapturedQuery]):
    """The statements captured by one ``capture_queries()`` block, in the order they were sent."""

    @property
    def statements(self) -> list[str]:
        return [query.sql for query in self]

    def on(self, database: str) -> list[CapturedQuery]:
        """The statements sent to ``database``."""
        return [query for query in self if query.database == database]


ACTIVE: ContextVar[tuple[QueryLog, ...]] = ContextVar("matrx_orm_query_capture", default=())


def record(logs: tuple[QueryLog, ...], database: str, sql: str, in_transaction: bool) -> None:
    """Append a statement to every active log (the executor calls this only when a capture is active)."""
    entry = CapturedQuery(database, sql, in_transaction)
    for log in logs:
        log.append(entry)


@contextmanager
def capture_queries() -> Iterator[QueryLog]:
    """Record every statement the current task (and tasks it starts) sends while the block runs."""
    log = QueryLog()
    token = ACTIVE.set((*ACTIVE.get(), log))
    try:
        yield log
    finally:
        ACTIVE.reset(token)
