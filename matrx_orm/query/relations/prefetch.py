"""``prefetch_related``: load a relation for many instances with one query per relation (``= ANY($1)``).

Works for foreign keys, inverse foreign keys and many-to-many, and for paths (``"author__posts"``): each
level costs one query whatever the number of instances. A level already loaded on every instance (by
``select_related``, say) costs nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...exceptions import QueryError
from ...meta.foreign_key import FKSpec
from ...meta.inverse_foreign_key import IFKSpec
from ...meta.relations import Relation, is_loaded, recall, relation
from . import fanout, fk, inverse, many_to_many

if TYPE_CHECKING:
    from ...model import Model


def check_paths(model: type[Model], paths: Sequence[str]) -> None:
    """Resolve every segment of every path now, so a typo fails where it was written."""
    for path in paths:
        if not isinstance(path, str) or not path:
            raise QueryError(f"prefetch_related() takes relation names; got {path!r}", model=model.__name__)
        owner = model
        for segment in path.split("__"):
            owner = _next_model(relation(owner, segment))


def _next_model(spec: Relation) -> type[Model]:
    if isinstance(spec, FKSpec):
        return spec.target
    if isinstance(spec, IFKSpec):
        return spec.source
    return spec.target


def _canonical(spec: Relation) -> str:
    return spec.alias if isinstance(spec, FKSpec) else spec.name


async def prefetch(instances: Sequence[Model], paths: Sequence[str]) -> None:
    """Load every path for ``instances`` (all of one model), one query per relation and level."""
    if not instances or not paths:
        return
    model = type(instances[0])
    tree: dict[str, list[str]] = {}
    for path in paths:
        head, _, tail = path.partition("__")
        tree.setdefault(head, [])
        if tail:
            tree[head].append(tail)
    jobs = []
    for head, subpaths in tree.items():
        spec = relation(model, head)
        jobs.append(fanout.Job(head, _databases(spec), functools.partial(_load, instances, spec, subpaths)))
    await fanout.run_jobs(jobs)


def _databases(spec: Relation) -> tuple[str, ...]:
    if isinstance(spec, FKSpec):
        return (spec.database,)
    if isinstance(spec, IFKSpec):
        return (spec.database,)
    return tuple(dict.fromkeys((spec.database, spec.target._meta.database)))


async def _load(instances: Sequence[Model], spec: Relation, rest: list[str]) -> None:
    name = _canonical(spec)
    if all(is_loaded(instance, name) for instance in instances):
        children = _loaded_children(instances, name)
    elif isinstance(spec, FKSpec):
        children = await fk.load_many(instances, spec)
    elif isinstance(spec, IFKSpec):
        children = await inverse.load_many(instances, spec)
    else:
        children = await many_to_many.load_many(instances, spec)
    if rest and children:
        await prefetch(children, rest)


def _loaded_children(instances: Sequence[Model], name: str) -> list[Model]:
    seen: dict[int, Model] = {}
    for instance in instances:
        value: Any = recall(instance, name)
        for child in value if isinstance(value, list) else [value]:
            if child is not None:
                seen.setdefault(id(child), child)
    return list(seen.values())
