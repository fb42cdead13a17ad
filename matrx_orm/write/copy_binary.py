"""Checked column values → rows for a binary ``COPY ... FROM STDIN``, encoded by asyncpg's binary codecs.

Binary is used where it costs the client less than the text format of :mod:`.copy_text`: text, integers,
booleans, double precision, dates and times, intervals, ``bytea``, points, UUIDs, JSON and enum labels.
asyncpg's binary encoders of ``numeric``, ``inet``/``cidr`` and arrays take two to three times the CPU of
the text encoders (10,000 values: 12.8 ms against 3.9 ms for ``numeric``, 35 ms against 10 ms for
``inet``), so a batch with such a column is written in text; so is one with a column of any other kind
(MAC addresses, REAL, fields without a checker): :func:`plan` answers None.

Most columns go as checked: asyncpg encodes them as it encodes the parameters of an INSERT. The package's
connection codecs for ``uuid`` and ``jsonb`` (and enum types, which asyncpg only knows as text) have no
binary encoder, so those columns go as the bytes of the column type's binary form, sent through a stand-in
type (:data:`STAND_INS`): a UUID's 16 bytes as ``bytea``, a JSON document's text with ``jsonb``'s version
byte in front as ``text``, an enum label as ``text``. A table whose columns are not of the fields' own types
(a ``UUIDField`` on a ``text`` column, a ``JSONField`` on a ``json`` one; text types stand in for each
other) is written in text too, which :func:`columns_agree` finds out before each binary COPY. A batch of
fewer than :data:`MIN_ROWS` rows is written in text anyway: the check and the transaction that makes it
hold cost up to three round trips, more than binary saves on a small batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from struct import iter_unpack
from typing import Any

from ..db import executor
from ..fields import (
    BigIntegerField,
    BinaryField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    EnumField,
    FloatField,
    IntegerField,
    JSONBField,
    JSONField,
    PointField,
    SmallIntegerField,
    TextField,
    TimeDeltaField,
    TimeField,
    UUIDField,
)
from .column_checks import with_nones
from .copy_text import json_texts, target

#: binary from this many rows on (measured: binary saves about 0.8 µs a row; the check costs ~0.4 ms)
MIN_ROWS = 1000

#: the types a column's binary form is sent as when asyncpg has no binary encoder for the column's own
STAND_INS = ("bytea", "text")

#: ``convert(values)``: non-None checked values → what the stand-in type's codec takes
Convert = Callable[[list[Any]], list[Any]]

#: fields whose checked values asyncpg's binary codecs take as they are (and cheaply)
_AS_IS = frozenset(
    {
        CharField,
        TextField,
        IntegerField,
        SmallIntegerField,
        BigIntegerField,
        BooleanField,
        FloatField,
        DateTimeField,
        DateField,
        TimeField,
        TimeDeltaField,
        BinaryField,
        PointField,
    }
)


def _uuid_bytes(values: list[str]) -> list[bytes]:
    # checked values are canonical; fromhex skips whitespace, and a same-length replace is the fast one
    raw = bytes.fromhex("".join(values).replace("-", " "))
    return [value for (value,) in iter_unpack("16s", raw)]


def _jsonb_texts(values: list[Any]) -> list[str]:
    return ["\x01" + text for text in json_texts(values)]  # jsonb's binary form: version 1


def _labels(values: list[Any]) -> list[Any]:
    return values  # checked enum values are the labels (str)


_CONVERTED: dict[type, tuple[str, Convert]] = {
    UUIDField: ("bytea", _uuid_bytes),
    JSONField: ("text", _jsonb_texts),  # both JSON fields are jsonb columns
    JSONBField: ("text", _jsonb_texts),
    EnumField: ("text", _labels),
}


#: text, bpchar and varchar (built-in OIDs): each reads the others' binary form, a UTF-8 text, as its own
_TEXT_LIKE = frozenset({25, 1042, 1043})


async def columns_agree(database: str, check_sql: str, *, model: str, operation: str) -> bool:
    """Whether the table's columns in ``check_sql`` (:class:`~matrx_orm.sql.compiler.dml.BinaryCopy`) are
    now of the types of the fields written to them. Asked before every binary COPY, in the transaction
    the COPY runs in: preparing the check takes the lock the COPY needs, so the table cannot change
    until the COPY is done."""
    types = await executor.result_types(database, check_sql, model=model, operation=operation)
    half = len(types) // 2
    return all(map(_agree, types[:half], types[half:]))


def _agree(own: int, column: int) -> bool:
    return own == column or (own in _TEXT_LIKE and column in _TEXT_LIKE)


def _as_is(field: Any) -> bool:
    if type(field) is FloatField:
        return not field.single  # REAL: leave range errors to the INSERT path's codec
    return type(field) in _AS_IS


def plan(fields: Sequence[Any]) -> tuple[str | None, ...] | None:
    """Each field's stand-in type (None: sent as it is), or None when some field cannot go in binary."""
    stand_ins: list[str | None] = []
    for field in map(target, fields):
        converted = _CONVERTED.get(type(field))
        if converted is not None:
            stand_ins.append(converted[0])
        elif _as_is(field):
            stand_ins.append(None)
        else:
            return None
    return tuple(stand_ins)


def rows(fields: Sequence[Any], columns: Sequence[list[Any]]) -> list[tuple[Any, ...]]:
    """The rows of checked ``columns`` (one list per field, None for NULL), converted for :func:`plan`'s
    stand-ins."""
    sent = [_column(target(f), values) for f, values in zip(fields, columns, strict=True)]
    return list(zip(*sent, strict=True))


def _column(field: Any, values: list[Any]) -> list[Any]:
    converted = _CONVERTED.get(type(field))
    if converted is None:
        return values
    convert = converted[1]
    if None not in values:
        return convert(values)
    return with_nones(values, convert([v for v in values if v is not None]), None)
