"""Vector distances as expressions: ``VectorDistance(...)`` and ``VectorDistance(...) < threshold``."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...exceptions import ParameterError
from .base import Expression, F, Fragment, node

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = [
    "METRICS",
    "VECTOR_METRICS",
    "DistanceCondition",
    "VectorDistance",
    "check_metric",
    "distance",
    "vector_field",
]

#: metric name -> pgvector SQLAlchemy comparator method (operator)
METRICS: dict[str, str] = {
    "cosine": "cosine_distance",  # <=>
    "l2": "l2_distance",  # <->
    "inner": "max_inner_product",  # <#>  (negative inner product)
    "l1": "l1_distance",  # <+>
}

#: metric name -> pgvector operator (matrx-orm 2.x's name)
VECTOR_METRICS: dict[str, str] = {"l2": "<->", "cosine": "<=>", "inner": "<#>", "l1": "<+>"}


def check_metric(metric: Any, model_name: str | None = None) -> str:
    """``metric`` when it is one of :data:`METRICS`; ParameterError (with the close match) otherwise."""
    if metric not in METRICS:
        close = difflib.get_close_matches(str(metric), METRICS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ParameterError(
            f"unknown vector metric {metric!r}; expected one of {', '.join(METRICS)}.{hint}", model=model_name
        )
    return str(metric)


def vector_field(meta: Any, name: str, what: str) -> Any:
    """The vector field ``name`` of a model (UnknownFieldError / ParameterError otherwise)."""
    field = meta.get_field(name)
    if getattr(field, "lookup_family", None) != "vector":
        vectors = [n for n, f in meta.fields.items() if getattr(f, "lookup_family", None) == "vector"]
        raise ParameterError(
            f"{what} needs a vector field; '{field.name}' is a {type(field).__name__}"
            + (
                f" (vector fields: {', '.join(vectors)})" if vectors else " and the model has no vector field"
            ),
            model=meta.model_name,
        )
    return field


def distance(scope: Scope, name: str, metric: str, value: Any) -> Fragment:
    """``<column> <op> <vector>`` with pgvector's comparator for ``metric``; ``value`` is the vector already
    converted by the field, bound with the column's type."""
    column = scope.column(name)
    parameter = scope.parameter(value)
    method = METRICS[metric]

    def make(element: Any) -> Any:
        bound = sa.bindparam(parameter, type_=element.type)  # typed like the column (its dimensions)
        return getattr(element.comparator, method)(bound)

    return node(("vector-distance", metric), make, column)


class VectorDistance(Expression):
    """The distance between a vector field and a query vector, as a query expression.

    ``VectorDistance("embedding", query_vec, metric="cosine")`` works in ``annotate()`` (``distance=...``,
    then ``filter(distance__lt=0.3)`` / ``order_by("distance")``), in ``order_by()`` and, compared with a
    number, directly in ``filter()``: ``filter(VectorDistance("embedding", q) < 0.3)``. The vector is checked
    by the field (dimensions, finite elements) before any round trip; ``inner`` is pgvector's *negative*
    inner product, as with ``nearest()``.
    """

    __slots__ = ("_converted", "metric", "name", "vector")

    def __init__(self, column: str | F, vector: Any, metric: str = "cosine") -> None:
        name = column.name if isinstance(column, F) else column
        if not isinstance(name, str) or not name:
            raise ParameterError(f"VectorDistance() expects a vector field name; got {column!r}")
        if vector is None:
            raise ParameterError("VectorDistance() needs a query vector; got None")
        self.name = name
        self.vector = vector
        self.metric = check_metric(metric)
        self._converted: tuple[Any, Any] | None = None  # (field, its to_db(vector))

    def compile(self, scope: Scope) -> Fragment:
        field = vector_field(scope.meta, self.name, "VectorDistance()")
        converted = self._converted
        if converted is None or converted[0] is not field:
            converted = self._converted = (field, field.to_db(self.vector))
        return distance(scope, self.name, self.metric, converted[1])

    def _compare(self, operator: str, threshold: Any) -> DistanceCondition:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ParameterError(f"a vector distance compares with a number; got {threshold!r}")
        return DistanceCondition(self, operator, float(threshold))

    def __lt__(self, threshold: Any) -> DistanceCondition:
        return self._compare("<", threshold)

    def __le__(self, threshold: Any) -> DistanceCondition:
        return self._compare("<=", threshold)

    def __gt__(self, threshold: Any) -> DistanceCondition:
        return self._compare(">", threshold)

    def __ge__(self, threshold: Any) -> DistanceCondition:
        return self._compare(">=", threshold)

    def __repr__(self) -> str:
        return f"VectorDistance({self.name!r}, <vector>, metric={self.metric!r})"


_COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class DistanceCondition(Expression):
    """``VectorDistance(...) < threshold``: a boolean expression for ``filter()`` / ``exclude()``."""

    __slots__ = ("distance", "operator", "threshold")

    def __init__(self, distance: VectorDistance, operator: str, threshold: float) -> None:
        self.distance = distance
        self.operator = operator
        self.threshold = threshold

    def source_expressions(self) -> list[Expression]:
        return [self.distance]

    def compile(self, scope: Scope) -> Fragment:
        left = scope.expression(self.distance)
        threshold = scope.bind(self.threshold, sa.Float())
        return node(("distance-condition", self.operator), _COMPARISONS[self.operator], left, threshold)

    def __repr__(self) -> str:
        return f"({self.distance!r} {self.operator} {self.threshold!r})"
