"""Rows → model instances, dicts or tuples, with per-shape converters built once."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from .memo import remember

Loader = Callable[[Any], Any]
_loaders: dict[tuple[type, tuple[str, ...]], Loader] = {}


def instance_loader(model: type, names: tuple[str, ...]) -> Loader:
    """A function turning a record of the columns ``names`` into a persisted ``model`` instance."""
    key = (model, names)
    loader = _loaders.get(key)
    if loader is None:
        loader = remember(_loaders, key, _make_instance_loader(model, names))
    return loader


def _make_instance_loader(model: type, names: tuple[str, ...]) -> Loader:
    fields = model._meta.fields  # type: ignore[attr-defined]
    converters = [
        (i, fields[n].from_db) for i, n in enumerate(names) if n in fields and fields[n].needs_from_db
    ]
    new = object.__new__

    if not converters:

        def load(record: Any) -> Any:
            obj: Any = new(model)
            data = dict(zip(names, record))  # noqa: B905 (same length by construction; strict costs 30%)
            data["_persisted"] = True
            obj.__dict__ = data
            return obj

        return load

    def load_converted(record: Any) -> Any:
        obj: Any = new(model)
        row = list(record)
        for i, convert in converters:
            if row[i] is not None:
                row[i] = convert(row[i])
        data = dict(zip(names, row))  # noqa: B905
        data["_persisted"] = True
        obj.__dict__ = data
        return obj

    return load_converted


_row_converters: dict[tuple[type, tuple[str, ...]], list[tuple[int, Callable[[Any], Any]]]] = {}


def _converters(model: type, names: tuple[str, ...]) -> list[tuple[int, Callable[[Any], Any]]]:
    key = (model, names)
    found = _row_converters.get(key)
    if found is None:
        fields = model._meta.fields  # type: ignore[attr-defined]
        found = remember(
            _row_converters,
            key,
            [(i, fields[n].from_db) for i, n in enumerate(names) if n in fields and fields[n].needs_from_db],
        )
    return found


def _converted(records: Sequence[Any], converters: list[tuple[int, Callable[[Any], Any]]]) -> list[list[Any]]:
    rows = [list(record) for record in records]
    for i, convert in converters:
        for row in rows:
            if row[i] is not None:
                row[i] = convert(row[i])
    return rows


def dict_rows(model: type, names: tuple[str, ...], records: Sequence[Any]) -> list[dict[str, Any]]:
    """Records of the columns ``names`` as dicts keyed by ``names`` (``values()``)."""
    converters = _converters(model, names)
    rows: Sequence[Any] = _converted(records, converters) if converters else records
    return [dict(zip(names, row)) for row in rows]  # noqa: B905 (same length by construction; strict costs 40%)


def tuple_rows(model: type, names: tuple[str, ...], records: Sequence[Any], flat: bool = False) -> list[Any]:
    """Records of the columns ``names`` as tuples, or the first column's values when ``flat``
    (``values_list()``)."""
    converters = _converters(model, names)
    rows: Sequence[Any] = _converted(records, converters) if converters else records
    if flat:
        return [row[0] for row in rows]
    return [tuple(row) for row in rows]


def refresh(instance: Any, names: tuple[str, ...], record: Any) -> None:
    """Copy a RETURNING record into an existing instance."""
    fields = type(instance)._meta.fields
    data = instance.__dict__
    for name, value in zip(names, record, strict=True):
        field = fields[name]
        data[name] = field.from_db(value) if value is not None and field.needs_from_db else value
    data["_persisted"] = True


def serialize(value: Any) -> Any:
    """``value`` as ``to_dict()`` gives it: JSON types as they are, enums by value, lists and dicts item by
    item, objects with ``to_dict()`` through it, pydantic models as JSON, anything else (datetime, Decimal, UUID, ...) as ``str``."""
    if value is None or isinstance(value, str | int | float | bool) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [serialize(item) for item in value]
    if isinstance(value, dict):
        return {key: serialize(item) for key, item in value.items()}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, BaseModel):  # JSONField(schema=...) values
        return value.model_dump(mode="json")
    return str(value)
