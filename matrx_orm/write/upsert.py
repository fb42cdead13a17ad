"""``upsert`` / ``bulk_upsert``: INSERT ... ON CONFLICT (conflict fields) DO UPDATE, returning the stored rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..db import executor
from ..exceptions import ParameterError, UnknownFieldError
from ..meta.rows import instance_loader, loaded
from ..sql.compiler import dml
from ..state import forget_instances, forget_model
from .bulk import as_instances, columns_of
from .values import db_value, insert_columns, stamp, unnest_safe

if TYPE_CHECKING:
    from ..model import Model

ModelT = TypeVar("ModelT", bound="Model")

__all__ = ["upsert"]


async def upsert(
    model: type[ModelT],
    objects: list[Mapping[str, Any]],
    conflict_fields: list[str],
    update_fields: Sequence[str] | None,
) -> list[ModelT]:
    """Upsert every row (all setting the same fields) in one statement; returns the stored rows."""
    meta = model._require_meta()
    meta.check_writable("upsert")
    if not objects:
        return []
    if not conflict_fields:
        raise ParameterError("upsert needs conflict_fields (the unique columns)", model=meta.model_name)
    conflict = tuple(meta.get_field(n).name for n in conflict_fields)
    instances = as_instances(model, objects)
    for instance in instances:
        stamp(instance, adding=True)
    names = insert_columns(meta, instances[0].__dict__)
    for name in conflict:
        if name not in names:
            raise ParameterError(
                f"upsert data must include the conflict field '{name}'", model=meta.model_name
            )
    if any(insert_columns(meta, inst.__dict__) != names for inst in instances[1:]):
        raise ParameterError("bulk_upsert rows must all set the same fields", model=meta.model_name)
    updates = _updated_fields(meta, names, conflict, update_fields)
    fields = [meta.fields[n] for n in names]
    rows = [[db_value(f, inst.__dict__.get(f.name)) for f in fields] for inst in instances]
    single = len(rows) == 1 or not unnest_safe(meta, names)
    statement = dml.upsert(meta, names, conflict, updates, single)
    if single and len(rows) > 1:
        records = await executor.fetchmany(
            meta.database,
            statement.sql,
            [statement.params(r) for r in rows],
            model=meta.model_name,
            operation="bulk_upsert",
        )
    elif single:
        records = await executor.fetch(
            meta.database, statement.sql, statement.params(rows[0]), model=meta.model_name, operation="upsert"
        )
    else:
        records = await executor.fetch(
            meta.database,
            statement.sql,
            columns_of(rows, len(names)),
            model=meta.model_name,
            operation="bulk_upsert",
        )
    load = instance_loader(model, meta.field_names)
    stored = loaded(load, records)
    if any(n in meta.primary_keys for n in updates):  # keys changed: the old ones are unknown
        forget_model(model)
    else:
        forget_instances(model, stored)
    return stored


def _updated_fields(
    meta: Any, names: tuple[str, ...], conflict: tuple[str, ...], update_fields: Sequence[str] | None
) -> tuple[str, ...]:
    """The fields a conflicting row gets from the new one: ``update_fields``, else every sent field but the
    conflict fields, the primary key (a default-generated key must not replace the existing row's key) and
    the version (it moves on by itself)."""
    if update_fields is None:
        keep = {*conflict, *meta.primary_keys, *([meta.version_field.name] if meta.version_field else [])}
        return tuple(n for n in names if n not in keep)
    updates = tuple(meta.get_field(n).name for n in update_fields)
    missing = [n for n in updates if n not in names]
    if missing:
        raise UnknownFieldError(name=missing[0], choices=names, model=meta.model_name)
    return updates
