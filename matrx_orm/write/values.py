"""Values an INSERT adds to what the caller gave: ``Model(**d)`` resolved once per dict layout, and the
``auto_now`` / ``auto_now_add`` stamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import UnknownFieldError

if TYPE_CHECKING:
    from ..models.base import Model


def server_fills(meta: Any, name: str) -> bool:
    """Whether the database generates a value for field ``name`` when an INSERT leaves it out."""
    column = meta.columns[name]
    return bool(
        column.server_default is not None
        or column.identity is not None
        or column is meta.table.autoincrement_column
    )


def unfilled_required(meta: Any, present: Collection[str]) -> tuple[str, ...]:
    """NOT NULL fields an INSERT of the fields ``present`` would leave to a database that cannot fill them."""
    return tuple(
        name
        for name in meta.field_names
        if name not in present and not meta.fields[name].null and not server_fills(meta, name)
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
