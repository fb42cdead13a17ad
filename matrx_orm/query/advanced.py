"""The advanced chain methods of ``QueryBuilder`` (a mixin, so the builder module stays small):
``annotate``, ``aggregate``, ``group_by``, ``distinct``, ``select_for_update``, ``with_cte``, ``from_cte``,
``only``, ``defer``, ``union``, ``intersection``, ``difference`` and ``iterator``.

Every method validates its arguments where it is called (unknown fields, wrong types, bad combinations
raise ``ParameterError``/``UnknownFieldError``/``QueryError`` before any round trip) and returns a new
builder; the SQL is built by ``query/select.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa

from ..exceptions import ParameterError, QueryError
from .conditions import check_condition, no_window, uses_names
from .cte import CTE
from .expressions import Expression, PendingOuter, Resolver, as_expression, is_expression, order_expression
from .q import Q

if TYPE_CHECKING:
    from .builder import QueryState

__all__ = ["AdvancedQueryMixin"]


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{what} must be True or False; got {value!r}")
    return value


class AdvancedQueryMixin:
    """Annotations, aggregation, DISTINCT, row locks, CTEs, set operations and streaming."""

    __slots__ = ()

    if TYPE_CHECKING:
        _state: QueryState

        def _with(self, **changes: Any) -> Self: ...

        @property
        def _meta(self) -> Any: ...

        @property
        def _database(self) -> str: ...

        def _field_names(self) -> tuple[str, ...]: ...

        def select(self, *fields: str) -> Self: ...

        def _select(self, names: Any, kind: str = "rows") -> Any: ...

    # -- annotations ---------------------------------------------------------------------------------------
    def _annotation_map(self) -> dict[str, Expression]:
        return dict(self._state.annotations)

    def annotate(self, **expressions: Any) -> Self:
        """Add computed values (functions, aggregates, windows, subqueries) readable by name on each row."""
        if not expressions:
            raise ParameterError("annotate() needs at least one name=expression", model=self._meta.model_name)
        meta = self._meta
        current = self._annotation_map()
        added: list[tuple[str, Expression]] = []
        for name, value in expressions.items():
            if name in meta.fields or name in meta.relation_aliases:
                raise ParameterError(
                    f"annotation '{name}' conflicts with a field of {meta.model_name}", model=meta.model_name
                )
            if name.startswith("_") or "__" in name:
                raise ParameterError(
                    f"annotation names may not start with '_' or contain '__'; got {name!r}",
                    model=meta.model_name,
                )
            if name in current:
                raise ParameterError(f"annotation '{name}' is already defined", model=meta.model_name)
            if not is_expression(value):
                raise ParameterError(
                    f"annotate({name}=...) expects an expression (F, Value, a function, an aggregate, Window, "
                    f"Subquery, ...); got {value!r}",
                    model=meta.model_name,
                )
            expression = as_expression(value)
            expression.check_window_use()
            current[name] = expression
            added.append((name, expression))
        _check_annotations(self._state.model, current, added)
        return self._with(annotations=(*self._state.annotations, *added), advanced=True)

    def _filter_annotations(self, q: Q, negate: bool) -> Self | None:
        """Store a condition naming annotations (HAVING when aggregated); None when it names none."""
        annotations = self._annotation_map()
        if not annotations or not uses_names(q, annotations):
            return None
        check_condition(self._state.model, q, annotations)
        for name, expression in annotations.items():
            if uses_names(q, {name: expression}):
                no_window(expression, name, self._meta.model_name)
        return self._with(having=(*self._state.having, ~q if negate else q), advanced=True)

    async def aggregate(self, **expressions: Any) -> dict[str, Any]:
        """One row of aggregates over the matching rows: ``{"total": Decimal(...), "n": 3}``."""
        from . import executor, select
        from .select import select_statement

        if not expressions:
            raise ParameterError(
                "aggregate() needs at least one name=Aggregate(...)", model=self._meta.model_name
            )
        for name, value in expressions.items():
            if not isinstance(value, Expression) or not value.contains_aggregate:
                raise ParameterError(
                    f"aggregate({name}=...) expects an aggregate (Sum, Avg, Min, Max, Count, ...); got {value!r}",
                    model=self._meta.model_name,
                )
            value.check_window_use()
        state = self._state
        values: list[Any] = []
        direct = not (
            state.limit is not None
            or state.offset is not None
            or state.distinct
            or state.distinct_on
            or state.group_by
            or state.combined
            or state.source_cte is not None
            or any(e.contains_aggregate or e.contains_window for _, e in state.annotations)
        )
        if direct:
            compiled = _shaped_aggregate(state, expressions, values)
            if compiled is None:  # a state the shape walk does not describe: resolve it with SQLAlchemy
                values = []
                unordered = self._with(order_by=())._state
                statement = _direct_aggregate(unordered, expressions, Resolver(state.model, values))
                compiled = select.compile_resolved(statement, "aggregate")
        else:
            ctx = Resolver(state.model, values)
            names = self._field_names()
            subquery = select_statement(state, ctx, names).subquery()
            outer = Resolver(
                state.model,
                values,
                annotations={name: _SourceColumn(name) for name, _ in state.annotations},
                source=subquery,
            )
            columns = [expr.resolve(outer).label(name) for name, expr in expressions.items()]
            statement = sa.select(*columns).select_from(subquery)
            compiled = select.compile_resolved(statement, "aggregate")
        rows = await executor.fetch(
            self._database,
            compiled.sql,
            compiled.params(values),
            model=self._meta.model_name,
            operation="aggregate",
        )
        return dict(zip(expressions, rows[0], strict=True))

    def group_by(self, *fields: Any) -> Self:
        """GROUP BY these fields (or non-aggregate annotations); aggregate annotations are per group."""
        if not fields:
            raise ParameterError("group_by() needs at least one field", model=self._meta.model_name)
        annotations = self._annotation_map()
        for item in fields:
            if isinstance(item, str):
                if item in annotations:
                    if annotations[item].contains_aggregate:
                        raise ParameterError(
                            f"cannot group by the aggregate '{item}'", model=self._meta.model_name
                        )
                else:
                    self._meta.get_field(item)
            elif not isinstance(item, Expression) or item.contains_aggregate:
                raise ParameterError(
                    f"group_by() takes field names or non-aggregate expressions; got {item!r}",
                    model=self._meta.model_name,
                )
        return self._with(group_by=tuple(fields), advanced=True)

    # -- DISTINCT / locking --------------------------------------------------------------------------------
    def distinct(self, *fields: str) -> Self:
        """``SELECT DISTINCT``; with field names, PostgreSQL's ``DISTINCT ON (fields)`` (order_by must start
        with the same fields)."""
        if not fields:
            return self._with(distinct=True, advanced=True)
        annotations = self._annotation_map()
        for name in fields:
            if not isinstance(name, str):
                raise ParameterError(
                    f"distinct() takes field names; got {name!r}", model=self._meta.model_name
                )
            if name not in annotations:
                self._meta.get_field(name)
        return self._with(distinct_on=tuple(fields), advanced=True)

    def select_for_update(self, nowait: bool = False, skip_locked: bool = False, of: Any = ()) -> Self:
        """Lock the selected rows (``FOR UPDATE [NOWAIT | SKIP LOCKED] [OF ...]``); run it inside
        ``transaction()``. ``of`` takes model classes or ``"self"``."""
        nowait = _bool(nowait, "select_for_update nowait")
        skip_locked = _bool(skip_locked, "select_for_update skip_locked")
        if nowait and skip_locked:
            raise ParameterError(
                "select_for_update() takes nowait=True or skip_locked=True, not both",
                model=self._meta.model_name,
            )
        items = (of,) if isinstance(of, (str, type)) else tuple(of)
        for item in items:
            if item != "self" and getattr(item, "_meta", None) is None:
                raise ParameterError(
                    f"select_for_update(of=...) takes model classes or 'self'; got {item!r}",
                    model=self._meta.model_name,
                )
        return self._with(lock=(nowait, skip_locked, items), advanced=True)

    # -- CTEs ----------------------------------------------------------------------------------------------
    def with_cte(self, *ctes: CTE) -> Self:
        """Attach ``WITH`` queries (``CTE(...)``) to this query."""
        if not ctes:
            raise ParameterError("with_cte() needs at least one CTE", model=self._meta.model_name)
        names = {cte.name for cte in self._state.ctes}
        for cte in ctes:
            if not isinstance(cte, CTE):
                raise ParameterError(
                    f"with_cte() takes CTE(...) objects; got {cte!r}", model=self._meta.model_name
                )
            if cte.name in names:
                raise ParameterError(
                    f"a CTE named {cte.name!r} is already attached", model=self._meta.model_name
                )
            names.add(cte.name)
        return self._with(ctes=(*self._state.ctes, *ctes), advanced=True)

    def from_cte(self, cte: CTE) -> Self:
        """Read the rows from ``cte`` (attached if it is not yet) instead of the model's table."""
        if not isinstance(cte, CTE):
            raise ParameterError(f"from_cte() takes a CTE(...); got {cte!r}", model=self._meta.model_name)
        qs = self if any(c is cte for c in self._state.ctes) else self.with_cte(cte)
        return qs._with(source_cte=cte, advanced=True)

    # -- column selection ----------------------------------------------------------------------------------
    def only(self, *fields: str) -> Self:
        """Load only these fields (the primary key always); the others read as ``None``."""
        if not fields:
            raise ParameterError("only() needs at least one field", model=self._meta.model_name)
        return self.select(*fields)

    def defer(self, *fields: str) -> Self:
        """Load every field except these (the primary key is always loaded)."""
        meta = self._meta
        skipped = {meta.get_field(name).name for name in fields} - set(meta.primary_keys)
        current = self._state.fields or meta.field_names
        return self._with(fields=tuple(name for name in current if name not in skipped))

    # -- set operations ------------------------------------------------------------------------------------
    def _combine(self, operation: str, others: tuple[Any, ...], all: bool) -> Self:
        from .builder import QueryBuilder

        _bool(all, f"{operation}(all=...)")
        if not others:
            raise ParameterError(f"{operation}() needs at least one other query", model=self._meta.model_name)
        parts = [self, *others]
        for part in parts:
            if not isinstance(part, QueryBuilder) or part._state.model is not self._state.model:
                raise ParameterError(
                    f"{operation}() combines queries of the same model ({self._meta.model_name}); got {part!r}",
                    model=self._meta.model_name,
                )
            state = part._state
            if state.order_by or state.limit is not None or state.offset is not None or state.lock:
                raise ParameterError(
                    f"order, slice or lock the result of {operation}(), not its parts",
                    model=self._meta.model_name,
                )
            if state.annotations or state.fields is not None:
                raise ParameterError(
                    f"{operation}() parts select the model's fields; apply only()/annotate() elsewhere",
                    model=self._meta.model_name,
                )
        base = self._state
        combined = base.combined or ((None, False, base),)
        combined = (*combined, *((operation, all, other._state) for other in others))
        return type(self)(
            base.model, type(base)(base.model, database=base.database, combined=combined, advanced=True)
        )  # type: ignore[call-arg]

    def union(self, *others: Any, all: bool = False) -> Self:
        """Rows in any of the queries (``UNION``; ``all=True`` keeps duplicates)."""
        return self._combine("union", others, all)

    def intersection(self, *others: Any, all: bool = False) -> Self:
        """Rows in every query (``INTERSECT``)."""
        return self._combine("intersection", others, all)

    def difference(self, *others: Any, all: bool = False) -> Self:
        """Rows of this query that are in none of the others (``EXCEPT``)."""
        return self._combine("difference", others, all)

    # -- streaming -----------------------------------------------------------------------------------------
    async def iterator(self, chunk_size: int = 2000) -> AsyncIterator[Any]:
        """Stream the rows as instances through a server-side cursor, ``chunk_size`` rows per round trip.

        Memory stays bounded by ``chunk_size`` whatever the result size. Inside ``transaction()`` the cursor
        uses the transaction's connection; otherwise a connection is held (in its own read transaction)
        until the iteration ends or the loop is left.
        """
        from .streaming import stream

        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ParameterError(
                f"iterator(chunk_size=...) must be a positive int; got {chunk_size!r}",
                model=self._meta.model_name,
            )
        async for item in stream(self, chunk_size):
            yield item


def _check_annotations(
    model: type, annotations: Mapping[str, Expression], added: list[tuple[str, Expression]]
) -> None:
    """Resolve the new annotations once, so unknown fields and bad arguments fail in ``annotate()``.

    The shape walk (``query/shapes.py``) checks the common expressions without building SQLAlchemy
    constructs; anything it does not vouch for (conditions, subqueries, ``OuterRef``, a bad name) is resolved
    against a scratch resolver, which raises the error."""
    from .shapes import ShapeWalk

    try:
        walk = ShapeWalk(model, [], annotations, conditions=False)
        for name, _ in added:
            walk.column(name)
        return
    except Exception:  # noqa: BLE001, S110 (the resolver below raises the user-facing error, if any)
        pass
    ctx = Resolver(model, [], annotations=annotations, outer=PendingOuter(model))
    for name, _ in added:
        ctx.column(name)


def _direct_aggregate(state: QueryState, expressions: Mapping[str, Expression], ctx: Resolver) -> Any:
    """``SELECT <aggregates> FROM ... WHERE ...`` of an unsliced, ungrouped state (its ordering dropped)."""
    from .select import select_statement

    ctx.annotations = dict(state.annotations)
    columns = [expr.resolve(ctx).label(name) for name, expr in expressions.items()]
    return select_statement(state, ctx, ()).with_only_columns(*columns)


def _shaped_aggregate(state: QueryState, expressions: Mapping[str, Expression], values: list[Any]) -> Any:
    """The compiled direct aggregate cached by shape (``query/shapes.py``), or None when the shape walk does
    not describe it (the caller then resolves it with SQLAlchemy)."""
    from .select import compile_shaped, select_shape
    from .shapes import ShapeWalk

    try:
        walk = ShapeWalk(state.model, values, dict(state.annotations))
        columns = tuple((name, walk.expression(expr)) for name, expr in expressions.items())
        shape = select_shape(state, walk, (), ordered=False)
    except Exception:  # noqa: BLE001 (the resolver path builds it, or raises the user-facing error)
        values.clear()
        return None
    return compile_shaped(
        ("aggregate", columns, shape),
        values,
        lambda ctx: _direct_aggregate(dataclasses.replace(state, order_by=()), expressions, ctx),
        state.model,
    )


class _SourceColumn(Expression):
    """An annotation of an inner query, read back as a column of the subquery wrapping it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, ctx: Resolver) -> Any:
        return ctx.source.c[self.name]


def check_order_items(qs: Any, items: tuple[Any, ...]) -> bool:
    """Validate order_by items; True when one needs the advanced path (an annotation or an expression)."""
    annotations: Mapping[str, Any] = dict(qs._state.annotations)
    advanced = False
    for item in items:
        if isinstance(item, str):
            name = item.lstrip("-+")
            if name in annotations:
                advanced = True
            else:
                qs._meta.get_field(name)
        else:
            order_expression(item).resolve(
                Resolver(qs._state.model, [], annotations=annotations, outer=PendingOuter(qs._state.model))
            )
            advanced = True
    return advanced


def refuse_write(qs: Any, operation: str) -> None:
    """update()/delete() ignore annotations; refuse the states whose filters or rows they could not honour."""
    state = qs._state
    if state.having or state.combined or state.source_cte is not None or state.ctes:
        raise QueryError(
            f"{operation}() cannot be used on a query with annotation filters, CTEs or union()",
            model=qs._meta.model_name,
            operation=operation,
        )
