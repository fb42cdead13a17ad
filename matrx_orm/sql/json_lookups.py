"""JSONB lookups (registered for the ``json`` field family) and key traversal in filter keywords.

``data__json_has_key="email"``              ``data ? $1``
``data__json_has_any=["email", "phone"]``   ``data ?| $1``
``data__json_has_all=["name", "email"]``    ``data ?& $1``
``data__json_contains={"role": "admin"}``   ``data @> $1``
``data__json_contained_by={...}``           ``data <@ $1``
``data__json_path=("settings", "theme")``   ``data #> $1 IS NOT NULL``          (the path exists)
``data__json_path=(("settings", "theme"), "dark")``  ``data #> $1 = $2``     (the value at the path)
``data__settings__theme="dark"``            ``data #> $1 = $2``  (key traversal; ``__gt``, ``__in``, ... work)

Keys and paths are always bound parameters (``text[]``), never part of the SQL text.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from ..exceptions import ParameterError, UnknownLookupError
from .lookups import FAMILY_LOOKUPS, LOOKUPS, Lookup, _Pattern, get_lookup, register_lookup

__all__ = ["json_lookup"]

_TEXT_ARRAY = postgresql.ARRAY(sa.Text())
_JSONB = postgresql.JSONB()


def _path_bind(bind: Any) -> Any:
    """The path parameter as ``text[]`` (the lookup's other parameters are typed differently)."""
    return sa.bindparam(bind.key, type_=_TEXT_ARRAY)


def _path(value: Any, lookup: str, field: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ParameterError(
            f"'{lookup}' expects a path as a tuple of keys, e.g. ('settings', 'theme'); got {value!r}",
            model=getattr(field, "model", None),
        )
    if not value:
        raise ParameterError(f"'{lookup}' needs a non-empty path", model=getattr(field, "model", None))
    path = []
    for key in value:
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise ParameterError(
                f"'{lookup}' path keys must be str (object keys) or int (array positions); got {key!r}",
                model=getattr(field, "model", None),
            )
        path.append(str(key))
    return path


def _keys(value: Any, lookup: str, field: Any) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise ParameterError(f"'{lookup}' expects a list of keys; got {value!r}", model=field.model)
    keys = list(value)
    for key in keys:
        if not isinstance(key, str):
            raise ParameterError(f"'{lookup}' keys must be strings; got {key!r}", model=field.model)
    return keys


class JsonHasKey(Lookup):
    name = "json_has_key"

    def values(self, field: Any, value: Any) -> list[Any]:
        if not isinstance(value, str):
            raise ParameterError(f"'{self.name}' expects a key (str); got {value!r}", model=field.model)
        return [value]

    def bind_type(self, field: Any) -> Any:
        return sa.Text()

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.op("?", is_comparison=True)(binds[0])


class JsonHasAny(Lookup):
    name = "json_has_any"
    operator = "?|"

    def values(self, field: Any, value: Any) -> list[Any]:
        return [_keys(value, self.name, field)]

    def bind_type(self, field: Any) -> Any:
        return _TEXT_ARRAY

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.op(self.operator, is_comparison=True)(binds[0])


class JsonHasAll(JsonHasAny):
    name = "json_has_all"
    operator = "?&"


class JsonContains(Lookup):
    name = "json_contains"
    operator = "@>"

    def values(self, field: Any, value: Any) -> list[Any]:
        if value is None:
            raise ParameterError(f"'{self.name}' cannot compare with None", model=field.model)
        return [field.to_db(value)]

    def bind_type(self, field: Any) -> Any:
        return _JSONB

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        return column.op(self.operator, is_comparison=True)(binds[0])


class JsonContainedBy(JsonContains):
    name = "json_contained_by"
    operator = "<@"


class JsonPath(Lookup):
    """``(path...)`` tests that the path exists; ``((path...), value)`` compares the value found there."""

    name = "json_path"

    @staticmethod
    def _compare_form(value: Any) -> bool:
        return isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], (list, tuple))

    def shape(self, value: Any) -> Hashable:
        if self._compare_form(value):
            return "null" if value[1] is None else "compare"
        return "exists"

    def values(self, field: Any, value: Any) -> list[Any]:
        if self._compare_form(value):
            path = _path(value[0], self.name, field)
            if value[1] is None:
                return [path, "null"]
            return [path, field.to_db(value[1])]
        return [_path(value, self.name, field)]

    def bind_type(self, field: Any) -> Any:
        return _JSONB

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        found = column.op("#>", return_type=_JSONB)(_path_bind(binds[0]))
        if not self._compare_form(value):
            return found.is_not(None)
        if value[1] is None:
            return sa.func.jsonb_typeof(found) == sa.bindparam(binds[1].key, type_=sa.Text())
        return found == binds[1]  # type: ignore[no-any-return]


class KeyTransform(Lookup):
    """``data__a__b__<lookup>=value``: the lookup applied to the JSON found at the path ``a, b``.

    Comparisons (``exact``, ``gt``, ``in``, ...) compare JSON values (``data #> path``), so numbers compare
    as numbers; text lookups (``contains``, ``iexact``, ...) use the text at the path (``data #>> path``).
    ``isnull=True`` matches rows where the path is missing.
    """

    def __init__(self, path: tuple[str, ...], inner: Lookup) -> None:
        self.key_path = path
        self.inner = inner
        self.name = "__".join((*path, inner.name))  # type: ignore[misc]

    def shape(self, value: Any) -> Hashable:
        return self.inner.shape(value)

    def values(self, field: Any, value: Any) -> list[Any]:
        return [list(self.key_path), *self.inner.values(field, value)]

    def bind_type(self, field: Any) -> Any:
        return self.inner.bind_type(field)

    def expr(self, column: ColumnElement[Any], binds: list[Any], value: Any) -> ColumnElement[bool]:
        path = _path_bind(binds[0])
        target: ColumnElement[Any]
        if isinstance(self.inner, _Pattern):
            target = column.op("#>>", return_type=sa.Text())(path)
        else:
            target = column.op("#>", return_type=_JSONB)(path)
        return self.inner.expr(target, binds[1:], value)


for _lookup in (JsonHasKey, JsonHasAny, JsonHasAll, JsonContains, JsonContainedBy, JsonPath):
    register_lookup(_lookup, family="json")


def json_lookup(field: Any, rest: str) -> Lookup:
    """The lookup for ``field__<rest>`` on a JSON field: a registered lookup, or key traversal."""
    if "__" not in rest and (rest in LOOKUPS or ("json", rest) in FAMILY_LOOKUPS):
        return get_lookup(field, rest)
    parts = rest.split("__")
    last = parts[-1]
    if last in LOOKUPS or ("json", last) in FAMILY_LOOKUPS:
        path, inner = tuple(parts[:-1]), get_lookup(field, last)
        if ("json", last) in FAMILY_LOOKUPS:
            raise UnknownLookupError(
                name=rest,
                choices=sorted(LOOKUPS),
                model=getattr(field.model, "__name__", None),
            )
    else:
        path, inner = tuple(parts), get_lookup(field, "exact")
    if any(not key for key in path):
        raise ParameterError(f"empty JSON key in filter '{field.name}__{rest}'", model=field.model)
    return KeyTransform(path, inner)
