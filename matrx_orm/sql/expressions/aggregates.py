"""Aggregates: ``Sum``, ``Avg``, ``Min``, ``Max``, ``Count`` (plus ``StdDev``/``Variance``/``ArrayAgg``...).

``distinct=True`` aggregates distinct values; ``filter=Q(...)`` adds ``FILTER (WHERE ...)``. Aggregates work
in ``aggregate()``, in ``annotate()`` (grouping rows), and inside ``Window(...)`` as running aggregates.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ParameterError
from .expressions import Expression, Resolver, as_expression
from .functions import Func
from .q import Q

__all__ = ["Aggregate", "ArrayAgg", "Avg", "Count", "Max", "Min", "StdDev", "Sum", "Variance"]


class Aggregate(Func):
    """Base of aggregates: ``function(DISTINCT? expr) FILTER (WHERE ...)``."""

    is_aggregate = True
    arity = 1
    allow_distinct = True

    def __init__(
        self, expression: Any, *, distinct: bool = False, filter: Any = None, output_field: Any = None
    ):
        name = type(self).__name__
        if not isinstance(distinct, bool):
            raise ParameterError(f"{name}() distinct must be True or False; got {distinct!r}")
        if distinct and not self.allow_distinct:
            raise ParameterError(f"{name}() does not take distinct=True")
        if filter is not None and not isinstance(filter, (Q, Expression)):
            raise ParameterError(
                f"{name}() filter must be a Q object or a boolean expression; got {filter!r}"
            )
        super().__init__(expression, output_field=output_field)
        for source in self.source:
            if source.contains_aggregate:
                raise ParameterError(f"{name}() cannot contain another aggregate ({source!r})")
        self.distinct = distinct
        self.filter = filter

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        (argument,) = self.resolve_arguments(ctx)
        if self.distinct:
            argument = sa.distinct(argument)
        call = getattr(sa.func, self.function)(argument)
        if self.filter is not None:
            from .conditions import resolve_condition

            call = call.filter(resolve_condition(ctx, self.filter))
        return call  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        extra = ", distinct=True" if self.distinct else ""
        return f"{type(self).__name__}({self.source[0]!r}{extra})"


class Sum(Aggregate):
    function = "sum"


class Avg(Aggregate):
    function = "avg"


class Min(Aggregate):
    function = "min"


class Max(Aggregate):
    function = "max"


class StdDev(Aggregate):
    function = "stddev_samp"


class Variance(Aggregate):
    function = "var_samp"


class ArrayAgg(Aggregate):
    function = "array_agg"


class _Star(Expression):
    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        return sa.literal_column("*")

    def __repr__(self) -> str:
        return "'*'"


class Count(Aggregate):
    """``count(expr)`` (non-NULL values); ``Count()`` or ``Count("*")`` counts rows."""

    function = "count"

    def __init__(self, expression: Any = "*", *, distinct: bool = False, filter: Any = None) -> None:
        if expression == "*":
            if distinct:
                raise ParameterError("Count('*') cannot be distinct; name a field")
            super().__init__(_Star(), filter=filter)
        else:
            super().__init__(as_expression(expression), distinct=distinct, filter=filter)

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        if isinstance(self.source[0], _Star):
            call = sa.func.count()
            if self.filter is not None:
                from .conditions import resolve_condition

                call = call.filter(resolve_condition(ctx, self.filter))  # type: ignore[assignment]
            return call
        return super().resolve(ctx)
