"""``Model.get(pk=value)``: the hottest read, served without building a QueryBuilder.

The statement (``SELECT <all columns> WHERE <pk> = $1 LIMIT 2``) is compiled once per model through the
compiler's shape cache; each call only validates the value, runs the SQL and hydrates the row. Results and
errors are identical to ``Model.filter(<pk>=value).get()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from ..exceptions import DoesNotExist, MultipleObjectsReturned, ORMException
from . import compiler, executor
from .hydrate import instance_loader

if TYPE_CHECKING:
    from ..models.base import Model

ModelT = TypeVar("ModelT", bound="Model")


def single_pk_filter(model: type[Model], conditions: tuple[Any, ...], filters: dict[str, Any]) -> Any:
    """The primary key value when the filters are exactly ``<pk>=<non-None value>``, else ``_NO``."""
    if conditions or len(filters) != 1:
        return _NO
    pk = model._meta.pk
    if pk is None:
        return _NO
    value = filters.get(pk.name, _NO)
    return _NO if value is None else value


_NO: Any = object()  # "not a primary key lookup"


def _statement(model: type[Model], pk: Any) -> compiler.Compiled:
    meta = model._meta

    def build() -> Any:
        pk_column = meta.columns[pk.name]
        columns = [meta.columns[name] for name in meta.field_names]
        return (
            sa.select(*columns)
            .select_from(meta.table)
            .where(pk_column == compiler.bind(0, pk.bind_type()))
            .limit(compiler.bind(1, sa.Integer()))
        )

    return compiler.compiled(("pk_get", model), build)


async def get_by_pk(model: type[ModelT], value: Any) -> ModelT:
    """The row whose primary key is ``value``; DoesNotExist when there is none."""
    meta = model._meta
    pk = meta.pk
    assert pk is not None  # single_pk_filter() only lets single-key models through
    try:
        db_value = pk.to_db(value)
    except ORMException as exc:
        exc.enrich(model=meta.model_name, details={"filter": pk.name})
        raise
    statement = _statement(model, pk)
    records = await executor.fetch(
        meta.database, statement.sql, statement.params([db_value, 2]), model=meta.model_name, operation="get"
    )
    if len(records) == 1:
        return instance_loader(model, meta.field_names)(records[0])  # type: ignore[no-any-return]
    details = {"filters": {pk.name: value}}
    if not records:
        raise DoesNotExist(
            f"No {meta.model_name} matches the given filters",
            model=meta.model_name,
            operation="get",
            details=details,
        )
    raise MultipleObjectsReturned(  # a primary key without a constraint (unmanaged table)
        f"More than one {meta.model_name} matches the given filters",
        model=meta.model_name,
        operation="get",
        details=details,
    )
