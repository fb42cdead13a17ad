"""``select_related``: the related instances built from the joined columns of each row (the joins
themselves are added by ``sql/compiler/joins.py`` with the same plan)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...meta.relations import remember
from ...meta.rows import instance_loader
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
    loaders = [instance_loader(step.spec.target, step.names) for step in steps]
    for instance, record in zip(instances, records, strict=True):
        objects: list[Any] = []
        for step, load in zip(steps, loaders):  # noqa: B905 (same length by construction)
            parent = instance if step.parent < 0 else objects[step.parent]
            obj = None
            if parent is not None and record[step.key_label] is not None:
                obj = load([record[label] for label in step.labels])
            if parent is not None:
                remember(parent, step.spec.alias, obj)
            objects.append(obj)
