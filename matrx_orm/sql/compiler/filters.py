"""Filter conditions that involve expressions, resolved in one pass through a :class:`Resolver`.

The compiler handles plain ``field__lookup=value`` conditions itself (its fast path). A condition goes
through here when it is an expression (``Exists(...)``, ``~Exists(...)``), when its value is an expression
(``age__gt=F("min_age")``, ``user_id=OuterRef("id")``, ``id__in=<QueryBuilder>``), or when it names an
annotation of the query (``total__gt=100`` after ``annotate(total=Sum(...))``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ORMException, ParameterError, QueryError
from .expressions import Expression, PendingOuter, Resolver, as_expression, shape_of, source_column
from .lookups import In, IsNull, get_lookup
from .q import Q

__all__ = ["check_condition", "condition_needs_resolver", "resolve_condition", "uses_names"]


class AnnotationField:
    """Stands in for a model field when a filter names an annotation: values pass through unchanged."""

    lookup_family = "other"
    needs_from_db = False

    def __init__(self, name: str, model: Any, output_field: Any = None) -> None:
        self.name = name
        self.model = model
        self.output_field = output_field

    def to_db(self, value: Any) -> Any:
        return self.output_field.to_db(value) if self.output_field is not None else value

    def bind_type(self) -> Any:
        return self.output_field.bind_type() if self.output_field is not None else None


def _is_resolvable(value: Any) -> bool:
    from .compiler import RESOLVABLE

    return isinstance(value, RESOLVABLE)


def condition_needs_resolver(node: Any) -> bool:
    """Whether a Q child must be resolved here rather than by the compiler's fast path."""
    if isinstance(node, Expression):
        return True
    return isinstance(node, tuple) and len(node) == 2 and _is_resolvable(node[1])


def uses_names(node: Any, names: Mapping[str, Any] | set[str]) -> bool:
    """Whether a Q tree refers to any of ``names`` (annotation names) by its keys."""
    if isinstance(node, Q):
        return any(uses_names(child, names) for child in node.children)
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
        return node[0].split("__", 1)[0] in names
    return False


def _split_key(ctx: Resolver, key: str) -> tuple[Any, Any, Any]:
    """``key`` → (column expression, field-like, lookup)."""
    name, _, rest = key.partition("__")
    if name in ctx.annotations:
        expression = ctx.annotations[name]
        field = AnnotationField(name, ctx.model, expression.output_field)
        if "__" in rest:
            from ..exceptions import UnknownLookupError
            from .lookups import lookup_names

            raise UnknownLookupError(name=rest, choices=lookup_names(field), model=ctx.meta.model_name)
        return ctx.column(name), field, get_lookup(field, rest or "exact")
    from .compiler import resolve_filter_key

    field, lookup = resolve_filter_key(ctx.model, key)
    if ctx.source is not None:
        return source_column(ctx.source, field.column_name), field, lookup
    return ctx.meta.columns[field.name], field, lookup


def resolve_condition(ctx: Resolver, node: Any) -> ColumnElement[bool]:
    """The boolean SQLAlchemy expression for a Q tree, ``(key, value)`` pair or boolean expression."""
    if isinstance(node, Q):
        parts = [resolve_condition(ctx, child) for child in node.children]
        if not parts:
            combined: ColumnElement[bool] = sa.true()
        elif len(parts) == 1:
            combined = parts[0]
        else:
            combined = sa.or_(*parts) if node.connector == Q.OR else sa.and_(*parts)
        return sa.not_(combined) if node.negated else combined
    if isinstance(node, Expression):
        return node.resolve(ctx)
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
        key, value = node
        if "__" in key and key.partition("__")[0] not in ctx.annotations:
            from .relation_filters import relation_condition

            crossing = relation_condition(ctx.model, key, value)  # author__name=...: an EXISTS
            if crossing is not None:
                return crossing.resolve(ctx)
        column, field, lookup = _split_key(ctx, key)
        if _is_resolvable(value):
            return _expression_lookup(ctx, column, lookup, as_expression(value), key)
        try:
            raw = lookup.values(field, value)
        except ORMException as exc:
            exc.enrich(model=ctx.meta.model_name, details={"filter": key})
            raise
        lookup.shape(value)
        binds = [ctx.bind(item, lookup.bind_type(field)) for item in raw]
        return lookup.expr(column, binds, value)  # type: ignore[no-any-return]
    raise ParameterError(
        f"filter() takes Q objects, field=value keywords and expressions; got {node!r}",
        model=ctx.meta.model_name,
    )


def _expression_lookup(
    ctx: Resolver, column: Any, lookup: Any, expression: Expression, key: str
) -> ColumnElement[bool]:
    if isinstance(lookup, IsNull):
        raise ParameterError(f"'{key}' expects True or False, not an expression", model=ctx.meta.model_name)
    if isinstance(lookup, In):
        select = getattr(expression, "select_statement", None)
        if select is None:
            raise ParameterError(
                f"'{key}' takes a list or a query (QueryBuilder / Subquery / cte.values()); got {expression!r}",
                model=ctx.meta.model_name,
            )
        return column.in_(select(ctx))  # type: ignore[no-any-return]
    if getattr(lookup, "key_path", None) is not None:
        raise ParameterError(
            f"'{key}': JSON key lookups compare with plain values, not expressions", model=ctx.meta.model_name
        )
    resolved = expression.resolve(ctx)
    return lookup.expr(column, [resolved], expression)  # type: ignore[no-any-return]


def check_condition(model: type, node: Any, annotations: Mapping[str, Expression] | None = None) -> None:
    """Resolve a condition once against a scratch resolver so bad names fail where they are written."""
    ctx = Resolver(model, [], annotations=annotations, outer=PendingOuter(model))
    resolve_condition(ctx, node)


def gather_condition(
    model: type, node: Any, values: list[Any], annotations: Mapping[str, Expression] | None = None
) -> Hashable:
    """Resolve ``node`` appending its values; returns its shape (for the compiler's cache key)."""
    ctx = Resolver(model, values, annotations=annotations)
    return ("resolved", shape_of(resolve_condition(ctx, node)))


def build_condition(
    model: type,
    node: Any,
    start: int,
    bound: list[Any] | None = None,
    annotations: Mapping[str, Expression] | None = None,
) -> tuple[ColumnElement[bool], int]:
    """Resolve ``node`` with parameters numbered from ``start``; returns (expression, next number). The
    values it binds are appended to ``bound`` when given."""
    values: list[Any] = []
    ctx = Resolver(model, values, offset=start, annotations=annotations)
    element = resolve_condition(ctx, node)
    if bound is not None:
        bound.extend(values)
    return element, ctx.position


def no_window(expression: Expression, name: str, model_name: str) -> None:
    if expression.contains_window:
        raise QueryError(
            f"cannot filter on '{name}': it is a window function; window results can only be filtered in an "
            "outer query (use the values in Python, or a CTE)",
            model=model_name,
        )
