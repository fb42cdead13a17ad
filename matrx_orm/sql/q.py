"""``Q``: a small boolean tree of filter conditions (``|``, ``&``, ``~``), and how to describe one in messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

#: the usual filter values, told apart from one-pass iterators without an ``isinstance`` check
_NOT_ITERATORS = frozenset(
    {int, str, bool, float, type(None), list, tuple, set, dict, bytes, UUID, Decimal, datetime, date}
)


def _read_once(value: Any) -> Any:
    """A one-pass iterator read into a tuple; any other value as it is."""
    return tuple(value) if isinstance(value, Iterator) else value


class Q:
    """Conditions combined with AND (default) or OR, optionally negated.

    Children are ``(key, value)`` pairs such as ``("age__gt", 18)``, nested ``Q`` objects, or
    expressions (``Exists(...)``, SQLAlchemy boolean clauses). A keyword value that can be read only once (a
    generator, ``map(...)``, ``iter(...)``) is read here, into a tuple: a query may read its values more than
    once (checking them, compiling, running again).
    """

    AND = "AND"
    OR = "OR"
    __slots__ = ("children", "connector", "negated")

    def __init__(
        self, *conditions: Any, _connector: str = AND, _negated: bool = False, **filters: Any
    ) -> None:
        self.children: list[Any] = [*conditions, *filters.items()]
        for value in filters.values():
            if value.__class__ not in _NOT_ITERATORS and isinstance(value, Iterator):
                self.children = [*conditions, *((k, _read_once(v)) for k, v in filters.items())]
                break
        self.connector = _connector
        self.negated = _negated

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        if not other.children:
            return self._copy()
        if not self.children:
            return other._copy()
        return Q(self, other, _connector=connector)

    def __or__(self, other: Q) -> Q:
        return self._combine(other, Q.OR)

    def __and__(self, other: Q) -> Q:
        return self._combine(other, Q.AND)

    def __invert__(self) -> Q:
        copy = self._copy()
        copy.negated = not self.negated
        return copy

    def _copy(self) -> Q:
        clone = Q(_connector=self.connector, _negated=self.negated)
        clone.children = list(self.children)
        return clone

    def __bool__(self) -> bool:
        return bool(self.children)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Q) and (self.connector, self.negated, self.children) == (
            other.connector,
            other.negated,
            other.children,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}Q({inner})"


def describe(conditions: tuple[Any, ...]) -> Any:
    """The filters of a query for error messages: ``{"name": "ada", "age__gt": 3}`` when they are plain
    ANDed keywords, else a nested ``{"OR": [...]}`` / ``{"NOT": [...]}`` structure."""
    parts = [_describe(node) for node in conditions]
    if all(isinstance(p, dict) and "NOT" not in p and "OR" not in p for p in parts):
        merged: dict[str, Any] = {}
        for part in parts:
            merged.update(part)
        return merged
    return parts


def _describe(node: Any) -> Any:
    if isinstance(node, Q):
        inner = [_describe(child) for child in node.children]
        if not node.negated and node.connector == Q.AND and all(isinstance(i, dict) for i in inner):
            merged: dict[str, Any] = {}
            for item in inner:
                merged.update(item)
            return merged
        return {"NOT" if node.negated else node.connector: inner}
    if isinstance(node, tuple):
        return {node[0]: node[1]}
    return repr(node)
