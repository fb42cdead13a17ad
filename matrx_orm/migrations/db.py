"""``MigrationDB``: the ``db`` handed to hand-written migrations (``execute``, ``fetch``, ``fetch_one``,
``fetch_val``, ``execute_many``), with ``$1, $2, ...`` placeholders.

Standalone (``MigrationDB("my_project")``) it runs each call on the project's pool. Inside a revision
(:meth:`MigrationDB.bound`) it runs on the revision's connection, in the revision's transaction.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.util import await_only

from ..db import executor
from ..db.transaction import transaction
from ..exceptions import MigrationError, ParameterError

__all__ = ["MigrationDB", "drive"]

T = TypeVar("T")


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (a legacy ``up(db)`` on a bound :class:`MigrationDB`) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise MigrationError(
        "a matrx migration function awaited something other than its db methods; inside an Alembic revision "
        "only await db.execute/fetch/fetch_one/fetch_val/execute_many"
    )


class MigrationDB:
    """Raw SQL for migrations on database project ``project`` (a name or alias)."""

    def __init__(self, project: str, *, connection: Connection | None = None) -> None:
        if not isinstance(project, str) or not project:
            raise ParameterError(f"MigrationDB needs a database project name, got {project!r}")
        self.project = project
        self._connection = connection

    @classmethod
    def bound(cls, project: str, connection: Connection) -> MigrationDB:
        """A MigrationDB running on ``connection`` (an Alembic revision's connection)."""
        return cls(project, connection=connection)

    # -- bound mode ----------------------------------------------------------------------------------------
    def _run(self, sql: str, args: Sequence[Any]) -> Any:
        assert self._connection is not None
        return self._connection.exec_driver_sql(sql, tuple(args))

    # -- the API -------------------------------------------------------------------------------------------
    async def execute(self, sql: str, *args: Any) -> str:
        """Run one statement; returns the status tag (``"CREATE TABLE"``, ``"INSERT 0 1"``, ...) when known."""
        if self._connection is not None:
            if not args:  # the simple query protocol: several statements in one string work, as on the pool
                driver = self._connection.connection.driver_connection
                return str(await_only(driver.execute(sql)))  # type: ignore[union-attr]
            result = self._run(sql, args)
            return f"{result.rowcount}" if result.rowcount is not None and result.rowcount >= 0 else ""
        return await executor.execute(self.project, sql, args, operation="migration", user_sql=True)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """All rows as dicts."""
        if self._connection is not None:
            return [dict(row._mapping) for row in self._run(sql, args)]
        return [dict(row) for row in await self._fetch(sql, args)]

    async def fetch_one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """The first row as a dict, or None."""
        if self._connection is not None:
            row = self._run(sql, args).first()
            return dict(row._mapping) if row is not None else None
        records = await self._fetch(sql, args)
        return dict(records[0]) if records else None

    async def fetch_val(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None."""
        if self._connection is not None:
            return self._run(sql, args).scalar()
        records = await self._fetch(sql, args)
        return records[0][0] if records else None

    async def execute_many(self, statements: Iterable[str | tuple[str, Sequence[Any]]]) -> None:
        """Run several statements in order, in one transaction (each a SQL string or ``(sql, args)``)."""
        items = [(s, ()) if isinstance(s, str) else (s[0], tuple(s[1])) for s in statements]
        if self._connection is not None:
            for sql, args in items:
                self._run(sql, args)
            return
        async with transaction(self.project):
            for sql, args in items:
                await executor.execute(self.project, sql, args, operation="migration", user_sql=True)

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        return await executor.fetch(self.project, sql, args, operation="migration", user_sql=True)
