"""Index access method, operator classes and ``WITH`` parameters in autogenerate.

Alembic compares an index's columns and uniqueness only: an HNSW index whose ``m`` changed, an IVFFlat index
whose ``lists`` changed, or a ``vector_l2_ops`` index that the model now declares with
``vector_cosine_ops`` went unnoticed. :func:`compare_index_options` (the ``matrx_orm.indexes`` autogenerate
plugin) checks, for every model index that sets ``postgresql_using``, ``postgresql_ops`` or
``postgresql_with`` and exists in the database under its name, the method (``pg_am``), the operator class of
each column the model names, and the storage parameters (``pg_class.reloptions``). A difference becomes a
``drop_index`` of the database's index (its downgrade recreates it as it was) and a ``create_index`` of the
model's. An unchanged index produces nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.plugins import Plugin
from alembic.util import DispatchPriority, PriorityDispatchResult

__all__ = ["PLUGIN_NAME", "DatabaseIndex", "compare_index_options"]

PLUGIN_NAME = "matrx_orm.indexes"

_INDEXES_SQL = sa.text(
    """
    SELECT i.relname AS name, am.amname AS method, coalesce(i.reloptions, '{}') AS options,
           array(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.n)
             AS columns,
           array(SELECT o.opcname FROM unnest(ix.indclass::oid[]) WITH ORDINALITY AS c(oid, n)
                 JOIN pg_opclass o ON o.oid = c.oid ORDER BY c.n) AS opclasses,
           0 = ANY(ix.indkey::int2[]) AS has_expressions
    FROM pg_index ix
    JOIN pg_class i ON i.oid = ix.indexrelid
    JOIN pg_class t ON t.oid = ix.indrelid
    JOIN pg_namespace ns ON ns.oid = t.relnamespace
    JOIN pg_am am ON am.oid = i.relam
    WHERE t.relname = :table AND ns.nspname = :schema
    """
)


@dataclass(frozen=True)
class DatabaseIndex:
    """An index as the catalog describes it."""

    name: str
    method: str
    options: dict[str, str]
    columns: tuple[str, ...]
    opclasses: tuple[str, ...]

    def as_index(self, table: sa.Table) -> sa.Index:
        """A ``sa.Index`` on a copy of ``table`` that recreates this index as it is."""
        copy = sa.Table(
            table.name,
            sa.MetaData(),
            *(sa.Column(c.name, c.type) for c in table.columns),
            schema=table.schema,
        )
        kwargs: dict[str, Any] = {"postgresql_using": self.method}
        if self.options:
            kwargs["postgresql_with"] = dict(self.options)
        kwargs["postgresql_ops"] = dict(zip(self.columns, self.opclasses, strict=True))
        return sa.Index(self.name, *(copy.c[c] for c in self.columns), **kwargs)


def _parse_options(values: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in values:
        key, _, value = item.partition("=")
        options[key] = value
    return options


def database_indexes(connection: sa.Connection, table: str, schema: str) -> dict[str, DatabaseIndex]:
    """The plain-column indexes of ``schema.table`` by name (expression indexes are left out)."""
    found: dict[str, DatabaseIndex] = {}
    for row in connection.execute(_INDEXES_SQL, {"table": table, "schema": schema}).mappings():
        if row["has_expressions"]:
            continue
        found[row["name"]] = DatabaseIndex(
            name=row["name"],
            method=row["method"],
            options=_parse_options(list(row["options"])),
            columns=tuple(row["columns"]),
            opclasses=tuple(row["opclasses"]),
        )
    return found


def _model_options(index: sa.Index) -> tuple[str | None, dict[str, str], dict[str, str]]:
    dialect = index.dialect_options["postgresql"]
    using = dialect.get("using")
    with_ = {str(k): str(v) for k, v in (dialect.get("with") or {}).items()}
    ops_ = {str(k): str(v) for k, v in (dialect.get("ops") or {}).items()}
    return (str(using).lower() if using else None), with_, ops_


def index_differs(index: sa.Index, existing: DatabaseIndex) -> bool:
    """Whether the model's ``index`` asks for another method, operator class or parameters than ``existing``."""
    using, with_, ops_ = _model_options(index)
    if (using or "btree") != existing.method:
        return True
    if with_ != existing.options:
        return True
    opclass_of = dict(zip(existing.columns, existing.opclasses, strict=True))
    return any(opclass_of.get(column) != opclass for column, opclass in ops_.items())


def _tuned(index: sa.Index) -> bool:
    using, with_, ops_ = _model_options(index)
    plain_columns = all(isinstance(e, sa.Column) for e in index.expressions)
    return plain_columns and bool(using or with_ or ops_) and isinstance(index.name, str)


def compare_index_options(
    autogen_context: AutogenContext,
    modify_ops: ops.ModifyTableOps,
    schema: str | None,
    tname: str,
    conn_table: sa.Table | None,
    metadata_table: sa.Table | None,
) -> PriorityDispatchResult:
    """Autogenerate comparator (runs after Alembic's own index comparison): rebuild changed tuned indexes."""
    connection = autogen_context.connection
    if conn_table is None or metadata_table is None or connection is None:
        return PriorityDispatchResult.CONTINUE
    tuned = [i for i in metadata_table.indexes if _tuned(i)]
    if not tuned:
        return PriorityDispatchResult.CONTINUE
    touched = {getattr(op, "index_name", None) for op in modify_ops.ops}
    existing = database_indexes(
        connection, tname, schema or connection.dialect.default_schema_name or "public"
    )
    for index in sorted(tuned, key=lambda i: str(i.name)):
        found = existing.get(str(index.name))
        if found is None or index.name in touched:
            continue
        if not autogen_context.run_object_filters(index, index.name, "index", False, None):
            continue
        if index_differs(index, found):
            modify_ops.ops.append(ops.DropIndexOp.from_index(found.as_index(conn_table)))
            modify_ops.ops.append(ops.CreateIndexOp.from_index(index))
    return PriorityDispatchResult.CONTINUE


def _setup_plugin() -> None:
    plugin = Plugin(PLUGIN_NAME)
    plugin.add_autogenerate_comparator(compare_index_options, "table", priority=DispatchPriority.LAST)


_setup_plugin()
