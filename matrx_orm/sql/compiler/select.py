"""SELECT statements for queries that use the advanced features (annotations, grouping, DISTINCT, row
locks, CTEs, set operations), and for subqueries.

Like the builder's fast path, the compiled SQL is cached per query *shape*: :func:`select_shape` walks the
state and its expressions (``query/shapes.py``) in the order :func:`select_statement` resolves them,
gathering the values and a hashable key, so a repeated shape binds new values without building any
SQLAlchemy construct (subqueries, ``EXISTS`` of relation filters and set operations included). A state the
walk does not know (CTEs, custom expressions, ...) is resolved through one :class:`Resolver` every time and
keyed on SQLAlchemy's structural cache key of the statement, so compilation still happens once per shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on as pg_distinct_on

from ..exceptions import ParameterError, QueryError
from ..transaction import current_transaction
from . import compiler
from .conditions import resolve_condition, uses_names
from .cte import cte_column
from .expressions import Expression, Resolver, as_expression, order_expression
from .shapes import NoShape, ShapeMismatch, ShapeWalk, check_bound

if TYPE_CHECKING:
    from .builder import QueryBuilder, QueryState

__all__ = ["compile_select", "compile_shaped", "select_shape", "select_statement"]


def compile_select(
    qs: QueryBuilder[Any], names: Sequence[str], kind: str
) -> tuple[compiler.Compiled, list[Any]]:
    """Compile (cached by shape) the SELECT of ``names`` for an advanced query; returns (statement, params)."""
    state = qs._state
    if state.nearest is not None and (
        state.combined
        or state.group_by
        or state.distinct
        or state.distinct_on
        or any(expr.contains_aggregate for _, expr in state.annotations)
    ):
        raise QueryError(
            "nearest() cannot be combined with group_by/aggregates/distinct/union; "
            "annotate() with VectorDistance(...) and order_by() instead",
            model=qs._meta.model_name,
        )
    if state.lock is not None and current_transaction(qs._database) is None:
        raise QueryError(
            "select_for_update() must run inside transaction(): outside one the lock is released at once",
            model=qs._meta.model_name,
            operation="select_for_update",
        )
    statement_kind = kind if kind in ("count", "exists") else "rows"
    if state.group_by and statement_kind == "rows":
        _check_grouped_selection(state, names)
    distance = kind == "rows"
    values: list[Any] = []
    try:
        shape = select_shape(state, ShapeWalk(state.model, values), names, statement_kind)
    except Exception:  # noqa: BLE001 (anything unusual: the resolver below builds it, or raises the error)
        shape = None
    if shape is not None:
        compiled = compile_shaped(
            ("advanced", statement_kind, distance, shape),
            values,
            lambda ctx: select_statement(state, ctx, names, statement_kind, distance=distance),
            state.model,
        )
        if compiled is not None:
            return compiled, compiled.params(values)
    values = []
    statement = select_statement(
        state, Resolver(state.model, values), names, statement_kind, distance=distance
    )
    compiled = compile_resolved(statement, "advanced")
    return compiled, compiled.params(values)  # in the order the SQL text reads them (GROUP BY before HAVING)


def compile_resolved(statement: Any, tag: str) -> compiler.Compiled:
    """Compile a statement built through a Resolver, cached on SQLAlchemy's structural cache key."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:  # something SQLAlchemy cannot key: compile every time
        return compiler.compile_statement(statement)
    return compiler.compiled((tag, cache_key.key), lambda: statement)


def compile_shaped(
    key: Any, values: list[Any], build: Any, model: type, start: int = 0
) -> compiler.Compiled | None:
    """The compiled statement for ``key`` (a shape from :func:`select_shape`); on a miss, ``build(ctx)``
    makes it through a fresh Resolver whose bound values must equal ``values``. None when they do not (the
    caller falls back to the resolver path; the shape is not cached)."""

    def checked() -> Any:
        bound: list[Any] = []
        statement = build(Resolver(model, bound, offset=start))
        check_bound(bound, values, key)
        return statement

    try:
        return compiler.compiled(key, checked)
    except ShapeMismatch:
        return None


def select_shape(
    state: QueryState,
    walk: ShapeWalk,
    names: Sequence[str],
    kind: str = "rows",
    *,
    ordered: bool = True,
) -> Any:
    """What :func:`select_statement` would render for these arguments, as a hashable key; the values it
    would bind are appended to ``walk.values`` in the same order. Raises (``NoShape`` or a validation error)
    for states it does not describe — callers then use :func:`select_statement`. ``ordered=False`` describes
    the state without its ``order_by`` (``aggregate()``)."""
    if state.ctes or state.source_cte is not None:
        raise NoShape("CTE")
    if state.combined:
        return _compound_shape(state, walk, names, kind)
    if state.lock is not None and kind == "rows" and _unlockable(state):
        raise NoShape("lock")  # the resolver raises the QueryError
    if state.distinct_on and state.order_by:
        _check_distinct_order(state)
    # a correlated subquery over its own table reads an alias of it (select_statement)
    aliased = walk.outer is not None and walk.outer.model is walk.model
    annotations: dict[str, Expression] = dict(state.annotations)
    walk.annotations = annotations
    everything = walk.walk_annotations()  # grouping, HAVING and lock checks look at all of them
    if kind != "rows" and (state.group_by or state.distinct or state.distinct_on):
        names = _counted_names(state, names, walk.meta)
    columns = tuple(walk.column(name) for name in names)
    where = tuple(walk.condition(q) for q in state.where)
    having = tuple(walk.condition(q) for q in state.having)
    aggregate_names = {name for name, expr in annotations.items() if expr.contains_aggregate}
    if state.group_by:
        group: tuple[Any, ...] = tuple(
            walk.column(item) if isinstance(item, str) else walk.expression(as_expression(item))
            for item in state.group_by
        )
    elif aggregate_names:
        group = tuple(
            walk.column(name)
            for name in names
            if name not in aggregate_names and not (name in annotations and annotations[name].contains_window)
        )
    else:
        group = ()
    distinct_on = tuple(walk.column(name) for name in state.distinct_on)
    nearest = None
    if state.nearest is not None:
        nearest = (state.nearest.shape, walk.column(state.nearest.field_name))
        walk.values.append(state.nearest.value)
    order_by = state.order_by if ordered else ()
    order = tuple(walk.order(item) for item in order_by) if kind != "exists" else ()
    if state.limit is not None:
        walk.values.append(state.limit)
    if state.offset is not None:
        walk.values.append(state.offset)
    return (
        state.model,
        tuple(names),
        everything,
        columns,
        where,
        having,
        group,
        state.distinct,
        distinct_on,
        nearest,
        order,
        state.limit is not None,
        state.offset is not None,
        state.lock,
        state.select_related,
        aliased,
    )


def _compound_shape(state: QueryState, walk: ShapeWalk, names: Sequence[str], kind: str) -> Any:
    """:func:`select_shape` of a union/intersection/difference (mirrors :func:`_compound`)."""
    if state.where or state.having or state.annotations or state.group_by or state.distinct or state.lock:
        raise NoShape("clauses on a combined query")  # the resolver raises the QueryError
    parts = tuple(
        (operation, all_rows, select_shape(part, ShapeWalk(state.model, walk.values), names))
        for operation, all_rows, part in state.combined
    )
    order = []
    if kind == "rows":
        for item in state.order_by:
            ordering = order_expression(item)
            target = ordering.expression  # type: ignore[attr-defined]
            if not isinstance(target, Expression) or not hasattr(target, "name") or target.name not in names:
                raise NoShape("combined order")
            order.append((target.name, ordering.descending, ordering.nulls_last))  # type: ignore[attr-defined]
    if state.limit is not None:
        walk.values.append(state.limit)
    if state.offset is not None:
        walk.values.append(state.offset)
    return (
        "compound",
        state.model,
        tuple(names),
        parts,
        tuple(order),
        state.limit is not None,
        state.offset is not None,
    )


def _column(ctx: Resolver, source: Any, name: str) -> Any:
    if name in ctx.annotations:
        return ctx.column(name)
    field = ctx.meta.get_field(name)
    if source is ctx.meta.table:
        return ctx.meta.columns[field.name]
    if len(source.c) and field.column_name not in source.c:
        return sa.null()  # a CTE that does not return this field: it reads as None, like only()
    return cte_column(source, field.column_name)


def _label(ctx: Resolver, name: str) -> str:
    """Output column name: the column name of a field, the name of an annotation."""
    if name in ctx.annotations:
        return name
    return ctx.meta.get_field(name).column_name  # type: ignore[no-any-return]


def select_statement(
    state: QueryState, ctx: Resolver, names: Sequence[str], kind: str = "rows", *, distance: bool = False
) -> Any:
    """The SELECT of ``names`` for ``state``, every value bound through ``ctx``.

    ``kind`` is ``"rows"``, ``"count"`` (``SELECT count(*) FROM (...)``) or ``"exists"``; ``distance`` adds
    the ``_vector_distance`` column of a ``nearest()`` query (for instances).
    """
    if state.combined:
        return _compound(state, ctx, names, kind)
    meta = ctx.meta
    annotations: dict[str, Expression] = dict(state.annotations)
    ctx.annotations = annotations
    ctes = {cte.name: cte.resolve_cte(ctx) for cte in state.ctes}
    if state.source_cte is not None:
        ctx.source = ctes[state.source_cte.name]
    elif ctx.outer is not None and ctx.outer.model is ctx.model:
        ctx.source = meta.table.alias()  # a correlated subquery over its own table
    source = ctx.source if ctx.source is not None else meta.table

    if kind != "rows" and (state.group_by or state.distinct or state.distinct_on):
        names = _counted_names(state, names, meta)
    columns = [_column(ctx, source, name).label(_label(ctx, name)) for name in names]
    statement = sa.select(*columns).select_from(source)
    for cte in ctes.values():
        statement = statement.add_cte(cte)

    where = [resolve_condition(ctx, q) for q in state.where]
    having: list[Any] = []
    aggregate_names = {name for name, expr in annotations.items() if expr.contains_aggregate}
    for q in state.having:
        condition = resolve_condition(ctx, q)
        (having if uses_names(q, aggregate_names) else where).append(condition)
    if where:
        statement = statement.where(*where)
    if having:
        statement = statement.having(*having)

    group = _group_by(ctx, state, names, annotations, aggregate_names)
    if group:
        statement = statement.group_by(*group)

    if state.distinct_on:
        statement = statement.ext(pg_distinct_on(*(ctx.column(name) for name in state.distinct_on)))
    elif state.distinct:
        statement = statement.distinct()

    if state.distinct_on and state.order_by:
        _check_distinct_order(state)
    if state.nearest is not None:  # null guard, distance column and ordering (query/vector.py)
        statement = state.nearest.apply_resolved(statement, ctx, with_distance=distance and kind == "rows")
    if state.order_by and kind != "exists":
        statement = statement.order_by(*(order_expression(item).resolve(ctx) for item in state.order_by))
    if state.limit is not None:
        statement = statement.limit(ctx.bind(state.limit, sa.Integer()))
    if state.offset is not None:
        statement = statement.offset(ctx.bind(state.offset, sa.Integer()))
    if state.lock is not None and kind == "rows":
        statement = _lock(statement, state, source)
    if state.select_related and kind == "rows" and source is meta.table:
        from ..relations.loading import join_related

        statement = join_related(statement, state)

    if kind == "count":
        return sa.select(sa.func.count()).select_from(statement.subquery())
    if kind == "exists":
        return sa.select(sa.exists(statement))
    return statement


def _check_distinct_order(state: QueryState) -> None:
    leading = [item.lstrip("-+") if isinstance(item, str) else None for item in state.order_by]
    leading = leading[: len(state.distinct_on)]
    if sorted(map(str, leading)) != sorted(state.distinct_on):
        raise ParameterError(
            f"distinct({', '.join(map(repr, state.distinct_on))}) needs an order_by that starts with the same "
            f"fields; got order_by{tuple(state.order_by)!r}",
            model=state.model.__name__,
        )


def _grouped_fields(state: QueryState) -> tuple[str, ...] | None:
    """The field names a grouped query groups by, or None when it groups by the primary key (then every
    column may be selected, as each depends on the key)."""
    meta = state.model._meta  # type: ignore[attr-defined]
    annotations = {name for name, _ in state.annotations}
    grouped = tuple(
        item if item in annotations else meta.get_field(item).name
        for item in state.group_by
        if isinstance(item, str)
    )
    if meta.primary_keys and set(meta.primary_keys) <= set(grouped):
        return None
    return grouped


def grouped_selection(state: QueryState) -> tuple[str, ...] | None:
    """What a grouped query can show (its groups, then its annotations); None when it is not restricted."""
    if not state.group_by:
        return None
    grouped = _grouped_fields(state)
    if grouped is None:
        return None
    extra = tuple(name for name, _ in state.annotations if name not in grouped)
    return (*grouped, *extra)


def _check_grouped_selection(state: QueryState, names: Sequence[str]) -> None:
    """A grouped query can only select its groups and aggregates (all fields when grouped by the key)."""
    meta = state.model._meta  # type: ignore[attr-defined]
    grouped = _grouped_fields(state)
    if grouped is None:
        return  # every column depends on the primary key: PostgreSQL allows selecting them all
    annotations = {name for name, _ in state.annotations}
    loose = [name for name in names if name not in annotations and name not in grouped]
    if loose:
        groups = ", ".join(repr(item) for item in state.group_by)
        raise QueryError(
            f"group_by({groups}) returns one row per group, so {', '.join(map(repr, loose))} cannot be "
            "selected (neither grouped nor aggregated); read the groups with values(...) / values_list(...) "
            "naming the grouped fields and annotations, or group by the primary key to get instances",
            model=meta.model_name,
        )


def _counted_names(state: QueryState, names: Sequence[str], meta: Any) -> tuple[str, ...]:
    """What count()/exists() select from a grouped or DISTINCT query: the groups, or the distinct rows."""
    if state.group_by:
        return tuple(name for name in state.group_by if isinstance(name, str))
    if state.fields is not None:
        return tuple(state.fields)
    return tuple(meta.field_names)


def _group_by(
    ctx: Resolver,
    state: QueryState,
    names: Sequence[str],
    annotations: Mapping[str, Expression],
    aggregate_names: set[str],
) -> list[Any]:
    if state.group_by:
        return [
            ctx.column(item) if isinstance(item, str) else as_expression(item).resolve(ctx)
            for item in state.group_by
        ]
    if not aggregate_names:
        return []
    group = []
    for name in names:
        if name in aggregate_names:
            continue
        expression = annotations.get(name)
        if expression is not None and expression.contains_window:
            continue
        group.append(ctx.column(name))
    return group


def _unlockable(state: QueryState) -> bool:
    return bool(
        state.group_by
        or state.distinct
        or state.distinct_on
        or any(expr.contains_aggregate or expr.contains_window for _, expr in state.annotations)
    )


def _lock(statement: Any, state: QueryState, source: Any) -> Any:
    assert state.lock is not None
    nowait, skip_locked, of = state.lock
    if _unlockable(state):
        raise QueryError(
            "select_for_update() cannot lock rows of a grouped, DISTINCT, aggregated or windowed query",
            model=state.model.__name__,
        )
    tables = [source if item == "self" else item._meta.table for item in of] or None
    return statement.with_for_update(nowait=nowait, skip_locked=skip_locked, of=tables)


_SET_OPERATIONS = {
    ("union", False): sa.union,
    ("union", True): sa.union_all,
    ("intersection", False): sa.intersect,
    ("intersection", True): sa.intersect_all,
    ("difference", False): sa.except_,
    ("difference", True): sa.except_all,
}


def _compound(state: QueryState, ctx: Resolver, names: Sequence[str], kind: str) -> Any:
    if state.where or state.having or state.annotations or state.group_by or state.distinct or state.lock:
        raise QueryError(
            "after union()/intersection()/difference() only order_by(), slicing and the terminals apply; "
            "filter the parts before combining them",
            model=state.model.__name__,
        )
    first, *rest = state.combined
    statement = select_statement(first[2], Resolver(state.model, ctx.values, offset=ctx.offset), names)
    for operation, all_rows, part in rest:
        other = select_statement(part, Resolver(state.model, ctx.values, offset=ctx.offset), names)
        statement = _SET_OPERATIONS[(operation, all_rows)](statement, other)
    if state.order_by and kind == "rows":
        clauses = []
        for item in state.order_by:
            ordering = order_expression(item)
            target = ordering.expression  # type: ignore[attr-defined]
            if not isinstance(target, Expression) or not hasattr(target, "name") or target.name not in names:
                raise QueryError(
                    f"a combined query orders only by its selected columns {list(names)}; got {item!r}",
                    model=state.model.__name__,
                )
            column: Any = sa.column(_label(Resolver(state.model), target.name))
            clause = column.desc() if ordering.descending else column.asc()  # type: ignore[attr-defined]
            nulls_last = ordering.nulls_last  # type: ignore[attr-defined]
            if nulls_last is not None:
                clause = clause.nulls_last() if nulls_last else clause.nulls_first()
            clauses.append(clause)
        statement = statement.order_by(*clauses)
    if state.limit is not None:
        statement = statement.limit(ctx.bind(state.limit, sa.Integer()))
    if state.offset is not None:
        statement = statement.offset(ctx.bind(state.offset, sa.Integer()))
    if kind == "count":
        return sa.select(sa.func.count()).select_from(statement.subquery())
    if kind == "exists":
        return sa.select(sa.exists(statement.subquery().select()))
    return statement
