"""Inverse foreign keys: the rows of another model that point at this one (``_inverse_foreign_keys``)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...meta.inverse_foreign_key import IFKSpec
from ...meta.relations import ifk_spec, relation_database, remember, skipped_unfetchable
from . import fanout
from .results import InverseForeignKeyResults

if TYPE_CHECKING:
    from ...model import Model


async def fetch_ifk(instance: Model, name: str, *, stacklevel: int = 4, **filters: Any) -> list[Model]:
    """Rows of the source model whose foreign key holds this instance's referenced field (by primary key)."""
    spec = ifk_spec(instance, name)
    source = spec.source
    if skipped_unfetchable(source, "fetch_ifk", name, stacklevel=stacklevel):
        return []
    value = instance.__dict__.get(spec.referenced_field)
    rows: list[Model] = []
    if value is not None:
        qs = (
            source.objects()
            .using(relation_database([instance], spec.database))
            .filter(**{spec.from_field: value})
        )
        if filters:
            qs = qs.filter(**filters)
        rows = await qs.order_by(*source._meta.ordering_or_pk).all()
    if not filters:
        remember(instance, name, rows)
    return rows


async def fetch_ifks(instance: Model) -> InverseForeignKeyResults:
    """Every inverse foreign key by name; a failing one logs a warning and gives ``[]``."""
    model = type(instance)
    jobs = []
    for name in model._meta.inverse_foreign_keys:
        jobs.append(
            fanout.Job(
                name, _databases(model, name), functools.partial(fetch_ifk, instance, name, stacklevel=6)
            )
        )
    return InverseForeignKeyResults(await fanout.run_resilient(jobs, lambda _key: [], model._meta.model_name))


def _databases(model: type[Model], name: str) -> tuple[str, ...]:
    try:
        return (ifk_spec(model, name).database,)
    except Exception:  # reported by the job itself
        return ()


async def load_many(instances: Sequence[Model], spec: IFKSpec) -> list[Model]:
    """Load the inverse relation for every instance in one query; returns every row loaded."""
    source = spec.source
    if skipped_unfetchable(source, "prefetch_related", spec.name, stacklevel=5):
        for instance in instances:
            remember(instance, spec.name, [])
        return []
    keys = list(
        dict.fromkeys(v for v in (i.__dict__.get(spec.referenced_field) for i in instances) if v is not None)
    )
    rows: list[Model] = []
    if keys:
        rows = (
            await source.objects()
            .using(relation_database(instances, spec.database))
            .filter(**{f"{spec.from_field}__in": keys})
            .order_by(*source._meta.ordering_or_pk)
            .all()
        )
    from_field = source._meta.get_field(spec.from_field).name
    grouped: dict[Any, list[Model]] = {}
    for row in rows:
        grouped.setdefault(row.__dict__.get(from_field), []).append(row)
    for instance in instances:
        remember(instance, spec.name, list(grouped.get(instance.__dict__.get(spec.referenced_field), ())))
    return rows
