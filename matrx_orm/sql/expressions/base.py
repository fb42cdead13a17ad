"""Query expressions: the base every expression resolves through, plus ``F``, ``Value``, ``Case``/``When``.

An :class:`Expression` turns itself into a SQLAlchemy ``ColumnElement`` with :meth:`Expression.resolve`,
given a :class:`Resolver` that knows the model (field names → columns), the annotations of the query, the
outer query (for ``OuterRef``) and the list of bound values. Values are never put in the SQL: an expression
calls ``ctx.bind(value, type)``, which appends the value and returns the bound parameter ``v{n}`` that the
compiler's per-shape cache expects (see ``docs/internals.md``). Resolving the same expression twice against
resolvers at the same position yields the same SQL with the same parameter names, which is what lets the
compiler cache the compiled text: :func:`gather_expression` resolves once to collect the values and a shape
(SQLAlchemy's structural cache key of the resolved element), :func:`build_expression` resolves again when
the statement for that shape is first built.

Writing a new expression (e.g. ``VectorDistance``)::

    class Double(Expression):
        def __init__(self, name: str) -> None:
            self.source = as_expression(name)

        def source_expressions(self) -> list[Expression]:
            return [self.source]

        def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
            return self.source.resolve(ctx) * ctx.bind(2, sa.Integer())

Rules: build SQL only from SQLAlchemy constructs and ``ctx.bind`` (never ``sa.literal``/plain Python values
in operators, which would become unnamed parameters), list sub-expressions in ``source_expressions`` so
``contains_aggregate``/``contains_window`` are right, and raise ``ParameterError``/``UnknownFieldError``
for bad input (``ctx.field(name)`` and ``ctx.column(name)`` already do for names).

In expression positions a ``str`` names a field (or an annotation), as in Django: ``Coalesce("nickname",
"name")``; wrap literal text in ``Value("text")``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ParameterError, QueryError, UnknownFieldError

if TYPE_CHECKING:
    from ..fields import Field

__all__ = [
    "Case",
    "CombinedExpression",
    "Expression",
    "F",
    "OuterRef",
    "Resolver",
    "Value",
    "When",
    "as_expression",
    "build_expression",
    "gather_expression",
    "is_expression",
]


class Resolver:
    """What an expression resolves against.

    ``model``        the model whose fields ``F("name")`` names
    ``values``       the query's bound values so far; :meth:`bind` appends and names the parameter ``v{n}``
                     where ``n = offset + len(values)``
    ``annotations``  name → expression of the query's ``annotate()`` (``F("total")`` may name one)
    ``outer``        the resolver of the enclosing query, for ``OuterRef``
    ``source``       a selectable to read columns from instead of the model's table (a CTE or subquery);
                     ``source_names`` maps field names to its column names
    """

    __slots__ = ("_active", "annotations", "meta", "model", "offset", "outer", "source", "values")

    def __init__(
        self,
        model: type,
        values: list[Any] | None = None,
        *,
        offset: int = 0,
        annotations: Mapping[str, Expression] | None = None,
        outer: Resolver | None = None,
        source: Any = None,
    ) -> None:
        self.model = model
        self.meta: Any = model._meta  # type: ignore[attr-defined]
        self.values: list[Any] = [] if values is None else values
        self.offset = offset
        self.annotations: Mapping[str, Expression] = annotations or {}
        self.outer = outer
        self.source = source
        self._active: set[str] = set()

    # -- values --------------------------------------------------------------------------------------------
    def bind(self, value: Any, type_: Any = None) -> Any:
        """A bound parameter carrying ``value`` (appended to ``values``)."""
        index = self.offset + len(self.values)
        self.values.append(value)
        return sa.bindparam(f"v{index}", type_=type_)

    @property
    def position(self) -> int:
        """The number the next bound parameter will get."""
        return self.offset + len(self.values)

    def child(self, model: type) -> Resolver:
        """A resolver for a subquery over ``model`` sharing this one's values; ``OuterRef`` reaches ``self``."""
        return Resolver(model, self.values, offset=self.offset, outer=self)

    # -- names ---------------------------------------------------------------------------------------------
    def field(self, name: str) -> Field[Any]:
        """The model field ``name``; UnknownFieldError with close matches otherwise."""
        return self.meta.get_field(name)  # type: ignore[no-any-return]

    def column(self, name: str) -> ColumnElement[Any]:
        """The column (or annotation expression) called ``name``."""
        if name in self.annotations:
            if name in self._active:
                raise QueryError(f"annotation '{name}' refers to itself", model=self.meta.model_name)
            self._active.add(name)
            try:
                return self.annotations[name].resolve(self)
            finally:
                self._active.discard(name)
        if name not in self.meta.fields and name not in self.meta.relation_aliases:
            raise UnknownFieldError(
                name=name, choices=[*self.meta.field_names, *self.annotations], model=self.meta.model_name
            )
        field = self.meta.get_field(name)
        if self.source is not None:
            return source_column(self.source, field.column_name)
        return self.meta.columns[field.name]  # type: ignore[no-any-return]

    def output_field(self, name: str) -> Field[Any] | None:
        """The field ``name`` refers to, when it is a model field."""
        if name in self.annotations:
            return self.annotations[name].output_field
        field = self.meta.fields.get(name)
        if field is None and name in self.meta.relation_aliases:
            field = self.meta.fields[self.meta.relation_aliases[name]]
        return field


def source_column(source: Any, name: str) -> ColumnElement[Any]:
    """Column ``name`` of a selectable (a CTE over raw SQL may not declare its columns)."""
    if name in source.c:
        return source.c[name]  # type: ignore[no-any-return]
    from sqlalchemy.sql.elements import ColumnClause

    return ColumnClause(name, _selectable=source)


class PendingOuter(Resolver):
    """Stands in for the enclosing query (or a CTE source) while an expression is checked on its own,
    before the query it belongs to exists: names resolve leniently, the real check happens when the
    statement is built."""

    def column(self, name: str) -> ColumnElement[Any]:
        return sa.column(name)


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

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        """The SQLAlchemy expression for this expression, values bound through ``ctx.bind``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement resolve()")

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
    def output_field(self) -> Any:  # type: ignore[override]
        return None

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        return ctx.column(self.name)

    def __repr__(self) -> str:
        return f"F({self.name!r})"


class OuterRef(F):
    """A field of the *enclosing* query, inside ``Subquery``/``Exists``: ``filter(user_id=OuterRef("id"))``."""

    __slots__ = ()

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        if ctx.outer is None:
            raise QueryError(
                f"OuterRef({self.name!r}) is only valid inside Subquery(...) or Exists(...)",
                model=ctx.meta.model_name,
            )
        return ctx.outer.column(self.name)

    def __repr__(self) -> str:
        return f"OuterRef({self.name!r})"


_PY_TYPES: tuple[tuple[type, Callable[[], Any]], ...] = (
    (bool, sa.Boolean),
    (int, sa.BigInteger),
    (float, sa.Float),
    (decimal.Decimal, sa.Numeric),
    (str, sa.Text),
    (dt.datetime, lambda: sa.DateTime(timezone=True)),
    (dt.date, sa.Date),
    (dt.time, sa.Time),
    (dt.timedelta, sa.Interval),
    (uuid.UUID, postgresql.UUID),
    (bytes, sa.LargeBinary),
    (dict, postgresql.JSONB),
    (list, postgresql.JSONB),
)


def type_for_value(value: Any) -> Any:
    """The SQLAlchemy type for a Python value (None when unknown: the server infers it)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return sa.DateTime(timezone=False)
    for python_type, sa_type in _PY_TYPES:
        if isinstance(value, python_type):
            return sa_type()
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

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        if self.output_field is not None:
            return ctx.bind(self.output_field.to_db(self.value), self.output_field.bind_type())  # type: ignore[no-any-return]
        if self.value is None:
            return sa.null()
        value = str(self.value) if isinstance(self.value, uuid.UUID) else self.value
        return ctx.bind(value, type_for_value(self.value))  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Value({self.value!r})"


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
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
    def output_field(self) -> Any:  # type: ignore[override]
        return None

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        left = self.lhs.resolve(ctx)
        right = self.rhs.resolve(ctx)
        if self.operator == "/":
            # true division would make SQLAlchemy cast integer operands; keep PostgreSQL's own semantics
            return left.op("/")(right)
        return _OPERATORS[self.operator](left, right)  # type: ignore[no-any-return]

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

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        element = self.expression.resolve(ctx)
        ordered = element.desc() if self.descending else element.asc()
        if self.nulls_last is True:
            ordered = ordered.nulls_last()
        elif self.nulls_last is False:
            ordered = ordered.nulls_first()
        return ordered


def order_expression(item: Any) -> Expression:
    """``"-name"`` / ``"name"`` / an expression / an ``OrderBy`` → an ``OrderBy``."""
    if isinstance(item, OrderBy):
        return item
    if isinstance(item, str):
        if not item or item in ("-", "+"):
            raise ParameterError(f"empty field name in order_by: {item!r}")
        descending = item.startswith("-")
        return OrderBy(F(item.lstrip("-+")), descending=descending)
    if isinstance(item, Expression):
        return OrderBy(item)
    raise ParameterError(f"order_by expects field names or expressions; got {item!r}")


class When(Expression):
    """One branch of ``Case``: ``When(Q(...) | condition keywords | boolean expression, then=value)``."""

    __slots__ = ("condition", "result")

    def __init__(self, condition: Any = None, then: Any = None, **filters: Any) -> None:
        from .q import Q

        if condition is None and not filters:
            raise ParameterError(
                "When() needs a condition: a Q object, field=value keywords or an expression"
            )
        if condition is not None and not isinstance(condition, (Q, Expression)):
            raise ParameterError(f"When() condition must be a Q object or an expression; got {condition!r}")
        parts = [condition] if condition is not None else []
        self.condition: Any = Q(*parts, **filters) if filters else condition
        self.result = as_expression(then)

    def source_expressions(self) -> list[Expression]:
        sources = [self.result]
        if isinstance(self.condition, Expression):
            sources.append(self.condition)
        return sources

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        raise QueryError("When() is only valid inside Case(...)")

    def resolve_branch(self, ctx: Resolver) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
        from .conditions import resolve_condition

        condition = resolve_condition(ctx, self.condition)
        return condition, self.result.resolve(ctx)


class Case(Expression):
    """``CASE WHEN ... THEN ... ELSE default END``: ``Case(When(age__lt=18, then=Value("minor")), default=...)``."""

    __slots__ = ("default", "output_field", "whens")

    def __init__(self, *whens: When, default: Any = None, output_field: Any = None) -> None:
        if not whens:
            raise ParameterError("Case() needs at least one When(...)")
        for when in whens:
            if not isinstance(when, When):
                raise ParameterError(f"Case() takes When(...) branches; got {when!r}")
        self.whens = whens
        self.default = None if default is None else as_expression(default)
        self.output_field = output_field

    def source_expressions(self) -> list[Expression]:
        sources: list[Expression] = list(self.whens)
        if self.default is not None:
            sources.append(self.default)
        return sources

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        branches = [when.resolve_branch(ctx) for when in self.whens]
        default = self.default.resolve(ctx) if self.default is not None else None
        return sa.case(*branches, else_=default)


# -- conversion and compiler helpers --------------------------------------------------------------------------


def is_expression(value: Any) -> bool:
    """Whether ``value`` resolves through a Resolver (an Expression, or a QueryBuilder used as a subquery)."""
    if isinstance(value, Expression):
        return True
    from .builder import QueryBuilder

    return isinstance(value, QueryBuilder)


def as_expression(value: Any) -> Expression:
    """A field name → ``F``, an expression → itself, a QueryBuilder → ``Subquery``, anything else → ``Value``."""
    if isinstance(value, Expression):
        return value
    if isinstance(value, str):
        return F(value)
    from .builder import QueryBuilder

    if isinstance(value, QueryBuilder):
        from .subqueries import Subquery

        return Subquery(value)
    return Value(value)


def shape_of(element: Any) -> Hashable:
    """A hashable key describing the SQL ``element`` renders (values excluded).

    Uses SQLAlchemy's structural cache key; an element SQLAlchemy cannot key gets a unique token, so the
    query is compiled anew each time (correct, just not cached).
    """
    key = element._generate_cache_key()
    if key is None:
        return object()
    return key.key  # type: ignore[no-any-return]


def gather_expression(
    expression: Expression,
    model: type,
    values: list[Any],
    *,
    annotations: Mapping[str, Expression] | None = None,
    outer: Resolver | None = None,
) -> Hashable:
    """Resolve ``expression`` appending its values to ``values``; returns its shape."""
    ctx = Resolver(model, values, annotations=annotations, outer=outer)
    return shape_of(expression.resolve(ctx))


def build_expression(
    expression: Expression,
    model: type,
    start: int,
    *,
    annotations: Mapping[str, Expression] | None = None,
    outer: Resolver | None = None,
) -> tuple[ColumnElement[Any], int]:
    """Resolve ``expression`` with parameters numbered from ``start``; returns (element, next number)."""
    ctx = Resolver(model, [], offset=start, annotations=annotations, outer=outer)
    element = expression.resolve(ctx)
    return element, ctx.position


def gather_set_expression(model: type, name: str, value: Any, values: list[Any]) -> Hashable:
    """Validate an expression assigned to field ``name`` in an UPDATE; append its values; return its shape."""
    expression = as_expression(value)
    if expression.contains_aggregate or expression.contains_window:
        raise ParameterError(
            f"update({name}=...) cannot use an aggregate or window function: {expression!r}",
            model=model.__name__,
        )
    expression.check_window_use()
    return gather_expression(expression, model, values)
