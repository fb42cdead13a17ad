"""What ``QueryBuilder.all()`` and ``iterator()`` call after hydrating rows: attach the joined rows of
``select_related``, then run the prefetches (plus the paths that could not be joined)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import prefetch, select_related

if TYPE_CHECKING:
    from ...model import Model
    from ...sql.spec import QuerySpec

__all__ = ["load_related"]


async def load_related(instances: Sequence[Model], records: Sequence[Any], spec: QuerySpec) -> None:
    """Attach the joined rows of ``select_related`` and load ``prefetch_related`` (plus deferred paths)."""
    model = spec.model
    paths: list[str] = list(spec.prefetch_related)
    if spec.select_related:
        select_related.attach(model, spec.select_related, instances, records)
        paths.extend(select_related.deferred_paths(model, spec.select_related))
    if paths and instances:
        await prefetch.prefetch(instances, list(dict.fromkeys(paths)))
