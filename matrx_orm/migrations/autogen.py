"""Autogenerate hooks: what to compare, how to render matrx/pgvector types, what to add or hold back.

* :meth:`AutogenHooks.include_name` / :meth:`AutogenHooks.include_object` keep the diff inside the
  :class:`~matrx_orm.migrations.scope.TableFilter` and never emit a ``drop_table`` for a table that has no
  model unless drops were allowed; the held-back tables are collected in :attr:`AutogenHooks.unmanaged`.
* :func:`render_item` renders types whose class lives outside SQLAlchemy (pgvector's ``VECTOR``/``HALFVEC``/
  ``SPARSEVEC``, matrx's ``POINT``) as ``Name(args)`` and adds the import the revision file needs.
  Native enums render as ``postgresql.ENUM(..., create_type=False)``: :mod:`.enums` creates the types.
* :meth:`AutogenHooks.process_revision_directives` (when a file is written) puts the ``--rename`` operations
  first (:mod:`.renames`), drops an empty revision (so ``makemigrations`` returns ``None``; plain ``alembic
  revision --autogenerate`` says so), makes NOT NULL columns added to existing tables work on rows
  (:mod:`.safe_columns`), moves ``IndexDef(concurrently=True)`` indexes into an autocommit block
  (:mod:`.concurrent_indexes`), and puts ``CREATE EXTENSION IF NOT EXISTS vector`` / ``CREATE SCHEMA IF NOT
  EXISTS`` in front of the operations that need them (after the enum ``ADD VALUE`` block, which must come
  first). ``alembic check`` gets the directives untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from sqlalchemy.dialects import postgresql

from ..fields import Field
from .concurrent_indexes import IndexKey, build_concurrently
from .enums import AddEnumValuesOp, CreateEnumTypeOp, render_enum
from .renames import RenamePlan, rename_hints
from .safe_columns import ColumnKey, fill_new_columns
from .scope import INTERNAL_TABLES, TableFilter

__all__ = ["AutogenHooks", "is_vector_type", "render_item"]

_PUBLIC_MODULES = {"pgvector.sqlalchemy": "pgvector.sqlalchemy"}


def is_vector_type(type_: Any) -> bool:
    """True for pgvector's SQLAlchemy types."""
    return type(type_).__module__.startswith("pgvector.sqlalchemy")


def _import_module(cls: type) -> str:
    module = cls.__module__
    for prefix, public in _PUBLIC_MODULES.items():
        if module.startswith(prefix):
            return public
    return module


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Alembic ``render_item`` hook: ``VECTOR(dim=3)`` with ``from pgvector.sqlalchemy import VECTOR``."""
    if type_ != "type":
        return False
    if isinstance(obj, sa.Enum) and obj.native_enum and obj.name:
        return render_enum(obj, autogen_context)
    cls = type(obj)
    module = cls.__module__
    if module.startswith("sqlalchemy."):
        return False
    if autogen_context.imports is not None:
        autogen_context.imports.add(f"from {_import_module(cls)} import {cls.__name__}")
    return repr(obj)


def _column_types(operation: Any) -> Iterable[Any]:
    if isinstance(operation, ops.CreateTableOp):
        for column in operation.columns:
            if isinstance(column, sa.Column):
                yield column.type
    elif isinstance(operation, ops.AddColumnOp):
        yield operation.column.type
    elif isinstance(operation, ops.AlterColumnOp) and operation.modify_type is not None:
        yield operation.modify_type
    elif isinstance(operation, ops.ModifyTableOps):
        for child in operation.ops:
            yield from _column_types(child)


def _quote_schema(schema: str) -> str:
    """``schema`` quoted by SQLAlchemy's PostgreSQL identifier preparer (only when it needs quotes)."""
    return postgresql.dialect().identifier_preparer.quote_schema(schema)


def _schemas_created(operations: Iterable[Any]) -> set[str]:
    schemas: set[str] = set()
    for operation in operations:
        if isinstance(operation, ops.CreateTableOp) and operation.schema:
            schemas.add(operation.schema)
        elif isinstance(operation, CreateEnumTypeOp) and operation.enum.schema:
            schemas.add(operation.enum.schema)
    return schemas


@dataclass
class AutogenHooks:
    """The hooks of one autogenerate run (``makemigrations``, ``dbcheck``, ``SchemaDiff``)."""

    table_filter: TableFilter = field(default_factory=TableFilter)
    model_tables: set[tuple[str | None, str]] = field(default_factory=set)
    model_schemas: set[str] = field(default_factory=set)
    allow_drops: bool = False
    existing_schemas: set[str] = field(default_factory=set)
    #: tables found in the database with no model in scope (reported; dropped only with allow_drops)
    unmanaged: list[str] = field(default_factory=list)
    #: enum members in the database the model lacks or orders differently (reported, never changed)
    enum_reports: list[str] = field(default_factory=list)
    #: whether this run writes a file (True) or only compares (False)
    writes_file: bool = True
    #: the model field of every column (how a NOT NULL column added to an existing table is filled)
    model_fields: dict[ColumnKey, Field[Any]] = field(default_factory=dict)
    #: indexes declared with ``IndexDef(concurrently=True)``
    concurrent_indexes: set[IndexKey] = field(default_factory=set)
    #: the ``--rename`` operations (set while autogenerate runs on the renamed database)
    rename_plan: RenamePlan | None = None
    #: the reflected tables of :attr:`unmanaged`, by name
    unmanaged_tables: dict[str, sa.Table] = field(default_factory=dict)
    #: warnings about the written revision (NOT NULL without default, possible renames)
    notes: list[str] = field(default_factory=list)

    # -- what is compared -------------------------------------------------------------------------------------
    def include_name(self, name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ == "schema":
            return name is None or name in self.model_schemas
        if type_ == "table":
            if name is None:
                return True
            return name not in INTERNAL_TABLES and self.table_filter.allows(
                name, parent_names.get("schema_name")
            )
        return True

    def include_object(
        self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ != "table":
            return True
        schema = getattr(obj, "schema", None)
        if name is None or name in INTERNAL_TABLES or not self.table_filter.allows(name, schema):
            return False
        if reflected and compare_to is None:  # in the database, no model: a drop
            qualified = f"{schema}.{name}" if schema else name
            if qualified not in self.unmanaged:
                self.unmanaged.append(qualified)
                if isinstance(obj, sa.Table):
                    self.unmanaged_tables[qualified] = obj
            return self.allow_drops
        return True

    # -- what is written --------------------------------------------------------------------------------------
    def process_revision_directives(self, context: Any, revision: Any, directives: list[Any]) -> None:
        if not directives or not self.writes_file:
            return
        script = directives[0]
        upgrade_ops, downgrade_ops = script.upgrade_ops, script.downgrade_ops
        if upgrade_ops is not None and self.rename_plan is not None:
            upgrade_ops.ops[:0] = self.rename_plan.upgrade
            if downgrade_ops is not None:
                downgrade_ops.ops.extend(self.rename_plan.downgrade)
        if upgrade_ops is None or upgrade_ops.is_empty():
            directives[:] = []
            config = getattr(context, "config", None)
            if config is not None:
                config.print_stdout("No changes in schema detected; no revision file written.")
            return
        self.notes += rename_hints(upgrade_ops, self.unmanaged_tables)
        self.notes += fill_new_columns(upgrade_ops, self.model_fields)
        build_concurrently(upgrade_ops, self.concurrent_indexes)
        self._prepend_setup(upgrade_ops, downgrade_ops)

    def _prepend_setup(self, upgrade_ops: ops.UpgradeOps, downgrade_ops: ops.DowngradeOps | None) -> None:
        """``CREATE SCHEMA`` / ``CREATE EXTENSION`` first (after the enum ``ADD VALUE`` block)."""
        prefix: list[ops.MigrateOperation] = []
        new_schemas = sorted(_schemas_created(upgrade_ops.ops) - self.existing_schemas)
        for schema in new_schemas:
            prefix.append(ops.ExecuteSQLOp(f"CREATE SCHEMA IF NOT EXISTS {_quote_schema(schema)}"))
        if any(is_vector_type(t) for operation in upgrade_ops.ops for t in _column_types(operation)):
            prefix.append(ops.ExecuteSQLOp("CREATE EXTENSION IF NOT EXISTS vector"))
        # ADD VALUE runs in an autocommit block: first, so it commits nothing else of the revision
        add_values = [o for o in upgrade_ops.ops if isinstance(o, AddEnumValuesOp)]
        rest = [o for o in upgrade_ops.ops if not isinstance(o, AddEnumValuesOp)]
        upgrade_ops.ops[:] = [*add_values, *prefix, *rest]
        if downgrade_ops is not None:
            for schema in reversed(new_schemas):
                downgrade_ops.ops.append(ops.ExecuteSQLOp(f"DROP SCHEMA IF EXISTS {_quote_schema(schema)}"))
