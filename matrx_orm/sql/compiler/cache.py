"""Turns query state into SQL text, once per query *shape*.

Every statement is a SQLAlchemy Core construct compiled with the asyncpg dialect. Bound parameters are
named ``v0, v1, ...`` in the order their values are gathered, so a cached statement only needs the values
of the next query of the same shape: ``Compiled.order`` maps the statement's ``$n`` positions to them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as _asyncpg_dialect
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ORMException, ParameterError, QueryError
from .expressions import Expression
from .lookups import get_lookup
from .q import Q

DIALECT = _asyncpg_dialect.dialect()
#: entries kept by each per-shape cache before it starts over (keys can come from callers' input: JSON key
#: paths in filter keywords, field lists of values()/select())
CACHE_LIMIT = 4096

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V) -> V:
    """Store ``value`` under ``key``, emptying ``cache`` first when it holds ``CACHE_LIMIT`` entries."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


@dataclass(frozen=True, slots=True)
class Compiled:
    """SQL text with ``$n`` placeholders, and for each placeholder the index of its value."""

    sql: str
    order: tuple[int, ...]

    def params(self, values: list[Any]) -> list[Any]:
        return [values[i] for i in self.order]


_cache: dict[Hashable, Compiled] = {}

#: filter values resolved through ``query/conditions.py`` (expressions; the builder adds QueryBuilder)
RESOLVABLE: tuple[type, ...] = (Expression,)


def compiled(key: Hashable, build: Callable[[], sa.sql.Executable]) -> Compiled:
    """The compiled statement for ``key``, building and compiling it on the first request."""
    found = _cache.get(key)
    if found is None:
        found = remember(_cache, key, compile_statement(build()))
    return found


def compile_statement(statement: Any) -> Compiled:
    """Compile with the PostgreSQL (asyncpg) dialect; SQLAlchemy's compile errors become ``QueryError``."""
    try:
        result = statement.compile(dialect=DIALECT)  # a SQLCompiler: positiontup is set for numeric_dollar
    except sa.exc.SQLAlchemyError as exc:
        raise QueryError(f"cannot compile this query: {exc}") from exc
    names = result.positiontup or []
    try:
        order = tuple(int(name[1:]) for name in names)
    except ValueError as exc:  # a literal slipped in as an anonymous bind: a bug, not user error
        raise QueryError(f"internal error: unnamed bound parameter in {result.string!r}") from exc
    return Compiled(result.string, order)


def bind(index: int, type_: Any = None) -> Any:
    """The bound parameter for value number ``index``."""
    return sa.bindparam(f"v{index}", type_=type_)


def clear_cache() -> None:
    _cache.clear()


# -- filters ----------------------------------------------------------------------------------------------------

_resolved: dict[tuple[type, str], tuple[Any, Any]] = {}


def resolve_filter_key(model: type, key: str) -> tuple[Any, Any]:
    """``"age__gt"`` → (age field, gt lookup), with clear errors for unknown names."""
    cache_key = (model, key)
    found = _resolved.get(cache_key)
    if found is not None:
        return found
    meta = model._meta  # type: ignore[attr-defined]
    name, _, rest = key.partition("__")
    field = meta.get_field(name)
    if rest and getattr(field, "lookup_family", None) == "json":
        from .json_lookups import json_lookup

        return remember(_resolved, cache_key, (field, json_lookup(field, rest)))
    if "__" in rest:
        from ..exceptions import UnknownLookupError
        from .lookups import lookup_names

        raise UnknownLookupError(name=rest, choices=lookup_names(field), model=meta.model_name)
    return remember(_resolved, cache_key, (field, get_lookup(field, rest or "exact")))


def check_names(model: type, node: Any) -> None:
    """Resolve the field and lookup of every ``key=value`` in a Q tree (errors name the bad one)."""
    if isinstance(node, Q):
        for child in node.children:
            check_names(model, child)
    elif isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
        resolve_filter_key(model, node[0])
        if isinstance(node[1], RESOLVABLE):
            _check_resolved(model, node)
    elif isinstance(node, Expression):
        _check_resolved(model, node)
    else:
        raise ParameterError(
            f"filter() takes Q objects and field=value keywords; got {node!r}", model=model.__name__
        )


def _check_resolved(model: type, node: Any) -> None:
    """Check a condition with expressions (``Exists``, ``fk__field=...``, ``id__in=<query>``): the shape walk
    validates names and values without building SQL; anything it cannot walk, or that fails, is resolved
    once through a scratch resolver, which raises the user-facing error."""
    from .shapes import PendingWalk, ShapeWalk

    try:
        ShapeWalk(model, [], outer=PendingWalk(model, [])).condition(node)
        return
    except Exception:  # noqa: BLE001, S110 (the resolver below raises the real error, or accepts the node)
        pass
    from .conditions import check_condition

    check_condition(model, node)


def gather(model: type, conditions: Iterable[Any], values: list[Any], *, walk: bool = False) -> Hashable:
    """Validate the filter values, append them to ``values`` and return the filter's shape.

    Conditions with expressions are resolved through SQLAlchemy and keyed on its cache key; ``walk=True``
    describes them with the shape walk (``query/shapes.py``) instead, which builds no SQL — the caller then
    checks, when it builds the statement of a new shape, that the resolver bound the same values.
    """
    return tuple(_gather(model, condition, values, walk) for condition in conditions)


def _gather(model: type, node: Any, values: list[Any], walk: bool = False) -> Hashable:
    if isinstance(node, Q):
        return (
            node.connector,
            node.negated,
            tuple(_gather(model, child, values, walk) for child in node.children),
        )
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
        key, value = node
        if isinstance(value, RESOLVABLE):
            return _gather_resolved(model, node, values, walk)
        field, lookup = resolve_filter_key(model, key)
        shape = lookup.shape(value)
        try:
            values.extend(lookup.values(field, value))
        except ORMException as exc:
            exc.enrich(model=model.__name__, details={"filter": key})
            raise
        return (key, shape)
    if isinstance(node, Expression):
        return _gather_resolved(model, node, values, walk)
    raise ParameterError(
        f"filter() takes Q objects and field=value keywords; got {node!r}", model=model.__name__
    )


def _gather_resolved(model: type, node: Any, values: list[Any], walk: bool) -> Hashable:
    if walk:
        from .shapes import ShapeWalk

        start = len(values)
        try:
            return ("walk", ShapeWalk(model, values).condition(node))
        except Exception:  # noqa: BLE001 (the resolver below raises the real error, or builds it)
            del values[start:]
    from .conditions import gather_condition

    return gather_condition(model, node, values)


def build_where(
    model: type, conditions: Iterable[Any], start: int = 0, *, bound: list[Any] | None = None
) -> tuple[ColumnElement[bool] | None, int]:
    """The WHERE expression for ``conditions`` with binds numbered from ``start``; returns (expr, next).
    ``bound`` receives the values the expression binds (to check them against what ``gather`` found)."""
    counter = [start]
    sink: list[Any] = [] if bound is None else bound
    parts = [_build(model, condition, counter, sink) for condition in conditions]
    if not parts:
        return None, counter[0]
    return (parts[0] if len(parts) == 1 else sa.and_(*parts)), counter[0]


def _build(model: type, node: Any, counter: list[int], bound: list[Any]) -> ColumnElement[bool]:
    if isinstance(node, Q):
        parts = [_build(model, child, counter, bound) for child in node.children]
        if not parts:
            combined: ColumnElement[bool] = sa.true()
        elif len(parts) == 1:
            combined = parts[0]
        else:
            combined = sa.or_(*parts) if node.connector == Q.OR else sa.and_(*parts)
        return sa.not_(combined) if node.negated else combined
    if isinstance(node, Expression) or isinstance(node[1], RESOLVABLE):
        from .conditions import build_condition

        element, counter[0] = build_condition(model, node, counter[0], bound)
        return element
    key, value = node
    field, lookup = resolve_filter_key(model, key)
    raw = lookup.values(field, value)
    bound.extend(raw)
    count = len(raw)
    binds = [bind(counter[0] + i, lookup.bind_type(field)) for i in range(count)]
    counter[0] += count
    column = model._meta.columns[field.name]  # type: ignore[attr-defined]
    return lookup.expr(column, binds, value)


# -- ordering ------------------------------------------------------------------------------------------------------


def order_clauses(model: type, order_by: Iterable[str]) -> list[Any]:
    meta = model._meta  # type: ignore[attr-defined]
    clauses = []
    for item in order_by:
        descending = item.startswith("-")
        column = meta.column(item.lstrip("-+"))
        clauses.append(column.desc() if descending else column.asc())
    return clauses
