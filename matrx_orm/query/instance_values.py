"""Values an INSERT adds to what the caller gave: ``Model(**d)`` resolved once per dict layout, and the
``auto_now`` / ``auto_now_add`` stamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import UnknownFieldError

if TYPE_CHECKING:
    from ..models.base import Model


class DictPlan:
    """How the dicts of one key layout become instance values: what ``Model(**d)`` does, resolved once.

    ``given`` holds ``(dict key, field name, field)`` for every key that names a field (relation aliases
    resolved; keys naming a relation object are skipped), ``defaults`` ``(field name, field)`` for the
    fields the layout leaves out that have a python default.
    """

    __slots__ = ("given", "defaults")

    def __init__(self, given: list[tuple[str, str, Any]], defaults: list[tuple[str, Any]]) -> None:
        self.given = given
        self.defaults = defaults

    @classmethod
    def for_layout(cls, model: type[Model], layout: tuple[str, ...]) -> DictPlan:
        """The plan for dicts whose keys are ``layout``; UnknownFieldError for a key naming no field."""
        meta = model._require_meta()
        given: list[tuple[str, str, Any]] = []
        for key in layout:
            field = meta.fields.get(key)
            if field is None and key in meta.relation_aliases:
                field = meta.fields[meta.relation_aliases[key]]
            if field is None:
                if key in meta.relation_fields:
                    continue
                raise UnknownFieldError(name=key, choices=meta.field_names, model=meta.model_name)
            given.append((key, field.name, field))
        named = {name for _, name, _ in given}
        defaults = [(n, f) for n, f in meta.fields.items() if n not in named and f.has_default()]
        return cls(given, defaults)

    def python_values(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The instance values of one dict (``to_python`` of each given value and default)."""
        data = {name: field.to_python(obj[key]) for key, name, field in self.given}
        for name, field in self.defaults:
            data[name] = field.to_python(field.get_default())
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
