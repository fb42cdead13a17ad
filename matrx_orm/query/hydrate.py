"""Rows → model instances, dicts or tuples, with per-shape converters built once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Loader = Callable[[Any], Any]
_loaders: dict[tuple[type, tuple[str, ...]], Loader] = {}


def instance_loader(model: type, names: tuple[str, ...]) -> Loader:
    """A function turning a record of the columns ``names`` into a persisted ``model`` instance."""
    key = (model, names)
    loader = _loaders.get(key)
    if loader is None:
        loader = _loaders[key] = _make_instance_loader(model, names)
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


def row_converter(model: type, names: Sequence[str]) -> Callable[[Any], list[Any]]:
    """A function turning a record into a list of python values (for values()/values_list())."""
    fields = model._meta.fields  # type: ignore[attr-defined]
    converters = [
        (i, fields[n].from_db) for i, n in enumerate(names) if n in fields and fields[n].needs_from_db
    ]

    def convert(record: Any) -> list[Any]:
        row = list(record)
        for i, fn in converters:
            if row[i] is not None:
                row[i] = fn(row[i])
        return row

    return convert


def refresh(instance: Any, names: tuple[str, ...], record: Any) -> None:
    """Copy a RETURNING record into an existing instance."""
    fields = type(instance)._meta.fields
    data = instance.__dict__
    for name, value in zip(names, record, strict=True):
        field = fields[name]
        data[name] = field.from_db(value) if value is not None and field.needs_from_db else value
    data["_persisted"] = True
