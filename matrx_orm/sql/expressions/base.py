"""The expression protocol, and the basic expressions ``F``, ``OuterRef``, ``Value``, arithmetic, ``OrderBy``.

Every expression says once how it becomes SQL: :meth:`Expression.compile` takes the compiler's scope and
returns a :class:`Fragment`, which carries

* ``key``: a hashable description of the SQL text the expression renders (node classes, field names,
  operators, value *types*, never the values), and
* ``build()``: a function making the SQLAlchemy construct, called only when a statement of that shape is
  compiled for the first time.

Values are never part of the SQL: ``scope.bind(value, type)`` appends the value to the query's value list
and returns the fragment of the bound parameter ``v{n}``. Because the key and the values come from the same
walk, a statement compiled once per key is reused with the values of every later query of that key.

Writing an expression::

    class Double(Expression):
        def __init__(self, name: str) -> None:
            self.source = as_expression(name)

        def source_expressions(self) -> list[Expression]:
            return [self.source]

        def compile(self, scope: Scope) -> Fragment:
            return node(Double, lambda value, two: value * two, scope.expression(self.source),
                        scope.bind(2, sa.Integer()))

Rules: ``node(tag, make, *parts)`` keys the fragment by ``tag`` and its parts' keys, so ``tag`` must name
everything else that changes the SQL text (the class, an operator, a bound value's SQL type when it varies);
list sub-expressions in ``source_expressions`` so ``contains_aggregate``/``contains_window`` are right; raise
``ParameterError``/``UnknownFieldError`` for bad input (``scope.column(name)`` already does for names).
In expression positions a ``str`` names a field (or an annotation), as in Django: ``Coalesce("nickname",
"name")``; wrap literal text in ``Value("text")``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ...exceptions import ParameterError, QueryError

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = [
    "CombinedExpression",
    "Expression",
    "F",
    "Fragment",
    "OrderBy",
    "OuterRef",
    "Value",
    "node",
    "order_expression",
    "type_for_value",
]

_UNBUILT: Any = object()


class Fragment:
    """A piece of a statement being compiled: its shape ``key`` and how to ``build()`` its SQLAlchemy
    construct (built at most once; a fragment used in two places gives the same construct)."""

    __slots__ = ("_built", "_make", "key")

    def __init__(self, key: Hashable, make: Callable[[], Any]) -> None:
        self.key = key
        self._make = make
        self._built = _UNBUILT

    def build(self) -> Any:
        built = self._built
        if built is _UNBUILT:
            built = self._built = self._make()
        return built

    def __repr__(self) -> str:
        return f"Fragment({self.key!r})"


def _build_parts(make: Callable[..., Any], parts: tuple[Fragment | None, ...]) -> Any:
    return make(*[None if part is None else part.build() for part in parts])


def node(tag: Hashable, make: Callable[..., Any], *parts: Fragment | None) -> Fragment:
    """A fragment keyed ``(tag, <part keys>)`` whose construct is ``make(<built parts>)`` (None stays None)."""
    key = (tag, *(None if part is None else part.key for part in parts))
    return Fragment(key, partial(_build_parts, make, parts))


class Expression:
    """Base of every query expression (``F``, functions, aggregates, windows, subqueries, ...)."""

    #: True for aggregate functions themselves (Sum, Count, ...); composites compute it from their sources
    is_aggregate: ClassVar[bool] = False
    #: True for ``Window`` itself
    is_window: ClassVar[bool] = False
    #: True for ranking/offset functions that are only valid inside ``Window(...)``
    window_only: ClassVar[bool] = False
    #: the field whose type the result has, when known (used to convert values read back)
    output_field: Any = None

    def compile(self, scope: Scope) -> Fragment:
        """The fragment of this expression: its shape key and how to build it; values bound through
        ``scope.bind``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement compile()")

    def source_expressions(self) -> list[Expression]:
        """The sub-expressions (for ``contains_aggregate`` and validation)."""
        return []

    @property
    def contains_aggregate(self) -> bool:
        """Whether an aggregate is inside (a filter on it goes to HAVING, not WHERE)."""
        return self.is_aggregate or any(e.contains_aggregate for e in self.source_expressions())

    @property
    def contains_window(self) -> bool:
        """Whether a window function is inside (it cannot be filtered in WHERE or HAVING)."""
        return self.is_window or any(e.contains_window for e in self.source_expressions())

    def check_window_use(self, inside_window: bool = False) -> None:
        """Raise ParameterError when a window-only function is used outside ``Window(...)``."""
        if self.window_only and not inside_window:
            raise ParameterError(
                f"{type(self).__name__}() is a window function; use it as Window({type(self).__name__}(...), "
                "order_by=...)"
            )
        for source in self.source_expressions():
            source.check_window_use(inside_window)

    # -- arithmetic ----------------------------------------------------------------------------------------
    def _combine(self, other: Any, operator: str, reverse: bool) -> CombinedExpression:
        other_expr = other if isinstance(other, Expression) else Value(other)
        if reverse:
            return CombinedExpression(other_expr, operator, self)
        return CombinedExpression(self, operator, other_expr)

    def __add__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "+", False)

    def __radd__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "+", True)

    def __sub__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "-", False)

    def __rsub__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "-", True)

    def __mul__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "*", False)

    def __rmul__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "*", True)

    def __truediv__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "/", False)

    def __rtruediv__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "/", True)

    def __mod__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "%", False)

    def __rmod__(self, other: Any) -> CombinedExpression:
        return self._combine(other, "%", True)

    def __neg__(self) -> CombinedExpression:
        return CombinedExpression(Value(0), "-", self)

    # -- ordering ------------------------------------------------------------------------------------------
    def asc(self, nulls_last: bool | None = None) -> OrderBy:
        """Ascending order by this expression (for ``order_by`` and ``Window(order_by=...)``)."""
        return OrderBy(self, descending=False, nulls_last=nulls_last)

    def desc(self, nulls_last: bool | None = None) -> OrderBy:
        """Descending order by this expression."""
        return OrderBy(self, descending=True, nulls_last=nulls_last)

    # Expressions are compared structurally by the SQL they produce, never with ``==`` in Python.
    __hash__ = object.__hash__


class F(Expression):
    """A reference to a field (or an annotation) of the query's model: ``F("age") + 1``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"F() expects a field name; got {name!r}")
        self.name = name

    @property
    def output_field(self) -> Any:
        return None

    def compile(self, scope: Scope) -> Fragment:
        return scope.column(self.name)

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class OuterRef(F):
    """A field of the *enclosing* query, inside ``Subquery``/``Exists``: ``filter(user_id=OuterRef("id"))``."""

    __slots__ = ()

    def compile(self, scope: Scope) -> Fragment:
        if scope.outer is None:
            raise QueryError(
                f"OuterRef({self.name!r}) is only valid inside Subquery(...) or Exists(...)",
                model=scope.meta.model_name,
            )
        outer = scope.outer.column(self.name)
        return Fragment(("outer", outer.key), outer.build)

    def __repr__(self) -> str:
        return f"OuterRef({self.name!r})"


#: SQLAlchemy types of plain Python values (shared instances: types are immutable)
_PY_TYPES: tuple[tuple[type, Any], ...] = (
    (bool, sa.Boolean()),
    (int, sa.BigInteger()),
    (float, sa.Float()),
    (decimal.Decimal, sa.Numeric()),
    (str, sa.Text()),
    (dt.datetime, sa.DateTime(timezone=True)),
    (dt.date, sa.Date()),
    (dt.time, sa.Time()),
    (dt.timedelta, sa.Interval()),
    (uuid.UUID, postgresql.UUID()),
    (bytes, sa.LargeBinary()),
    (dict, postgresql.JSONB()),
    (list, postgresql.JSONB()),
)
_NAIVE_DATETIME = sa.DateTime(timezone=False)


def type_for_value(value: Any) -> Any:
    """The SQLAlchemy type for a Python value (None when unknown: the server infers it)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return _NAIVE_DATETIME
    for python_type, sa_type in _PY_TYPES:
        if isinstance(value, python_type):
            return sa_type
    return None


class Value(Expression):
    """A literal value, always sent as a bound parameter: ``Coalesce("nickname", Value("anonymous"))``.

    ``output_field`` (a Field instance) converts and validates the value and sets the parameter type.
    """

    __slots__ = ("output_field", "value")

    def __init__(self, value: Any, output_field: Any = None) -> None:
        if isinstance(value, Expression):
            raise ParameterError(f"Value() wraps plain values, not expressions; got {value!r}")
        self.value = value
        self.output_field = output_field

    def compile(self, scope: Scope) -> Fragment:
        if self.output_field is not None:
            bind_type = self.output_field.bind_type()
            bound = scope.bind(self.output_field.to_db(self.value), bind_type)
            return Fragment(("value-field", type(bind_type), repr(bind_type)), bound.build)
        value = self.value
        if value is None:
            return Fragment(("null",), sa.null)
        sa_type = type_for_value(value)
        bound = scope.bind(str(value) if isinstance(value, uuid.UUID) else value, sa_type)
        return Fragment(("value", type(value), sa_type is _NAIVE_DATETIME), bound.build)

    def __repr__(self) -> str:
        return f"Value({self.value!r})"


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    # true division would make SQLAlchemy cast integer operands; keep PostgreSQL's own semantics
    "/": lambda a, b: a.op("/")(b),
    "%": lambda a, b: a % b,
}


class CombinedExpression(Expression):
    """``lhs <operator> rhs`` built by the arithmetic operators of expressions."""

    __slots__ = ("lhs", "operator", "rhs")

    def __init__(self, lhs: Expression, operator: str, rhs: Expression) -> None:
        if operator not in _OPERATORS:
            raise ParameterError(f"unsupported operator {operator!r}; use one of {sorted(_OPERATORS)}")
        self.lhs = lhs
        self.operator = operator
        self.rhs = rhs

    def source_expressions(self) -> list[Expression]:
        return [self.lhs, self.rhs]

    @property
    def output_field(self) -> Any:
        return None

    def compile(self, scope: Scope) -> Fragment:
        left = scope.expression(self.lhs)
        return node(self.operator, _OPERATORS[self.operator], left, scope.expression(self.rhs))

    def __repr__(self) -> str:
        return f"({self.lhs!r} {self.operator} {self.rhs!r})"


class OrderBy(Expression):
    """An ordering (``F("score").desc()``) for ``order_by`` and ``Window(order_by=...)``."""

    __slots__ = ("descending", "expression", "nulls_last")

    def __init__(
        self, expression: Expression, descending: bool = False, nulls_last: bool | None = None
    ) -> None:
        self.expression = expression
        self.descending = descending
        self.nulls_last = nulls_last

    def source_expressions(self) -> list[Expression]:
        return [self.expression]

    def compile(self, scope: Scope) -> Fragment:
        tag = ("order", self.descending, self.nulls_last)
        return node(
            tag, partial(ordered, self.descending, self.nulls_last), scope.expression(self.expression)
        )

    def reversed(self) -> OrderBy:
        """The opposite ordering: direction and an explicit NULL placement flip (``last()``)."""
        nulls_last = None if self.nulls_last is None else not self.nulls_last
        return OrderBy(self.expression, descending=not self.descending, nulls_last=nulls_last)


def ordered(descending: bool, nulls_last: bool | None, element: Any) -> Any:
    """``element`` ascending or descending, NULLs first or last when asked."""
    clause = element.desc() if descending else element.asc()
    if nulls_last is True:
        return clause.nulls_last()
    if nulls_last is False:
        return clause.nulls_first()
    return clause


def order_expression(item: Any) -> OrderBy:
    """``"-name"`` / ``"name"`` / an expression / an ``OrderBy`` → an ``OrderBy``."""
    if isinstance(item, OrderBy):
        return item
    if isinstance(item, str):
        if not item or item in ("-", "+"):
            raise ParameterError(f"empty field name in order_by: {item!r}")
        return OrderBy(F(item.lstrip("-+")), descending=item.startswith("-"))
    if isinstance(item, Expression):
        return OrderBy(item)
    raise ParameterError(f"order_by expects field names or expressions; got {item!r}")
