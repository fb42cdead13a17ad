"""Dates and times: DateTimeField, DateField, TimeField and TimeDeltaField (INTERVAL)."""

from __future__ import annotations

import datetime as dt
import numbers
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine
from typing_extensions import TypeVar

from .base import Field

UTC = dt.UTC
_EPOCH_DATE = dt.date(2000, 1, 1)

# what reading each field gives when the class is named without arguments (see Field's docstring)
_DateTimeR = TypeVar("_DateTimeR", default=dt.datetime | None)
_DateR = TypeVar("_DateR", default=dt.date | None)
_TimeR = TypeVar("_TimeR", default=dt.time | None)
_DeltaR = TypeVar("_DeltaR", default=dt.timedelta | None)


class DateTimeField(Field[dt.datetime, _DateTimeR]):
    """``TIMESTAMP WITH TIME ZONE`` by default.

    With ``timezone=True`` naive datetimes are taken as UTC; with ``timezone=False`` (``TIMESTAMP``) aware
    datetimes are converted to naive UTC. ISO 8601 strings (``Z`` suffix included) and dates are accepted.
    ``auto_now`` / ``auto_now_add`` are stamped by the model layer on save / insert.
    """

    python_type = dt.datetime
    lookup_family = "datetime"

    @overload
    def __init__(
        self: DateTimeField[dt.datetime],
        auto_now: bool = False,
        auto_now_add: bool = False,
        timezone: bool = True,
        *,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateTimeField[dt.datetime],
        auto_now: bool = False,
        auto_now_add: bool = False,
        timezone: bool = True,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateTimeField[dt.datetime],
        auto_now: bool = False,
        auto_now_add: bool = False,
        timezone: bool = True,
        *,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateTimeField[dt.datetime | None],
        auto_now: bool = False,
        auto_now_add: bool = False,
        timezone: bool = True,
        **kwargs: Any,
    ) -> None: ...
    def __init__(
        self, auto_now: bool = False, auto_now_add: bool = False, timezone: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.auto_now = auto_now
        self.auto_now_add = auto_now_add
        self.timezone = timezone

    def sa_type(self) -> TypeEngine[Any]:
        return sa.DateTime(timezone=self.timezone)

    def to_python(self, value: Any) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                self.fail(value, "not an ISO 8601 datetime")
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        else:
            self._type_error(value, "a datetime or an ISO 8601 string")
        aware = moment.tzinfo is not None and moment.utcoffset() is not None
        if self.timezone:
            return moment if aware else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(tzinfo=None) if aware else moment


class DateField(Field[dt.date, _DateR]):
    """``DATE``. Accepts dates, datetimes (their date) and ISO 8601 strings."""

    python_type = dt.date
    lookup_family = "datetime"

    @overload
    def __init__(
        self: DateField[dt.date],
        auto_now: bool = False,
        auto_now_add: bool = False,
        *,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateField[dt.date],
        auto_now: bool = False,
        auto_now_add: bool = False,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateField[dt.date],
        auto_now: bool = False,
        auto_now_add: bool = False,
        *,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateField[dt.date | None], auto_now: bool = False, auto_now_add: bool = False, **kwargs: Any
    ) -> None: ...
    def __init__(self, auto_now: bool = False, auto_now_add: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auto_now = auto_now
        self.auto_now_add = auto_now_add

    def sa_type(self) -> TypeEngine[Any]:
        return sa.Date()

    def to_python(self, value: Any) -> dt.date | None:
        if value is None or type(value) is dt.date:
            return value
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
            try:
                return dt.datetime.fromisoformat(text).date()
            except ValueError:
                self.fail(value, "not an ISO 8601 date")
        self._type_error(value, "a date or an ISO 8601 string")


class TimeField(Field[dt.time, _TimeR]):
    """``TIME`` (``timezone=True``: ``TIME WITH TIME ZONE``). Accepts times and ISO 8601 strings.

    Without a time zone, aware times are shifted to UTC and made naive.
    """

    python_type = dt.time
    lookup_family = "datetime"

    @overload
    def __init__(
        self: TimeField[dt.time], timezone: bool = False, *, primary_key: Literal[True], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(
        self: TimeField[dt.time],
        timezone: bool = False,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TimeField[dt.time], timezone: bool = False, *, nullable: Literal[False], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: TimeField[dt.time | None], timezone: bool = False, **kwargs: Any) -> None: ...
    def __init__(self, timezone: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timezone = timezone

    def sa_type(self) -> TypeEngine[Any]:
        return sa.Time(timezone=self.timezone)

    def to_python(self, value: Any) -> dt.time | None:
        if value is None:
            return None
        clock: dt.time
        if isinstance(value, dt.time):
            clock = value
        elif isinstance(value, str):
            try:
                clock = dt.time.fromisoformat(value.strip())
            except ValueError:
                self.fail(value, "not an ISO 8601 time")
        elif isinstance(value, dt.datetime):
            clock = value.timetz()
        else:
            self._type_error(value, "a time or an ISO 8601 string")
        offset = clock.utcoffset()
        if self.timezone:
            return clock if offset is not None else clock.replace(tzinfo=UTC)
        if offset is None:
            return clock
        shifted = dt.datetime.combine(_EPOCH_DATE, clock.replace(tzinfo=None)) - offset
        return shifted.time()


_DURATION_TEXT = re.compile(
    r"^(?:(?P<days>[-+]?\d+) days?,?\s*)?(?P<sign>[-+])?"
    r"(?P<hours>\d+):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2}(?:\.\d+)?)$"
)
_DURATION_ISO = re.compile(
    r"^(?P<sign>-)?P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> dt.timedelta | None:
    """Parse seconds (``"90"``), ``str(timedelta)`` forms (``"1 day, 2:03:04"``) or ISO 8601 ``P1DT2H``."""
    text = text.strip()
    try:
        return dt.timedelta(seconds=float(text))
    except (ValueError, OverflowError):
        pass
    match = _DURATION_TEXT.match(text)
    if match is not None:  # str(timedelta) / PostgreSQL style: the sign of "days" is its own
        clock = dt.timedelta(
            hours=int(match["hours"]), minutes=int(match["minutes"]), seconds=float(match["seconds"])
        )
        days = dt.timedelta(days=int(match["days"] or 0))
        return days - clock if match["sign"] == "-" else days + clock
    match = _DURATION_ISO.match(text)
    if match is None or text.lstrip("-") in ("P", "PT") or text.endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None and k != "sign"}
    delta = dt.timedelta(**parts)
    return -delta if match["sign"] else delta


class TimeDeltaField(Field[dt.timedelta, _DeltaR]):
    """``INTERVAL``. Accepts timedeltas, seconds as a number, and duration strings (see ``parse_duration``)."""

    python_type = dt.timedelta
    lookup_family = "other"

    if TYPE_CHECKING:

        @overload
        def __init__(
            self: TimeDeltaField[dt.timedelta], *, primary_key: Literal[True], **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(
            self: TimeDeltaField[dt.timedelta], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(
            self: TimeDeltaField[dt.timedelta], *, nullable: Literal[False], **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: TimeDeltaField[dt.timedelta | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.INTERVAL()

    def to_python(self, value: Any) -> dt.timedelta | None:
        if value is None or isinstance(value, dt.timedelta):
            return value
        if isinstance(value, bool):
            self._type_error(value, "a timedelta or seconds")
        if isinstance(value, numbers.Real | Decimal):
            try:
                return dt.timedelta(seconds=float(value))
            except (OverflowError, ValueError):
                self.fail(value, "out of range for an interval")
        if isinstance(value, str):
            try:
                parsed = parse_duration(value)
            except OverflowError:
                parsed = None
            if parsed is None:
                self.fail(value, "not a duration (seconds, 'D days, HH:MM:SS' or ISO 8601 'P1DT2H')")
            return parsed
        self._type_error(value, "a timedelta or seconds")
