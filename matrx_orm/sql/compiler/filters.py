"""The one walk over a filter: a ``Q`` tree, ``field__lookup=value`` pairs and boolean expressions become
one condition fragment.

A pair goes through the lookup registry (``lookups.py``): ``"age__gt"`` resolves to the ``age`` field and
the ``gt`` lookup, whose ``values()`` converts and checks the value. A pair whose value is an expression
(``age__gt=F("min_age")``, ``user_id=OuterRef("id")``, ``id__in=<query>``) compiles that expression; a pair
naming an annotation compares the annotation. A key crossing a foreign key (``author__name="x"``) becomes a
correlated ``EXISTS`` over the target table::

    EXISTS (SELECT rel_user.id FROM rel_user WHERE rel_user.id = rel_post.author_id AND rel_user.name = $1)

Deeper paths nest one ``EXISTS`` per foreign key. Because ``EXISTS`` is always true or false, ``exclude()``
and ``~Q(...)`` keep the rows whose key is NULL. A part that is a lookup of the key itself (``author_id__in``,
``author__isnull``) stays a plain lookup: lookups win over target fields of the same name. Only foreign keys
are followed; inverse foreign keys and many-to-many raise ``QueryError`` pointing at ``Exists(...)``.
"""

from __future__ import annotations

import difflib
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...exceptions import ORMException, ParameterError, QueryError, UnknownFieldError, UnknownLookupError
from ...meta.foreign_key import FKSpec, foreign_key
from ...meta.inverse_foreign_key import inverse_foreign_key
from ...meta.many_to_many import many_to_many
from ...meta.memo import remember
from ..expressions.base import Expression, Fragment, OuterRef
from ..expressions.coerce import as_expression, is_expression
from ..expressions.subqueries import Exists
from ..json_lookups import json_lookup
from ..lookups import In, IsNull, get_lookup, lookup_names
from ..q import Q
from ..spec import QuerySpec

if TYPE_CHECKING:
    from .select import Scope

__all__ = ["AnnotationField", "condition", "no_window", "resolve_filter_key", "values_path_error"]


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


# -- names ------------------------------------------------------------------------------------------------------

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
        return remember(_resolved, cache_key, (field, json_lookup(field, rest)))
    if "__" in rest:
        raise UnknownLookupError(name=rest, choices=lookup_names(field), model=meta.model_name)
    return remember(_resolved, cache_key, (field, get_lookup(field, rest or "exact")))


# -- the walk ---------------------------------------------------------------------------------------------------


def condition(scope: Scope, node: Any) -> Fragment:
    """The boolean fragment of a Q tree, a ``(key, value)`` pair or a boolean expression."""
    if isinstance(node, Q):
        children = [child for child in node.children if not _empty(child)]  # Q() asks for nothing
        if len(children) == 1 and not node.negated:
            return condition(scope, children[0])
        if not children:  # not even when negated: ``exclude(Q())`` keeps every row
            return Fragment(("true",), sa.true)
        parts = [condition(scope, child) for child in children]
        key = (node.connector, node.negated, tuple(part.key for part in parts))
        return Fragment(key, partial(_combine, node.connector, node.negated, parts))
    if isinstance(node, Expression):
        return scope.expression(node)
    if isinstance(node, tuple) and len(node) == 2 and isinstance(node[0], str):
        return _pair(scope, node[0], node[1])
    raise ParameterError(
        f"filter() takes Q objects, field=value keywords and expressions; got {node!r}",
        model=scope.meta.model_name,
    )


def _empty(node: Any) -> bool:
    """Whether ``node`` is a Q with no condition in it (``Q()``, or Q objects holding only those)."""
    return isinstance(node, Q) and all(_empty(child) for child in node.children)


def _combine(connector: str, negated: bool, parts: list[Fragment]) -> Any:
    built = [part.build() for part in parts]
    joined = sa.or_ if connector == Q.OR else sa.and_
    combined = built[0] if len(built) == 1 else joined(*built)
    return sa.not_(combined) if negated else combined


def _pair(scope: Scope, key: str, value: Any) -> Fragment:
    name, _, rest = key.partition("__")
    annotation = scope.annotations.get(name)
    column: Fragment | None = None
    type_key: Any = None
    if annotation is not None:
        if "__" in rest:
            raise UnknownLookupError(
                name=rest,
                choices=lookup_names(AnnotationField(name, scope.model)),
                model=scope.meta.model_name,
            )
        field: Any = AnnotationField(name, scope.model, annotation.output_field)
        column = scope.column(name)
        lookup = get_lookup(field, rest or "exact")
        bind_type = lookup.bind_type(field)
        type_key = None if bind_type is None else (type(bind_type), repr(bind_type))
    else:
        if rest:
            crossing = relation_condition(scope.model, key, value)
            if crossing is not None:
                return scope.expression(crossing)
        field, lookup = resolve_filter_key(scope.model, key)
    if is_expression(value):
        return _expression_pair(scope, key, field, column, lookup, value)
    if scope.pending:  # checking names only: values are checked when the query runs
        return Fragment(("pending", key), sa.true)
    shape = lookup.shape(value)
    try:
        raw = lookup.values(field, value)
    except ORMException as exc:
        exc.enrich(model=scope.meta.model_name, details={"filter": key})
        raise
    start = len(scope.values)
    scope.values.extend(raw)
    column_of = column.build if column is not None else partial(scope.element, field)

    def make() -> Any:
        bind_type = lookup.bind_type(field)
        binds = [sa.bindparam(f"v{start + i}", type_=bind_type) for i in range(len(raw))]
        return lookup.expr(column_of(), binds, value)

    column_key = None if column is None else column.key
    return Fragment(("lookup", key, shape, type_key, column_key, len(raw)), make)


def _expression_pair(
    scope: Scope, key: str, field: Any, column: Fragment | None, lookup: Any, value: Any
) -> Fragment:
    """``field__lookup=<expression>``: compare with the expression's SQL; ``__in`` takes a subquery."""
    model_name = scope.meta.model_name
    if isinstance(lookup, IsNull):
        raise ParameterError(f"'{key}' expects True or False, not an expression", model=model_name)
    expression = as_expression(value)
    column_of = column.build if column is not None else partial(scope.element, field)
    column_key = None if column is None else column.key
    if isinstance(lookup, In):
        select = getattr(expression, "select", None)
        if select is None:
            raise ParameterError(
                f"'{key}' takes a list or a query (QueryBuilder / Subquery / cte.values()); got {expression!r}",
                model=model_name,
            )
        inner: Fragment = select(scope)
        return Fragment(("in-subquery", key, column_key, inner.key), lambda: column_of().in_(inner.build()))
    if getattr(lookup, "key_path", None) is not None:
        raise ParameterError(
            f"'{key}': JSON key lookups compare with plain values, not expressions", model=model_name
        )
    compared = scope.expression(expression)

    def make() -> Any:
        return lookup.expr(column_of(), [compared.build()], expression)

    return Fragment(("expr-lookup", key, column_key, type(lookup), compared.key), make)


def no_window(expression: Expression, name: str, model_name: str) -> None:
    """Refuse a filter on an annotation holding a window function."""
    if expression.contains_window:
        raise QueryError(
            f"cannot filter on '{name}': it is a window function; window results can only be filtered in an "
            "outer query (use the values in Python, or a CTE)",
            model=model_name,
        )


# -- filters across foreign keys ----------------------------------------------------------------------------------

_paths: dict[tuple[type, str], tuple[FKSpec, str] | None] = {}


def relation_path(model: type, key: str) -> tuple[FKSpec, str] | None:
    """``"author__name__icontains"`` → (the ``author`` foreign key, ``"name__icontains"``); None when ``key``
    does not cross a foreign key. Raises for an unknown field at the end of the path, and for relations that
    cannot be filtered across."""
    cache_key = (model, key)
    if cache_key in _paths:
        return _paths[cache_key]
    return remember(_paths, cache_key, _find(model, key))


def _find(model: type, key: str) -> tuple[FKSpec, str] | None:
    name, _, rest = key.partition("__")
    if not rest:
        return None
    meta = model._meta  # type: ignore[attr-defined]
    spec = foreign_key(model, name)
    if spec is None:
        if name not in meta.fields:
            _refuse_other_relation(model, name, key)
        return None
    head = rest.partition("__")[0]
    lookups = lookup_names(spec.field)
    if head in lookups:
        return None  # author_id__in=..., author__isnull=True: a lookup on the key itself
    target = spec.target
    target_meta = target._meta
    if head not in target_meta.fields and head not in target_meta.relation_aliases:
        if difflib.get_close_matches(head, lookups, n=1) and not difflib.get_close_matches(
            head, target_meta.field_names, n=1
        ):
            return None  # a mistyped lookup: resolve_filter_key's UnknownLookupError names the close ones
        raise UnknownFieldError(
            name=head,
            choices=[*target_meta.field_names, *target_meta.relation_aliases],
            model=target.__name__,
            details={"filter": key, "via": f"{meta.model_name}.{spec.name}"},
        )
    if spec.cross_database or target_meta.unfetchable:
        where = "another database" if spec.cross_database else "an _unfetchable model"
        raise QueryError(
            f"cannot filter across '{name}' in '{key}': it points at {where}; filter on the key instead, "
            f"e.g. {spec.name}__in=await {target.__name__}.filter(...).values_list("
            f"'{spec.target_field.name}', flat=True)",
            model=meta.model_name,
        )
    return spec, rest


def _refuse_other_relation(model: type, name: str, key: str) -> None:
    """A key starting with an inverse foreign key or many-to-many name: say how to write it instead."""
    meta = model._meta  # type: ignore[attr-defined]
    kind = None
    if name in meta.inverse_foreign_keys and inverse_foreign_key(model, name) is not None:
        kind = "an inverse foreign key"
    elif many_to_many(model, name) is not None:
        kind = "a many-to-many relation"
    if kind is not None:
        raise QueryError(
            f"cannot filter across '{name}' in '{key}': it is {kind}, and filters follow foreign keys only; "
            "use Exists(Related.filter(<key>=OuterRef('id'), ...)) instead",
            model=meta.model_name,
        )


def relation_condition(model: type, key: str, value: Any) -> Exists | None:
    """The ``EXISTS`` condition for a filter crossing a foreign key, or None for a plain filter key."""
    found = relation_path(model, key)
    if found is None:
        return None
    spec, rest = found
    correlation = Q((spec.target_field.name, OuterRef(spec.name)))
    return Exists(QuerySpec(spec.target, where=(correlation, Q((rest, value)))))


def values_path_error(model: type, name: str) -> UnknownFieldError:
    """The error for ``values("author__name")``: values() reads the model's own fields and annotations."""
    meta = model._meta  # type: ignore[attr-defined]
    head, _, rest = name.partition("__")
    spec = foreign_key(model, head)
    message = ""
    if spec is not None:
        target = spec.target.__name__
        label = rest.replace("__", "_")
        message = (
            f"values() reads the fields and annotations of {meta.model_name}; '{name}' follows the foreign key "
            f"'{spec.alias}', which values() does not join. Annotate the related value instead: "
            f".annotate({spec.alias}_{label}=Subquery({target}.filter({spec.target_field.name}="
            f"OuterRef('{spec.name}')).select('{rest.partition('__')[0]}'))), or load rows with "
            f"select_related('{spec.alias}') and read instance.get_related('{spec.alias}')"
        )
    return UnknownFieldError(message, name=name, choices=meta.field_names, model=meta.model_name)
