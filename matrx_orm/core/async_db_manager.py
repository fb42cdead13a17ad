"""``matrx_orm.core.async_db_manager``: matrx-orm 2.x's connection helpers, on the pools of ``matrx_orm.db``.

``AsyncDatabaseManager`` keeps 2.x's method names; every call uses the project's pool for the running event
loop (see ``matrx_orm.db.engine``), and ``execute_query`` runs through the executor like every statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from ..db import executor
from ..db.engine import acquire, dispose_all, get_pool
from ..db.sync import run_sync as _run_sync

__all__ = ["AsyncDatabaseManager", "run_sync"]

T = TypeVar("T")


class AsyncDatabaseManager:
    """2.x's pool manager: pools, connections and raw queries by project name."""

    @classmethod
    async def get_pool(cls, name: str) -> asyncpg.Pool:
        """The project's asyncpg pool for the running event loop."""
        return await get_pool(name)

    @classmethod
    @asynccontextmanager
    async def get_connection(
        cls, name: str, timeout: float | None = None
    ) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection (fully reset when it goes back: it may run any SQL)."""
        async with acquire(name) as connection:
            yield connection

    @classmethod
    async def execute_query(
        cls, name: str, query: str, *args: Any, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """Rows of raw SQL (``$1, $2, ...`` bound to ``args``) as dicts; inside ``transaction()`` it runs on the
        transaction's connection for that project."""
        rows = await executor.fetch(name, query, args, operation="execute_query", user_sql=True)
        return [dict(row) for row in rows]

    @classmethod
    async def cleanup(cls) -> None:
        """Close every pool of the running event loop."""
        await dispose_all()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` from synchronous code (on this thread's event loop; see ``*_sync`` methods)."""
    return _run_sync(lambda: coroutine, "run_sync")
