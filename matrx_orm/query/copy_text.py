"""Checked column values → the text format of ``COPY ... FROM STDIN`` (one encoder per field class).

Only used for values :mod:`.bulk_columns` accepted, so each encoder knows the exact python type it gets
(``str`` for text, UUIDs and enum labels, ``int``, ``bool``, ``float``, aware or naive ``datetime``,
``date``, JSON documents). A column of any other field makes :func:`encode_rows` answer None and the caller
uses an INSERT instead. The format: columns split by tab, rows ended by newline, ``\\N`` for NULL, and
backslash, tab, newline and carriage return escaped with a backslash inside values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from ..engine import _json_dumps
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

#: ``encoder(field, values)``: the COPY text of non-None checked values, or None when it cannot encode them
Encoder = Callable[[Any, list[Any]], list[str] | None]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_NONE_TYPE = type(None)
_BOOL_TEXT = {True: "t", False: "f"}


def _escaped(texts: list[str]) -> list[str]:
    joined = "".join(texts)
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        return [t.translate(_ESCAPES) for t in texts]
    return texts


def _text(field: Any, values: list[Any]) -> list[str]:
    return _escaped(values)


def _canonical(field: Any, values: list[Any]) -> list[str]:
    return values  # canonical UUID strings: nothing to escape


def _integers(field: Any, values: list[Any]) -> list[str]:
    return list(map(str, values))


def _booleans(field: Any, values: list[Any]) -> list[str]:
    return list(map(_BOOL_TEXT.__getitem__, values))


def _floats(field: Any, values: list[Any]) -> list[str] | None:
    if field.precision is not None and field.precision <= 24:
        return None  # REAL: leave range errors to the INSERT path's codec
    return list(map(repr, values))  # 'inf', '-inf', 'nan' and exponents are valid float8 input


def _dates(field: Any, values: list[Any]) -> list[str]:
    return list(map(dt.date.isoformat, values))


def _datetimes(field: Any, values: list[Any]) -> list[str]:
    return list(map(dt.datetime.isoformat, values))


def _json(field: Any, values: list[Any]) -> list[str]:
    return _escaped(list(map(_json_dumps, values)))  # the connection codec's own serializer


def _foreign_key(field: Any, values: list[Any]) -> list[str] | None:
    target = field.target_field
    encoder = _ENCODERS.get(type(target)) if target is not None else None
    return encoder(target, values) if encoder is not None else None


_ENCODERS: dict[type, Encoder] = {
    CharField: _text,
    TextField: _text,
    EnumField: _text,
    UUIDField: _canonical,
    IntegerField: _integers,
    SmallIntegerField: _integers,
    BigIntegerField: _integers,
    BooleanField: _booleans,
    FloatField: _floats,
    DateTimeField: _datetimes,
    DateField: _dates,
    JSONField: _json,
    JSONBField: _json,
    ForeignKey: _foreign_key,
}


def can_encode(fields: Sequence[Any]) -> bool:
    """Whether every field has an encoder (:func:`encode_rows` may still answer None)."""
    return all(type(f) in _ENCODERS for f in fields)


def encode_rows(fields: Sequence[Any], columns: Sequence[list[Any]]) -> bytes | None:
    """The COPY text (UTF-8) of the rows whose column values are ``columns`` (one list per field)."""
    texts = []
    for field, values in zip(fields, columns, strict=True):
        encoder = _ENCODERS.get(type(field))
        if encoder is None:
            return None
        if _NONE_TYPE in set(map(type, values)):
            present = encoder(field, [v for v in values if v is not None])
            if present is None:
                return None
            it = iter(present)
            texts.append([_NULL if v is None else next(it) for v in values])
        else:
            encoded = encoder(field, values)
            if encoded is None:
                return None
            texts.append(encoded)
    body = "\n".join(map("\t".join, zip(*texts, strict=True)))
    try:
        return (body + "\n").encode()
    except UnicodeEncodeError:  # lone surrogates: let the INSERT path report them
        return None
