"""Writes of one instance: ``save()`` of a new row (INSERT ... RETURNING), of a loaded row (UPDATE by primary
key, with the optimistic version check), and ``delete()``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..db import executor
from ..exceptions import DoesNotExist, OptimisticLockError, QueryError
from ..meta.rows import refresh
from ..sql.compiler import dml
from ..state import forget_instances
from .values import db_value, insert_columns, stamp

if TYPE_CHECKING:
    from ..model import Model

__all__ = ["delete_instance", "insert_instance", "pk_values", "update_instance"]


async def insert_instance(instance: Model) -> None:
    """INSERT the instance and refresh it from the stored row (server defaults included)."""
    meta = instance._meta
    meta.check_writable("create")
    stamp(instance, adding=True)
    data = instance.__dict__
    names = insert_columns(meta, data)
    values = [db_value(meta.fields[name], data[name]) for name in names]
    statement = dml.insert_row(meta, names)
    rows = await executor.fetch(
        meta.database, statement.sql, statement.params(values), model=meta.model_name, operation="create"
    )
    refresh(instance, meta.field_names, rows[0])
    forget_instances(meta.model, (instance,))


def pk_values(instance: Model) -> list[Any]:
    """The instance's primary key values, converted for the database (QueryError when one is missing)."""
    meta = instance._meta
    if not meta.primary_keys:
        raise QueryError(
            f"'{meta.model_name}' has no primary key; use filter(...).update()", model=meta.model_name
        )
    values = []
    for field in meta.pk_fields:
        value = instance.__dict__.get(field.name)
        if value is None:
            raise QueryError(
                f"{meta.model_name} instance has no value for primary key '{field.name}'",
                model=meta.model_name,
            )
        values.append(field.to_db(value))
    return values


async def update_instance(instance: Model, only: Sequence[str] | None) -> None:
    """Write the instance's fields (``only`` these, else every loaded non-key field) back by primary key."""
    meta = instance._meta
    meta.check_writable("save")
    stamp(instance, adding=False)
    data = instance.__dict__
    version = meta.version_field
    auto = [n for n, f in meta.fields.items() if getattr(f, "auto_now", False)]
    if only is None:
        names = tuple(n for n in meta.field_names if n in data and n not in meta.primary_keys)
    else:
        names = tuple(dict.fromkeys([*only, *auto]))
    if version is not None:
        names = tuple(n for n in names if n != version.name)
    values = [db_value(meta.fields[n], data.get(n)) for n in names]
    values += pk_values(instance)
    # the version check needs the version the instance was loaded with (not loaded: increment only)
    current_version = data.get(version.name) if version is not None else None
    check = current_version is not None
    if check:
        values.append(current_version)
    statement = dml.update_by_pk(meta, names, check)
    rows = await executor.fetch(
        meta.database, statement.sql, statement.params(values), model=meta.model_name, operation="save"
    )
    forget_instances(meta.model, (instance,))
    if not rows:
        if check:
            raise OptimisticLockError(
                f"{meta.model_name} {instance.pk!r} was changed by someone else "
                f"(expected version {current_version}); re-fetch and retry",
                model=meta.model_name,
                operation="save",
                details={"expected_version": current_version},
            )
        raise DoesNotExist(
            f"{meta.model_name} {instance.pk!r} no longer exists", model=meta.model_name, operation="save"
        )
    refresh(instance, meta.field_names, rows[0])


async def delete_instance(instance: Model) -> int:
    """DELETE the instance's row; returns 1, or 0 when it was already gone."""
    meta = instance._meta
    meta.check_writable("delete")
    values = pk_values(instance)
    statement = dml.delete_by_pk(meta)
    status = await executor.execute(
        meta.database, statement.sql, statement.params(values), model=meta.model_name, operation="delete"
    )
    forget_instances(meta.model, (instance,), deleted=True)
    instance.__dict__["_persisted"] = False
    return executor.affected_rows(status)
