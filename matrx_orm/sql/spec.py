"""``QuerySpec``: everything a query says, never changed once a builder holds it. ``QueryBuilder`` (what
users chain) holds one; the compiler turns one into a statement.

``Queryable`` marks the objects that hold a spec, so subqueries (``Subquery``, ``Exists``,
``field__in=<query>``, ``CTE``) can take a ``QueryBuilder`` without this layer importing it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .nearest import NearestSpec

__all__ = ["QuerySpec", "Queryable", "replace"]


@dataclass(slots=True, unsafe_hash=True)
class QuerySpec:
    """Everything a query says; chain methods make modified copies with :func:`replace`, never change one
    that a builder holds.

    (Not ``frozen``: a frozen dataclass sets each of its 21 fields through ``object.__setattr__``, which made
    building a spec the largest cost of ``Model.filter(...)``; specs are still hashed by their fields.)
    """

    model: type
    where: tuple[Any, ...] = ()  # Q trees, ANDed
    order_by: tuple[Any, ...] = ()  # "name", "-name", expressions, OrderBy
    limit: int | None = None
    offset: int | None = None
    fields: tuple[str, ...] | None = None  # only()/select(): the fields loaded
    database: str | None = None  # using(): another registered database
    nearest: NearestSpec | None = None  # vector search
    annotations: tuple[tuple[str, Any], ...] = ()
    having: tuple[Any, ...] = ()  # conditions naming annotations (HAVING when they name an aggregate)
    group_by: tuple[Any, ...] = ()
    distinct: bool = False
    distinct_on: tuple[str, ...] = ()
    lock: tuple[bool, bool, tuple[Any, ...]] | None = None  # (nowait, skip_locked, of)
    ctes: tuple[Any, ...] = ()
    source_cte: Any = None
    combined: tuple[Any, ...] = ()  # ((operation, all, QuerySpec), ...) for union/intersection/difference
    select_related: tuple[str, ...] = ()  # foreign keys LEFT JOINed into the rows
    prefetch_related: tuple[str, ...] = ()  # relations loaded after the rows
    # order_by() was called, so order_by is the query's own (an empty one clears the default); when False,
    # order_by holds the model's default ordering (``_ordering``), filled in when the spec is made. Pass
    # ordered=True when making a spec with an order_by of its own (replace() sets it for a new order_by).
    ordered: bool = False

    def __post_init__(self) -> None:
        if not self.order_by and not self.ordered:
            default: tuple[Any, ...] = getattr(getattr(self.model, "_meta", None), "ordering", ())
            if default:
                self.order_by = default

    @property
    def default_ordered(self) -> bool:
        """Whether the rows are ordered by the model's default ordering (no ``order_by()`` was called)."""
        return not self.ordered and bool(self.order_by)

    @property
    def meta(self) -> Any:
        return self.model._meta  # type: ignore[attr-defined]

    def selected_names(self) -> tuple[str, ...]:
        """What the rows hold: the loaded fields (all unless ``only()``/``select()``), then the annotations."""
        names: tuple[str, ...] = self.fields or self.meta.field_names
        if self.annotations:
            names = (*names, *(name for name, _ in self.annotations))
        return names


class Queryable:
    """Base of objects holding a :class:`QuerySpec` in ``_spec`` (``QueryBuilder``)."""

    __slots__ = ()

    @property
    def _spec(self) -> QuerySpec:
        raise NotImplementedError


def _replacer() -> Callable[[QuerySpec, dict[str, Any]], QuerySpec]:
    """``dataclasses.replace`` for QuerySpec, specialised once for its fields (every chain method calls it):
    a copy of every field, the changes set on it, then ``__post_init__`` as the constructor would run it;
    unknown names raise."""
    names = [f.name for f in dataclasses.fields(QuerySpec)]
    copies = "".join(f"    new.{name} = spec.{name}\n" for name in names)
    source = (
        "def replace(spec, changes):\n"
        "    if not changes.keys() <= FIELDS:\n"
        "        raise TypeError(f'unknown QuerySpec fields {sorted(changes.keys() - FIELDS)}')\n"
        "    new = new_spec(QuerySpec)\n"
        f"{copies}"
        "    for name, value in changes.items():\n"
        "        setattr(new, name, value)\n"
        # a new order_by (even an empty one) replaces the model's default ordering
        "    if 'order_by' in changes and 'ordered' not in changes:\n"
        "        new.ordered = True\n"
        "    new.__post_init__()\n"
        "    return new\n"
    )
    namespace: dict[str, Any] = {
        "QuerySpec": QuerySpec,
        "FIELDS": frozenset(names),
        "new_spec": object.__new__,
    }
    exec(source, namespace)  # noqa: S102 (generated from the dataclass's own field names)
    replace_function: Callable[[QuerySpec, dict[str, Any]], QuerySpec] = namespace["replace"]
    return replace_function


#: ``replace(spec, {"limit": 3})``: a copy of ``spec`` with those fields changed
replace = _replacer()
