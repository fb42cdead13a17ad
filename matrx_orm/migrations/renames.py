"""Renames instead of drop + add: ``makemigrations --rename table.old:new`` / ``--rename old_table:new_table``.

Autogenerate cannot tell a renamed column from a dropped one plus a new one, and a drop loses the data. With
``--rename``, :func:`trial_renames` checks each rename against the database and the models, applies it (with
the renames of indexes and constraints named by matrx-orm's naming convention after the old name) inside a
transaction, lets autogenerate compare against that state (so any other change to the column, its type say,
is still detected) and rolls the transaction back. The revision starts with the rename operations
(``op.alter_column(..., new_column_name=...)``, ``op.rename_table(...)``) and its downgrade ends with their
reverse.

Without ``--rename``, :func:`rename_hints` notices a table where one column is dropped and another of the same
type added (or a table without model next to a new one with the same columns) and suggests the flag.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from ..exceptions import MigrationError, ParameterError
from ..meta.registry import NAMING_CONVENTION

__all__ = ["Rename", "RenamePlan", "rename_hints", "trial_renames"]

_PREPARER = postgresql.dialect().identifier_preparer
_DIALECT = postgresql.dialect()


@dataclass(frozen=True)
class Rename:
    """One ``--rename``: a column (``column`` set) or a table of ``schema`` (None: the default schema)."""

    table: str
    new: str
    column: str | None = None
    schema: str | None = None

    @classmethod
    def parse(cls, text: str) -> Rename:
        """``table.old_column:new_column``, ``schema.table.old_column:new_column`` or ``old_table:new_table``."""
        old, sep, new = text.partition(":")
        parts = old.split(".")
        if not sep or not new.strip() or not all(p.strip() for p in parts) or len(parts) > 3:
            raise ParameterError(
                f"--rename expects table.old_column:new_column or old_table:new_table; got {text!r}"
            )
        parts = [p.strip() for p in parts]
        new = new.strip()
        if len(parts) == 1:
            return cls(table=parts[0], new=new)
        if len(parts) == 2:
            return cls(table=parts[0], column=parts[1], new=new)
        return cls(schema=parts[0], table=parts[1], column=parts[2], new=new)

    def describe(self) -> str:
        table = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"{table}.{self.column} -> {self.new}" if self.column else f"{table} -> {self.new}"


@dataclass
class RenamePlan:
    """The operations of the renames: ``upgrade`` (in order) and ``downgrade`` (their reverse, in order)."""

    upgrade: list[ops.MigrateOperation] = field(default_factory=list)
    downgrade: list[ops.MigrateOperation] = field(default_factory=list)

    def add(self, operation: ops.MigrateOperation, reverse: ops.MigrateOperation) -> None:
        self.upgrade.append(operation)
        self.downgrade.insert(0, reverse)


@renderers.dispatch_for(ops.RenameTableOp)
def _render_rename_table(autogen_context: AutogenContext, op: ops.RenameTableOp) -> str:
    schema = f", schema={op.schema!r}" if op.schema else ""
    return f"op.rename_table({op.table_name!r}, {op.new_table_name!r}{schema})"


# -- names of the naming convention --------------------------------------------------------------------------


def _conv(kind: str, table: str, columns: Iterable[str] = (), referred: str = "", name: str = "") -> str:
    values = {
        "table_name": table,
        "column_0_N_name": "_".join(columns),
        "referred_table_name": referred,
        "constraint_name": name,
    }
    return NAMING_CONVENTION[kind] % values


def _qualified(schema: str | None, name: str) -> str:
    return f"{_PREPARER.quote_schema(schema)}.{_PREPARER.quote(name)}" if schema else _PREPARER.quote(name)


def _rename_index(plan: RenamePlan, schema: str | None, old: str, new: str) -> None:
    sql = "ALTER INDEX {} RENAME TO {}"
    plan.add(
        ops.ExecuteSQLOp(sql.format(_qualified(schema, old), _PREPARER.quote(new))),
        ops.ExecuteSQLOp(sql.format(_qualified(schema, new), _PREPARER.quote(old))),
    )


def _rename_constraint(plan: RenamePlan, schema: str | None, table: str, old: str, new: str) -> None:
    sql = "ALTER TABLE {} RENAME CONSTRAINT {} TO {}"
    qualified = _qualified(schema, table)
    plan.add(
        ops.ExecuteSQLOp(sql.format(qualified, _PREPARER.quote(old), _PREPARER.quote(new))),
        ops.ExecuteSQLOp(sql.format(qualified, _PREPARER.quote(new), _PREPARER.quote(old))),
    )


def _rename_objects(
    plan: RenamePlan,
    inspector: Any,
    schema: str | None,
    table: str,
    renamed: tuple[str, str],
    mapped: dict[str, str],
) -> None:
    """Rename the convention-named indexes and constraints of ``table`` (named ``renamed[0]`` in the database,
    ``renamed[1]`` afterwards) whose columns are renamed by ``mapped``."""
    before, after = renamed

    def cols(names: Iterable[str | None]) -> list[str]:
        return [mapped.get(n or "", n or "") for n in names]

    for index in inspector.get_indexes(before, schema=schema):
        if index.get("duplicates_constraint"):
            continue
        names = list(index["column_names"])
        if index["name"] == _conv("ix", before, names):
            new = _conv("ix", after, cols(names))
            if new != index["name"]:
                _rename_index(plan, schema, index["name"], new)
    for unique in inspector.get_unique_constraints(before, schema=schema):
        names = list(unique["column_names"])
        if unique["name"] == _conv("uq", before, names):
            new = _conv("uq", after, cols(names))
            if new != unique["name"]:
                _rename_constraint(plan, schema, after, unique["name"], new)
    for fk in inspector.get_foreign_keys(before, schema=schema):
        names, referred = list(fk["constrained_columns"]), fk["referred_table"]
        if fk["name"] == _conv("fk", before, names, referred):
            new_referred = after if referred == before else referred
            new = _conv("fk", after, cols(names), new_referred)
            if new != fk["name"]:
                _rename_constraint(plan, schema, after, fk["name"], new)


def _rename_table_objects(plan: RenamePlan, inspector: Any, rename: Rename) -> None:
    old, new, schema = rename.table, rename.new, rename.schema
    pk = inspector.get_pk_constraint(old, schema=schema).get("name")
    if pk == _conv("pk", old):
        _rename_constraint(plan, schema, new, pk, _conv("pk", new))
    prefix = _conv("ck", old, name="")
    for check in inspector.get_check_constraints(old, schema=schema):
        name = check.get("name") or ""
        if name.startswith(prefix):
            _rename_constraint(plan, schema, new, name, _conv("ck", new, name=name[len(prefix) :]))
    _rename_objects(plan, inspector, schema, old, (old, new), {})
    for other in inspector.get_table_names(schema=schema):
        if other == old:
            continue
        for fk in inspector.get_foreign_keys(other, schema=schema):
            columns = list(fk["constrained_columns"])
            if fk["referred_table"] == old and fk["name"] == _conv("fk", other, columns, old):
                _rename_constraint(plan, schema, other, fk["name"], _conv("fk", other, columns, new))


# -- checking and planning -----------------------------------------------------------------------------------


def _model_table(metadatas: list[sa.MetaData], schema: str | None, name: str) -> sa.Table | None:
    key = f"{schema}.{name}" if schema else name
    return next((m.tables[key] for m in metadatas if key in m.tables), None)


def _fail(rename: Rename, reason: str) -> MigrationError:
    return MigrationError(f"--rename {rename.describe()}: {reason}", operation="makemigrations")


def _plan_table(plan: RenamePlan, inspector: Any, rename: Rename, metadatas: list[sa.MetaData]) -> None:
    schema, old, new = rename.schema, rename.table, rename.new
    if not inspector.has_table(old, schema=schema):
        raise _fail(rename, f"the database has no table {old!r}")
    if inspector.has_table(new, schema=schema):
        raise _fail(rename, f"the database already has a table {new!r}")
    if _model_table(metadatas, schema, new) is None:
        raise _fail(rename, f"no model uses table {new!r}")
    if _model_table(metadatas, schema, old) is not None:
        raise _fail(rename, f"a model still uses table {old!r}")
    plan.add(ops.RenameTableOp(old, new, schema=schema), ops.RenameTableOp(new, old, schema=schema))
    _rename_table_objects(plan, inspector, rename)


def _plan_column(plan: RenamePlan, inspector: Any, rename: Rename, metadatas: list[sa.MetaData]) -> None:
    schema, table, old, new = rename.schema, rename.table, rename.column or "", rename.new
    if not inspector.has_table(table, schema=schema):
        raise _fail(rename, f"the database has no table {table!r}")
    columns = {c["name"]: c for c in inspector.get_columns(table, schema=schema)}
    model = _model_table(metadatas, schema, table)
    if old not in columns:
        raise _fail(rename, f"table {table!r} has no column {old!r} in the database")
    if new in columns:
        raise _fail(rename, f"table {table!r} already has a column {new!r} in the database")
    if model is None or new not in model.c:
        raise _fail(rename, f"the model of table {table!r} has no column {new!r}")
    if old in model.c:
        raise _fail(rename, f"the model of table {table!r} still has the column {old!r}")
    existing = columns[old]
    common: dict[str, Any] = {
        "schema": schema,
        "existing_type": existing["type"],
        "existing_nullable": existing["nullable"],
    }
    plan.add(
        ops.AlterColumnOp(table, old, modify_name=new, **common),
        ops.AlterColumnOp(table, new, modify_name=old, **common),
    )
    _rename_objects(plan, inspector, schema, table, (table, table), {old: new})


@contextlib.contextmanager
def trial_renames(
    connection: Connection, renames: list[Rename], metadatas: list[sa.MetaData]
) -> Iterator[RenamePlan]:
    """Check and apply ``renames`` in a transaction that is rolled back when the block ends; yields the plan.

    Autogenerate run inside the block compares the models with the renamed database.
    """
    plan = RenamePlan()
    if connection.in_transaction():
        connection.commit()
    transaction = connection.begin()
    try:
        operations = Operations(MigrationContext.configure(connection))
        for rename in renames:
            step = RenamePlan()
            inspector = sa.inspect(connection)  # a fresh one: it caches, and each rename changes the schema
            if rename.column is None:
                _plan_table(step, inspector, rename, metadatas)
            else:
                _plan_column(step, inspector, rename, metadatas)
            for operation in step.upgrade:
                operations.invoke(operation)
            plan.upgrade += step.upgrade
            plan.downgrade[:0] = step.downgrade
        yield plan
    finally:
        if transaction.is_active:
            transaction.rollback()


# -- hints ---------------------------------------------------------------------------------------------------


def _type_text(type_: Any) -> str:
    try:
        return str(type_.compile(dialect=_DIALECT))
    except Exception:  # a type PostgreSQL cannot compile alone: compare its repr
        return repr(type_)


def _label(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def _column_hints(table_ops: ops.ModifyTableOps) -> Iterator[str]:
    drops = [o.to_column() for o in table_ops.ops if isinstance(o, ops.DropColumnOp)]
    adds = [o.column for o in table_ops.ops if isinstance(o, ops.AddColumnOp)]
    table = _label(table_ops.schema, table_ops.table_name)
    for dropped in drops:
        for added in adds:
            if _type_text(dropped.type) == _type_text(added.type):
                yield (
                    f"{table}: column {dropped.name!r} is dropped and {added.name!r} ({_type_text(added.type)}) "
                    f"added; if it is a rename, run makemigrations with --rename "
                    f"{table}.{dropped.name}:{added.name} instead (a drop loses the column's data)"
                )


def rename_hints(upgrade_ops: ops.UpgradeOps, unmanaged: dict[str, sa.Table]) -> list[str]:
    """Suggestions of ``--rename`` for drop + add pairs that look like renames: a column dropped and one of
    the same type added in a table, or a table without model with the same (two or more) columns as a new
    table."""
    hints: list[str] = []
    for operation in upgrade_ops.ops:
        if isinstance(operation, ops.ModifyTableOps):
            hints += _column_hints(operation)
        elif isinstance(operation, ops.CreateTableOp):
            columns = {c.name for c in operation.columns if isinstance(c, sa.Column)}
            for name, table in unmanaged.items():
                # a lone "id" column says nothing: two or more columns in common
                if table.schema == operation.schema and set(table.c.keys()) == columns and len(columns) > 1:
                    hints.append(
                        f"table {name!r} has no model and the new table {operation.table_name!r} has the same "
                        f"columns; if it is a rename, run makemigrations with --rename "
                        f"{table.name}:{operation.table_name} instead"
                    )
    return hints
