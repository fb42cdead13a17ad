"""Writes by query: ``filter(...).update(...)``, ``update_where`` (returning the rows) and
``filter(...).delete()``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..db import executor
from ..exceptions import ParameterError
from ..meta.rows import instance_loader
from ..sql.compiler import dml
from ..sql.spec import QuerySpec
from ..state import forget_instances, forget_model
from .results import UpdateResult
from .values import db_value

__all__ = ["delete_query", "update_query"]


async def update_query(
    spec: QuerySpec, database: str, updates: Mapping[str, Any], *, returning: bool
) -> UpdateResult:
    """UPDATE the rows ``spec`` matches (values or expressions); with ``returning`` the result holds them."""
    meta = spec.meta
    meta.check_writable("update")
    if not updates:
        raise ParameterError("update() needs at least one field=value", model=meta.model_name)
    sets = {meta.get_field(name).name: value for name, value in updates.items()}
    statement, params = dml.update_where(spec, sets, returning=returning, convert=db_value)
    if returning:
        records = await executor.fetch(
            database, statement.sql, params, model=meta.model_name, operation="update_where"
        )
        result = UpdateResult(
            len(records), records=records, load=instance_loader(spec.model, meta.field_names)
        )
        if any(n in meta.primary_keys for n in sets):  # the old keys are unknown
            forget_model(spec.model)
        else:  # the rows become instances only if something cached needs their keys (or the caller reads them)
            forget_instances(spec.model, _LazyRows(result))
        return result
    status = await executor.execute(
        database, statement.sql, params, model=meta.model_name, operation="update"
    )
    forget_model(spec.model)
    return UpdateResult(executor.affected_rows(status))


class _LazyRows:
    """Iterates an ``UpdateResult``'s instances, building them only when iterated."""

    __slots__ = ("_result",)

    def __init__(self, result: UpdateResult) -> None:
        self._result = result

    def __iter__(self) -> Iterator[Any]:
        return iter(self._result.updated_rows)


async def delete_query(spec: QuerySpec, database: str) -> int:
    """DELETE the rows ``spec`` matches; returns how many were deleted."""
    meta = spec.meta
    meta.check_writable("delete")
    statement, params = dml.delete_where(spec)
    status = await executor.execute(
        database, statement.sql, params, model=meta.model_name, operation="delete"
    )
    forget_model(spec.model, deleted=True)
    return executor.affected_rows(status)
