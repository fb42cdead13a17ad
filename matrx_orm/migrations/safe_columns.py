"""NOT NULL columns added to tables that already exist: revisions that work on a table with rows.

Alembic renders a new NOT NULL column as ``op.add_column(..., nullable=False)``; on a table with rows PostgreSQL
refuses it (``column "likes" contains null values``) unless the column has a server default, and a Python
``default=`` is not one. :func:`fill_new_columns` rewrites such an ``add_column`` by how the field's default
can fill the existing rows:

* a literal (``0``, ``"draft"``, ``True``, ``Decimal("0.00")``, ``{}``, an enum member), a value factory
  (``dict``, ``list``...), or a stable SQL function (``datetime.now`` / ``auto_now`` → ``now()``,
  ``date.today`` → ``CURRENT_DATE``): added with that value as its server default, which is dropped again at
  once (``op.alter_column(..., server_default=None)``) so the database matches the model. PostgreSQL (11+)
  stores a constant default without rewriting the table;
* a volatile function with a SQL twin (``uuid.uuid4`` → ``gen_random_uuid()``): added nullable, filled with
  ``UPDATE``, then set NOT NULL;
* any other callable (a lambda, your own function): the database cannot compute it, so ``makemigrations``
  stops with :class:`~matrx_orm.MigrationError` giving the two-step recipe.

A NOT NULL column with no default at all is left as Alembic wrote it, with a warning.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import postgresql

from ..config import get_database_config
from ..exceptions import MigrationError
from ..fields import Field
from ..meta.registry import all_models

__all__ = ["ColumnKey", "Fill", "column_fields", "fill_for", "fill_new_columns"]

#: ``(schema, table, column)``
ColumnKey = tuple[str | None, str, str]

#: callables whose value is a fresh empty/zero value: called once, used as a literal
_FACTORIES: tuple[Callable[[], Any], ...] = (dict, list, tuple, str, int, float, bool, decimal.Decimal)
#: callables with a stable SQL twin (one value for every existing row, as ``DEFAULT`` gives)
_STABLE: tuple[tuple[Callable[..., Any], str], ...] = (
    (datetime.datetime.now, "now()"),
    (datetime.datetime.utcnow, "now()"),
    (datetime.date.today, "CURRENT_DATE"),
)
#: callables with a volatile SQL twin (a new value per row: filled with UPDATE)
_VOLATILE: tuple[tuple[Callable[..., Any], str], ...] = ((uuid.uuid4, "gen_random_uuid()"),)


@dataclass(frozen=True)
class Fill:
    """How the existing rows get a value: a server default added then dropped, or an ``UPDATE``."""

    server_default: str | None = None
    backfill: str | None = None


def column_fields(database: str) -> dict[ColumnKey, Field[Any]]:
    """The field of every model column of ``database`` (its name or alias), by schema, table and column."""
    config = get_database_config(database)
    names = {config.name, *([config.alias] if config.alias else [])}
    found: dict[ColumnKey, Field[Any]] = {}
    for name in sorted(names):
        for model in all_models(name):
            meta = model._meta
            for field in meta.fields.values():
                found[(meta.db_schema, meta.table_name, field.column_name)] = field
    return found


def _literal_sql(value: Any, type_: sa.types.TypeEngine[Any]) -> str | None:
    """``value`` as a SQL literal for ``DEFAULT`` (None when SQLAlchemy cannot render it)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, uuid.UUID):
        value = str(value)
    if isinstance(value, dict | list) and not isinstance(type_, sa.ARRAY):
        value, type_ = json.dumps(value, separators=(",", ":")), sa.Text()
    elif isinstance(type_, sa.Uuid | sa.JSON):
        type_ = sa.Text()
    try:
        compiled = sa.literal(value, type_).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    except (sa.exc.CompileError, TypeError, ValueError, NotImplementedError):
        return None
    return str(compiled)


def _twin(default: Any, table: tuple[tuple[Callable[..., Any], str], ...]) -> str | None:
    return next((sql for function, sql in table if default == function), None)


def fill_for(field: Field[Any], type_: sa.types.TypeEngine[Any]) -> Fill | None:
    """How existing rows get ``field``'s default; None when its default cannot be computed by the database.

    Raises nothing: a field with no default gives ``Fill()`` (nothing to fill with).
    """
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        is_date = isinstance(type_, sa.Date) and not isinstance(type_, sa.DateTime)
        return Fill(server_default="CURRENT_DATE" if is_date else "now()")
    if not field.has_default():
        return Fill()
    default = field.default
    if callable(default) and not isinstance(default, enum.Enum):
        stable = _twin(default, _STABLE)
        if stable is not None:
            return Fill(server_default=stable)
        volatile = _twin(default, _VOLATILE)
        if volatile is not None:
            return Fill(backfill=volatile)
        if default not in _FACTORIES:
            return None
    literal = _literal_sql(field.get_default(), type_)
    return Fill(server_default=literal) if literal is not None else None


def _recipe(table: str, column: str, field: Field[Any]) -> str:
    return (
        f"cannot add the NOT NULL column {table}.{column} to the existing table {table}: its default "
        f"({field.default!r}) is computed in Python, so the database has no value for the rows already there. "
        f"Either give the field a server default the database can compute (server_default='<SQL>'), or use "
        f"two steps: 1) declare {column} with null=True, run makemigrations and migrate, and fill the existing "
        "rows (a data migration: matrx-orm create_empty); 2) set null=False and run makemigrations again."
    )


def _table_label(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _with_server_default(column: sa.Column[Any], sql: str) -> sa.Column[Any]:
    copy = column._copy()
    sa.DefaultClause(sa.text(sql))._set_parent_with_dispatch(copy)
    return copy


def _rewrite(operation: ops.AddColumnOp, fill: Fill) -> list[ops.MigrateOperation]:
    column, table, schema = operation.column, operation.table_name, operation.schema
    if fill.server_default is not None:
        return [
            ops.AddColumnOp(table, _with_server_default(column, fill.server_default), schema=schema),
            ops.AlterColumnOp(
                table,
                column.name,
                schema=schema,
                existing_type=column.type,
                existing_nullable=False,
                existing_server_default=sa.text(fill.server_default),
                modify_server_default=None,
            ),
        ]
    assert fill.backfill is not None
    nullable = column._copy()
    nullable.nullable = True
    target = sa.table(table, sa.column(column.name), schema=schema)
    update = (
        sa.update(target).where(target.c[column.name].is_(None)).values({column.name: sa.text(fill.backfill)})
    )
    return [
        ops.AddColumnOp(table, nullable, schema=schema),
        ops.ExecuteSQLOp(str(update.compile(dialect=postgresql.dialect()))),
        ops.AlterColumnOp(
            table,
            column.name,
            schema=schema,
            existing_type=column.type,
            existing_nullable=True,
            modify_nullable=False,
        ),
    ]


def _needs_fill(operation: ops.MigrateOperation) -> bool:
    if not isinstance(operation, ops.AddColumnOp):
        return False
    column = operation.column
    return not column.nullable and column.server_default is None and column.identity is None


def fill_new_columns(upgrade_ops: ops.UpgradeOps, fields: dict[ColumnKey, Field[Any]]) -> list[str]:
    """Rewrite every NOT NULL ``add_column`` on an existing table so the rows already there get a value.

    Returns warnings (NOT NULL columns with no default); raises :class:`MigrationError` with the two-step
    recipe for a default the database cannot compute.
    """
    warnings: list[str] = []
    for table_ops in upgrade_ops.ops:
        if not isinstance(table_ops, ops.ModifyTableOps):
            continue
        rewritten: list[ops.MigrateOperation] = []
        for operation in table_ops.ops:
            if not _needs_fill(operation):
                rewritten.append(operation)
                continue
            assert isinstance(operation, ops.AddColumnOp)
            table, name = _table_label(operation.schema, operation.table_name), operation.column.name
            field = fields.get((operation.schema, operation.table_name, name))
            fill = fill_for(field, operation.column.type) if field is not None else Fill()
            if fill is None:
                assert field is not None
                raise MigrationError(_recipe(table, name, field), operation="makemigrations")
            if fill.server_default is None and fill.backfill is None:
                warnings.append(
                    f"{table}.{name} is added NOT NULL with no default: the revision fails if {table} has rows. "
                    "Give the field a default= or server_default=, or add it with null=True first."
                )
                rewritten.append(operation)
                continue
            rewritten.extend(_rewrite(operation, fill))
        table_ops.ops[:] = rewritten
    return warnings
