"""``Model.get(<pk>)``: the hottest read, served without building a QueryBuilder.

What a model's primary-key read needs (its statement, its row loader, its key field) is worked out on the
model's first such read and kept in a :class:`PkRead`; results and errors are those of
``Model.filter(<pk>=value).get()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..db import executor
from ..exceptions import DoesNotExist, MultipleObjectsReturned, ORMException
from ..meta.memo import remember
from ..meta.rows import instance_loader
from ..sql.compiler.select import pk_select

__all__ = ["PkRead", "get_by_pk"]


class PkRead:
    """One model's primary-key read: ``SELECT <every field> WHERE <pk> = $1 LIMIT 2`` and what turns its
    row into an instance."""

    __slots__ = ("name", "pk", "sql", "params", "in_order", "load")

    def __init__(self, model: type, db_value: Any) -> None:
        meta = model._meta  # type: ignore[attr-defined]
        statement, _ = pk_select(model, db_value)
        self.name: str = meta.model_name
        self.pk = meta.pk
        self.sql: str = statement.sql
        #: the statement's parameters from ``[key]`` (the usual order: as it is)
        self.params: Callable[[list[Any]], list[Any]] = statement.params
        self.in_order = tuple(statement.order) == (0,)
        self.load = instance_loader(model, meta.field_names)

    def found(self, records: Sequence[Any], value: Any) -> Any:
        """The instance of the one record; DoesNotExist / MultipleObjectsReturned otherwise."""
        if len(records) == 1:
            return self.load(records[0])
        details = {"filters": {self.pk.name: value}}
        if not records:
            raise DoesNotExist(
                f"No {self.name} matches the given filters", model=self.name, operation="get", details=details
            )
        raise MultipleObjectsReturned(  # a primary key without a constraint (unmanaged table)
            f"More than one {self.name} matches the given filters",
            model=self.name,
            operation="get",
            details=details,
        )


_reads: dict[type, PkRead] = {}


async def get_by_pk(model: type, value: Any) -> Any:
    """The ``model`` row whose primary key is ``value`` (the model has a single-column primary key)."""
    meta = model._meta  # type: ignore[attr-defined]
    try:
        db_value = meta.pk.to_db(value)
    except ORMException as exc:
        exc.enrich(model=meta.model_name, details={"filter": meta.pk.name})
        raise
    read = _reads.get(model)
    if read is None:
        read = remember(_reads, model, PkRead(model, db_value))
    params = [db_value] if read.in_order else read.params([db_value])
    records = await executor.fetch(meta.database, read.sql, params, model=read.name, operation="get")
    return read.found(records, value)
