"""Subquery expressions: ``Subquery(qs)`` (a scalar value), ``Exists(qs)`` (a condition), and the inner
SELECT used by ``field__in=<QueryBuilder>``.

Inside the inner query ``OuterRef("field")`` names a field of the enclosing query (a correlated subquery).
The inner query's values are bound in the same parameter list as the outer query's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ParameterError
from .expressions import Expression, Resolver

if TYPE_CHECKING:
    from .builder import QueryBuilder

__all__ = ["Exists", "Subquery"]


def _require_builder(value: Any, what: str) -> QueryBuilder[Any]:
    from .builder import QueryBuilder

    if not isinstance(value, QueryBuilder):
        raise ParameterError(f"{what}() takes a query (Model.filter(...)); got {value!r}")
    return value


def single_column(qs: QueryBuilder[Any], column: str | None) -> str:
    """The one column a subquery selects: ``column``, else the only non-key field of ``select()/only()``,
    else the only annotation, else the primary key."""
    state = qs._state
    meta = qs._meta
    if column is not None:
        if column in dict(state.annotations):
            return column
        return meta.get_field(column).name  # type: ignore[no-any-return]
    if state.fields is not None:
        chosen = [n for n in state.fields if n not in meta.primary_keys] or list(state.fields)
        if len(chosen) == 1:
            return chosen[0]
        raise ParameterError(
            f"a subquery selects one column; {meta.model_name} query selects {list(state.fields)} "
            "(use .select('field') or Subquery(qs, column='field'))",
            model=meta.model_name,
        )
    if len(state.annotations) == 1:
        return state.annotations[0][0]
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
        self.queryset = _require_builder(queryset, "Subquery")
        self.column = single_column(self.queryset, column)
        self.output_field = self.queryset._meta.fields.get(self.column)

    def select_statement(self, ctx: Resolver) -> Any:
        from .select import select_statement

        inner = ctx.child(self.queryset._state.model)
        return select_statement(self.queryset._state, inner, (self.column,))

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        return self.select_statement(ctx).scalar_subquery()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Subquery({self.queryset._meta.model_name}.{self.column})"


class Exists(Expression):
    """``EXISTS (SELECT ...)`` as a filter condition; ``~Exists(qs)`` is ``NOT EXISTS``."""

    def __init__(self, queryset: Any, negated: bool = False) -> None:
        self.queryset = _require_builder(queryset, "Exists")
        self.negated = negated
        self.output_field = None

    def __invert__(self) -> Exists:
        return Exists(self.queryset, negated=not self.negated)

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        from .select import select_statement

        qs = self.queryset
        inner = ctx.child(qs._state.model)
        statement = select_statement(
            qs._state, inner, tuple(qs._meta.primary_keys[:1] or qs._meta.field_names[:1])
        )
        condition = sa.exists(statement)
        return sa.not_(condition) if self.negated else condition

    def __repr__(self) -> str:
        return f"{'~' if self.negated else ''}Exists({self.queryset._meta.model_name})"
