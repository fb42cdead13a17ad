"""Checked column values → the text format of ``COPY ... FROM STDIN`` (one encoder per field class).

Only used for values :mod:`.column_checks` accepted, so each encoder knows the exact python type it gets
(``str`` for text, UUIDs, enum labels and MAC addresses, ``int``, ``bool``, ``float``, ``Decimal``, aware or
naive ``datetime`` and ``time``, ``date``, ``timedelta``, ``bytes``, ``ipaddress`` objects, points, JSON
documents, and lists of those). A column of any other field makes :func:`encode_rows` answer None and the
caller uses an INSERT instead. The format: columns split by tab, rows ended by newline, ``\\N`` for NULL, and
backslash, tab, newline and carriage return escaped with a backslash inside values.

Encoders give each value's text as the column type reads it; :func:`encode_rows` then escapes it for COPY
(unless the encoder is one of ``_CLEAN``, whose text never holds those characters). Arrays are PostgreSQL
array literals (``{"a","b \\"c\\"",NULL}``) of their elements' text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from ..db.engine import json_default
from ..fields import (
    ArrayField,
    BigIntegerField,
    BinaryField,
    BooleanArrayField,
    BooleanField,
    CharField,
    DateArrayField,
    DateField,
    DateTimeField,
    DecimalArrayField,
    DecimalField,
    EnumField,
    FloatArrayField,
    FloatField,
    IntegerArrayField,
    IntegerField,
    IPAddressField,
    IPNetworkField,
    IPv4Field,
    IPv6Field,
    JSONBArrayField,
    JSONBField,
    JSONField,
    MacAddressField,
    PointField,
    SmallIntegerField,
    TextArrayField,
    TextField,
    TimeArrayField,
    TimeDeltaField,
    TimeField,
    UUIDArrayField,
    UUIDField,
)
from ..meta.foreign_key import ForeignKey
from .column_checks import with_nones

#: ``encoder(field, values)``: the text of non-None checked values, or None when it cannot encode them
Encoder = Callable[[Any, list[Any]], list[str] | None]

#: (character, escaped) pairs, the backslash first (str.replace beats str.translate by far on long texts)
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_ARRAY_ESCAPES = (("\\", "\\\\"), ('"', '\\"'))
_NULL = "\\N"
_NONE_TYPE = type(None)
_BOOL_TEXT = {True: "t", False: "f"}
_DECIMAL_SPECIALS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}
_quoted = '"{}"'.format
_JSON_ENCODER = json.JSONEncoder(default=json_default)


def _replaced(texts: list[str], escapes: tuple[tuple[str, str], ...]) -> list[str]:
    """``texts`` with each ``(char, escaped)`` of ``escapes`` replaced, in order: ``str.replace`` over the texts
    joined by NUL (which no checked text holds; else one text at a time)."""
    joined = "\x00".join(texts)
    todo = [pair for pair in escapes if pair[0] in joined]
    if not todo:
        return texts
    if joined.count("\x00") != len(texts) - 1:  # a text with NUL (an enum label, say)
        return [_replace_all(t, todo) for t in texts]
    return _replace_all(joined, todo).split("\x00")


def _replace_all(text: str, pairs: list[tuple[str, str]]) -> str:
    for char, escaped in pairs:
        text = text.replace(char, escaped)
    return text


def _escaped(texts: list[str]) -> list[str]:
    return _replaced(texts, _ESCAPES) if texts else texts


def _text(field: Any, values: list[Any]) -> list[str]:
    return values


def _integers(field: Any, values: list[Any]) -> list[str]:
    return list(map(str, values))


def _booleans(field: Any, values: list[Any]) -> list[str]:
    return list(map(_BOOL_TEXT.__getitem__, values))


def _floats(field: Any, values: list[Any]) -> list[str] | None:
    if field.single:
        return None  # REAL: leave range errors to the INSERT path's codec
    return list(map(repr, values))  # 'inf', '-inf', 'nan' and exponents are valid float8 input


def _decimals(field: Any, values: list[Any]) -> list[str]:
    # positional notation: exactly max(0, -exponent) places, the scale asyncpg's binary form gives
    texts = list(map(format, values, ["f"] * len(values)))
    if not all(map(Decimal.is_finite, values)):
        return [
            t if v.is_finite() else _DECIMAL_SPECIALS.get(t, "NaN")
            for v, t in zip(values, texts, strict=True)
        ]
    return texts


def _dates(field: Any, values: list[Any]) -> list[str]:
    return list(map(dt.date.isoformat, values))


def _datetimes(field: Any, values: list[Any]) -> list[str]:
    return list(map(dt.datetime.isoformat, values))


def _times(field: Any, values: list[Any]) -> list[str]:
    return list(map(dt.time.isoformat, values))


def _timedeltas(field: Any, values: list[Any]) -> list[str]:
    # str(): "[D day[s], ]H:MM:SS[.ffffff]", days and time kept apart as asyncpg sends them (no months);
    # "D days +H:MM:SS" signs the time so IntervalStyle=sql_standard cannot carry the days' sign over
    if not values:
        return []
    return "\x00".join(map(str, values)).replace(", ", " +").split("\x00")


def _binary(field: Any, values: list[Any]) -> list[str]:
    return ["\\x" + b.hex() for b in values]  # bytea's hex format


def _network(field: Any, values: list[Any]) -> list[str]:
    return list(map(str, values))  # canonical: 10.0.0.5, 10.0.0.5/24, ::1, 10.0.0.0/8


def _points(field: Any, values: list[Any]) -> list[str]:
    return ["({!r},{!r})".format(*p) for p in values]


def json_texts(values: list[Any]) -> list[str]:
    """JSON documents as the connection codec's ``_json_dumps`` writes them, without building an encoder
    per value."""
    return list(map(_JSON_ENCODER.encode, values))


def _json(field: Any, values: list[Any]) -> list[str]:
    return json_texts(values)


def _arrays(field: Any, values: list[Any]) -> list[str] | None:
    item = field.item_field
    encoder = _ENCODERS.get(type(item))
    if encoder is None:
        return None
    depth = field.dimensions or 1
    level = values if depth == 1 else list(chain.from_iterable(values))
    items = list(chain.from_iterable(level))
    has_null = None in items
    present = [v for v in items if v is not None] if has_null else items
    texts = encoder(item, present) if present else []
    if texts is None:
        return None
    if texts:
        texts = _replaced(texts, _ARRAY_ESCAPES)
    elements = list(map(_quoted, texts))  # always quoted: '', 'NULL', spaces, commas and braces stay text
    if has_null:
        elements = with_nones(items, elements, "NULL")
    it = iter(elements)
    inner = ["{" + ",".join(islice(it, n)) + "}" for n in map(len, level)]
    if depth == 1:
        return inner
    it = iter(inner)
    return ["{" + ",".join(islice(it, n)) + "}" for n in map(len, values)]


_ENCODERS: dict[type, Encoder] = {
    CharField: _text,
    TextField: _text,
    EnumField: _text,
    UUIDField: _text,
    MacAddressField: _text,
    IntegerField: _integers,
    SmallIntegerField: _integers,
    BigIntegerField: _integers,
    BooleanField: _booleans,
    FloatField: _floats,
    DecimalField: _decimals,
    DateTimeField: _datetimes,
    DateField: _dates,
    TimeField: _times,
    TimeDeltaField: _timedeltas,
    BinaryField: _binary,
    IPAddressField: _network,
    IPv4Field: _network,
    IPv6Field: _network,
    IPNetworkField: _network,
    PointField: _points,
    JSONField: _json,
    JSONBField: _json,
    ArrayField: _arrays,
    TextArrayField: _arrays,
    IntegerArrayField: _arrays,
    FloatArrayField: _arrays,
    BooleanArrayField: _arrays,
    UUIDArrayField: _arrays,
    JSONBArrayField: _arrays,
    DecimalArrayField: _arrays,
    DateArrayField: _arrays,
    TimeArrayField: _arrays,
}

#: encoders whose text never holds a backslash, tab, newline or carriage return (UUIDs and MAC addresses
#: are canonical by the checkers, so ``_text`` of those fields is clean too)
_CLEAN = frozenset(
    {_integers, _booleans, _floats, _decimals, _dates, _datetimes, _times, _timedeltas, _network, _points}
)
_CLEAN_TEXT = (UUIDField, MacAddressField)


def target(field: Any) -> Any:
    """The field whose encoder writes ``field``'s values (a foreign key's target field)."""
    return field.target_field if type(field) is ForeignKey else field


def can_encode(fields: Sequence[Any]) -> bool:
    """Whether every field has an encoder (:func:`encode_rows` may still answer None)."""
    return all(type(target(f)) in _ENCODERS for f in fields)


def _column(field: Any, values: list[Any]) -> list[str] | None:
    """One column's COPY text (escaped), ``\\N`` for None."""
    field = target(field)
    encoder = _ENCODERS.get(type(field))
    if encoder is None:
        return None
    has_null = _NONE_TYPE in set(map(type, values))
    texts = encoder(field, [v for v in values if v is not None] if has_null else values)
    if texts is None:
        return None
    if encoder not in _CLEAN and not isinstance(field, _CLEAN_TEXT):
        texts = _escaped(texts)
    if has_null:
        texts = with_nones(values, texts, _NULL)
    return texts


def encode_rows(fields: Sequence[Any], columns: Sequence[list[Any]]) -> bytes | None:
    """The COPY text (UTF-8) of the rows whose column values are ``columns`` (one list per field)."""
    texts = []
    for field, values in zip(fields, columns, strict=True):
        column = _column(field, values)
        if column is None:
            return None
        texts.append(column)
    body = "\n".join(map("\t".join, zip(*texts, strict=True)))
    try:
        return (body + "\n").encode()
    except UnicodeEncodeError:  # lone surrogates: let the INSERT path report them
        return None
