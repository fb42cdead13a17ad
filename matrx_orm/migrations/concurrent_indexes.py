"""``IndexDef(concurrently=True)``: indexes on existing tables built with ``CREATE INDEX CONCURRENTLY``.

A plain ``CREATE INDEX`` blocks every write to the table while it builds; ``CONCURRENTLY`` does not, but
PostgreSQL refuses it inside a transaction block. :func:`build_concurrently` moves the ``create_index``
operations of such indexes on tables that already exist to the end of the revision, with
``postgresql_concurrently=True``, inside ``with op.get_context().autocommit_block():`` (Alembic commits the
revision's transaction first, runs the block in autocommit and opens a new transaction for the rest). An index
on a table the same revision creates is built the plain way: the table is empty and not yet in use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops

from ..meta.indexes import CONCURRENTLY_INFO

__all__ = ["AutocommitBlockOp", "build_concurrently", "concurrent_index_names"]

#: ``(schema, index name)``
IndexKey = tuple[str | None, str]


class AutocommitBlockOp(ops.MigrateOperation):
    """Operations run in ``with op.get_context().autocommit_block():`` (outside the revision's transaction)."""

    def __init__(self, operations: list[ops.MigrateOperation], comment: str) -> None:
        self.ops = operations
        self.comment = comment

    def to_diff_tuple(self) -> list[tuple[object, ...]]:  # type: ignore[override]
        return [d for o in self.ops for d in _diffs(o)]


def _diffs(operation: ops.MigrateOperation) -> Iterator[tuple[object, ...]]:
    diff = operation.to_diff_tuple()
    if isinstance(diff, list):
        yield from diff
    else:
        yield diff


@renderers.dispatch_for(AutocommitBlockOp)
def _render_block(autogen_context: AutogenContext, op: AutocommitBlockOp) -> str:
    lines = [f"# {op.comment}", "with op.get_context().autocommit_block():"]
    for child in op.ops:
        rendered = renderers.dispatch(child)(autogen_context, child)
        for text in rendered if isinstance(rendered, list) else [rendered]:
            lines += [f"    {line}" for line in text.splitlines()]
    return "\n".join(lines)


def concurrent_index_names(metadatas: Iterable[sa.MetaData]) -> set[IndexKey]:
    """The model indexes declared with ``IndexDef(concurrently=True)``."""
    return {
        (table.schema, str(index.name))
        for metadata in metadatas
        for table in metadata.tables.values()
        for index in table.indexes
        if index.info.get(CONCURRENTLY_INFO) and index.name is not None
    }


def _created_tables(upgrade_ops: ops.UpgradeOps) -> set[tuple[str | None, str]]:
    return {(o.schema, o.table_name) for o in upgrade_ops.ops if isinstance(o, ops.CreateTableOp)}


def _take_concurrent(
    operations: list[ops.MigrateOperation], wanted: set[IndexKey], new_tables: set[tuple[str | None, str]]
) -> list[ops.CreateIndexOp]:
    """Remove (and return) the create_index operations to build concurrently, from nested lists too."""
    taken: list[ops.CreateIndexOp] = []
    kept: list[ops.MigrateOperation] = []
    for operation in operations:
        if isinstance(operation, ops.ModifyTableOps):
            taken += _take_concurrent(operation.ops, wanted, new_tables)
            kept.append(operation)
        elif (
            isinstance(operation, ops.CreateIndexOp)
            and (operation.schema, operation.index_name) in wanted
            and (operation.schema, operation.table_name) not in new_tables
        ):
            operation.kw["postgresql_concurrently"] = True
            taken.append(operation)
        else:
            kept.append(operation)
    operations[:] = [o for o in kept if not (isinstance(o, ops.ModifyTableOps) and not o.ops)]
    return taken


def build_concurrently(upgrade_ops: ops.UpgradeOps, wanted: set[IndexKey]) -> int:
    """Move the ``create_index`` of every wanted index on an existing table into a trailing autocommit block
    with ``postgresql_concurrently=True``; returns how many were moved."""
    if not wanted:
        return 0
    taken = _take_concurrent(upgrade_ops.ops, wanted, _created_tables(upgrade_ops))
    if taken:
        comment = "CREATE INDEX CONCURRENTLY cannot run in a transaction: the revision's transaction is committed first"
        upgrade_ops.ops.append(AutocommitBlockOp(list(taken), comment))
    return len(taken)
