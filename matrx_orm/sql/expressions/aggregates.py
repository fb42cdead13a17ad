"""Aggregates: ``Sum``, ``Avg``, ``Min``, ``Max``, ``Count`` (plus ``StdDev``/``Variance``/``ArrayAgg``...).

``distinct=True`` aggregates distinct values; ``filter=Q(...)`` adds ``FILTER (WHERE ...)``. Aggregates work
in ``aggregate()``, in ``annotate()`` (grouping rows), and inside ``Window(...)`` as running aggregates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...exceptions import ParameterError
from ..q import Q
from .base import Expression, Fragment
from .coerce import as_expression
from .functions import Func

if TYPE_CHECKING:
    from ..compiler.select import Scope

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

    def compile(self, scope: Scope) -> Fragment:
        (argument,) = self.arguments(scope)
        condition = None if self.filter is None else scope.condition(self.filter)
        distinct, function = self.distinct, self.function

        def make() -> Any:
            built = argument.build()
            call = getattr(sa.func, function)(sa.distinct(built) if distinct else built)
            return call if condition is None else call.filter(condition.build())

        key = (type(self), function, distinct, argument.key, None if condition is None else condition.key)
        return Fragment(key, make)

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
    def compile(self, scope: Scope) -> Fragment:
        return Fragment("*", lambda: sa.literal_column("*"))

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

    def compile(self, scope: Scope) -> Fragment:
        if not isinstance(self.source[0], _Star):
            return super().compile(scope)
        condition = None if self.filter is None else scope.condition(self.filter)

        def make() -> Any:
            call = sa.func.count()
            return call if condition is None else call.filter(condition.build())

        return Fragment((Count, "*", None if condition is None else condition.key), make)
