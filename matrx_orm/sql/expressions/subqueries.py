"""Subquery expressions: ``Subquery(qs)`` (a scalar value), ``Exists(qs)`` (a condition), and the inner
SELECT used by ``field__in=<query>``.

Inside the inner query ``OuterRef("field")`` names a field of the enclosing query (a correlated subquery).
The inner query's values are bound in the same value list as the outer query's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...exceptions import ParameterError
from ..q import Q
from ..spec import Queryable, QuerySpec
from .base import Expression, Fragment, node

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = ["Exists", "Subquery", "query_spec", "single_column"]


def query_spec(value: Any, what: str) -> QuerySpec:
    """The spec of a query argument (a ``QueryBuilder``); ParameterError for anything else."""
    if not isinstance(value, Queryable):
        raise ParameterError(f"{what}() takes a query (Model.filter(...)); got {value!r}")
    return value._spec


def single_column(spec: QuerySpec, column: str | None) -> str:
    """The one column a subquery selects: ``column``, else the only non-key field of ``select()/only()``,
    else the only annotation, else the primary key."""
    meta = spec.meta
    if column is not None:
        if column in dict(spec.annotations):
            return column
        return meta.get_field(column).name  # type: ignore[no-any-return]
    if spec.fields is not None:
        chosen = [n for n in spec.fields if n not in meta.primary_keys] or list(spec.fields)
        if len(chosen) == 1:
            return chosen[0]
        raise ParameterError(
            f"a subquery selects one column; {meta.model_name} query selects {list(spec.fields)} "
            "(use .select('field') or Subquery(qs, column='field'))",
            model=meta.model_name,
        )
    if len(spec.annotations) == 1:
        return spec.annotations[0][0]
    if len(meta.primary_keys) != 1:
        raise ParameterError(
            f"{meta.model_name} has no single primary key; name the subquery column", model=meta.model_name
        )
    return meta.primary_keys[0]  # type: ignore[no-any-return]


class Subquery(Expression):
    """``(SELECT column FROM ... )`` as a value: ``annotate(last_total=Subquery(latest_order))``.

    The query should return at most one row (``.limit(1)``) for use as a value; ``field__in=qs`` uses it as
    a set.
    """

    def __init__(self, queryset: Any, column: str | None = None) -> None:
        self.spec = query_spec(queryset, "Subquery")
        self.column = single_column(self.spec, column)
        self.output_field = self.spec.meta.fields.get(self.column)

    def select(self, scope: Scope) -> Fragment:
        """The inner ``SELECT column ...`` (for ``IN``)."""
        return scope.subquery(self.spec, (self.column,))

    def compile(self, scope: Scope) -> Fragment:
        return node("subquery", sa.Select.scalar_subquery, self.select(scope))

    def __repr__(self) -> str:
        return f"Subquery({self.spec.meta.model_name}.{self.column})"


def _as_q(condition: Any) -> Q:
    if isinstance(condition, Q):
        return condition
    if isinstance(condition, Exists):
        return Q(condition)
    raise ParameterError(f"Exists(...) combines with Q objects and Exists(...); got {condition!r}")


def _exists(negated: bool, statement: Any) -> Any:
    condition = sa.exists(statement)
    return sa.not_(condition) if negated else condition


class Exists(Expression):
    """``EXISTS (SELECT ...)`` as a filter condition; ``~Exists(qs)`` is ``NOT EXISTS``."""

    def __init__(self, queryset: Any, negated: bool = False) -> None:
        self.spec = queryset if isinstance(queryset, QuerySpec) else query_spec(queryset, "Exists")
        self.negated = negated
        self.output_field = None

    def __invert__(self) -> Exists:
        return Exists(self.spec, negated=not self.negated)

    # combined with Q objects or other conditions as ``Q(Exists(...)) | ...`` would be
    def __or__(self, other: Any) -> Q:
        return Q(self) | _as_q(other)

    def __ror__(self, other: Any) -> Q:
        return _as_q(other) | Q(self)

    def __and__(self, other: Any) -> Q:
        return Q(self) & _as_q(other)

    def __rand__(self, other: Any) -> Q:
        return _as_q(other) & Q(self)

    def compile(self, scope: Scope) -> Fragment:
        meta = self.spec.meta
        names = tuple(meta.primary_keys[:1] or meta.field_names[:1])
        inner = scope.subquery(self.spec, names)
        negated = self.negated
        return node(("exists", negated), lambda statement: _exists(negated, statement), inner)

    def __repr__(self) -> str:
        return f"{'~' if self.negated else ''}Exists({self.spec.meta.model_name})"
