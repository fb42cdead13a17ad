"""Numbers and booleans: integer sizes, float, decimal, money, boolean and the version counter."""

from __future__ import annotations

import math
import numbers
import re
import struct
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, getcontext
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine
from typing_extensions import TypeVar

from .base import Field

_SINGLE = struct.Struct("f")
#: a sequence name (``tags_id_seq``, ``public.tags_id_seq``) given as an integer field's default
_SEQUENCE_NAME = re.compile(r"(?:[A-Za-z_][\w$]*\.)?[A-Za-z_][\w$]*_seq")
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})
#: PostgreSQL's NUMERIC without a precision: at most this many digits before / after the decimal point
NUMERIC_MAX_WHOLE_DIGITS = 131072
NUMERIC_MAX_PLACES = 16383
#: beyond any MONEY value: an int8 count of the locale's smallest unit (closer limits depend on lc_monetary)
_MONEY_MAX = 2**63 - 1

# what reading each field gives when the class is named without arguments (see Field's docstring)
_IntR = TypeVar("_IntR", default=int | None)
_FloatR = TypeVar("_FloatR", default=float | None)
_DecimalR = TypeVar("_DecimalR", default=Decimal | None)
_StrR = TypeVar("_StrR", default=str | None)
_BoolR = TypeVar("_BoolR", default=bool | None)


class IntegerField(Field[int, _IntR]):
    """``INTEGER`` (int32). Accepts ints, integral floats/Decimals and numeric strings; never bools."""

    python_type = int
    lookup_family = "number"
    type_name: ClassVar[str] = "INTEGER"
    min_value: ClassVar[int] = -(2**31)
    max_value: ClassVar[int] = 2**31 - 1

    @overload
    def __init__(self: IntegerField[int], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
    @overload
    def __init__(
        self: IntegerField[int], *, null: Literal[False], nullable: None = None, **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: IntegerField[int], *, nullable: Literal[False], **kwargs: Any) -> None: ...
    @overload
    def __init__(self: IntegerField[int | None], **kwargs: Any) -> None: ...
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
            if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
                self.fail(value, "expected an integer, got a non-integral number")
            self._check_range(value)  # before int(): int(Decimal("1e999999999")) would take minutes
            if value != int(value):
                self.fail(value, "expected an integer, got a non-integral number")
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                # int() refuses more than sys.get_int_max_str_digits() digits: far out of range anyway
                self.fail(value, self._range_reason() if text.lstrip("+-").isdigit() else "not an integer")
        self._type_error(value, "an integer")

    def validate(self, value: Any) -> None:
        self._check_range(value)
        super().validate(value)

    def to_db(self, value: Any) -> Any:
        # the usual key lookup: an int in range, no validators, no conversion of a subclass's own to skip
        if (
            type(value) is int
            and self._plain
            and not self.validators
            and self.min_value <= value <= self.max_value
        ):
            return value
        return super().to_db(value)

    #: this class converts, checks and stores values as IntegerField does (see ``to_db``)
    _plain: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = ("to_python", "validate", "db_value", "_check_range")
        cls._plain = all(getattr(cls, name) is getattr(IntegerField, name) for name in own)

    def _check_range(self, value: Any) -> None:
        """Refuse a number outside the column's range (PostgreSQL would raise "out of range")."""
        if not self.min_value <= value <= self.max_value:
            self.fail(value, self._range_reason())

    def _range_reason(self) -> str:
        return f"out of range for {self.type_name} [{self.min_value}, {self.max_value}]"


class SmallIntegerField(IntegerField[_IntR]):
    """``SMALLINT`` (int16)."""

    type_name = "SMALLINT"
    min_value = -(2**15)
    max_value = 2**15 - 1

    if TYPE_CHECKING:

        @overload
        def __init__(self: SmallIntegerField[int], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: SmallIntegerField[int], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: SmallIntegerField[int], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: SmallIntegerField[int | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return sa.SmallInteger()


class BigIntegerField(IntegerField[_IntR]):
    """``BIGINT`` (int64)."""

    type_name = "BIGINT"
    min_value = -(2**63)
    max_value = 2**63 - 1

    if TYPE_CHECKING:

        @overload
        def __init__(self: BigIntegerField[int], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: BigIntegerField[int], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: BigIntegerField[int], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: BigIntegerField[int | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return sa.BigInteger()


class VersionField(IntegerField[int]):
    """Optimistic-locking counter: ``INTEGER NOT NULL``, starts at 1; the model layer increments it."""

    is_version = True

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", 1)
        kwargs.pop("nullable", None)
        kwargs["null"] = False
        super().__init__(**kwargs)


class FloatField(Field[float, _FloatR]):
    """``FLOAT`` (double precision). Accepts ints, floats, Decimals and numeric strings; never bools.

    ``precision=24`` (or less) makes the column ``REAL`` (single precision). Infinity and NaN are stored as
    given; a finite number that does not fit (``10**400``, ``"1e400"``, ``"1e-400"``) is a ValidationError,
    as PostgreSQL refuses it ("out of range for type double precision").
    """

    python_type = float
    lookup_family = "number"

    @overload
    def __init__(
        self: FloatField[float], precision: int | None = None, *, primary_key: Literal[True], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(
        self: FloatField[float],
        precision: int | None = None,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: FloatField[float], precision: int | None = None, *, nullable: Literal[False], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: FloatField[float | None], precision: int | None = None, **kwargs: Any) -> None: ...
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

    @property
    def type_name(self) -> str:
        """The column type named in error messages."""
        return "REAL" if self.single else "DOUBLE PRECISION"

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
        if isinstance(value, str):
            text = value.strip()
            try:
                number = float(text)
                exact = Decimal(text) if number == 0.0 or math.isinf(number) else number
            except (ValueError, InvalidOperation):
                self.fail(value, "not a number")
            return self._kept(value, number, exact)
        if isinstance(value, numbers.Real | Decimal):
            try:
                number = float(value)
            except OverflowError:  # an int or Fraction beyond 1.8e308
                self.fail(value, f"out of range for {self.type_name} (overflow)")
            return self._kept(value, number, value)
        self._type_error(value, "a number")

    def _kept(self, value: Any, number: float, exact: Any) -> float:
        """``number``, unless converting ``exact`` to a float overflowed to infinity or underflowed to 0
        (PostgreSQL refuses such text: "out of range for type double precision")."""
        if math.isinf(number) and abs(exact) != math.inf:  # Decimal, Fraction, numpy compare exactly
            self.fail(value, f"out of range for {self.type_name} (overflow)")
        if number == 0.0 and exact != 0:
            self.fail(value, f"out of range for {self.type_name} (underflow: it would be stored as 0)")
        return number

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


class DecimalField(Field[Decimal, _DecimalR]):
    """``NUMERIC(max_digits, decimal_places)``.

    Values are ``Decimal`` (from Decimal, int, float via ``repr`` or numeric str). With ``decimal_places``
    extra places are rounded half away from zero like PostgreSQL does (also without ``max_digits``, where the
    column is a plain ``NUMERIC``); with ``max_digits`` too many integer digits are rejected (PostgreSQL would
    raise "numeric field overflow"), and so are NaN and +/-Infinity. A plain ``NUMERIC`` stores NaN and
    +/-Infinity and refuses what PostgreSQL's NUMERIC cannot hold (more than 131072 digits before or 16383
    after the decimal point).
    """

    python_type = Decimal
    lookup_family = "number"

    @overload
    def __init__(
        self: DecimalField[Decimal],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DecimalField[Decimal],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DecimalField[Decimal],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DecimalField[Decimal | None],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        **kwargs: Any,
    ) -> None: ...
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
        if not number.is_finite():
            return number
        self._check_whole_digits(number, value)  # first: rounding a huge number would take minutes
        if self._quantum is not None:
            digits = number.adjusted() + 2 + (self.scale or 0)
            context = Context(prec=max(digits, getcontext().prec))  # never InvalidOperation for lack of room
            number = number.quantize(self._quantum, rounding=ROUND_HALF_UP, context=context)
        return number

    def validate(self, value: Any) -> None:
        if not value.is_finite():
            if self.max_digits is not None:
                self.fail(
                    value, f"NUMERIC({self.max_digits}, {self.decimal_places or 0}) cannot hold {value}"
                )
        else:
            self._check_whole_digits(value, value)
            self._check_places(value)
        super().validate(value)

    def _check_whole_digits(self, number: Decimal, value: Any) -> None:
        """Refuse a finite ``number`` (given as ``value``) with more digits before the decimal point than
        the column holds; rounding to ``decimal_places`` never brings such a number back in range."""
        if number == 0:
            return
        whole = number.adjusted() + 1
        if self.max_digits is not None:
            allowed = self.max_digits - (self.decimal_places or 0)
            if whole > allowed:
                self.fail(
                    value,
                    f"at most {allowed} digit(s) before the decimal point allowed "
                    f"(max_digits={self.max_digits}, decimal_places={self.decimal_places or 0})",
                )
        elif whole > NUMERIC_MAX_WHOLE_DIGITS:  # asyncpg would silently send such a number as 0
            self.fail(
                value,
                f"out of range for NUMERIC (at most {NUMERIC_MAX_WHOLE_DIGITS} digits before "
                "the decimal point)",
            )

    def _check_places(self, number: Decimal) -> None:
        """Refuse a finite ``number`` with more digits after the decimal point than NUMERIC can send."""
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > NUMERIC_MAX_PLACES:
            self.fail(
                number,
                f"out of range for NUMERIC (at most {NUMERIC_MAX_PLACES} digits after the decimal point)",
            )


class MoneyField(Field[str, _StrR]):
    """``MONEY``. asyncpg exchanges money as text: Decimal, int, float or numeric str in, str out.

    ``$`` signs and thousands separators in strings are removed before the number is checked.
    """

    python_type = str
    lookup_family = "number"

    if TYPE_CHECKING:

        @overload
        def __init__(self: MoneyField[str], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: MoneyField[str], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: MoneyField[str], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: MoneyField[str | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

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
        if abs(number) > _MONEY_MAX:
            self.fail(value, "out of range for MONEY")
        return str(number)


class BooleanField(Field[bool, _BoolR]):
    """``BOOLEAN``. Accepts bools, the ints 0/1 and the strings true/false, t/f, yes/no, y/n, on/off, 1/0
    (any case); everything else is rejected."""

    python_type = bool
    lookup_family = "other"

    if TYPE_CHECKING:

        @overload
        def __init__(self: BooleanField[bool], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: BooleanField[bool], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: BooleanField[bool], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: BooleanField[bool | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

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
