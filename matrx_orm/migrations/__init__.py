"""Migrations on Alembic: autogenerate from the models, apply/roll back under an advisory lock, checksums.

See ``docs/migrations.md``. Each command is async and takes the database project name and the
migrations folder::

    path = await makemigrations("my_project", "./migrations")     # Path, or None when nothing changed
    applied = await migrate("my_project", "./migrations")         # ["0001_initial", ...]
    rolled_back = await rollback("my_project", "./migrations", steps=1)
    state = await migration_status("my_project", "./migrations")  # .applied / .pending / .modified
    report = lint_migrations("./migrations", database="my_project")  # unsafe operations, no database needed
"""

from ..meta.indexes import DDLGenerator, IndexDef
from .commands import (
    CheckResult,
    MakeMigrationsResult,
    MigrationEntry,
    MigrationStatus,
    create_empty,
    dbcheck,
    lint_migrations,
    make_revision,
    makemigrations,
    migrate,
    migrate_and_rebuild,
    migration_status,
    rollback,
    status,
)
from .db import MigrationDB
from .diff import SchemaDiff
from .legacy import convert_legacy
from .lint import RULES, LintFinding, LintReport
from .renames import Rename
from .scope import TableFilter, TableFilterError

__all__ = [
    "RULES",
    "CheckResult",
    "DDLGenerator",
    "IndexDef",
    "LintFinding",
    "LintReport",
    "MakeMigrationsResult",
    "MigrationDB",
    "MigrationEntry",
    "MigrationStatus",
    "Rename",
    "SchemaDiff",
    "TableFilter",
    "TableFilterError",
    "convert_legacy",
    "create_empty",
    "dbcheck",
    "lint_migrations",
    "make_revision",
    "makemigrations",
    "migrate",
    "migrate_and_rebuild",
    "migration_status",
    "rollback",
    "status",
]
