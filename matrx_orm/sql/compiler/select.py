"""The SELECT builder: one walk turns a :class:`~..spec.QuerySpec` into a statement fragment.

Plain filters, annotations, grouping, DISTINCT, row locks, CTEs, ``nearest()``, ``select_related`` joins,
set operations, subqueries, ``count()``/``exists()`` and ``get(pk)`` all go through :func:`select`. The walk
gathers the query's values and the statement's shape key in one pass (see ``expressions/base.py``); the
SQLAlchemy statement is built and compiled once per key (``cache.py``), so a repeated shape only pays for
the walk.

:class:`Scope` is what a SELECT compiles against: the model whose fields names refer to, the annotations,
the enclosing query (for ``OuterRef``), where the rows are read from (the table, an alias of it, a CTE) and
the value list shared with every subquery.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import distinct_on as pg_distinct_on
from sqlalchemy.sql.elements import ColumnClause

from ...exceptions import ParameterError, QueryError, UnknownFieldError
from ...fields.json_text import JsonText, json_text
from ...meta.memo import remember
from ..expressions.base import Expression, F, Fragment, order_expression, ordered
from ..expressions.coerce import as_expression
from ..expressions.vector import distance
from ..nearest import DISTANCE_LABEL, NearestSpec
from ..q import Q
from ..spec import QuerySpec
from . import filters, joins
from .cache import Compiled, compiled
from .plain import known_plain, plain_names, plain_shape, remember_plain

__all__ = [
    "PendingScope",
    "Scope",
    "Source",
    "aggregate_statement",
    "check_condition",
    "check_expressions",
    "compile_select",
    "grouped_selection",
    "junction_pairs",
    "junction_select",
    "pk_select",
    "select",
    "select_statement",
]


# -- scopes -----------------------------------------------------------------------------------------------------


class Source:
    """Where a scope reads rows when not from the model's table: an alias of it, or a CTE (``name``)."""

    __slots__ = ("_built", "_make", "key", "name")

    def __init__(self, key: Any, make: Callable[[], Any], name: str | None = None) -> None:
        self.key = key
        self.name = name
        self._make = make
        self._built: Any = None

    def get(self) -> Any:
        """The selectable (made once per statement build)."""
        if self._built is None:
            self._built = self._make()
        return self._built

    def column(self, name: str) -> Fragment:
        """Column ``name`` of the source."""
        return Fragment(("source", self.key, name), lambda: source_column(self.get(), name))


def source_column(source: Any, name: str) -> Any:
    """Column ``name`` of a selectable (a CTE over raw SQL may not declare its columns)."""
    if name in source.c:
        return source.c[name]
    return ColumnClause(name, _selectable=source)


class Scope:
    """What expressions and conditions compile against (see the module docstring).

    ``pending`` scopes only check the names of their own filters (values are checked when the query runs;
    those inside subqueries right away): chain methods use them to fail at the line that made a mistake.
    """

    __slots__ = ("_active", "annotations", "meta", "model", "outer", "pending", "source", "used", "values")

    def __init__(
        self,
        model: type,
        values: list[Any] | None = None,
        *,
        annotations: Mapping[str, Expression] | None = None,
        outer: Scope | None = None,
        pending: bool = False,
    ) -> None:
        self.model = model
        self.meta: Any = model._meta  # type: ignore[attr-defined]
        self.values: list[Any] = [] if values is None else values
        self.annotations: Mapping[str, Expression] = annotations or {}
        self.outer = outer
        self.pending = pending
        self.source: Source | None = None
        #: annotation names referenced since the set was last cleared (HAVING vs WHERE)
        self.used: set[str] = set()
        self._active: set[str] = set()

    # -- values --------------------------------------------------------------------------------------------
    def parameter(self, value: Any) -> str:
        """Append ``value``; the name of its bound parameter (``v{n}``)."""
        index = len(self.values)
        self.values.append(value)
        return f"v{index}"

    def bind(self, value: Any, type_: Any = None) -> Fragment:
        """The fragment of a bound parameter carrying ``value`` (serialized for a JSON type, see
        ``fields/json_text.py``)."""
        if isinstance(type_, sa.JSON) and value is not None:
            value = json_text(value, lenient=True)
        name = self.parameter(value)
        return Fragment(_BIND, lambda: sa.bindparam(name, type_=type_))

    # -- names ---------------------------------------------------------------------------------------------
    def column(self, name: str) -> Fragment:
        """The column (or annotation expression) called ``name``."""
        annotation = self.annotations.get(name)
        if annotation is not None:
            if name in self._active:
                raise QueryError(f"annotation '{name}' refers to itself", model=self.meta.model_name)
            self.used.add(name)
            self._active.add(name)
            try:
                inner = self.expression(annotation)
            finally:
                self._active.discard(name)
            return Fragment(("=", name, inner.key), inner.build)
        meta = self.meta
        if name not in meta.fields and name not in meta.relation_aliases:
            raise UnknownFieldError(
                name=name, choices=[*meta.field_names, *self.annotations], model=meta.model_name
            )
        field = meta.get_field(name)
        return Fragment(field.name, lambda: self.element(field))

    def element(self, field: Any) -> Any:
        """The SQLAlchemy column of ``field`` where this scope reads rows (build time)."""
        if self.source is None:
            return self.meta.columns[field.name]
        return source_column(self.source.get(), field.column_name)

    def field(self, name: str) -> Any:
        """The model field ``name``; UnknownFieldError with close matches otherwise."""
        return self.meta.get_field(name)

    def output_field(self, name: str) -> Any:
        """The field ``name`` refers to, when it is a model field (or an annotation's output field)."""
        if name in self.annotations:
            return self.annotations[name].output_field
        field = self.meta.fields.get(name)
        if field is None and name in self.meta.relation_aliases:
            field = self.meta.fields[self.meta.relation_aliases[name]]
        return field

    def expression(self, expression: Expression) -> Fragment:
        return expression.compile(self)

    def condition(self, node: Any) -> Fragment:
        return filters.condition(self, node)

    # -- nesting -------------------------------------------------------------------------------------------
    def child(self, model: type) -> Scope:
        """The scope of a subquery over ``model`` sharing these values; ``OuterRef`` reaches ``self``."""
        return Scope(model, self.values, outer=self)

    def subquery(self, spec: QuerySpec, names: Sequence[str], *, correlated: bool = True) -> Fragment:
        """The SELECT of ``names`` for ``spec`` inside this query (``correlated``: may use ``OuterRef``)."""
        scope = self.child(spec.model) if correlated else Scope(spec.model, self.values)
        return select(spec, scope, names, "values", nested=True)

    def find_source(self, name: str) -> Source | None:
        """The CTE source called ``name`` of this scope or an enclosing one."""
        scope: Scope | None = self
        while scope is not None:
            if scope.source is not None and scope.source.name == name:
                return scope.source
            scope = scope.outer
        return None

    @property
    def lenient(self) -> bool:
        """Whether the enclosing query is not known yet (a check made by a chain method): names that only
        it could resolve are accepted."""
        scope: Scope | None = self
        while scope is not None:
            if isinstance(scope, PendingScope):
                return True
            scope = scope.outer
        return False


_BIND = "$"
#: statement kinds that select rows (the others count them or test for one)
_ROW_KINDS = ("rows", "values")


class PendingScope(Scope):
    """Stands in for the enclosing query while a condition is checked on its own, before the query it will
    belong to exists: any name is accepted (the real check happens when the statement is built)."""

    __slots__ = ()

    def __init__(self, model: type) -> None:
        super().__init__(model, pending=True)

    def column(self, name: str) -> Fragment:
        return Fragment(("pending", name), lambda: sa.column(name))


# -- checks made where a chain method is called ------------------------------------------------------------------


#: the plain conditions whose names were checked (a dict for ``remember``'s bound)
_checked: dict[Hashable, bool] = {}


def check_condition(model: type, node: Any, annotations: Mapping[str, Expression] | None = None) -> set[str]:
    """Walk a condition checking its names (not its plain values); returns the annotations it uses.

    The names of a plain condition (``plain.py``) are checked once: the next condition with the same keys
    on the same model passes at once."""
    names = None if annotations else plain_names(model, node)
    if names is not None and names in _checked:
        return set()
    scope = Scope(model, annotations=annotations, outer=PendingScope(model), pending=True)
    scope.condition(node)
    if names is not None:
        remember(_checked, names, True)
    return scope.used


def check_expressions(model: type, annotations: Mapping[str, Expression], names: Sequence[str]) -> None:
    """Walk the annotations ``names`` (and the order items among them) so bad names and values fail now."""
    scope = Scope(model, annotations=annotations, outer=PendingScope(model), pending=True)
    for name in names:
        scope.column(name)


def check_order(model: type, items: Sequence[Any], annotations: Mapping[str, Expression]) -> None:
    """Walk ``order_by`` expressions so bad names fail where they are written."""
    scope = Scope(model, annotations=annotations, outer=PendingScope(model), pending=True)
    for item in items:
        scope.expression(order_expression(item))


# -- the walk -------------------------------------------------------------------------------------------------------


def select(
    spec: QuerySpec,
    scope: Scope,
    names: Sequence[str],
    kind: str = "values",
    *,
    ordered_rows: bool = True,
    columns: Mapping[str, Expression] | None = None,
    nested: bool = False,
) -> Fragment:
    """The SELECT of ``names`` for ``spec`` in ``scope``.

    ``kind``: ``"rows"`` (instances: the ``nearest()`` distance column and ``select_related`` joins are
    added), ``"values"``, ``"count"`` (``SELECT count(*) FROM (...)``) or ``"exists"``. ``columns`` replaces
    the selected names by labelled expressions (``aggregate()``); ``ordered_rows=False`` drops the ordering.
    ``nested``: the SELECT is part of another statement (a subquery, a CTE, a part of a union).
    """
    if spec.combined:
        return _compound(spec, scope, names, kind)
    meta = scope.meta
    if spec.lock is not None and kind in _ROW_KINDS and _unlockable(spec):
        raise QueryError(
            "select_for_update() cannot lock rows of a grouped, DISTINCT, aggregated or windowed query",
            model=meta.model_name,
        )
    if spec.distinct_on and spec.ordered and spec.order_by:
        _check_distinct_order(spec)
    annotations: dict[str, Expression] = dict(spec.annotations) if spec.annotations else {}
    scope.annotations = annotations
    ctes = [scope.expression(cte) for cte in spec.ctes] if spec.ctes else []
    if spec.source_cte is not None:
        position = next(i for i, cte in enumerate(spec.ctes) if cte is spec.source_cte)
        scope.source = Source(("cte", ctes[position].key), ctes[position].build, spec.source_cte.name)
    elif scope.outer is not None and scope.outer.model is scope.model:
        scope.source = Source(("alias",), meta.table.alias)  # a correlated subquery over its own table
    source = scope.source
    if kind in ("count", "exists") and (spec.group_by or spec.distinct or spec.distinct_on):
        names = _counted_names(spec, meta)
    selected = _selected(scope, names, annotations)
    extra = [(label, scope.expression(expr)) for label, expr in columns.items()] if columns else []
    where = [scope.condition(q) for q in spec.where]
    having: list[Fragment] = []
    aggregates = {name for name, expr in annotations.items() if expr.contains_aggregate}
    for q in spec.having:
        scope.used.clear()
        fragment = scope.condition(q)
        (having if scope.used & aggregates else where).append(fragment)
    group = _group(spec, scope, names, selected, aggregates) if spec.group_by or aggregates else []
    distinct_on = [selected.get(name) or scope.column(name) for name in spec.distinct_on]
    nearest = _nearest(spec.nearest, scope, with_distance=kind == "rows") if spec.nearest else None
    order: list[Fragment] = []
    if ordered_rows and kind != "exists" and spec.order_by:
        items = spec.order_by if spec.ordered else _default_order(spec, kind, names, nested)
        order = [_order_item(scope, item, selected) for item in items]
    limit = spec.limit
    offset = None if spec.offset is None else scope.bind(spec.offset, sa.BigInteger())
    related = spec.select_related if kind == "rows" and source is None else ()
    lock = spec.lock if kind in _ROW_KINDS else None

    def make() -> Any:
        table = meta.table if source is None else source.get()
        elements = [_select_element(scope, selected, name, annotations) for name in names]
        elements += [fragment.build().label(label) for label, fragment in extra]
        statement = sa.select(*elements).select_from(table)
        for cte in ctes:
            statement = statement.add_cte(cte.build())
        if where:
            statement = statement.where(*(w.build() for w in where))
        if having:
            statement = statement.having(*(h.build() for h in having))
        if group:
            statement = statement.group_by(*(g.build() for g in group))
        if distinct_on:
            statement = statement.ext(pg_distinct_on(*(d.build() for d in distinct_on)))
        elif spec.distinct:
            statement = statement.distinct()
        if nearest is not None:
            statement = nearest(statement)
        if order:
            statement = statement.order_by(*(o.build() for o in order))
        if limit is not None:
            statement = statement.limit(_row_count(limit))
        if offset is not None:
            statement = statement.offset(offset.build())
        if lock is not None:
            nowait, skip_locked, of = lock
            tables = [table if item == "self" else item._meta.table for item in of] or None
            statement = statement.with_for_update(nowait=nowait, skip_locked=skip_locked, of=tables)
        if related:
            statement = joins.join_related(statement, spec.model, related, lock)
        return _wrapped(statement, kind)

    key = (
        "select",
        kind,
        spec.model,
        tuple(names),
        tuple(fragment.key for fragment in selected.values()) if selected else None,
        tuple((label, fragment.key) for label, fragment in extra) if extra else None,
        tuple(cte.key for cte in ctes) if ctes else None,
        None if source is None else source.key,
        tuple(w.key for w in where),
        tuple(h.key for h in having) if having else None,
        tuple(g.key for g in group) if group else None,
        spec.distinct,
        tuple(d.key for d in distinct_on) if distinct_on else None,
        None if spec.nearest is None else (spec.nearest.shape, kind == "rows"),
        tuple(o.key for o in order) if order else None,
        limit,
        offset is not None,
        lock,
        related,
    )
    return Fragment(key, make)


def _selected(
    scope: Scope, names: Sequence[str], annotations: Mapping[str, Expression]
) -> dict[str, Fragment]:
    """The fragments of the selected names that need one: annotations, and every column when the rows come
    from an alias or a CTE (plain table columns are built from the model's table; their names are the key)."""
    if scope.source is None:
        fields = scope.meta.fields
        if not any(name not in fields for name in names):
            return {}
        return {name: scope.column(name) for name in dict.fromkeys(names) if name not in fields}
    return {name: scope.column(name) for name in dict.fromkeys(names)}


def _row_count(limit: int) -> Any:
    """A LIMIT written into the statement, not bound as a parameter. PostgreSQL keeps one plan for all the runs
    of a prepared statement only when the parameters cannot change its cost, which a LIMIT parameter does: a
    query with one was planned again on every run (as long as a vector search itself takes)."""
    return sa.literal_column(str(int(limit)), sa.Integer())


def _wrapped(statement: Any, kind: str) -> Any:
    if kind == "count":
        return sa.select(sa.func.count()).select_from(statement.subquery())
    if kind == "exists":
        return sa.select(sa.exists(statement))
    return statement


def _label(meta: Any, annotations: Mapping[str, Expression], name: str) -> str:
    """Output column name: the column name of a field, the name of an annotation."""
    if name in annotations:
        return name
    return meta.get_field(name).column_name  # type: ignore[no-any-return]


def _select_element(
    scope: Scope, selected: Mapping[str, Fragment], name: str, annotations: Mapping[str, Expression]
) -> Any:
    """The selected column ``name`` under its label (a CTE that does not return a field reads it as NULL)."""
    found = selected.get(name)
    if found is None:  # a field of the model's table: the column itself
        return scope.meta.columns[name]
    element = found.build()
    label = _label(scope.meta, annotations, name)
    source = scope.source
    if source is not None and source.name is not None and name not in annotations:
        selectable = source.get()
        if isinstance(element, ColumnClause) and len(selectable.c) and element.name not in selectable.c:
            return sa.null().label(label)  # like only(): the field reads as None
    return element.label(label)


def _default_order(spec: QuerySpec, kind: str, names: Sequence[str], nested: bool) -> tuple[Any, ...]:
    """The model's default ordering where it applies: not to counts, groups, ``DISTINCT ON``, ``nearest()``,
    rows read from a CTE, or unsliced subqueries (where the order of rows means nothing)."""
    if (
        kind == "count"
        or (nested and spec.limit is None and spec.offset is None)
        or spec.group_by
        or spec.distinct_on
        or spec.nearest is not None
        or spec.source_cte is not None
        or any(expr.contains_aggregate for _, expr in spec.annotations)
        or (spec.distinct and not _selected_order(spec, names))
    ):
        return ()
    return spec.order_by


def _selected_order(spec: QuerySpec, names: Sequence[str]) -> bool:
    """Whether every item of the spec's ordering is a selected field (``DISTINCT`` and unions need that)."""
    meta = spec.meta
    selected = set(names)
    for item in spec.order_by:
        if not isinstance(item, str):
            return False
        name = item.lstrip("-+")
        if name not in selected and meta.get_field(name).name not in selected:
            return False
    return True


def _order_item(scope: Scope, item: Any, selected: Mapping[str, Fragment]) -> Fragment:
    """One ``order_by`` item; a selected name reuses its fragment (same expression, same parameters)."""
    ordering = order_expression(item)
    target = ordering.expression
    name = getattr(target, "name", None)
    if type(target) is F and isinstance(name, str) and name in selected:  # an annotation or source column
        inner = selected[name]
        descending, nulls_last = ordering.descending, ordering.nulls_last
        tag = ("order", descending, nulls_last)
        return Fragment((tag, inner.key), lambda: ordered(descending, nulls_last, inner.build()))
    return scope.expression(ordering)


def _group(
    spec: QuerySpec,
    scope: Scope,
    names: Sequence[str],
    selected: Mapping[str, Fragment],
    aggregates: set[str],
) -> list[Fragment]:
    if spec.group_by:
        return [
            (selected.get(item) or scope.column(item))
            if isinstance(item, str)
            else scope.expression(as_expression(item))
            for item in spec.group_by
        ]
    if not aggregates:
        return []
    annotations = scope.annotations
    return [
        selected.get(name) or scope.column(name)
        for name in dict.fromkeys(names)
        if name not in aggregates and not (name in annotations and annotations[name].contains_window)
    ]


def _nearest(nearest: NearestSpec, scope: Scope, *, with_distance: bool) -> Callable[[Any], Any]:
    """The null guard, the distance column (``with_distance``) and the distance ordering, applied to a
    statement before its other ordering."""
    column = scope.column(nearest.field_name)
    measured = distance(scope, nearest.field_name, nearest.metric, nearest.value)

    def apply(statement: Any) -> Any:
        if nearest.null_guard:
            statement = statement.where(column.build().is_not(None))
        value = measured.build()
        if with_distance:
            value = value.label(DISTANCE_LABEL)
            statement = statement.add_columns(value)
        return statement.order_by(value.desc() if nearest.farthest_first else value)

    return apply


def _check_distinct_order(spec: QuerySpec) -> None:
    leading = [item.lstrip("-+") if isinstance(item, str) else None for item in spec.order_by]
    leading = leading[: len(spec.distinct_on)]
    if sorted(map(str, leading)) != sorted(spec.distinct_on):
        raise ParameterError(
            f"distinct({', '.join(map(repr, spec.distinct_on))}) needs an order_by that starts with the same "
            f"fields; got order_by{tuple(spec.order_by)!r}",
            model=spec.model.__name__,
        )


def _unlockable(spec: QuerySpec) -> bool:
    return bool(
        spec.group_by
        or spec.distinct
        or spec.distinct_on
        or any(expr.contains_aggregate or expr.contains_window for _, expr in spec.annotations)
    )


def _counted_names(spec: QuerySpec, meta: Any) -> tuple[str, ...]:
    """What count()/exists() select from a grouped or DISTINCT query: the groups, or the distinct rows."""
    if spec.group_by:
        return tuple(name for name in spec.group_by if isinstance(name, str))
    if spec.fields is not None:
        return tuple(spec.fields)
    return tuple(meta.field_names)


# -- set operations -------------------------------------------------------------------------------------------------

_SET_OPERATIONS = {
    ("union", False): sa.union,
    ("union", True): sa.union_all,
    ("intersection", False): sa.intersect,
    ("intersection", True): sa.intersect_all,
    ("difference", False): sa.except_,
    ("difference", True): sa.except_all,
}


def _compound(spec: QuerySpec, scope: Scope, names: Sequence[str], kind: str) -> Fragment:
    model_name = spec.model.__name__
    if spec.where or spec.having or spec.annotations or spec.group_by or spec.distinct or spec.lock:
        raise QueryError(
            "after union()/intersection()/difference() only order_by(), slicing and the terminals apply; "
            "filter the parts before combining them",
            model=model_name,
        )
    parts = [
        (operation, all_rows, select(part, Scope(spec.model, scope.values), names, nested=True))
        for operation, all_rows, part in spec.combined
    ]
    order: list[tuple[str, bool, bool | None]] = []
    if kind == "rows" or kind == "values":
        default = spec.default_ordered and _selected_order(spec, names)
        for item in spec.order_by if spec.ordered or default else ():
            ordering = order_expression(item)
            target = ordering.expression
            name = getattr(target, "name", None)
            if not isinstance(target, Expression) or not isinstance(name, str) or name not in names:
                raise QueryError(
                    f"a combined query orders only by its selected columns {list(names)}; got {item!r}",
                    model=model_name,
                )
            order.append((_label(scope.meta, {}, name), ordering.descending, ordering.nulls_last))
    limit = spec.limit
    offset = None if spec.offset is None else scope.bind(spec.offset, sa.BigInteger())

    def make() -> Any:
        statement = parts[0][2].build()
        for operation, all_rows, part in parts[1:]:
            statement = _SET_OPERATIONS[(operation, all_rows)](statement, part.build())
        if order:
            statement = statement.order_by(*(ordered(d, n, sa.column(label)) for label, d, n in order))
        if limit is not None:
            statement = statement.limit(_row_count(limit))
        if offset is not None:
            statement = statement.offset(offset.build())
        if kind == "count":
            return sa.select(sa.func.count()).select_from(statement.subquery())
        if kind == "exists":
            return sa.select(sa.exists(statement.subquery().select()))
        return statement

    key = (
        "compound",
        kind,
        spec.model,
        tuple(names),
        tuple((operation, all_rows, part.key) for operation, all_rows, part in parts),
        tuple(order),
        limit,
        offset is not None,
    )
    return Fragment(key, make)


# -- statements ---------------------------------------------------------------------------------------------------


def compile_select(spec: QuerySpec, names: Sequence[str], kind: str = "values") -> tuple[Compiled, list[Any]]:
    """The compiled SELECT of ``names`` for ``spec`` and its parameters (see :func:`select` for ``kind``)."""
    shape = plain_shape(spec, names, kind)
    if shape is not None:
        known = known_plain(shape)
        if known is not None:
            return known, known.params(shape.values)
    statement, scope = _top_select(spec, names, kind)
    found = compiled(statement.key, statement.build)
    if shape is not None:
        remember_plain(shape, found, scope.values)
    return found, found.params(scope.values)


def _top_select(spec: QuerySpec, names: Sequence[str], kind: str) -> tuple[Fragment, Scope]:
    """The checked SELECT fragment of a statement of its own, and the scope holding its values."""
    if spec.nearest is not None and (
        spec.combined
        or spec.group_by
        or spec.distinct
        or spec.distinct_on
        or any(expr.contains_aggregate for _, expr in spec.annotations)
    ):
        raise QueryError(
            "nearest() cannot be combined with group_by/aggregates/distinct/union; "
            "annotate() with VectorDistance(...) and order_by() instead",
            model=spec.model.__name__,
        )
    if spec.group_by and kind in ("rows", "values"):
        _check_grouped_selection(spec, names)
    scope = Scope(spec.model)
    return select(spec, scope, names, kind), scope


def select_statement(spec: QuerySpec, names: Sequence[str], kind: str = "rows") -> sa.Select[Any]:
    """The SQLAlchemy ``Select`` :func:`compile_select` compiles, with its values bound (JSON values as
    Python objects: SQLAlchemy's JSON type serializes them), for running or composing with SQLAlchemy."""
    fragment, scope = _top_select(spec, names, kind)
    statement: sa.Select[Any] = fragment.build()
    return statement.params({f"v{index}": _for_sqlalchemy(v) for index, v in enumerate(scope.values)})


def _for_sqlalchemy(value: Any) -> Any:
    """A bound value as SQLAlchemy's bind processing takes it (a :class:`JsonText` parsed back)."""
    if value.__class__ is JsonText:
        return json.loads(value)
    if value.__class__ is list:
        return [_for_sqlalchemy(item) for item in value]
    return value


def aggregate_statement(spec: QuerySpec, expressions: Mapping[str, Expression]) -> tuple[Compiled, list[Any]]:
    """``SELECT <aggregates>`` over the rows of ``spec``: directly over the table when the query is
    unsliced and ungrouped, else over the query as a subquery."""
    direct = not (
        spec.limit is not None
        or spec.offset is not None
        or spec.distinct
        or spec.distinct_on
        or spec.group_by
        or spec.combined
        or spec.source_cte is not None
        or any(e.contains_aggregate or e.contains_window for _, e in spec.annotations)
    )
    scope = Scope(spec.model)
    if direct:
        statement = select(spec, scope, (), ordered_rows=False, columns=expressions)
    else:
        inner = select(spec, scope, grouped_selection(spec) or spec.selected_names(), nested=True)
        outer = Scope(spec.model, scope.values)
        outer.annotations = {name: _SourceColumn(name) for name, _ in spec.annotations}
        source = outer.source = Source(("subquery", inner.key), lambda: inner.build().subquery())
        columns = [(name, outer.expression(expr)) for name, expr in expressions.items()]

        def make() -> Any:
            return sa.select(*(c.build().label(name) for name, c in columns)).select_from(source.get())

        statement = Fragment(("aggregate", tuple((name, c.key) for name, c in columns), inner.key), make)
    found = compiled(statement.key, statement.build)
    return found, found.params(scope.values)


class _SourceColumn(Expression):
    """An annotation of an inner query, read back as a column of the subquery wrapping it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def compile(self, scope: Scope) -> Fragment:
        assert scope.source is not None
        return scope.source.column(self.name)


def pk_select(model: type, value: Any) -> tuple[Compiled, list[Any]]:
    """``SELECT <every field> WHERE <pk> = $1 LIMIT 2`` (``get(pk)``, which keeps it per model); ``value`` is
    already converted for the database."""
    meta = model._meta  # type: ignore[attr-defined]
    spec = QuerySpec(model, where=(Q((meta.pk.name, value)),), limit=2, ordered=True)
    return compile_select(spec, meta.field_names, "rows")


def grouped_selection(spec: QuerySpec) -> tuple[str, ...] | None:
    """What a grouped query can show (its groups, then its annotations); None when it is not restricted."""
    if not spec.group_by:
        return None
    grouped = _grouped_fields(spec)
    if grouped is None:
        return None
    extra = tuple(name for name, _ in spec.annotations if name not in grouped)
    return (*grouped, *extra)


def _grouped_fields(spec: QuerySpec) -> tuple[str, ...] | None:
    """The field names a grouped query groups by, or None when it groups by the primary key (then every
    column may be selected, as each depends on the key)."""
    meta = spec.meta
    annotations = {name for name, _ in spec.annotations}
    grouped = tuple(
        item if item in annotations else meta.get_field(item).name
        for item in spec.group_by
        if isinstance(item, str)
    )
    if meta.primary_keys and set(meta.primary_keys) <= set(grouped):
        return None
    return grouped


def _check_grouped_selection(spec: QuerySpec, names: Sequence[str]) -> None:
    """A grouped query can only select its groups and aggregates (all fields when grouped by the key)."""
    grouped = _grouped_fields(spec)
    if grouped is None:
        return  # every column depends on the primary key: PostgreSQL allows selecting them all
    annotations = {name for name, _ in spec.annotations}
    loose = [name for name in names if name not in annotations and name not in grouped]
    if loose:
        groups = ", ".join(repr(item) for item in spec.group_by)
        raise QueryError(
            f"group_by({groups}) returns one row per group, so {', '.join(map(repr, loose))} cannot be "
            "selected (neither grouped nor aggregated); read the groups with values(...) / values_list(...) "
            "naming the grouped fields and annotations, or group by the primary key to get instances",
            model=spec.meta.model_name,
        )


# -- many-to-many reads -------------------------------------------------------------------------------------------

#: the label of the junction's source key in :func:`junction_select` rows
JUNCTION_SOURCE = "_mx_m2m_source"


def junction_select(spec: Any, keys: list[Any]) -> tuple[Compiled, list[Any]]:
    """The target rows of a many-to-many relation joined to their junction rows, for the source ``keys``,
    ordered by the target's default ordering (else its primary key), and the statement's parameters; the
    source key is labelled :data:`JUNCTION_SOURCE`."""
    target = spec.target
    meta = target._meta
    junction = spec.junction
    scope = Scope(target, [keys])  # the keys are v0
    order = [_order_item(scope, item, {}) for item in meta.ordering_or_pk]

    def build() -> Any:
        source_col = junction.c[spec.source_column]
        target_key_col = meta.columns[spec.target_field.name]
        columns = [meta.columns[n] for n in meta.field_names]
        return (
            sa.select(*columns, source_col.label(JUNCTION_SOURCE))
            .select_from(meta.table.join(junction, junction.c[spec.target_column] == target_key_col))
            .where(source_col == sa.func.any(sa.bindparam("v0", type_=ARRAY(spec.source_field.bind_type()))))
            .order_by(*(item.build() for item in order))
        )

    key = ("m2m_fetch", spec.model, spec.name, target, junction, tuple(item.key for item in order))
    found = compiled(key, build)
    return found, found.params(scope.values)


def junction_pairs(spec: Any) -> Compiled:
    """(source key, target key) pairs of a many-to-many relation for the source keys in ``$1``."""
    junction = spec.junction

    def build() -> Any:
        source_col = junction.c[spec.source_column]
        return sa.select(source_col, junction.c[spec.target_column]).where(
            source_col == sa.func.any(sa.bindparam("v0", type_=ARRAY(spec.source_field.bind_type())))
        )

    return compiled(("m2m_pairs", spec.model, spec.name, junction), build)
