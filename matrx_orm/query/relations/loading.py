"""What ``QueryBuilder.all()`` calls after hydrating rows: attach joined rows, then run the prefetches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import prefetch as _prefetch
from . import select_related as _select_related

if TYPE_CHECKING:
    from ..models.base import Model


def check_select_related(model: type[Model], paths: Sequence[str]) -> None:
    """Validate ``select_related`` paths now (unknown names and non-foreign-keys raise)."""
    _select_related.plan(model, paths)


def check_prefetch_related(model: type[Model], paths: Sequence[str]) -> None:
    """Validate ``prefetch_related`` paths now."""
    _prefetch.check_paths(model, paths)


def join_related(statement: Any, state: Any) -> Any:
    """Add the ``select_related`` joins and labelled columns to the row SELECT of a query state.

    A row lock (``select_for_update()`` without ``of=``) is narrowed to the queried table: PostgreSQL cannot
    lock the nullable side of an outer join.
    """
    model = state.model
    statement = _select_related.apply(statement, model, state.select_related)
    lock = getattr(state, "lock", None)
    if lock is not None and not lock[2] and _select_related.plan(model, state.select_related).steps:
        nowait, skip_locked, _ = lock
        statement = statement.with_for_update(nowait=nowait, skip_locked=skip_locked, of=[model._meta.table])
    return statement


async def load_related(instances: Sequence[Model], records: Sequence[Any], state: Any) -> None:
    """Attach the joined rows of ``select_related`` and load ``prefetch_related`` (plus deferred paths)."""
    model = state.model
    paths: list[str] = list(state.prefetch_related)
    if state.select_related:
        _select_related.attach(model, state.select_related, instances, records)
        paths.extend(_select_related.plan(model, state.select_related).deferred)
    if paths and instances:
        await _prefetch.prefetch(instances, list(dict.fromkeys(paths)))
