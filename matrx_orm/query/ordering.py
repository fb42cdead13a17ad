"""Reversing a query's ordering, for ``last()``: every item flips direction and NULL placement."""

from __future__ import annotations

from typing import Any

from .expressions import OrderBy, order_expression

__all__ = ["reverse_ordering"]


def reverse_item(item: Any) -> Any:
    """``"name"`` ↔ ``"-name"``; an expression or ``OrderBy`` becomes the opposite ``OrderBy``.

    An explicit ``nulls_last`` flips too (``desc(nulls_last=True)`` → ``asc(nulls_last=False)``); without
    one, PostgreSQL's defaults (NULLs last ascending, first descending) already reverse with the direction.
    """
    if isinstance(item, str):
        return item[1:] if item.startswith("-") else f"-{item.lstrip('+')}"
    ordering = order_expression(item)
    assert isinstance(ordering, OrderBy)
    nulls_last = None if ordering.nulls_last is None else not ordering.nulls_last
    return OrderBy(ordering.expression, descending=not ordering.descending, nulls_last=nulls_last)


def reverse_ordering(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """Every ``order_by`` item reversed, in the same order of precedence."""
    return tuple(reverse_item(item) for item in items)
