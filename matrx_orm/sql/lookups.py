"""Lookup registry: each lookup turns ``(column, bound values)`` into a SQLAlchemy boolean expression.

A lookup has two halves so that cached statements skip expression building:
``values(field, value)`` validates and converts the user's value into the bound parameters (called on
every query), and ``expr(column, binds, value)`` builds the expression (called only the first time a query
shape is seen). ``shape(value)`` returns whatever about the value changes the SQL text (``None`` vs a value
for ``exact``, ``True``/``False`` for ``isnull``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ParameterError, UnknownLookupError

LIKE_ESCAPE = "\\"


def escape_like(value: str) -> str:
    """Escape LIKE metacharacters so user text matches literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Lookup:
    """Base lookup: one bound value converted by the field."""

    name: ClassVar[str]

    def shape(self, value: Any) -> Hashable:
        return None

    def values(self, field: Any, value: Any) -> list[Any]:
        return [field.to_db(value)]

    def bind_type(self, field: Any) -> Any:
        return field.bind_type()

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        raise NotImplementedError


class Exact(Lookup):
    name = "exact"

    def shape(self, value: Any) -> Hashable:
        return value is None

    def values(self, field: Any, value: Any) -> list[Any]:
        return [] if value is None else [field.to_db(value)]

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.is_(None) if value is None else column == binds[0]


class NotEqual(Exact):
    name = "ne"

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.is_not(None) if value is None else column != binds[0]


class _Compare(Lookup):
    operator: ClassVar[Any]

    def values(self, field: Any, value: Any) -> list[Any]:
        if value is None:
            raise ParameterError(f"'{self.name}' cannot compare with None; use isnull", model=field.model)
        return [field.to_db(value)]

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return type(self).operator(column, binds[0])  # type: ignore[no-any-return]


class GreaterThan(_Compare):
    name = "gt"
    operator = staticmethod(lambda c, b: c > b)


class GreaterThanOrEqual(_Compare):
    name = "gte"
    operator = staticmethod(lambda c, b: c >= b)


class LessThan(_Compare):
    name = "lt"
    operator = staticmethod(lambda c, b: c < b)


class LessThanOrEqual(_Compare):
    name = "lte"
    operator = staticmethod(lambda c, b: c <= b)


class In(Lookup):
    """``column = ANY($1)``: one array parameter whatever the list length, so the statement caches. A None in
    the list is left out: no row's column equals NULL, and a NULL in the array would make ``exclude()`` of
    the list match nothing (``NOT (x = ANY('{7,NULL}'))`` is NULL, not true, for every x but 7)."""

    name = "in"

    def shape(self, value: Any) -> Hashable:
        return "any" if any(item is not None for item in _as_list(value, self.name)) else "empty"

    def values(self, field: Any, value: Any) -> list[Any]:
        items = _without_none(value, self.name)
        return [[field.to_db(item) for item in items]] if items else []

    def bind_type(self, field: Any) -> Any:
        element = field.bind_type()
        if element is None or isinstance(element, sa.types.NullType):
            return None  # an annotation of unknown type: PostgreSQL infers the array from `x = ANY($1)`
        return sa.ARRAY(element)

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        if not binds:
            return sa.false()
        if not isinstance(column, sa.ColumnClause):  # an expression (annotation): `==` could swap sides
            return column == sa.any_(binds[0])
        return column == sa.func.any(binds[0])


class IsNull(Lookup):
    name = "isnull"

    def shape(self, value: Any) -> Hashable:
        if not isinstance(value, bool):
            raise ParameterError(f"isnull expects True or False; got {value!r}")
        return value

    def values(self, field: Any, value: Any) -> list[Any]:
        return []

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.is_(None) if value else column.is_not(None)


class Range(Lookup):
    name = "range"

    def values(self, field: Any, value: Any) -> list[Any]:
        items = _as_list(value, self.name)
        if len(items) != 2:
            raise ParameterError(f"range expects (low, high); got {value!r}", model=field.model)
        return [field.to_db(items[0]), field.to_db(items[1])]

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        if len(binds) != 2:  # one expression (F, Subquery) instead of a (low, high) pair
            raise ParameterError(f"range expects (low, high); got {value!r}")
        return column.between(binds[0], binds[1])


class _Pattern(Lookup):
    """LIKE / ILIKE with the user's text escaped; ``%`` wrapping per lookup."""

    prefix: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    case_insensitive: ClassVar[bool] = False

    def values(self, field: Any, value: Any) -> list[Any]:
        if not isinstance(value, str):
            raise ParameterError(f"'{self.name}' expects a string; got {value!r}", model=field.model)
        return [f"{self.prefix}{escape_like(value)}{self.suffix}"]

    def bind_type(self, field: Any) -> Any:
        return sa.Text()

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        text = sa.cast(column, sa.Text) if not isinstance(column.type, sa.String) else column
        if self.case_insensitive:
            return text.ilike(binds[0], escape=LIKE_ESCAPE)
        return text.like(binds[0], escape=LIKE_ESCAPE)


class Contains(_Pattern):
    name = "contains"
    prefix = suffix = "%"


class IContains(Contains):
    name = "icontains"
    case_insensitive = True


class StartsWith(_Pattern):
    name = "startswith"
    suffix = "%"


class IStartsWith(StartsWith):
    name = "istartswith"
    case_insensitive = True


class EndsWith(_Pattern):
    name = "endswith"
    prefix = "%"


class IEndsWith(EndsWith):
    name = "iendswith"
    case_insensitive = True


class IExact(_Pattern):
    name = "iexact"
    case_insensitive = True


class ArrayContains(Lookup):
    """``array @> values`` for array columns."""

    name = "contains"

    def values(self, field: Any, value: Any) -> list[Any]:
        return [field.to_db(_as_list(value, self.name))]

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.contains(binds[0])


class ArrayContainedBy(ArrayContains):
    name = "contained_by"

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.contained_by(binds[0])  # type: ignore[no-any-return]


class ArrayOverlap(ArrayContains):
    name = "overlap"

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.overlap(binds[0])  # type: ignore[no-any-return]


class ArrayIn(In):
    """``in`` on an array column: refused before any SQL (``= ANY`` would compare the column with the
    elements of a two-dimensional array, not with each list)."""

    def shape(self, value: Any) -> Hashable:
        raise ParameterError(
            "'in' is not supported on an array field; write Q(tags=[...]) | Q(tags=[...]) for whole arrays, "
            "or use 'overlap' / 'contains' for elements"
        )

    def values(self, field: Any, value: Any) -> list[Any]:
        self.shape(value)
        return []


def _as_list(value: Any, lookup: str) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ParameterError(f"'{lookup}' expects a list, tuple or set; got {value!r}")
    return list(value)


def _without_none(value: Any, lookup: str) -> list[Any]:
    return [item for item in _as_list(value, lookup) if item is not None]


#: name -> lookup, used for every field family unless overridden below.
LOOKUPS: dict[str, Lookup] = {}
#: (field family, name) -> lookup overriding LOOKUPS for that family.
FAMILY_LOOKUPS: dict[tuple[str, str], Lookup] = {}


def register_lookup(lookup: type[Lookup], family: str | None = None) -> type[Lookup]:
    """Make ``lookup`` available by its name (for one field family, or all)."""
    if family is None:
        LOOKUPS[lookup.name] = lookup()
    else:
        FAMILY_LOOKUPS[(family, lookup.name)] = lookup()
    return lookup


for _lookup in (
    Exact,
    NotEqual,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    In,
    IsNull,
    Range,
    Contains,
    IContains,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    IExact,
):
    register_lookup(_lookup)
for _array_lookup in (ArrayContains, ArrayContainedBy, ArrayOverlap, ArrayIn):
    register_lookup(_array_lookup, family="array")


def lookup_names(field: Any) -> list[str]:
    family = getattr(field, "lookup_family", "other")
    return sorted({*LOOKUPS, *(name for fam, name in FAMILY_LOOKUPS if fam == family)})


def get_lookup(field: Any, name: str) -> Lookup:
    """The lookup ``name`` for ``field``; UnknownLookupError with close matches otherwise."""
    family = getattr(field, "lookup_family", "other")
    lookup = FAMILY_LOOKUPS.get((family, name)) or LOOKUPS.get(name)
    if lookup is None:
        model = getattr(field.model, "__name__", None)
        raise UnknownLookupError(name=name, choices=lookup_names(field), model=model)
    return lookup
