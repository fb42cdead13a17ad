"""``select_related``: follow foreign keys with LEFT JOINs in the same SELECT.

Each followed key becomes an aliased LEFT OUTER JOIN (``_sr0``, ``_sr1``, ...) whose columns are appended to
the select list under short labels (``_sr0_3``); the base model's own columns keep their positions, and
every column is qualified by its table, so filters on a column name both tables share stay unambiguous.
Paths may go deeper (``"author__publisher"``). A key that points into another database (or at an
``_unfetchable`` model) cannot be joined: that path is loaded by ``prefetch_related`` instead. The rows are
turned into related instances by ``query/relations/select_related.py`` with the same :func:`plan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...exceptions import QueryError
from ...meta.foreign_key import FKSpec
from ...meta.memo import remember
from ...meta.relations import relation

if TYPE_CHECKING:
    from ...model import Model


@dataclass(frozen=True, slots=True)
class JoinStep:
    """One joined foreign key: who it hangs from, the aliased target table and its labelled columns."""

    parent: int  # index of the parent step; -1 for the queried model
    spec: FKSpec
    alias: sa.FromClause
    names: tuple[str, ...]
    labels: tuple[str, ...]
    key_label: str  # the joined key column: NULL when the LEFT JOIN found nothing


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[JoinStep, ...]
    deferred: tuple[str, ...]  # paths loaded with prefetch_related instead (cross-database / unfetchable)


_plans: dict[tuple[type, tuple[str, ...]], Plan] = {}


def plan(model: type[Model], paths: Sequence[str]) -> Plan:
    """The joins for ``paths`` (cached per model and paths); raises for names that are not foreign keys."""
    key = (model, tuple(paths))
    found = _plans.get(key)
    if found is None:
        found = remember(_plans, key, _make_plan(model, paths))
    return found


def _make_plan(model: type[Model], paths: Sequence[str]) -> Plan:
    steps: list[JoinStep] = []
    by_path: dict[str, int] = {}
    deferred: list[str] = []
    for path in paths:
        if not isinstance(path, str) or not path:
            raise QueryError(f"select_related() takes relation names; got {path!r}", model=model.__name__)
        owner, parent, prefix = model, -1, ""
        for segment in path.split("__"):
            spec = relation(owner, segment)
            if not isinstance(spec, FKSpec):
                raise QueryError(
                    f"select_related('{path}'): '{segment}' on {owner.__name__} is not a foreign key; "
                    f"use prefetch_related('{path}') for inverse foreign keys and many-to-many",
                    model=model.__name__,
                )
            prefix = f"{prefix}__{spec.alias}" if prefix else spec.alias
            target = spec.target
            if spec.cross_database or target._meta.unfetchable:
                deferred.append(path)
                break
            if prefix not in by_path:
                by_path[prefix] = len(steps)
                steps.append(_step(len(steps), parent, spec))
            owner, parent = target, by_path[prefix]
    return Plan(tuple(steps), tuple(dict.fromkeys(deferred)))


def _step(index: int, parent: int, spec: FKSpec) -> JoinStep:
    target = spec.target
    meta = target._meta
    alias = meta.table.alias(f"_sr{index}")
    names = meta.field_names
    labels = tuple(f"_sr{index}_{i}" for i in range(len(names)))
    key_name = spec.target_field.name
    return JoinStep(parent, spec, alias, names, labels, labels[names.index(key_name)])


def apply(statement: Any, model: type[Model], paths: Sequence[str]) -> Any:
    """Add the LEFT JOINs and the labelled target columns of ``paths`` to a SELECT over ``model``."""
    steps = plan(model, paths).steps
    if not steps:
        return statement
    base = model._meta.table
    joined: Any = base
    for step in steps:
        parent_table = base if step.parent < 0 else steps[step.parent].alias
        fk_column = parent_table.c[step.spec.field.column_name]
        target_column = step.alias.c[step.spec.target_field.column_name]
        joined = joined.outerjoin(step.alias, fk_column == target_column)
    statement = statement.select_from(joined)
    for step in steps:
        meta = step.spec.target._meta
        statement = statement.add_columns(
            *(
                step.alias.c[meta.fields[name].column_name].label(label)
                for name, label in zip(step.names, step.labels, strict=True)
            )
        )
    return statement


def join_related(statement: Any, model: type[Model], paths: Sequence[str], lock: Any) -> Any:
    """Add the joins of ``paths`` to the row SELECT of ``model``.

    A row lock (``select_for_update()`` without ``of=``) is narrowed to the queried table: PostgreSQL cannot
    lock the nullable side of an outer join.
    """
    statement = apply(statement, model, paths)
    if lock is not None and not lock[2] and plan(model, paths).steps:
        nowait, skip_locked, _ = lock
        statement = statement.with_for_update(nowait=nowait, skip_locked=skip_locked, of=[model._meta.table])
    return statement
