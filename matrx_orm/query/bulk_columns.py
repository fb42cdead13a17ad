"""Column-at-a-time value checks for ``bulk_create``: a few C-level passes per column instead of three
method calls per value.

A checker is chosen once per field class, by exact class (a subclass may change ``to_python`` or
``validate``), and is only used for fields without ``validators``. It takes one column's non-None values and
returns them as kept on instances and as sent to the database when every value is already in its canonical
python form and valid; otherwise None, and the caller runs the per-value path, which converts what it can
and raises the usual ValidationError for the rest. So a checker never accepts a value the per-value path
rejects, and never produces a different value.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import uuid
import zoneinfo
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from ..exceptions import ValidationError
from ..fields import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    EnumField,
    FloatField,
    IntegerField,
    JSONBField,
    JSONField,
    SmallIntegerField,
    TextField,
    UUIDField,
)
from ..models.foreign_key import ForeignKey

#: (values as kept on instances, values as sent to the database)
Checked = tuple[list[Any], list[Any]]
#: ``checker(field, values, types)``: ``values`` are non-None, ``types`` is ``set(map(type, values))``
Checker = Callable[[Any, list[Any], set[type]], Checked | None]

_NONE = type(None)
_STR = {str}
_CANONICAL_UUIDS = re.compile(r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n)*")
_FIXED_OFFSET_ZONES = (dt.timezone, zoneinfo.ZoneInfo)
_tzinfo_of = attrgetter("tzinfo")


def _strings(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != _STR or "\x00" in "".join(values):
        return None
    max_length = getattr(field, "max_length", None)
    if max_length is not None and max(map(len, values)) > max_length:
        return None
    return values, values


def _uuids(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types == {uuid.UUID}:
        texts = list(map(str, values))
        return texts, texts
    # every value 36 characters long, so each match of the pattern is exactly one value
    if types != _STR or set(map(len, values)) != {36}:
        return None
    if _CANONICAL_UUIDS.fullmatch("\n".join(values) + "\n") is None:
        return None
    return values, values


def _integers(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {int} or min(values) < field.min_value or max(values) > field.max_value:
        return None
    return values, values


def _booleans(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {bool} else None


def _floats(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {float} else None


def _datetimes(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {dt.datetime}:
        return None
    zones = set(map(_tzinfo_of, values))
    if field.timezone:  # aware values pass unchanged (naive ones would be taken as UTC: per-value path)
        if not all(isinstance(zone, _FIXED_OFFSET_ZONES) for zone in zones):
            return None
    elif zones != {None}:
        return None
    return values, values


def _dates(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {dt.date} else None


def _json(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if field.schema is not None:
        return None
    try:  # one document for the column: fails exactly when one of the values does
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return values, values


def _enums(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    # members and strings only: equal values of other types (1, 1.0, Decimal("1.0")) may convert differently
    if not all(t is str or issubclass(t, enum.Enum) for t in types):
        return None
    keys = list(zip(map(type, values), values, strict=True))
    converted: dict[tuple[type, Any], tuple[Any, Any]] = {}
    for key in set(keys):  # few distinct values: the per-value path once for each
        try:
            python = field.to_python(key[1])
            field.validate(python)
        except ValidationError:
            return None
        converted[key] = (python, field.db_value(python))
    pairs = list(map(converted.__getitem__, keys))
    return [p for p, _ in pairs], [d for _, d in pairs]


def _foreign_key(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    target = field.target_field
    checker = _CHECKERS.get(type(target)) if target is not None else None
    return checker(target, values, types) if checker is not None else None


_CHECKERS: dict[type, Checker] = {
    CharField: _strings,
    TextField: _strings,
    UUIDField: _uuids,
    IntegerField: _integers,
    SmallIntegerField: _integers,
    BigIntegerField: _integers,
    BooleanField: _booleans,
    FloatField: _floats,
    DateTimeField: _datetimes,
    DateField: _dates,
    JSONField: _json,
    JSONBField: _json,
    EnumField: _enums,
    ForeignKey: _foreign_key,
}


def has_checker(field: Any) -> bool:
    """Whether :func:`check_column` can take a column of ``field`` (it may still answer None)."""
    return type(field) in _CHECKERS and not field.validators


def check_column(field: Any, values: list[Any]) -> Checked | None:
    """One column's values converted and validated as the per-value path would, or None when some value
    needs that path (a conversion, a None the column refuses, an invalid value, a field without a checker)."""
    checker = _CHECKERS.get(type(field))
    if checker is None or field.validators:
        return None
    types = set(map(type, values))
    if _NONE not in types:
        return checker(field, values, types) if values else (values, values)
    if not field.null:
        return None
    types.discard(_NONE)
    present = [v for v in values if v is not None]
    if not present:
        return values, values
    checked = checker(field, present, types)
    if checked is None:
        return None
    python = values if checked[0] is present else _with_nones(values, checked[0])
    return python, python if checked[1] is checked[0] else _with_nones(values, checked[1])


def _with_nones(values: list[Any], present: list[Any]) -> list[Any]:
    """``present`` (the non-None values, converted) put back in place among ``values``' Nones."""
    converted = iter(present)
    return [None if v is None else next(converted) for v in values]
