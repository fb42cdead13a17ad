"""Window functions: ``Window(expr, partition_by=..., order_by=..., frame=...)`` with ``RowNumber``, ``Rank``,
``DenseRank``, ``Lag``, ``Lead``, ``FirstValue``, ``LastValue``, ``NthValue``, ``Ntile``, ``CumeDist``,
``PercentRank``, or any aggregate (``Window(Sum("amount"), order_by="created_at")`` is a running total).

``frame`` is SQL frame text, parsed and checked (never spliced into the SQL): ``"ROWS BETWEEN UNBOUNDED
PRECEDING AND CURRENT ROW"``, ``"RANGE BETWEEN 3 PRECEDING AND 3 FOLLOWING"``, ``"GROUPS 1 PRECEDING"``; or a
tuple ``("rows", start, end)`` where ``None`` is unbounded, ``0`` the current row, ``-n`` n preceding and
``n`` n following. Offsets are bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import FrameClause, FrameClauseType

from ...exceptions import ParameterError
from .base import Expression, Fragment, node, order_expression
from .coerce import as_expression
from .functions import Func

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = [
    "CumeDist",
    "DenseRank",
    "FirstValue",
    "Lag",
    "LastValue",
    "Lead",
    "NthValue",
    "Ntile",
    "PercentRank",
    "Rank",
    "RowNumber",
    "Window",
]


class WindowFunction(Func):
    """A function only valid inside ``Window(...)``; most need the window's ``order_by``."""

    window_only = True
    requires_order: ClassVar[bool] = True


class RowNumber(WindowFunction):
    function = "row_number"
    arity = 0
    result_type = sa.BigInteger()


class Rank(WindowFunction):
    function = "rank"
    arity = 0
    result_type = sa.BigInteger()


class DenseRank(WindowFunction):
    function = "dense_rank"
    arity = 0
    result_type = sa.BigInteger()


class PercentRank(WindowFunction):
    function = "percent_rank"
    arity = 0
    result_type = sa.Float()


class CumeDist(WindowFunction):
    function = "cume_dist"
    arity = 0
    result_type = sa.Float()


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{what} must be a positive int; got {value!r}")
    return value


class Ntile(WindowFunction):
    """``ntile(num_buckets)``: the bucket number (1..n) of each row."""

    function = "ntile"
    result_type = sa.Integer()

    def __init__(self, num_buckets: int) -> None:
        super().__init__()
        self.num_buckets = _positive_int(num_buckets, "Ntile() num_buckets")

    def compile(self, scope: Scope) -> Fragment:
        return node(Ntile, _ntile, scope.bind(self.num_buckets, sa.Integer()))


class Lag(WindowFunction):
    """``lag(expr, offset, default)``: the value ``offset`` rows before (``default`` when there is none)."""

    function = "lag"

    def __init__(self, expression: Any, offset: int = 1, default: Any = None) -> None:
        super().__init__(expression)
        self.offset = _positive_int(offset, f"{type(self).__name__}() offset")
        self.default = None if default is None else as_expression(default)

    def source_expressions(self) -> list[Expression]:
        return [*self.source, *([self.default] if self.default is not None else [])]

    def compile(self, scope: Scope) -> Fragment:
        (argument,) = self.arguments(scope)
        offset = scope.bind(self.offset, sa.Integer())
        default = None if self.default is None else scope.expression(self.default)
        return node((type(self), self.function), self.typed_call, argument, offset, default)

    def typed_call(self, argument: Any, *rest: Any) -> Any:
        """``function(argument, ...)`` typed like ``argument`` (trailing Nones dropped)."""
        arguments = [argument, *(item for item in rest if item is not None)]
        return getattr(sa.func, self.function)(*arguments, type_=argument.type)


class Lead(Lag):
    function = "lead"


class FirstValue(WindowFunction):
    function = "first_value"
    arity = 1

    def compile(self, scope: Scope) -> Fragment:
        return node((type(self), self.function), self.typed_call, *self.arguments(scope))

    def typed_call(self, argument: Any) -> Any:
        """``function(argument)`` typed like ``argument``."""
        return getattr(sa.func, self.function)(argument, type_=argument.type)


class LastValue(FirstValue):
    """``last_value(expr)``; mind the default frame (up to the current row): pass ``frame=`` for the
    partition's real last value."""

    function = "last_value"


class NthValue(WindowFunction):
    function = "nth_value"

    def __init__(self, expression: Any, nth: int = 1) -> None:
        super().__init__(expression)
        self.nth = _positive_int(nth, "NthValue() nth")

    def compile(self, scope: Scope) -> Fragment:
        (argument,) = self.arguments(scope)
        return node(NthValue, _nth_value, argument, scope.bind(self.nth, sa.Integer()))


# -- frames -----------------------------------------------------------------------------------------------------

_BOUND = r"(UNBOUNDED\s+PRECEDING|UNBOUNDED\s+FOLLOWING|CURRENT\s+ROW|\d+\s+PRECEDING|\d+\s+FOLLOWING)"
_FRAME_BETWEEN = re.compile(
    rf"^\s*(ROWS|RANGE|GROUPS)\s+BETWEEN\s+{_BOUND}\s+AND\s+{_BOUND}\s*$", re.IGNORECASE
)
_FRAME_START = re.compile(rf"^\s*(ROWS|RANGE|GROUPS)\s+{_BOUND}\s*$", re.IGNORECASE)

#: a bound as (order rank, offset): None offset = unbounded / current row
_Bound = tuple[int, int | None]


def _parse_bound(text: str) -> _Bound:
    words = text.upper().split()
    if words == ["UNBOUNDED", "PRECEDING"]:
        return (0, None)
    if words == ["CURRENT", "ROW"]:
        return (2, None)
    if words == ["UNBOUNDED", "FOLLOWING"]:
        return (4, None)
    return (1, int(words[0])) if words[1] == "PRECEDING" else (3, int(words[0]))


def _tuple_bound(value: Any, frame: Any) -> _Bound:
    if value is None:
        return (-1, None)  # unbounded: preceding or following depending on the side
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"frame bounds must be int or None; got {value!r} in {frame!r}")
    if value == 0:
        return (2, None)
    return (1, -value) if value < 0 else (3, value)


def parse_frame(frame: Any) -> tuple[str, _Bound, _Bound]:
    """``frame`` (text or tuple) → (mode, start bound, end bound); ParameterError when it is not valid."""
    if isinstance(frame, str):
        match = _FRAME_BETWEEN.match(frame)
        if match:
            mode, start, end = (
                match.group(1).lower(),
                _parse_bound(match.group(2)),
                _parse_bound(match.group(3)),
            )
        else:
            match = _FRAME_START.match(frame)
            if not match:
                raise ParameterError(
                    f"invalid window frame {frame!r}; expected e.g. 'ROWS BETWEEN UNBOUNDED PRECEDING AND "
                    "CURRENT ROW' (ROWS/RANGE/GROUPS; bounds UNBOUNDED PRECEDING, n PRECEDING, CURRENT ROW, "
                    "n FOLLOWING, UNBOUNDED FOLLOWING)"
                )
            mode, start, end = match.group(1).lower(), _parse_bound(match.group(2)), (2, None)
    elif isinstance(frame, (tuple, list)) and len(frame) == 3 and isinstance(frame[0], str):
        mode = frame[0].lower()
        if mode not in ("rows", "range", "groups"):
            raise ParameterError(f"frame mode must be 'rows', 'range' or 'groups'; got {frame[0]!r}")
        start, end = _tuple_bound(frame[1], frame), _tuple_bound(frame[2], frame)
        start = (0, None) if start[0] == -1 else start
        end = (4, None) if end[0] == -1 else end
    else:
        raise ParameterError(f"frame must be frame text or ('rows', start, end); got {frame!r}")
    if start[0] == 4:
        raise ParameterError(f"a window frame cannot start at UNBOUNDED FOLLOWING: {frame!r}")
    if end[0] == 0:
        raise ParameterError(f"a window frame cannot end at UNBOUNDED PRECEDING: {frame!r}")
    if start[0] > end[0]:
        raise ParameterError(f"window frame starts after it ends: {frame!r}")
    return mode, start, end


_FRAME_TYPES = {
    0: FrameClauseType.UNBOUNDED,
    1: FrameClauseType.PRECEDING,
    2: FrameClauseType.CURRENT,
    3: FrameClauseType.FOLLOWING,
    4: FrameClauseType.UNBOUNDED,
}


def _ntile(buckets: Any) -> Any:
    return sa.func.ntile(buckets, type_=sa.Integer())


def _nth_value(argument: Any, nth: Any) -> Any:
    return sa.func.nth_value(argument, nth, type_=argument.type)


def _frame(scope: Scope, frame: tuple[str, _Bound, _Bound]) -> Fragment:
    """The frame clause with its offsets bound; keyed by mode and bound kinds."""
    mode, start, end = frame
    offsets = [None if bound[1] is None else scope.bind(bound[1], sa.Integer()) for bound in (start, end)]

    def make(low: Any, high: Any) -> FrameClause:
        return FrameClause(low, high, _FRAME_TYPES[start[0]], _FRAME_TYPES[end[0]])

    return node(("frame", mode, start[0], end[0]), make, *offsets)


def _names(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Expression)):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    raise ParameterError(
        f"Window() {what} expects a field name, an expression or a list of them; got {value!r}"
    )


class Window(Expression):
    """``expr OVER (PARTITION BY ... ORDER BY ... frame)``."""

    is_window = True

    def __init__(
        self,
        expression: Any,
        partition_by: Any = None,
        order_by: Any = None,
        frame: Any = None,
    ) -> None:
        if not isinstance(expression, Expression) or not (expression.window_only or expression.is_aggregate):
            raise ParameterError(
                f"Window() needs a window function (RowNumber(), Rank(), Lag(...), ...) or an aggregate "
                f"(Sum(...), ...); got {expression!r}"
            )
        self.expression = expression
        self.partition_by = [as_expression(p) for p in _names(partition_by, "partition_by")]
        self.order_by = [order_expression(o) for o in _names(order_by, "order_by")]
        if getattr(expression, "requires_order", False) and not self.order_by:
            raise ParameterError(
                f"{type(expression).__name__}() needs an ordered window: pass Window(..., order_by='field')"
            )
        self.frame = None if frame is None else parse_frame(frame)
        for source in expression.source_expressions():
            source.check_window_use()

    def source_expressions(self) -> list[Expression]:
        return [self.expression, *self.partition_by, *self.order_by]

    @property
    def contains_aggregate(self) -> bool:
        return any(e.contains_aggregate for e in (*self.partition_by, *self.order_by))

    def check_window_use(self, inside_window: bool = False) -> None:
        for source in (*self.partition_by, *self.order_by):
            source.check_window_use()

    @property
    def output_field(self) -> Any:
        return getattr(self.expression, "output_field", None)

    def compile(self, scope: Scope) -> Fragment:
        function = scope.expression(self.expression)
        partition = [scope.expression(p) for p in self.partition_by]
        order = [scope.expression(o) for o in self.order_by]
        frame = None if self.frame is None else _frame(scope, self.frame)
        mode = None if self.frame is None else self.frame[0]

        def make() -> Any:
            kwargs: dict[str, Any] = {}
            if frame is not None:
                kwargs["range_" if mode == "range" else str(mode)] = frame.build()
            return function.build().over(
                partition_by=[p.build() for p in partition] or None,
                order_by=[o.build() for o in order] or None,
                **kwargs,
            )

        key = (
            Window,
            function.key,
            tuple(p.key for p in partition),
            tuple(o.key for o in order),
            None if frame is None else frame.key,
        )
        return Fragment(key, make)

    def __repr__(self) -> str:
        return f"Window({self.expression!r})"
