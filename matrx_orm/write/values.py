"""Values on their way to the database: checks (``NOT NULL``), which columns an INSERT sends, what
``Model(**d)`` does resolved once per dict layout, and the ``auto_now`` / ``auto_now_add`` stamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import UnknownFieldError, ValidationError
from ..meta.memo import remember

if TYPE_CHECKING:
    from ..model import Model

#: field families that ``unnest()`` would flatten or cannot take as one array parameter
_UNNEST_UNSAFE_FAMILIES = frozenset({"array", "vector", "json"})


def db_value(field: Any, value: Any) -> Any:
    """``field.to_db(value)``; a None for a NOT NULL field is a ValidationError."""
    if value is None:
        if not field.null:
            raise ValidationError(
                f"Field '{field.name}' on model '{field.model.__name__}' may not be null",
                model=field.model,
                field=field.name,
                value=None,
            )
        return None
    return field.to_db(value)


def checked_db_value(field: Any, value: Any) -> Any:
    """As :func:`db_value` for a value that already went through ``field.to_python``."""
    if value is None:
        return db_value(field, None)
    field.validate(value)
    return field.db_value(value)


#: (model meta, dict keys) -> (fields sent, fields the server may fill when None)
_column_layouts: dict[tuple[Any, tuple[str, ...]], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def insert_columns(meta: Any, data: Mapping[str, Any]) -> tuple[str, ...]:
    """Fields sent on INSERT: every field with a value, except a None the server should fill in.

    A field with no value at all is left out, so the database fills it (a default the model does not
    declare, such as ``gen_random_uuid()``) or refuses it with its own NOT NULL error.
    """
    layout_key = (meta, tuple(data))
    layout = _column_layouts.get(layout_key)
    if layout is None:
        present = tuple(name for name in meta.field_names if name in data)
        # keys and server-default columns the database fills: a None there is left out of the INSERT. A None
        # anywhere else is sent, so a NOT NULL field refuses it (a key the database cannot generate, say)
        server_filled = tuple(
            name
            for name in present
            if (meta.fields[name].primary_key or meta.fields[name].server_default is not None)
            and server_fills(meta, name)
        )
        layout = remember(_column_layouts, layout_key, (present, server_filled))
    present, server_filled = layout
    if any(data[name] is None for name in server_filled):
        return tuple(n for n in present if not (n in server_filled and data[n] is None))
    return present


def unnest_safe(meta: Any, names: Sequence[str]) -> bool:
    """Whether one INSERT over ``unnest`` can send ``names`` (not none: a row of defaults only is
    ``DEFAULT VALUES``, one statement per row)."""
    return bool(names) and not any(
        getattr(meta.fields[n], "lookup_family", "") in _UNNEST_UNSAFE_FAMILIES for n in names
    )


def server_fills(meta: Any, name: str) -> bool:
    """Whether the database generates a value for field ``name`` when an INSERT leaves it out."""
    column = meta.columns[name]
    return bool(
        column.server_default is not None
        or column.identity is not None
        or column is meta.table.autoincrement_column
    )


class DictPlan:
    """How the dicts of one key layout become instance values: what ``Model(**d)`` does, resolved once.

    ``given`` holds ``(dict key, field name, field)`` for every key that names a field (relation aliases
    resolved; keys naming a relation object are skipped; a key naming nothing has field None and raises
    UnknownFieldError in its turn, after the conversions of the keys before it, as ``Model(**d)`` does),
    ``defaults`` ``(field name, field)`` for the fields the layout leaves out that have a python default.
    """

    __slots__ = ("given", "defaults", "known", "_model")

    def __init__(
        self, given: list[tuple[str, str, Any]], defaults: list[tuple[str, Any]], model: Any = None
    ) -> None:
        self.given = given
        self.defaults = defaults
        #: every key names a field
        self.known = all(field is not None for _, _, field in given)
        self._model = model

    @classmethod
    def for_layout(cls, model: type[Model], layout: tuple[str, ...]) -> DictPlan:
        """The plan for dicts whose keys are ``layout``."""
        meta = model._require_meta()
        given: list[tuple[str, str, Any]] = []
        for key in layout:
            field = meta.fields.get(key)
            if field is None and key in meta.relation_aliases:
                field = meta.fields[meta.relation_aliases[key]]
            if field is None and key in meta.relation_fields:
                continue
            given.append((key, field.name if field is not None else key, field))
        named = {name for _, name, field in given if field is not None}
        defaults = [(n, f) for n, f in meta.fields.items() if n not in named and f.has_default()]
        return cls(given, defaults, model)

    def python_values(self, obj: Mapping[str, Any], drawn: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The instance values of one dict (``to_python`` of each given value and default); ``drawn`` holds
        default values already drawn for this row (a callable default is called once per row)."""
        if self.known:
            data = {name: field.to_python(obj[key]) for key, name, field in self.given}
        else:
            data = {}
            for key, name, field in self.given:
                if field is None:
                    meta = self._model._require_meta()
                    raise UnknownFieldError(name=key, choices=meta.field_names, model=meta.model_name)
                data[name] = field.to_python(obj[key])
        for name, field in self.defaults:
            value = drawn[name] if drawn is not None and name in drawn else field.get_default()
            data[name] = field.to_python(value)
        return data


def now_for(field: Any) -> Any:
    """The current moment as ``field`` stores it (aware or naive datetime, or a date)."""
    now = dt.datetime.now(dt.UTC)
    if getattr(field, "timezone", True) is False:
        now = now.replace(tzinfo=None)
    if getattr(field, "lookup_family", "") == "date" or type(field).__name__ == "DateField":
        return now.date()
    return now


_stamped_fields: dict[Any, tuple[Any, ...]] = {}


def stamped_fields(meta: Any) -> tuple[Any, ...]:
    """The model's ``auto_now`` / ``auto_now_add`` fields."""
    fields = _stamped_fields.get(meta)
    if fields is None:
        fields = _stamped_fields[meta] = tuple(
            f
            for f in meta.fields.values()
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        )
    return fields


def stamp(instance: Any, adding: bool) -> None:
    """Set the instance's ``auto_now`` fields (and, when ``adding``, its empty ``auto_now_add`` ones)."""
    fields = stamped_fields(instance._meta)
    if not fields:
        return
    data = instance.__dict__
    for field in fields:
        if getattr(field, "auto_now", False) or (adding and data.get(field.name) is None):
            data[field.name] = now_for(field)
