"""``SchemaDiff``: matrx-orm's diff object, kept for existing code; Alembic autogenerate does the work."""

from __future__ import annotations

from pathlib import Path

from .commands import CheckResult, dbcheck, make_revision
from .db import MigrationDB
from .scope import TableFilter

__all__ = ["SchemaDiff"]


class SchemaDiff:
    """The difference between the models of ``db.project`` and its database, within ``table_filter``.

    ``schema`` is accepted for compatibility: the models' own ``_db_schema`` decides where tables live
    (``"public"`` is the default schema).
    """

    def __init__(
        self, db: MigrationDB | str, schema: str = "public", table_filter: TableFilter | None = None
    ) -> None:
        self.database = db.project if isinstance(db, MigrationDB) else db
        self.schema = schema
        self.table_filter = table_filter or TableFilter()

    async def differences(self) -> CheckResult:
        """The differences, as descriptions (nothing is written)."""
        return await dbcheck(self.database, table_filter=self.table_filter)

    async def generate_migration_file(
        self, migrations_dir: str | Path = "migrations", name: str | None = None, *, allow_drops: bool = False
    ) -> Path | None:
        """Write a revision for the differences; returns its path, or None when there are none."""
        result = await make_revision(
            self.database, migrations_dir, name, table_filter=self.table_filter, allow_drops=allow_drops
        )
        return result.path
