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
import decimal
import enum
import ipaddress
import json
import re
import uuid
import zoneinfo
from array import array
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from itertools import chain
from operator import attrgetter, methodcaller
from typing import Any

from asyncpg import Point

from ..exceptions import ValidationError
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
from ..fields.json_text import JsonText
from ..fields.numeric import NUMERIC_MAX_PLACES, NUMERIC_MAX_WHOLE_DIGITS
from ..fields.text import utf8_encodable
from ..meta.foreign_key import ForeignKey

#: (values as kept on instances, values as sent to the database)
Checked = tuple[list[Any], list[Any]]
#: ``checker(field, values, types)``: ``values`` are non-None, ``types`` is ``set(map(type, values))``
Checker = Callable[[Any, list[Any], set[type]], Checked | None]

_NONE = type(None)
_STR = {str}
#: where the dashes of a canonical UUID text are (8-4-4-4-12 lowercase hex digits)
_UUID_DASHES = (8, 13, 18, 23)
_UUID_CHARACTERS = b"0123456789abcdef-"
_tzinfo_of = attrgetter("tzinfo")
_utcoffset_of = methodcaller("utcoffset")
#: values the COPY text gives as is (asyncpg turns the first and last representable moment into infinities)
_DATE_RANGE = (dt.date(1, 1, 2), dt.date(9999, 12, 30))
_NAIVE_RANGE = (dt.datetime(1, 1, 2), dt.datetime(9999, 12, 30))
_AWARE_RANGE = (dt.datetime(1, 1, 2, tzinfo=dt.UTC), dt.datetime(9999, 12, 30, tzinfo=dt.UTC))
_exponent_of = attrgetter("exponent")
#: ``Decimal.as_tuple().exponent`` of NaN, signalling NaN and the infinities
_NAN, _SNAN, _INFINITE = "n", "N", "F"
#: without decimal_places, exponents beyond this take the per-value path (the COPY text is positional)
_PLAIN_NUMERIC_EXPONENT = 1000
_CANONICAL_MACS = re.compile(r"(?:[0-9a-f]{2}(?::[0-9a-f]{2}){5}\n)*")
_INTERFACES: set[type] = {ipaddress.IPv4Interface, ipaddress.IPv6Interface}
_V4_ADDRESSES: set[type] = {ipaddress.IPv4Address, ipaddress.IPv4Interface}
_V6_ADDRESSES: set[type] = {ipaddress.IPv6Address, ipaddress.IPv6Interface}
_NETWORKS: set[type] = {ipaddress.IPv4Network, ipaddress.IPv6Network}
#: PostgreSQL reads time zone offsets under 16 hours only (and this checker sends a TIME WITH TIME ZONE's
#: offset only in whole minutes, which its text keeps exactly)
_MAX_TIME_OFFSET = dt.timedelta(hours=16)


def _strings(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != _STR:
        return None
    joined = "".join(values)
    if "\x00" in joined or not utf8_encodable(joined):
        return None
    max_length = getattr(field, "max_length", None)
    if max_length is not None and max(map(len, values)) > max_length:
        return None
    return values, values


def _uuids(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types == {uuid.UUID}:
        texts = list(map(str, values))
        return texts, texts
    if types != _STR or set(map(len, values)) != {36} or not _canonical_uuids("".join(values), len(values)):
        return None
    return values, values


def _canonical_uuids(joined: str, count: int) -> bool:
    """Whether ``joined``, ``count`` texts of 36 characters each, are all canonical UUIDs: dashes at the
    four places and nowhere else, lowercase hexadecimal digits between them."""
    dashes = "-" * count
    if any(joined[at::36] != dashes for at in _UUID_DASHES) or joined.count("-") != 4 * count:
        return False
    try:
        text = joined.encode("ascii")
    except UnicodeEncodeError:
        return False
    return not text.translate(None, _UUID_CHARACTERS)  # nothing left once the digits and dashes are gone


def _integers(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {int} or min(values) < field.min_value or max(values) > field.max_value:
        return None
    return values, values


def _booleans(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {bool} else None


def _floats(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {float}:
        return None
    if field.single and array("f", values).tolist() != values:
        return None  # REAL: to_python rounds to single precision (or refuses the value); NaN goes there too
    return values, values


def _datetimes(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {dt.datetime}:
        return None
    zones = set(map(_tzinfo_of, values))
    if field.timezone:  # aware values pass unchanged (naive ones would be taken as UTC: per-value path)
        if not all(map(_copyable_zone, zones)):
            return None
        if (
            set(map(type, zones)) != {dt.timezone}
            and max(map(abs, map(_utcoffset_of, values))) >= _MAX_TIME_OFFSET
        ):
            return None  # a ZoneInfo made from a file of one's own
    elif zones != {None}:
        return None
    low, high = _AWARE_RANGE if field.timezone else _NAIVE_RANGE
    if min(values) < low or max(values) > high:
        return None  # asyncpg sends datetime.min/max (in UTC) as -infinity/infinity
    return values, values


def _copyable_zone(zone: Any) -> bool:
    """Whether the COPY text may carry moments of ``zone`` as they are: a ``ZoneInfo`` (whole seconds; its
    offsets are checked per moment), or a fixed offset of whole seconds under 16 hours. PostgreSQL refuses
    other offsets; the per-value path sends UTC."""
    if type(zone) is dt.timezone:
        offset = zone.utcoffset(None)
        return not offset.microseconds and abs(offset) < _MAX_TIME_OFFSET
    return type(zone) is zoneinfo.ZoneInfo


def _dates(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {dt.date} or min(values) < _DATE_RANGE[0] or max(values) > _DATE_RANGE[1]:
        return None  # asyncpg sends date.min/max as -infinity/infinity
    return (values, values)


def _json(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if field.schema is not None or JsonText in types:
        return None  # a JsonText is JSON already: db_value sends it as it is
    try:  # one document for the column: fails exactly when one of the values does
        text = json.dumps(values, allow_nan=False)
        # what the database gives back: a key that is not a string, a tuple or a key given twice comes back
        # otherwise, and the per-instance path returns that (RETURNING); so does a float written with a
        # positive exponent (1e+16: jsonb gives back the integer), looked for in the whole text
        if "e+" in text:
            return None
        # instances hold what the database gives back: plain JSON types (an enum member comes back as its
        # value), new objects, -0.0 as 0.0; objects keep the key order given (jsonb's order would cost a
        # pass in python)
        decoded = json.loads(text, parse_float=_jsonb_float) if "-0.0" in text else json.loads(text)
        if decoded != values:
            return None
    except (TypeError, ValueError, RecursionError):
        return None
    return decoded, values


def _jsonb_float(text: str) -> float:
    """A JSON number with a fraction as jsonb gives it back (NUMERIC has no -0.0)."""
    return float(text) or 0.0


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


def _decimals(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {Decimal}:
        return None
    places, max_digits = field.scale, field.max_digits
    exponents = set(map(_exponent_of, map(Decimal.as_tuple, values)))
    if _SNAN in exponents or (max_digits is not None and (_NAN in exponents or _INFINITE in exponents)):
        return None  # validate refuses NaN and infinities with max_digits; sNaN: the per-value path
    finite = exponents - {_NAN, _INFINITE}
    if not finite:
        return values, values
    numbers = values if finite == exponents else [v for v in values if v.is_finite()]
    highest = max(map(Decimal.adjusted, numbers))  # the whole digits of the largest value, less one
    if places is not None:
        if finite != {-places}:
            return None  # to_python would round to ``places``
        context = decimal.getcontext()  # quantize is exact (and silent) only within the context's limits
        if highest + 1 + places > context.prec or highest > context.Emax or -places < context.Etiny():
            return None
    elif max(finite) > _PLAIN_NUMERIC_EXPONENT or min(finite) < -_PLAIN_NUMERIC_EXPONENT:
        return None
    if -min(finite) > NUMERIC_MAX_PLACES:
        return None  # more places than NUMERIC holds (decimal_places that large): validate refuses it
    if max_digits is None and highest + 1 > NUMERIC_MAX_WHOLE_DIGITS:
        return None  # more whole digits than NUMERIC holds: validate refuses it (asyncpg would send 0)
    if max_digits is not None and highest + 1 > max_digits - (places or 0):
        return None  # validate's "at most N digit(s) before the decimal point" (or a zero such as 0E+9)
    return values, values


def _times(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if types != {dt.time}:
        return None
    zones = set(map(_tzinfo_of, values))
    if not field.timezone:
        return (values, values) if zones == {None} else None  # aware ones would be shifted to UTC
    for zone in zones:  # fixed offsets of whole minutes (a zone without one would become UTC)
        if type(zone) is not dt.timezone:
            return None
        offset = zone.utcoffset(None)
        if offset.seconds % 60 or offset.microseconds or abs(offset) >= _MAX_TIME_OFFSET:
            return None
    return values, values


def _timedeltas(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {dt.timedelta} else None


def _binary(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {bytes} else None  # bytearray, memoryview: copied per value


def _ip_addresses(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    allowed: set[type] = {4: _V4_ADDRESSES, 6: _V6_ADDRESSES}.get(
        field.version, _V4_ADDRESSES | _V6_ADDRESSES
    )
    if not types <= allowed:
        return None
    if types & _INTERFACES:  # a full-length prefix becomes a plain address in to_python
        interfaces = [v for v in values if type(v) in _INTERFACES]
        if any(v.network.prefixlen == v.max_prefixlen for v in interfaces):
            return None
    if types & _V6_ADDRESSES and any(v.scope_id for v in values if v.version == 6):
        return None  # PostgreSQL has no scope ids
    return values, values


def _ip_networks(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    if not types <= _NETWORKS:
        return None
    if ipaddress.IPv6Network in types and any(v.network_address.scope_id for v in values if v.version == 6):
        return None
    return values, values


def _mac_addresses(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    # the normalized form only (08:00:2b:01:02:03): 17 characters each, so each match is one value
    if types != _STR or set(map(len, values)) != {17}:
        return None
    if _CANONICAL_MACS.fullmatch("\n".join(values) + "\n") is None:
        return None
    return values, values


def _points(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    return (values, values) if types == {Point} else None


def _arrays(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    """Lists (nested ``dimensions`` deep, rectangular, no NULL sub-arrays) whose elements the element
    field's checker sends unchanged; instances get copies of the lists (as ``to_python`` makes), holding the
    elements as the checker keeps them."""
    item = field.item_field
    checker = _CHECKERS.get(type(item))
    depth = field.dimensions or 1
    if types != {list} or checker is None or item.validators or depth > 2:
        return None
    level = values
    if depth == 2:
        level = list(chain.from_iterable(values))
        if set(map(type, level)) - {list} or 0 in set(map(len, level)):
            return None  # scalars, NULL or empty sub-arrays: the per-value path
        if any(len(set(map(len, value))) > 1 for value in values):
            return None  # PostgreSQL arrays are rectangular
    items = list(chain.from_iterable(level))
    present = [v for v in items if v is not None] if None in items else items
    if present:
        item_types = set(map(type, present))
        if list in item_types or tuple in item_types:
            return None  # asyncpg takes a list element for a sub-array (a JSON array element fails there)
        checked = checker(item, present, item_types)
        if checked is None or checked[1] is not present:
            return None  # an element to convert (or sent in another form): the per-value path
        if checked[0] is not present:  # kept otherwise than given (JSON: as the database gives it back)
            return _refilled(values, depth, iter(checked[0])), values
    copies = [list(map(list, v)) for v in values] if depth == 2 else list(map(list, values))
    return copies, values


def _refilled(values: list[Any], depth: int, kept: Iterator[Any]) -> list[Any]:
    """Copies of array ``values`` (``depth`` 1 or 2) with ``kept``'s items in place of their non-None
    elements, in order."""
    if depth == 2:
        return [[with_nones(sub, kept) for sub in value] for value in values]
    return [with_nones(value, kept) for value in values]


def _foreign_key(field: Any, values: list[Any], types: set[type]) -> Checked | None:
    target = field.target_field
    checker = _CHECKERS.get(type(target)) if target is not None and not target.validators else None
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
    DecimalField: _decimals,
    TimeField: _times,
    TimeDeltaField: _timedeltas,
    BinaryField: _binary,
    IPAddressField: _ip_addresses,
    IPv4Field: _ip_addresses,
    IPv6Field: _ip_addresses,
    IPNetworkField: _ip_networks,
    MacAddressField: _mac_addresses,
    PointField: _points,
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
    python = values if checked[0] is present else with_nones(values, checked[0])
    return python, python if checked[1] is checked[0] else with_nones(values, checked[1])


def with_nones(values: list[Any], present: Iterable[Any], fill: Any = None) -> list[Any]:
    """``present`` (what became of the non-None ``values``, in order) put back in place, ``fill`` where
    ``values`` holds None. An iterator given as ``present`` is consumed only as far as ``values`` needs."""
    converted = iter(present)
    return [fill if v is None else next(converted) for v in values]
