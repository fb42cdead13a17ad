"""Writes of many-to-many relations: ``add_m2m``, ``remove_m2m``, ``clear_m2m``, ``set_m2m`` (junction rows
only)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..db import executor
from ..db.transaction import transaction
from ..exceptions import RelationshipError
from ..meta import registry
from ..meta.foreign_key import same_rows
from ..meta.many_to_many import M2MSpec
from ..meta.relations import forget_loaded, m2m_spec
from ..sql.compiler import dml
from ..sql.compiler.cache import Compiled
from ..state import forget_model

if TYPE_CHECKING:
    from ..model import Model

__all__ = ["add_m2m", "clear_m2m", "remove_m2m", "set_m2m"]


def _source_value(instance: Model, spec: M2MSpec, operation: str) -> Any:
    field = spec.source_field
    value = instance.__dict__.get(field.name)
    if value is None:
        raise RelationshipError(
            f"{operation}('{spec.name}') needs a saved {type(instance).__name__} "
            f"(its '{field.name}' is None)",
            model=type(instance).__name__,
            operation=operation,
        )
    return field.to_db(value)


def _target_values(spec: M2MSpec, ids: Sequence[Any]) -> list[Any]:
    """Validated, de-duplicated target keys (model instances give their key); raises before any query."""
    if len(ids) == 1 and isinstance(ids[0], list | tuple | set | frozenset):
        ids = list(ids[0])
    field = spec.target_field
    values = []
    for item in ids:
        if getattr(type(item), "_meta", None) is not None:  # an instance: its key
            item = _instance_key(spec, field.name, item)
        if item is None:
            raise RelationshipError(f"None is not a key of '{spec.target_name}'", model=spec.model.__name__)
        values.append(field.to_db(item))
    return list(dict.fromkeys(values))


def _instance_key(spec: M2MSpec, name: str, instance: Any) -> Any:
    """The key of a target given as an instance: one of the target model, and saved (else RelationshipError)."""
    target = spec.target
    if not same_rows(type(instance), target):
        raise RelationshipError(
            f"'{spec.name}' links {target.__name__} rows; got a {type(instance).__name__} instance",
            model=spec.model.__name__,
        )
    key = instance.__dict__.get(name)
    if key is None:
        raise RelationshipError(
            f"'{spec.name}' needs saved {target.__name__} instances (this one's '{name}' is None)",
            model=spec.model.__name__,
        )
    return key


async def _run(spec: M2MSpec, statement: Compiled, params: list[Any], operation: str) -> int:
    status = await executor.execute(
        spec.database, statement.sql, statement.params(params), model=spec.model.__name__, operation=operation
    )
    _forget_junction_rows(spec)
    return executor.affected_rows(status)


async def add_m2m(instance: Model, name: str, *ids: Any) -> int:
    """Link ``ids`` (keys or instances of the target); existing links are kept (idempotent). Returns how
    many links were added."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "add_m2m")
    values = _target_values(spec, ids)
    forget_loaded(instance, spec.name)
    if not values:
        return 0
    return await _run(spec, dml.junction_add(spec), [source, values], "add_m2m")


async def remove_m2m(instance: Model, name: str, *ids: Any) -> int:
    """Unlink ``ids``; returns how many links were removed."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "remove_m2m")
    values = _target_values(spec, ids)
    forget_loaded(instance, spec.name)
    if not values:
        return 0
    return await _run(spec, dml.junction_remove(spec), [source, values], "remove_m2m")


async def clear_m2m(instance: Model, name: str) -> int:
    """Unlink every target; returns how many links were removed."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "clear_m2m")
    forget_loaded(instance, spec.name)
    return await _run(spec, dml.junction_clear(spec), [source], "clear_m2m")


async def set_m2m(instance: Model, name: str, ids: Iterable[Any]) -> None:
    """Make ``ids`` exactly the linked targets (one transaction: unlink the others, link the missing)."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "set_m2m")
    values = _target_values(spec, [list(ids)])
    forget_loaded(instance, spec.name)
    if not values:
        await clear_m2m(instance, name)
        return
    async with transaction(spec.database):
        await _run(spec, dml.junction_keep_only(spec), [source, values], "set_m2m")
        await _run(spec, dml.junction_add(spec), [source, values], "set_m2m")


def _forget_junction_rows(spec: M2MSpec) -> None:
    """A junction table that is also a model has rows in the row cache: drop them."""
    junction = spec.junction
    for model in registry.all_models(spec.database):
        table = model._meta.table
        if table.name == junction.name and table.schema == junction.schema:
            forget_model(model)
