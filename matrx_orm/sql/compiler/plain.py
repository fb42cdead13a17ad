"""Plain queries: their statement found without the walk.

Most queries a service runs are *plain*: ``field__lookup=value`` keywords (in ``Q`` trees) on the model's own
fields, field names in ``order_by``, a slice, a ``nearest()`` search. The statement of a plain query depends
only on the model, the selected names, the filter keys with each value's ``shape`` (see ``lookups.py``), the
search's shape, the ordering, the limit and whether there is an offset; its parameters are each pair's
converted values in order, then the search's vector and the offset. :func:`plain_shape` reads that key and
those values straight off the spec, without building fragments.

The first query of a key still takes the walk (``select.compile_select``), which reads the values again (a
filter's one-pass iterator was read into a tuple when its ``Q`` was made), and its parameters are compared
with the ones read here: the key keeps the compiled statement only when they are the same, and is marked for
the walk otherwise. Any error reading a plain shape (an unknown name, a bad value) also leaves the query to
the walk, which raises it with its full context.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from ...exceptions import ORMException
from ...meta.memo import remember
from ..expressions.coerce import is_expression
from ..q import Q
from ..spec import QuerySpec
from .cache import Compiled, plans
from .filters import relation_path, resolve_filter_key

__all__ = ["PlainShape", "known_plain", "plain_names", "plain_shape", "remember_plain"]


class PlainShape:
    """The key of a plain query and its values in the order the walk gathers them."""

    __slots__ = ("key", "values")

    def __init__(self, key: Hashable, values: list[Any]) -> None:
        self.key = key
        self.values = values


def plain_shape(spec: QuerySpec, names: Sequence[str], kind: str) -> PlainShape | None:
    """The plain key and values of ``spec`` selecting ``names``; None when the query is not plain."""
    if (
        spec.annotations
        or spec.having
        or spec.group_by
        or spec.distinct
        or spec.distinct_on
        or spec.lock is not None
        or spec.ctes
        or spec.source_cte is not None
        or spec.combined
        or spec.select_related
    ):
        return None
    for item in spec.order_by:
        if item.__class__ is not str:
            return None
    model = spec.model
    values: list[Any] = []
    conditions: list[Hashable] = []
    try:
        for node in spec.where:
            part = _condition_key(model, node, values)
            if part is None:
                return None
            conditions.append(part)
    except ORMException:
        return None  # the walk raises it, with the model and the filter named
    nearest = spec.nearest
    if nearest is not None:
        values.append(nearest.value)  # the query vector, bound after the conditions' values
    if spec.offset is not None:
        values.append(spec.offset)
    key = (
        model,
        kind,
        tuple(names),
        tuple(conditions),
        spec.order_by,
        spec.ordered,
        spec.limit,  # written into the statement (see ``select._row_count``)
        spec.offset is None,
        None if nearest is None else nearest.shape,
    )
    return PlainShape(key, values)


def plain_names(model: type, node: Any) -> Hashable | None:
    """The names of a plain condition (its keys in their ``Q`` tree, no values); None when it is not plain.
    Checking a plain condition's names does not depend on its values (see ``select.check_condition``)."""
    try:
        part = _condition_key(model, node, None)
    except ORMException:
        return None
    return None if part is None else (model, part)


def _condition_key(model: type, node: Any, values: list[Any] | None) -> Hashable | None:
    """The key of a condition, values appended to ``values`` (only the names when ``values`` is None);
    None when the condition is not plain."""
    if node.__class__ is Q:
        parts: list[Hashable] = []
        for child in node.children:
            part = _condition_key(model, child, values)
            if part is None:
                return None
            parts.append(part)
        return ("q", node.connector, node.negated, tuple(parts))
    if node.__class__ is not tuple or len(node) != 2 or node[0].__class__ is not str:
        return None
    key: str = node[0]
    value = node[1]
    if is_expression(value) or ("__" in key and relation_path(model, key) is not None):
        return None
    if values is None:
        return key
    field, lookup = resolve_filter_key(model, key)
    shape = lookup.shape(value)
    raw = lookup.values(field, value)
    values.extend(raw)
    return ("pair", key, shape, len(raw))


def known_plain(shape: PlainShape) -> Compiled | None:
    """The statement kept for ``shape``'s key; None when it has none yet or its queries take the walk."""
    return plans.get(shape.key)


def remember_plain(shape: PlainShape, statement: Compiled, walked: list[Any]) -> None:
    """After the walk compiled a plain query's first statement: keep it for the key when the values the
    walk gathered (``walked``) are the ones :func:`plain_shape` read, else mark the key for the walk."""
    if shape.key in plans:
        return
    try:
        same = len(walked) == len(shape.values) and all(
            a is b or (a.__class__ is b.__class__ and a == b)
            for a, b in zip(walked, shape.values, strict=True)
        )
    except Exception:  # noqa: BLE001 (a value whose == is not a plain bool, an array: not comparable here)
        same = False
    remember(plans, shape.key, statement if same else None)
