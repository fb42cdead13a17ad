"""Reads of many-to-many relations: ``fetch_m2m`` for one instance, ``load_many`` for many (one query).

Reads join the junction to the target table in one query (``junction.source = ANY($1)``), so loading the
relation for one instance or for a thousand costs one round trip; a target in another database takes two.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...db import executor
from ...meta.many_to_many import M2MSpec, m2m_names
from ...meta.relations import m2m_spec, remember, skipped_unfetchable
from ...meta.rows import instance_loader
from ...sql.compiler.select import JUNCTION_SOURCE, junction_pairs, junction_select
from . import fanout
from .results import ManyToManyResults

if TYPE_CHECKING:
    from ...model import Model

__all__ = ["fetch_m2m", "fetch_m2ms", "load_many"]


async def fetch_m2m(instance: Model, name: str, *, stacklevel: int = 4) -> list[Model]:
    """The targets related to ``instance`` (in the target's default ordering, else by primary key)."""
    spec = m2m_spec(instance, name)
    if skipped_unfetchable(spec.target, "fetch_m2m", name, stacklevel=stacklevel):
        return []
    rows = await load_many([instance], spec)
    return list(rows)


async def fetch_m2ms(instance: Model) -> ManyToManyResults:
    """Every many-to-many relation by name; a failing one logs a warning and gives ``[]``."""
    model = type(instance)
    jobs = [
        fanout.Job(name, _databases(model, name), functools.partial(fetch_m2m, instance, name, stacklevel=6))
        for name in m2m_names(model)
    ]
    return ManyToManyResults(await fanout.run_resilient(jobs, lambda _key: [], model._meta.model_name))


def _databases(model: type[Model], name: str) -> tuple[str, ...]:
    try:
        spec = m2m_spec(model, name)
        return tuple(dict.fromkeys((spec.database, spec.target._meta.database)))
    except Exception:  # reported by the job itself
        return ()


async def load_many(instances: Sequence[Model], spec: M2MSpec) -> list[Model]:
    """Load the relation for every instance with one query; returns every target row loaded."""
    target = spec.target
    if skipped_unfetchable(target, "prefetch_related", spec.name, stacklevel=5):
        for instance in instances:
            remember(instance, spec.name, [])
        return []
    source_field = spec.source_field
    keys = list(
        dict.fromkeys(v for v in (i.__dict__.get(source_field.name) for i in instances) if v is not None)
    )
    grouped: dict[Any, list[Model]] = {}
    loaded: list[Model] = []
    if keys:
        db_keys = [source_field.to_db(key) for key in keys]
        if target._meta.database == spec.database:
            loaded = await _joined(spec, target, db_keys, grouped)
        else:
            loaded = await _two_step(spec, target, db_keys, grouped)
    for instance in instances:
        remember(instance, spec.name, list(grouped.get(instance.__dict__.get(source_field.name), ())))
    return loaded


async def _joined(
    spec: M2MSpec, target: type[Model], keys: list[Any], grouped: dict[Any, list[Model]]
) -> list[Model]:
    statement, params = junction_select(spec, keys)
    records = await executor.fetch(
        spec.database,
        statement.sql,
        params,
        model=spec.model.__name__,
        operation="fetch_m2m",
    )
    load = instance_loader(target, target._meta.field_names)
    source_field = spec.source_field
    convert = source_field.from_db if source_field.needs_from_db else None
    rows: dict[Any, Model] = {}
    for record in records:
        row = load(record)
        pk = row.pk
        row = rows.setdefault(pk, row)  # one instance per target row, shared by the parents that hold it
        source = record[JUNCTION_SOURCE]
        grouped.setdefault(convert(source) if convert and source is not None else source, []).append(row)
    return list(rows.values())


async def _two_step(
    spec: M2MSpec, target: type[Model], keys: list[Any], grouped: dict[Any, list[Model]]
) -> list[Model]:
    """Target in another database: junction rows first, then the targets there (two queries)."""
    statement = junction_pairs(spec)
    pairs = await executor.fetch(
        spec.database,
        statement.sql,
        statement.params([keys]),
        model=spec.model.__name__,
        operation="fetch_m2m",
    )
    target_key = spec.target_field.name
    wanted = list(dict.fromkeys(pair[1] for pair in pairs))
    rows = (
        await target.objects()
        .filter(**{f"{target_key}__in": wanted})
        .order_by(*target._meta.ordering_or_pk)
        .all()
    )
    by_key = {row.__dict__.get(target_key): row for row in rows}
    order = {row.__dict__.get(target_key): i for i, row in enumerate(rows)}
    for source, target_value in sorted(pairs, key=lambda p: order.get(p[1], -1)):
        row = by_key.get(target_value)
        if row is not None:
            grouped.setdefault(source, []).append(row)
    return rows
