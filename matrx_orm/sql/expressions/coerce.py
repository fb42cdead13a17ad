"""What counts as an expression, and turning arguments into one."""

from __future__ import annotations

from typing import Any

from ..spec import Queryable
from .base import Expression, F, Value
from .subqueries import Subquery

__all__ = ["as_expression", "is_expression"]


#: what compiles as an expression (a tuple: ``isinstance`` against a union would build the union each call)
_EXPRESSIONS = (Expression, Queryable)


def is_expression(value: Any) -> bool:
    """Whether ``value`` compiles as an expression (an Expression, or a query used as a subquery)."""
    return isinstance(value, _EXPRESSIONS)


def as_expression(value: Any) -> Expression:
    """A field name → ``F``, an expression → itself, a query → ``Subquery``, anything else → ``Value``."""
    if isinstance(value, Expression):
        return value
    if isinstance(value, str):
        return F(value)
    if isinstance(value, Queryable):
        return Subquery(value)
    return Value(value)
