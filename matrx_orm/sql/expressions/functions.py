"""Database functions: ``Lower``, ``Upper``, ``Length``, ``Concat``, ``Coalesce``, ``Cast``, ``Extract``,
``Now``, ``Abs``, ``Round``, ``Greatest``, ``Least``, and the ``Func`` base for others.

String arguments name fields (``Lower("username")``); wrap literal values in ``Value(...)``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ...exceptions import ParameterError
from ...fields import Field
from .base import Expression, Fragment, node
from .coerce import as_expression

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = [
    "Abs",
    "Cast",
    "Coalesce",
    "Concat",
    "Extract",
    "Func",
    "Greatest",
    "Least",
    "Length",
    "Lower",
    "Now",
    "DateTrunc",
    "Round",
    "Trim",
    "Upper",
]


class Func(Expression):
    """A SQL function call ``function(arg, ...)``; subclasses set ``function`` and the allowed arity."""

    function: ClassVar[str] = ""
    arity: ClassVar[int | None] = None
    min_args: ClassVar[int] = 0
    #: SQLAlchemy type of the result, when fixed
    result_type: ClassVar[Any] = None

    def __init__(self, *expressions: Any, output_field: Any = None) -> None:
        name = type(self).__name__
        if self.arity is not None and len(expressions) != self.arity:
            raise ParameterError(f"{name}() takes {self.arity} argument(s); got {len(expressions)}")
        if len(expressions) < self.min_args:
            raise ParameterError(f"{name}() takes at least {self.min_args} arguments; got {len(expressions)}")
        self.source = [as_expression(e) for e in expressions]
        self.output_field = output_field

    def source_expressions(self) -> list[Expression]:
        return list(self.source)

    def arguments(self, scope: Scope) -> list[Fragment]:
        """The fragments of the arguments, in order."""
        return [scope.expression(e) for e in self.source]

    def call(self, *arguments: Any) -> Any:
        """The SQLAlchemy function call over built arguments (``sa.func.<function>``, typed by
        ``result_type``)."""
        kwargs = {"type_": self.result_type} if self.result_type is not None else {}
        return getattr(sa.func, self.function)(*arguments, **kwargs)

    def compile(self, scope: Scope) -> Fragment:
        return node((type(self), self.function), self.call, *self.arguments(scope))

    def __repr__(self) -> str:
        inner = ", ".join(repr(e) for e in self.source)
        return f"{type(self).__name__}({inner})"


class Lower(Func):
    function = "lower"
    arity = 1
    result_type = sa.Text()


class Upper(Func):
    function = "upper"
    arity = 1
    result_type = sa.Text()


class Trim(Func):
    """``trim(text)``: leading and trailing spaces removed."""

    function = "trim"
    arity = 1
    result_type = sa.Text()


class Length(Func):
    function = "length"
    arity = 1
    result_type = sa.Integer()


class Concat(Func):
    """``concat(a, b, ...)``: NULL arguments count as empty text (PostgreSQL's ``concat``)."""

    function = "concat"
    min_args = 2
    result_type = sa.Text()


class Coalesce(Func):
    """The first non-NULL argument."""

    function = "coalesce"
    min_args = 2


class Greatest(Func):
    function = "greatest"
    min_args = 2


class Least(Func):
    function = "least"
    min_args = 2


class Abs(Func):
    function = "abs"
    arity = 1


class Now(Func):
    """``now()``: the transaction's start time (timestamptz)."""

    function = "now"
    arity = 0
    result_type = sa.DateTime(timezone=True)


class Round(Func):
    """``round(x)`` or ``round(x, places)`` (``places`` needs a numeric ``x``; cast floats first)."""

    function = "round"

    def __init__(self, expression: Any, places: int = 0, output_field: Any = None) -> None:
        if isinstance(places, bool) or not isinstance(places, int):
            raise ParameterError(f"Round() places must be an int; got {places!r}")
        super().__init__(expression, output_field=output_field)
        self.places = places

    def compile(self, scope: Scope) -> Fragment:
        (argument,) = self.arguments(scope)
        if self.places == 0:
            return node((Round, 0), sa.func.round, argument)
        return node((Round, "places"), sa.func.round, argument, scope.bind(self.places, sa.Integer()))


#: type names accepted by ``Cast(expr, "name")``
CAST_TYPES: dict[str, Any] = {
    "smallint": sa.SmallInteger,
    "integer": sa.Integer,
    "int": sa.Integer,
    "bigint": sa.BigInteger,
    "numeric": sa.Numeric,
    "decimal": sa.Numeric,
    "real": sa.REAL,
    "float": sa.Float,
    "double precision": sa.Double,
    "text": sa.Text,
    "varchar": sa.String,
    "boolean": sa.Boolean,
    "bool": sa.Boolean,
    "date": sa.Date,
    "time": sa.Time,
    "timestamp": sa.DateTime,
    "timestamptz": lambda: sa.DateTime(timezone=True),
    "interval": sa.Interval,
    "uuid": postgresql.UUID,
    "jsonb": postgresql.JSONB,
    "json": postgresql.JSON,
}


class Cast(Expression):
    """``CAST(expr AS type)``; ``type`` is a name from ``CAST_TYPES`` (``"integer"``, ``"text"``, ...), a
    field instance or a SQLAlchemy type."""

    def __init__(self, expression: Any, output_type: Any) -> None:
        self.source = as_expression(expression)
        self.sa_type = _cast_type(output_type)
        self.output_field = output_type if isinstance(output_type, Field) else None

    def source_expressions(self) -> list[Expression]:
        return [self.source]

    def compile(self, scope: Scope) -> Fragment:
        tag = (Cast, type(self.sa_type), repr(self.sa_type))
        return node(tag, partial(_cast, self.sa_type), scope.expression(self.source))


def _cast(sa_type: Any, element: Any) -> Any:
    return sa.cast(element, sa_type)


def _cast_type(output_type: Any) -> Any:
    if isinstance(output_type, str):
        factory = CAST_TYPES.get(output_type.lower().strip())
        if factory is None:
            raise ParameterError(
                f"Cast() does not know the type {output_type!r}; use one of {sorted(CAST_TYPES)}"
            )
        return factory()
    if isinstance(output_type, Field):
        return output_type.sa_type()
    if isinstance(output_type, sa.types.TypeEngine):
        return output_type
    if isinstance(output_type, type) and issubclass(output_type, sa.types.TypeEngine):
        return output_type()
    raise ParameterError(f"Cast() needs a type name, a field or a SQLAlchemy type; got {output_type!r}")


#: the parts ``Extract`` accepts (PostgreSQL's ``EXTRACT(part FROM ...)`` field names)
EXTRACT_PARTS = frozenset(
    {
        "century",
        "day",
        "decade",
        "dow",
        "doy",
        "epoch",
        "hour",
        "isodow",
        "isoyear",
        "julian",
        "microseconds",
        "millennium",
        "milliseconds",
        "minute",
        "month",
        "quarter",
        "second",
        "timezone",
        "timezone_hour",
        "timezone_minute",
        "week",
        "year",
    }
)


class Extract(Expression):
    """``EXTRACT(part FROM expr)``: ``Extract("created_at", "year")``; the part must be in ``EXTRACT_PARTS``."""

    def __init__(self, expression: Any, part: str) -> None:
        if not isinstance(part, str) or part.lower() not in EXTRACT_PARTS:
            raise ParameterError(f"Extract() part must be one of {sorted(EXTRACT_PARTS)}; got {part!r}")
        self.source = as_expression(expression)
        self.part = part.lower()

    def source_expressions(self) -> list[Expression]:
        return [self.source]

    def compile(self, scope: Scope) -> Fragment:
        return node((Extract, self.part), partial(sa.extract, self.part), scope.expression(self.source))


#: the precisions ``DateTrunc`` accepts (PostgreSQL's ``date_trunc`` field names)
DATE_TRUNC_PRECISIONS = frozenset(
    {
        "microseconds",
        "milliseconds",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "month",
        "quarter",
        "year",
        "decade",
        "century",
        "millennium",
    }
)


class DateTrunc(Expression):
    """``date_trunc(precision, expr)``: ``DateTrunc("month", "created_at")`` (the precision is a bound value,
    checked against ``DATE_TRUNC_PRECISIONS``)."""

    def __init__(self, precision: str, expression: Any) -> None:
        if not isinstance(precision, str) or precision.lower() not in DATE_TRUNC_PRECISIONS:
            raise ParameterError(
                f"DateTrunc() precision must be one of {sorted(DATE_TRUNC_PRECISIONS)}; got {precision!r}"
            )
        self.precision = precision.lower()
        self.source = as_expression(expression)

    def source_expressions(self) -> list[Expression]:
        return [self.source]

    @property
    def output_field(self) -> Any:
        return getattr(self.source, "output_field", None)

    def compile(self, scope: Scope) -> Fragment:
        precision = scope.bind(self.precision, sa.Text())
        return node(DateTrunc, _date_trunc, precision, scope.expression(self.source))


def _date_trunc(precision: Any, element: Any) -> Any:
    return sa.func.date_trunc(precision, element, type_=element.type)
