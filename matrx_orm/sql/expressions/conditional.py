"""``Case``/``When``: ``CASE WHEN ... THEN ... ELSE default END``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...exceptions import ParameterError, QueryError
from ..q import Q
from .base import Expression, Fragment
from .coerce import as_expression

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = ["Case", "When"]


class When(Expression):
    """One branch of ``Case``: ``When(Q(...) | condition keywords | boolean expression, then=value)``."""

    __slots__ = ("condition", "result")

    def __init__(self, condition: Any = None, then: Any = None, **filters: Any) -> None:
        if condition is None and not filters:
            raise ParameterError(
                "When() needs a condition: a Q object, field=value keywords or an expression"
            )
        if condition is not None and not isinstance(condition, Q | Expression):
            raise ParameterError(f"When() condition must be a Q object or an expression; got {condition!r}")
        parts = [condition] if condition is not None else []
        self.condition: Any = Q(*parts, **filters) if filters else condition
        self.result = as_expression(then)

    def source_expressions(self) -> list[Expression]:
        sources = [self.result]
        if isinstance(self.condition, Expression):
            sources.append(self.condition)
        return sources

    def compile(self, scope: Scope) -> Fragment:
        raise QueryError("When() is only valid inside Case(...)")


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

    def compile(self, scope: Scope) -> Fragment:
        branches = [(scope.condition(w.condition), scope.expression(w.result)) for w in self.whens]
        default = None if self.default is None else scope.expression(self.default)

        def make() -> Any:
            pairs = [(condition.build(), result.build()) for condition, result in branches]
            return sa.case(*pairs, else_=None if default is None else default.build())

        key = (Case, tuple((c.key, r.key) for c, r in branches), None if default is None else default.key)
        return Fragment(key, make)
