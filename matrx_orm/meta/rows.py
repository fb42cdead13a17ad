"""Rows → model instances, dicts or tuples, with per-shape converters built once."""

from __future__ import annotations

import enum
import gc
import inspect
import keyword
import operator
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from itertools import repeat
from typing import Any

from pydantic import BaseModel

from .memo import remember

Loader = Callable[[Any], Any]
_loaders: dict[tuple[type, tuple[str, ...], bool], Loader] = {}
#: a row's first value; every value of a driver record, as a tuple
_FIRST = operator.itemgetter(0)
_ALL_VALUES = operator.itemgetter(slice(None))


class _Pauses:
    """The pauses in progress, over every thread: the collector goes off when the first begins (if it was
    on) and back on when the last ends, so one thread's pause never ends another's early."""

    lock = threading.Lock()
    count = 0
    turned_off = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (which must not await): making the many objects of a
    batch (columns, rows, instances), which all live on, would otherwise set off collections of the whole
    heap that find nothing to free. A collector that was off before stays off."""
    with _Pauses.lock:
        if _Pauses.count == 0:
            _Pauses.turned_off = gc.isenabled()
            if _Pauses.turned_off:
                gc.disable()
        _Pauses.count += 1
    try:
        yield
    finally:
        with _Pauses.lock:
            _Pauses.count -= 1
            if _Pauses.count == 0 and _Pauses.turned_off:
                gc.enable()


#: from this many rows on, building their objects pauses the cyclic GC (:func:`gc_paused`)
MANY_ROWS = 500


def paused_for(rows: int) -> AbstractContextManager[None]:
    """:func:`gc_paused` for building the objects of ``rows`` rows when they are many, else nothing."""
    return nullcontext() if rows < MANY_ROWS else gc_paused()


def loaded(load: Loader, records: Sequence[Any]) -> list[Any]:
    """``load`` of each record, in order; many of them without cyclic garbage collection meanwhile."""
    if len(records) < MANY_ROWS:
        return list(map(load, records))
    with gc_paused():
        return list(map(load, records))


def instance_loader(model: type, names: tuple[str, ...]) -> Loader:
    """A function turning a record of the columns ``names`` into a persisted ``model`` instance."""
    return _loader(model, names, convert=True)


def instance_builder(model: type, names: tuple[str, ...]) -> Loader:
    """Like :func:`instance_loader` for rows of python values (nothing converted): a row of ``names``
    becomes a persisted ``model`` instance."""
    return _loader(model, names, convert=False)


def _loader(model: type, names: tuple[str, ...], *, convert: bool) -> Loader:
    key = (model, names, convert)
    loader = _loaders.get(key)
    if loader is None:
        loader = remember(_loaders, key, _make_instance_loader(model, names, convert=convert))
    return loader


def _make_instance_loader(model: type, names: tuple[str, ...], *, convert: bool) -> Loader:
    """A loader for one row shape. Where every name is a plain attribute, the loader is a function written
    for the shape: ``obj.a, obj.b = record`` stores into the instance's own attribute storage, about three
    times cheaper than building a dict and assigning ``__dict__`` (the fallback)."""
    converters = dict(_converters(model, names)) if convert else {}
    own_setattr = any("__setattr__" in vars(cls) for cls in model.__mro__[:-1])  # must not see rows loading
    if not own_setattr and all(_plain_attribute(model, name) for name in (*names, "_persisted")):
        return _written_loader(model, names, converters)
    return _dict_loader(model, names, converters)


def _plain_attribute(model: type, name: str) -> bool:
    """Whether ``name`` can be written as ``obj.<name> = value`` in generated code and lands in the
    instance's attributes: an ASCII identifier that is no keyword and no data descriptor of ``model``."""
    if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name) or name == "__debug__":
        return False
    found = inspect.getattr_static(model, name, None)
    return not hasattr(type(found), "__set__") and not hasattr(type(found), "__delete__")


def _written_loader(model: type, names: tuple[str, ...], converters: dict[int, Any]) -> Loader:
    env: dict[str, Any] = {"new": object.__new__, "model": model, "head": slice(len(names))}
    lines = ["def load(record):", "    obj = new(model)"]
    targets = ", ".join(f"obj.{name}" if not converters else f"v{i}" for i, name in enumerate(names))
    if names:  # a record may carry more columns (select_related's joined ones) after the shape's; a driver
        # record's slice is a tuple, which unpacks faster than the record itself
        lines.append(f"    {targets}, = record[head]")
    if converters:
        for i, name in enumerate(names):
            if i in converters:
                env[f"convert{i}"] = converters[i]
                lines.append(f"    obj.{name} = None if v{i} is None else convert{i}(v{i})")
            else:
                lines.append(f"    obj.{name} = v{i}")
    lines += ["    obj._persisted = True", "    return obj"]
    exec("\n".join(lines), env)  # noqa: S102 (names are checked identifiers; values never enter the code)
    loader: Loader = env["load"]
    return loader


def _dict_loader(model: type, names: tuple[str, ...], converters: dict[int, Any]) -> Loader:
    new = object.__new__
    pairs = list(converters.items())

    def load(record: Any) -> Any:
        obj: Any = new(model)
        row = list(record) if pairs else record
        for i, convert in pairs:
            if row[i] is not None:
                row[i] = convert(row[i])
        data = dict(zip(names, row))  # noqa: B905 (same length by construction)
        data["_persisted"] = True
        obj.__dict__ = data
        return obj

    return load


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
    with paused_for(len(records)):
        rows = [list(record) for record in records]
        for i, convert in converters:
            for row in rows:
                if row[i] is not None:
                    row[i] = convert(row[i])
    return rows


def dict_rows(model: type, names: tuple[str, ...], records: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """Records of the columns ``names`` as dicts keyed by ``names`` (``values()``), each made as it is
    taken."""
    converters = _converters(model, names)
    rows: Sequence[Any] = _converted(records, converters) if converters else records
    return map(dict, map(zip, repeat(names), rows))


def tuple_rows(
    model: type, names: tuple[str, ...], records: Sequence[Any], flat: bool = False
) -> Iterator[Any]:
    """Records of the columns ``names`` as tuples, or the first column's values when ``flat``
    (``values_list()``), each made as it is taken."""
    converters = _converters(model, names)
    if converters:
        rows = _converted(records, converters)
        return map(_FIRST, rows) if flat else map(tuple, rows)
    # a record's slice is a tuple of its values, made at half the cost of tuple(record)
    return map(_FIRST if flat else _ALL_VALUES, records)


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
