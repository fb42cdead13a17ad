"""Foreign keys: fetch the row a key points at, for one instance or for many in one query."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...meta.foreign_key import FKSpec
from ...meta.relations import fk_spec, relation_database, remember, skipped_unfetchable
from . import fanout
from .results import ForeignKeyResults

if TYPE_CHECKING:
    from ...model import Model


async def fetch_fk(instance: Model, name: str, *, stacklevel: int = 4) -> Model | None:
    """The row ``instance.<name>`` points at (``None`` when the key is NULL or the row is gone).

    A target marked ``_unfetchable`` is never queried: ``None`` and one ``UserWarning``.
    """
    spec = fk_spec(instance, name)
    target = spec.target
    if skipped_unfetchable(target, "fetch_fk", spec.name, stacklevel=stacklevel):
        return None
    value = instance.__dict__.get(spec.name)
    found = (
        None if value is None else await _fetch_one(spec, value, relation_database([instance], spec.database))
    )
    remember(instance, spec.alias, found)
    return found


async def _fetch_one(spec: FKSpec, value: Any, database: str) -> Model | None:
    target = spec.target
    column = spec.target_field.name
    if database == target._meta.database and type(database) is str:
        return await target.get_or_none(**{column: value})  # reads through the state cache
    return await target.objects().using(database).filter(**{column: value}).first()


async def fetch_fks(instance: Model) -> ForeignKeyResults:
    """Every foreign key of ``instance`` by field name; a failing one logs a warning and gives ``None``."""
    meta = type(instance)._meta
    jobs = []
    for name in meta.foreign_keys:
        spec = FKSpec(type(instance), meta.foreign_keys[name])
        jobs.append(
            fanout.Job(name, _databases(spec), functools.partial(fetch_fk, instance, name, stacklevel=6))
        )
    return ForeignKeyResults(await fanout.run_resilient(jobs, lambda _key: None, meta.model_name))


def _databases(spec: FKSpec) -> tuple[str, ...]:
    try:
        return (spec.database,)
    except Exception:  # an unresolvable target fails inside the job, where it is reported
        return ()


async def load_many(instances: Sequence[Model], spec: FKSpec) -> list[Model]:
    """Load the target of ``spec`` for every instance in one query (``= ANY``); returns the targets found."""
    target = spec.target
    if skipped_unfetchable(target, "prefetch_related", spec.alias, stacklevel=5):
        for instance in instances:
            remember(instance, spec.alias, None)
        return []
    column = spec.target_field.name
    keys = list(dict.fromkeys(v for v in (i.__dict__.get(spec.name) for i in instances) if v is not None))
    database = relation_database(instances, spec.database)
    rows = await target.objects().using(database).filter(**{f"{column}__in": keys}).all() if keys else []
    by_key = {row.__dict__.get(column): row for row in rows}
    for instance in instances:
        remember(instance, spec.alias, by_key.get(instance.__dict__.get(spec.name)))
    return rows
