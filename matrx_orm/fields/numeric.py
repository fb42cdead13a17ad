"""Numbers and booleans: integer sizes, float, decimal, money, boolean and the version counter."""

from __future__ import annotations

import math
import numbers
import re
import struct
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from .base import Field

_SINGLE = struct.Struct("f")
#: a sequence name (``tags_id_seq``, ``public.tags_id_seq``) given as an integer field's default
_SEQUENCE_NAME = re.compile(r"(?:[A-Za-z_][\w$]*\.)?[A-Za-z_][\w$]*_seq")
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


class IntegerField(Field[int]):
    """``INTEGER`` (int32). Accepts ints, integral floats/Decimals and numeric strings; never bools."""

    python_type = int
    lookup_family = "number"
    type_name: ClassVar[str] = "INTEGER"
    min_value: ClassVar[int] = -(2**31)
    max_value: ClassVar[int] = 2**31 - 1

    def __init__(self, **kwargs: Any) -> None:
        default = kwargs.get("default")
        if isinstance(default, str) and _SEQUENCE_NAME.fullmatch(default):
            # matrx-orm 2.x code generation wrote a serial column's nextval('<sequence>') default as
            # default='<sequence>': the database's sequence fills the column, so there is no Python default
            del kwargs["default"]
        super().__init__(**kwargs)

    def sa_type(self) -> TypeEngine[Any]:
        return sa.Integer()

    def to_python(self, value: Any) -> int | None:
        if value is None or type(value) is int:
            return value
        if isinstance(value, bool):
            self._type_error(value, "an integer")
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float | Decimal):
            if not math.isfinite(value) or value != int(value):
                self.fail(value, "expected an integer, got a non-integral number")
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                self.fail(value, "not an integer")
        self._type_error(value, "an integer")

    def validate(self, value: Any) -> None:
        if not self.min_value <= value <= self.max_value:
            self.fail(value, f"out of range for {self.type_name} [{self.min_value}, {self.max_value}]")
        super().validate(value)


class SmallIntegerField(IntegerField):
    """``SMALLINT`` (int16)."""

    type_name = "SMALLINT"
    min_value = -(2**15)
    max_value = 2**15 - 1

    def sa_type(self) -> TypeEngine[Any]:
        return sa.SmallInteger()


class BigIntegerField(IntegerField):
    """``BIGINT`` (int64)."""

    type_name = "BIGINT"
    min_value = -(2**63)
    max_value = 2**63 - 1

    def sa_type(self) -> TypeEngine[Any]:
        return sa.BigInteger()


class VersionField(IntegerField):
    """Optimistic-locking counter: ``INTEGER NOT NULL``, starts at 1; the model layer increments it."""

    is_version = True

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", 1)
        kwargs.pop("nullable", None)
        kwargs["null"] = False
        super().__init__(**kwargs)


class FloatField(Field[float]):
    """``FLOAT`` (double precision). Accepts ints, floats, Decimals and numeric strings; never bools.

    ``precision=24`` (or less) makes the column ``REAL`` (single precision).
    """

    python_type = float
    lookup_family = "number"

    def __init__(self, precision: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.precision = precision

    def sa_type(self) -> TypeEngine[Any]:
        if self.precision is not None and self.precision <= 24:
            return sa.REAL()
        return sa.Float(self.precision) if self.precision is not None else sa.Float()

    @property
    def single(self) -> bool:
        """Whether the column is ``REAL``: values are rounded to single precision, as the column stores them."""
        return self.precision is not None and self.precision <= 24

    def to_python(self, value: Any) -> float | None:
        if value is None:
            return None
        number = self._number(value)
        return self._as_real(number) if self.single else number

    def _number(self, value: Any) -> float:
        if type(value) is float:
            return value
        if isinstance(value, bool):
            self._type_error(value, "a number")
        if isinstance(value, numbers.Real | Decimal):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                self.fail(value, "not a number")
        self._type_error(value, "a number")

    def _as_real(self, number: float) -> float:
        """``number`` rounded to single precision; PostgreSQL's overflow and underflow refused here."""
        try:
            rounded: float = _SINGLE.unpack(_SINGLE.pack(number))[0]
        except OverflowError:
            rounded = math.inf
        if math.isinf(rounded) and math.isfinite(number):
            self.fail(number, "out of range for REAL (overflow)")
        if rounded == 0.0 and number != 0.0:
            self.fail(number, "out of range for REAL (underflow: it would be stored as 0)")
        return rounded


def _to_decimal(field: Field[Any], value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        field._type_error(value, "a decimal number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            field.fail(value, "not a decimal number")
    field._type_error(value, "a decimal number")


class DecimalField(Field[Decimal]):
    """``NUMERIC(max_digits, decimal_places)``.

    Values are ``Decimal`` (from Decimal, int, float via ``repr`` or numeric str). With ``decimal_places``
    extra places are rounded half away from zero like PostgreSQL does (also without ``max_digits``, where the
    column is a plain ``NUMERIC``); with ``max_digits`` too many integer digits are rejected (PostgreSQL would
    raise "numeric field overflow").
    """

    python_type = Decimal
    lookup_family = "number"

    def __init__(
        self, max_digits: int | None = None, decimal_places: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if max_digits is not None and decimal_places is not None and decimal_places > max_digits:
            raise TypeError("DecimalField decimal_places may not exceed max_digits")
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        #: the places values are rounded to: ``decimal_places``; 0 for ``NUMERIC(max_digits)`` (PostgreSQL's
        #: scale 0); None for a plain ``NUMERIC`` without ``decimal_places``
        self.scale = decimal_places if decimal_places is not None or max_digits is None else 0
        self._quantum = Decimal(1).scaleb(-self.scale) if self.scale is not None else None

    def sa_type(self) -> TypeEngine[Any]:
        if self.max_digits is None:  # PostgreSQL needs a precision to take a scale: plain NUMERIC
            return sa.Numeric(asdecimal=True)
        return sa.Numeric(self.max_digits, self.decimal_places, asdecimal=True)

    def to_python(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        number = _to_decimal(self, value)
        if self._quantum is not None and number.is_finite():
            number = number.quantize(self._quantum, rounding=ROUND_HALF_UP)
        return number

    def validate(self, value: Any) -> None:
        if self.max_digits is not None:
            if not value.is_finite():
                self.fail(
                    value, f"NUMERIC({self.max_digits}, {self.decimal_places or 0}) cannot hold {value}"
                )
            whole_allowed = self.max_digits - (self.decimal_places or 0)
            digits, exponent = len(value.as_tuple().digits), value.as_tuple().exponent
            whole = digits + exponent if isinstance(exponent, int) else digits
            if value != 0 and whole > whole_allowed:
                self.fail(
                    value,
                    f"at most {whole_allowed} digit(s) before the decimal point allowed "
                    f"(max_digits={self.max_digits}, decimal_places={self.decimal_places or 0})",
                )
        super().validate(value)


class MoneyField(Field[str]):
    """``MONEY``. asyncpg exchanges money as text: Decimal, int, float or numeric str in, str out.

    ``$`` signs and thousands separators in strings are removed before the number is checked.
    """

    python_type = str
    lookup_family = "number"

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.MONEY()

    def to_python(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            negative = text.startswith("-") or (text.startswith("(") and text.endswith(")"))
            cleaned = text.strip("()-").replace("$", "").replace(",", "").strip()
            try:
                number = Decimal(cleaned)
            except InvalidOperation:
                self.fail(value, "not a money amount")
            if negative:
                number = -number
        else:
            number = _to_decimal(self, value)
        if not number.is_finite():
            self.fail(value, "money must be finite")
        return str(number)


class BooleanField(Field[bool]):
    """``BOOLEAN``. Accepts bools, the ints 0/1 and the strings true/false, t/f, yes/no, y/n, on/off, 1/0
    (any case); everything else is rejected."""

    python_type = bool
    lookup_family = "other"

    def sa_type(self) -> TypeEngine[Any]:
        return sa.Boolean()

    def to_python(self, value: Any) -> bool | None:
        if value is None or value is True or value is False:
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
        self.fail(value, "expected a boolean (True/False, 0/1, 'true'/'false', 'yes'/'no')")
