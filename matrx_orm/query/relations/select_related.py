"""``select_related``: the related instances built from the joined columns of each row (the joins
themselves are added by ``sql/compiler/joins.py`` with the same plan)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...meta.relations import remember
from ...sql.compiler.joins import plan

if TYPE_CHECKING:
    from ...model import Model

__all__ = ["attach", "check_paths", "deferred_paths"]


def check_paths(model: type[Model], paths: Sequence[str]) -> None:
    """Validate ``select_related`` paths now (unknown names and non-foreign-keys raise)."""
    plan(model, paths)


def deferred_paths(model: type[Model], paths: Sequence[str]) -> tuple[str, ...]:
    """The paths that cannot be joined (cross-database, ``_unfetchable``): ``prefetch_related`` loads them."""
    return plan(model, paths).deferred


def attach(
    model: type[Model], paths: Sequence[str], instances: Sequence[Model], records: Sequence[Any]
) -> None:
    """Build the joined instances from each record and remember them on their parents."""
    steps = plan(model, paths).steps
    if not steps:
        return
    new = object.__new__
    for instance, record in zip(instances, records, strict=True):
        objects: list[Any] = []
        for step in steps:
            parent = instance if step.parent < 0 else objects[step.parent]
            obj = None
            if parent is not None and record[step.key_label] is not None:
                row = [record[label] for label in step.labels]
                for i, convert in step.converters:
                    if row[i] is not None:
                        row[i] = convert(row[i])
                obj = new(step.spec.target)
                data = dict(zip(step.names, row, strict=True))
                data["_persisted"] = True
                obj.__dict__ = data
            if parent is not None:
                remember(parent, step.spec.alias, obj)
            objects.append(obj)
