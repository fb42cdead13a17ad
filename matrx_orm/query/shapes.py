"""Shape keys for the advanced SELECT, computed without building SQLAlchemy expressions.

``query/select.py`` builds an advanced statement by resolving every expression through a
:class:`~.expressions.Resolver`, which is correct but costs a full SQLAlchemy build per call. This module
walks the same expressions and conditions *in the same order* as their ``resolve`` methods, appending the
values they would bind to ``values`` and returning a hashable description of the SQL they would render
(the node classes, field names, lookups, value types — never the values). Two queries with equal shapes
render the same SQL text, so the compiled statement of the first is reused with the values of the next.

The walk knows the built-in expressions (``F``, ``Value``, arithmetic, ``Case``/``When``, functions,
aggregates, windows, ``Cast``, ``Extract``, vector distances, ``OuterRef``, ``Subquery``, ``Exists`` and
the ``EXISTS`` of a filter across a foreign key) through :data:`HANDLERS`, keyed by the ``resolve``
function of the class — a subclass that overrides ``resolve`` is unknown. A subquery is walked by
``select.select_shape`` on a child walk (``OuterRef`` reaches the enclosing walk, as with
``Resolver.child``); ``field__in=<QueryBuilder>`` walks the inner SELECT too. Anything unknown or unusual
(CTEs, an ``OuterRef`` with no enclosing query, a name that does not resolve, a value that fails
validation) raises :class:`NoShape` or the validation error; the caller then uses the SQLAlchemy path,
which raises the user-facing error if there is one. ``select.py`` and the builder also check, whenever
they build a statement for a new shape, that the resolver bound exactly the values gathered here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from . import compiler
from .aggregates import Aggregate, Count, _Star
from .conditions import AnnotationField
from .expressions import Case, CombinedExpression, Expression, F, OrderBy, OuterRef, Value
from .functions import Cast, Extract, Func, Round
from .lookups import In, IsNull, get_lookup
from .q import Q
from .subqueries import Exists, Subquery
from .windows import FirstValue, Lag, NthValue, Ntile, Window

__all__ = ["HANDLERS", "NoShape", "PendingWalk", "ShapeMismatch", "ShapeWalk", "check_bound"]


class NoShape(Exception):
    """Internal: the walk cannot describe this query; use the SQLAlchemy path instead."""


class ShapeMismatch(Exception):
    """Internal: the resolver bound other values than the shape walk gathered (a walk bug): do not cache."""


#: how often a new shape's statement bound other values than the walk gathered (should stay 0)
shape_mismatches = 0


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 (arrays: element-wise ==)
        import numpy as np

        return bool(np.array_equal(a, b))


def check_bound(bound: list[Any], values: list[Any], key: Any) -> None:
    """Raise ``ShapeMismatch`` (and count it) unless the resolver's ``bound`` values equal the walk's."""
    global shape_mismatches
    if len(bound) != len(values) or not all(map(_same, bound, values)):
        shape_mismatches += 1
        raise ShapeMismatch(key)


class ShapeWalk:
    """Mirror of a :class:`~.expressions.Resolver` that gathers values and shapes instead of SQL.

    ``conditions=False`` refuses Q conditions (``NoShape``): ``annotate()`` uses that mode to validate
    annotations cheaply and leaves anything with a condition to the resolver. ``outer`` is the walk of the
    enclosing query (what ``OuterRef`` names), as ``Resolver.outer``.
    """

    __slots__ = ("_active", "_memo", "annotations", "conditions", "meta", "model", "outer", "values")

    def __init__(
        self,
        model: type,
        values: list[Any],
        annotations: Mapping[str, Expression] | None = None,
        *,
        conditions: bool = True,
        outer: ShapeWalk | None = None,
    ) -> None:
        self.model = model
        self.meta: Any = model._meta  # type: ignore[attr-defined]
        self.values = values
        self.annotations: Mapping[str, Expression] = annotations or {}
        self.conditions = conditions
        self.outer = outer
        self._active: set[str] = set()
        self._memo: dict[str, tuple[Hashable, list[Any]]] = {}

    def child(self, model: type) -> ShapeWalk:
        """The walk of a subquery over ``model`` sharing these values (``Resolver.child``)."""
        return ShapeWalk(model, self.values, conditions=self.conditions, outer=self)

    def subquery(self, state: Any, names: tuple[str, ...]) -> Hashable:
        """The shape of ``select_statement(state, ctx.child(...), names)``: a subquery's SELECT."""
        from .select import select_shape

        return select_shape(state, self.child(state.model), names)

    def walk_annotations(self) -> tuple[Hashable, ...]:
        """The shape of every annotation, remembered (with its values) so that :meth:`column` does not walk
        it again."""
        memo: dict[str, tuple[Hashable, list[Any]]] = {}
        for name in self.annotations:
            values: list[Any] = []
            walk = ShapeWalk(self.model, values, self.annotations, conditions=self.conditions)
            walk._memo = memo
            memo[name] = (walk.column(name), values)
        self._memo = memo
        return tuple(shape for shape, _ in memo.values())

    def expression(self, expression: Any) -> Hashable:
        """The shape of ``expression``; its values are appended to ``values`` in resolve order."""
        handler = HANDLERS.get(getattr(type(expression), "resolve", None))
        if handler is None:
            raise NoShape(type(expression).__name__)
        return handler(self, expression)

    def column(self, name: str) -> Hashable:
        """As ``Resolver.column``: an annotation is expanded in place, a field is its name."""
        remembered = self._memo.get(name)
        if remembered is not None:
            self.values.extend(remembered[1])
            return remembered[0]
        annotation = self.annotations.get(name)
        if annotation is not None:
            if name in self._active:
                raise NoShape("self-reference")
            self._active.add(name)
            try:
                return ("=", name, self.expression(annotation))
            finally:
                self._active.discard(name)
        meta = self.meta
        if name in meta.fields or name in meta.relation_aliases:
            return name
        raise NoShape(name)

    def order(self, item: Any) -> Hashable:
        """The shape of one ``order_by`` item (``"-name"``, an expression or an ``OrderBy``)."""
        if isinstance(item, str):
            if not item or item in ("-", "+"):
                raise NoShape(item)
            return ("order-name", item.startswith("-"), self.column(item.lstrip("-+")))
        if isinstance(item, OrderBy):
            return self.expression(item)
        if isinstance(item, Expression):
            return ("order", False, None, self.expression(item))
        raise NoShape(repr(item))

    def condition(self, node: Any) -> Hashable:
        """As ``conditions.resolve_condition``: a Q tree, a ``(key, value)`` pair or a boolean expression."""
        if not self.conditions:
            raise NoShape("condition")
        if isinstance(node, Q):
            return (node.connector, node.negated, tuple(self.condition(child) for child in node.children))
        if isinstance(node, Expression):
            return self.expression(node)
        if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
            return self._lookup(*node)
        raise NoShape(repr(node))

    def _lookup(self, key: str, value: Any) -> Hashable:
        name, _, rest = key.partition("__")
        annotation = self.annotations.get(name)
        if annotation is not None:
            if "__" in rest:
                raise NoShape(key)
            field: Any = AnnotationField(name, self.model, annotation.output_field)
            column = self.column(name)
            lookup = get_lookup(field, rest or "exact")
            bind_type = lookup.bind_type(field)
            type_key: Hashable = None if bind_type is None else (type(bind_type), repr(bind_type))
        else:
            if rest:  # author__name=...: the EXISTS the resolver builds (relation_filters.py)
                from .relation_filters import relation_condition

                crossing = relation_condition(self.model, key, value)
                if crossing is not None:
                    return self.expression(crossing)
            field, lookup = compiler.resolve_filter_key(self.model, key)
            column, type_key = key, None
        if isinstance(value, compiler.RESOLVABLE):
            if getattr(lookup, "key_path", None) is not None:
                raise NoShape(key)
            if isinstance(lookup, In):  # field__in=<QueryBuilder or Subquery>: IN (SELECT ...)
                from .expressions import as_expression

                inner = as_expression(value)
                if getattr(type(inner), "select_statement", None) is not Subquery.select_statement:
                    raise NoShape(key)
                assert isinstance(inner, Subquery)
                return ("in-subquery", column, self.subquery(inner.queryset._state, (inner.column,)))
            if not isinstance(value, Expression) or isinstance(lookup, IsNull):
                raise NoShape(key)
            return ("expr-lookup", column, type(lookup), self.expression(value))
        raw = lookup.values(field, value)
        shape = lookup.shape(value)
        self.values.extend(raw)
        return ("lookup", column, type(lookup), shape, type_key, len(raw))


class PendingWalk(ShapeWalk):
    """Stands in for the enclosing query while a condition is checked on its own (``PendingOuter``): any
    name is accepted, the real check happens when the statement is built."""

    def column(self, name: str) -> Hashable:
        return ("pending", name)


# -- handlers: one per resolve() implementation ------------------------------------------------------------------

Handler = Callable[[ShapeWalk, Any], Hashable]


def _f(walk: ShapeWalk, expression: F) -> Hashable:
    return walk.column(expression.name)


def _outer_ref(walk: ShapeWalk, expression: OuterRef) -> Hashable:
    if walk.outer is None:
        raise NoShape("OuterRef outside a subquery")  # the resolver raises the QueryError
    return ("outer", walk.outer.column(expression.name))


def _subquery(walk: ShapeWalk, expression: Subquery) -> Hashable:
    if type(expression).select_statement is not Subquery.select_statement:
        raise NoShape(type(expression).__name__)
    return ("subquery", walk.subquery(expression.queryset._state, (expression.column,)))


def _exists(walk: ShapeWalk, expression: Exists) -> Hashable:
    meta = expression.queryset._meta
    names = tuple(meta.primary_keys[:1] or meta.field_names[:1])
    return ("exists", expression.negated, walk.subquery(expression.queryset._state, names))


def _value(walk: ShapeWalk, expression: Value) -> Hashable:
    output_field = expression.output_field
    if output_field is not None:
        bind_type = output_field.bind_type()
        walk.values.append(output_field.to_db(expression.value))
        return ("value-field", type(bind_type), repr(bind_type))
    value = expression.value
    if value is None:
        return ("null",)
    walk.values.append(str(value) if isinstance(value, uuid.UUID) else value)
    return ("value", type(value), isinstance(value, dt.datetime) and value.tzinfo is None)


def _combined(walk: ShapeWalk, expression: CombinedExpression) -> Hashable:
    left = walk.expression(expression.lhs)
    return (expression.operator, left, walk.expression(expression.rhs))


def _order_by(walk: ShapeWalk, expression: OrderBy) -> Hashable:
    inner = walk.expression(expression.expression)
    return ("order", expression.descending, expression.nulls_last, inner)


def _arguments(walk: ShapeWalk, expression: Func) -> tuple[Hashable, ...]:
    if type(expression).resolve_arguments is not Func.resolve_arguments:
        raise NoShape(type(expression).__name__)
    return tuple(walk.expression(source) for source in expression.source)


def _func(walk: ShapeWalk, expression: Func) -> Hashable:
    return (type(expression), expression.function, expression.result_type, _arguments(walk, expression))


def _round(walk: ShapeWalk, expression: Round) -> Hashable:
    arguments = _arguments(walk, expression)
    if expression.places != 0:
        walk.values.append(expression.places)
    return (Round, expression.places == 0, arguments)


def _aggregate(walk: ShapeWalk, expression: Aggregate) -> Hashable:
    arguments = _arguments(walk, expression)
    condition = None if expression.filter is None else walk.condition(expression.filter)
    return (type(expression), expression.function, expression.distinct, arguments, condition)


def _count(walk: ShapeWalk, expression: Count) -> Hashable:
    if isinstance(expression.source[0], _Star):
        condition = None if expression.filter is None else walk.condition(expression.filter)
        return (Count, "*", condition)
    return _aggregate(walk, expression)


def _star(walk: ShapeWalk, expression: Any) -> Hashable:
    return "*"


def _cast(walk: ShapeWalk, expression: Cast) -> Hashable:
    return (Cast, type(expression.sa_type), repr(expression.sa_type), walk.expression(expression.source))


def _extract(walk: ShapeWalk, expression: Extract) -> Hashable:
    return (Extract, expression.part, walk.expression(expression.source))


def _case(walk: ShapeWalk, expression: Case) -> Hashable:
    branches = []
    for when in expression.whens:
        condition = walk.condition(when.condition)
        branches.append((condition, walk.expression(when.result)))
    default = None if expression.default is None else walk.expression(expression.default)
    return (Case, tuple(branches), default)


def _ntile(walk: ShapeWalk, expression: Ntile) -> Hashable:
    walk.values.append(expression.num_buckets)
    return (Ntile,)


def _lag(walk: ShapeWalk, expression: Lag) -> Hashable:
    arguments = _arguments(walk, expression)
    walk.values.append(expression.offset)
    default = None if expression.default is None else walk.expression(expression.default)
    return (type(expression), expression.function, arguments, default)


def _first_value(walk: ShapeWalk, expression: FirstValue) -> Hashable:
    return (type(expression), expression.function, _arguments(walk, expression))


def _nth_value(walk: ShapeWalk, expression: NthValue) -> Hashable:
    arguments = _arguments(walk, expression)
    walk.values.append(expression.nth)
    return (NthValue, arguments)


def _window(walk: ShapeWalk, expression: Window) -> Hashable:
    function = walk.expression(expression.expression)
    partition = tuple(walk.expression(item) for item in expression.partition_by)
    order = tuple(walk.expression(item) for item in expression.order_by)
    frame: Hashable = None
    if expression.frame is not None:
        mode, start, end = expression.frame
        for bound in (start, end):
            if bound[1] is not None:
                walk.values.append(bound[1])
        frame = (mode, start[0], start[1] is None, end[0], end[1] is None)
    return (Window, function, partition, order, frame)


def _vector_distance(walk: ShapeWalk, expression: Any) -> Hashable:
    from .vector import _vector_field

    field = _vector_field(walk.meta, expression.name, "VectorDistance()")
    converted = expression._converted
    if converted is None or converted[0] is not field:
        converted = expression._converted = (field, field.to_db(expression.vector))
    column = walk.column(expression.name)
    walk.values.append(converted[1])
    return ("vector-distance", expression.metric, column)


def _distance_condition(walk: ShapeWalk, expression: Any) -> Hashable:
    left = walk.expression(expression.distance)
    walk.values.append(expression.threshold)
    return ("distance-condition", expression.operator, left)


def _handlers() -> dict[Any, Handler]:
    from .vector import DistanceCondition, VectorDistance

    table: dict[type[Expression], Handler] = {
        F: _f,
        OuterRef: _outer_ref,
        Subquery: _subquery,
        Exists: _exists,
        Value: _value,
        CombinedExpression: _combined,
        OrderBy: _order_by,
        Func: _func,
        Round: _round,
        Aggregate: _aggregate,
        Count: _count,
        _Star: _star,
        Cast: _cast,
        Extract: _extract,
        Case: _case,
        Ntile: _ntile,
        Lag: _lag,
        FirstValue: _first_value,
        NthValue: _nth_value,
        Window: _window,
        VectorDistance: _vector_distance,
        DistanceCondition: _distance_condition,
    }
    return {cls.resolve: handler for cls, handler in table.items()}


#: ``resolve`` function of an expression class → the walk mirroring it
HANDLERS: dict[Any, Handler] = _handlers()
