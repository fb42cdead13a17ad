"""Unit tests of the field library: column DDL, python <-> db coercion and every rejection path (no database)."""

from __future__ import annotations

import copy
import datetime as dt
import enum
import ipaddress
import json
import math
import uuid
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import numpy as np
import pytest
import sqlalchemy as sa
from pgvector import HalfVector, SparseVector, Vector
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.schema import CreateColumn

import matrx_orm
from matrx_orm import fields as F
from matrx_orm.exceptions import ValidationError
from matrx_orm.fields import NOT_PROVIDED, Field
from matrx_orm.fields.json_text import JsonText
from matrx_orm.fields.structured import parse_hstore
from matrx_orm.fields.temporal import parse_duration

pytestmark = pytest.mark.level1

DIALECT = pg_asyncpg.dialect()
UTC = dt.UTC


class Widget:
    """Stands in for a model class: fields only read ``__name__`` from it."""


FieldT = TypeVar("FieldT", bound=Field[Any])


def bind(field: FieldT, name: str = "col", model: Any = Widget) -> FieldT:
    field.__set_name__(model, name)
    field.model = model
    return field


def ddl(field: Field[Any], name: str = "col") -> str:
    bind(field, name)
    column = field.sa_column()
    sa.Table("t", sa.MetaData(), column)
    return str(CreateColumn(column).compile(dialect=DIALECT))


def rejects(field: Field[Any], value: Any, *fragments: str, via: str = "to_db") -> ValidationError:
    """Assert ``field.<via>(value)`` raises ValidationError naming the field, the value and the model."""
    if field.model is None:
        bind(field, "col")
    with pytest.raises(ValidationError) as info:
        getattr(field, via)(value)
    exc = info.value
    assert exc.field == field.name
    if not isinstance(value, np.ndarray) and not (isinstance(value, float) and math.isnan(value)):
        # the raw input, or the converted value when a check after conversion (length, range) failed
        assert exc.value == value or exc.value == field.to_python(value), exc.value
    message = str(exc)
    assert "Widget" in message, message
    assert f"'{field.name}'" in message, message
    for fragment in fragments:
        assert fragment in message, message
    return exc


# -- DDL ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (lambda: F.UUIDField(), "col UUID"),
        (lambda: F.CharField(), "col VARCHAR(255)"),
        (lambda: F.CharField(max_length=100), "col VARCHAR(100)"),
        (lambda: F.CharField(max_length=None), "col VARCHAR"),
        (lambda: F.EmailField(), "col VARCHAR(254)"),
        (lambda: F.SlugField(), "col VARCHAR(200)"),
        (lambda: F.TextField(), "col TEXT"),
        (lambda: F.IntegerField(), "col INTEGER"),
        (lambda: F.BigIntegerField(), "col BIGINT"),
        (lambda: F.SmallIntegerField(), "col SMALLINT"),
        (lambda: F.FloatField(), "col FLOAT"),
        (lambda: F.DecimalField(), "col NUMERIC"),
        (lambda: F.DecimalField(max_digits=10, decimal_places=2), "col NUMERIC(10, 2)"),
        (lambda: F.BooleanField(), "col BOOLEAN"),
        (lambda: F.DateTimeField(), "col TIMESTAMP WITH TIME ZONE"),
        (lambda: F.DateTimeField(timezone=False), "col TIMESTAMP WITHOUT TIME ZONE"),
        (lambda: F.DateField(), "col DATE"),
        (lambda: F.TimeField(), "col TIME WITHOUT TIME ZONE"),
        (lambda: F.TimeField(timezone=True), "col TIME WITH TIME ZONE"),
        (lambda: F.TimeDeltaField(), "col INTERVAL"),
        (lambda: F.JSONField(), "col JSONB"),
        (lambda: F.JSONBField(), "col JSONB"),
        (lambda: F.ArrayField(F.IntegerField()), "col INTEGER[]"),
        (lambda: F.ArrayField(F.CharField, dimensions=2), "col VARCHAR(255)[][]"),
        (lambda: F.TextArrayField(), "col TEXT[]"),
        (lambda: F.IntegerArrayField(), "col INTEGER[]"),
        (lambda: F.FloatArrayField(), "col FLOAT[]"),
        (lambda: F.BooleanArrayField(), "col BOOLEAN[]"),
        (lambda: F.UUIDArrayField(), "col UUID[]"),
        (lambda: F.JSONBArrayField(), "col JSONB[]"),
        (lambda: F.DecimalArrayField(max_digits=6, decimal_places=2), "col NUMERIC(6, 2)[]"),
        (lambda: F.DateArrayField(), "col DATE[]"),
        (lambda: F.TimeArrayField(), "col TIME WITHOUT TIME ZONE[]"),
        (lambda: F.EnumField(choices=["a", "b"]), "col VARCHAR"),
        (lambda: F.EnumField(choices=["a", "b"], max_length=20), "col VARCHAR(20)"),
        (lambda: F.IPAddressField(), "col INET"),
        (lambda: F.IPNetworkField(), "col CIDR"),
        (lambda: F.MacAddressField(), "col MACADDR"),
        (lambda: F.HStoreField(), "col HSTORE"),
        (lambda: F.PointField(), "col POINT"),
        (lambda: F.MoneyField(), "col MONEY"),
        (lambda: F.BinaryField(), "col BYTEA"),
        (lambda: F.VersionField(), "col INTEGER NOT NULL"),
        (lambda: F.VectorField(dimensions=3), "col VECTOR(3)"),
        (lambda: F.VectorField(dimensions=8, dtype="halfvec"), "col HALFVEC(8)"),
        (lambda: F.VectorField(dimensions=8, dtype="sparsevec"), "col SPARSEVEC(8)"),
        (lambda: F.HalfVectorField(dimensions=4), "col HALFVEC(4)"),
        (lambda: F.SparseVectorField(dimensions=30522), "col SPARSEVEC(30522)"),
    ],
)
def test_column_ddl(field: Any, expected: str) -> None:
    assert ddl(field()) == expected


def test_column_options_in_ddl() -> None:
    assert ddl(F.CharField(max_length=10, null=False)) == "col VARCHAR(10) NOT NULL"
    assert ddl(F.DateTimeField(server_default="now()")) == "col TIMESTAMP WITH TIME ZONE DEFAULT now()"
    assert ddl(F.BooleanField(server_default=False, null=False)) == "col BOOLEAN DEFAULT false NOT NULL"
    assert ddl(F.IntegerField(server_default=sa.text("7"))) == "col INTEGER DEFAULT 7"
    assert ddl(F.UUIDField(primary_key=True)) == "col UUID NOT NULL"


def test_sa_column_keys_names_and_flags() -> None:
    field = bind(F.CharField(db_column="user_name", unique=True, index=True, comment="login"), "username")
    column = field.sa_column()
    assert column.key == column.name == "user_name"  # keyed by column name; _meta.columns maps attributes
    assert column.unique is True and column.index is True
    assert column.comment == "login"
    assert column.nullable is True
    plain = bind(F.TextField(), "body").sa_column()
    assert plain.name == plain.key == "body"
    assert not plain.unique and not plain.index
    table = sa.Table("t", sa.MetaData(), field.sa_column())
    assert table.c.user_name.name == "user_name"


def test_bind_type_defaults_to_column_type() -> None:
    assert isinstance(F.IntegerField().bind_type(), sa.Integer)
    assert isinstance(F.TextArrayField().bind_type(), sa.ARRAY)


# -- base behaviour -------------------------------------------------------------------------------------------


def test_null_and_nullable_alias() -> None:
    assert F.CharField().null is True
    assert F.CharField(null=False).null is False
    assert F.CharField(nullable=False).null is False
    assert F.CharField(null=False, nullable=True).null is True  # nullable wins when given
    assert F.IntegerField(primary_key=True, null=True).null is False
    assert F.UUIDField(primary_key=True, nullable=True).sa_column().nullable is False


def test_unknown_kwargs_are_kept() -> None:
    field = F.IntegerField(is_native=True, max_length=10, something_else="x")
    assert field.extra == {"is_native": True, "max_length": 10, "something_else": "x"}
    assert ddl(field) == "col INTEGER"


def test_defaults() -> None:
    assert F.TextField().default is NOT_PROVIDED
    assert not F.TextField().has_default()
    assert F.TextField().get_default() is None
    assert not F.TextField(default=None).has_default()  # matrx-orm: None means "no default"
    assert F.BooleanField(default=False).has_default()
    assert F.IntegerField(default=0).get_default() == 0
    counter = iter(range(10))
    field = F.IntegerField(default=lambda: next(counter))
    assert (field.get_default(), field.get_default()) == (0, 1)
    shared: dict[str, Any] = {"a": [1]}
    json_field = F.JSONField(default=shared)
    first = json_field.get_default()
    first["a"].append(2)
    assert json_field.get_default() == {"a": [1]}
    assert repr(NOT_PROVIDED) == "NOT_PROVIDED" and not NOT_PROVIDED
    assert copy.deepcopy(NOT_PROVIDED) is NOT_PROVIDED


def test_uuid_callable_default_is_a_string() -> None:
    field = F.UUIDField(primary_key=True, default=uuid.uuid4)
    value = field.get_default()
    assert isinstance(value, str)
    assert str(uuid.UUID(value)) == value
    legacy = F.UUIDField(default="gen_random_uuid()")
    assert isinstance(legacy.get_default(), str)
    assert ddl(legacy) == "col UUID DEFAULT gen_random_uuid()"


def test_descriptor_reads_instance_dict() -> None:
    class Thing:
        name = F.CharField()

    assert isinstance(Thing.name, F.CharField)
    assert Thing.name.name == "name" and Thing.name.column_name == "name"
    thing = Thing()
    assert thing.name is None  # missing (deferred) value reads None
    thing.name = "x"
    assert thing.__dict__["name"] == "x" and thing.name == "x"
    assert not hasattr(F.Field, "__set__")  # non-data descriptor at run time


def test_check_null() -> None:
    field = bind(F.CharField(null=False), "title")
    field.check_null("x")
    with pytest.raises(ValidationError) as info:
        field.check_null(None)
    assert "may not be null" in str(info.value) and "title" in str(info.value) and "Widget" in str(info.value)
    assert info.value.field == "title"
    bind(F.CharField(), "optional").check_null(None)
    assert F.CharField(null=False).to_db(None) is None  # None handling belongs to the caller


def test_validators_hook() -> None:
    def even(value: int) -> bool:
        return value % 2 == 0

    def positive(value: int) -> None:
        if value <= 0:
            raise ValueError("must be positive")

    field = bind(F.IntegerField(validators=[even, positive]), "n")
    assert field.to_db(4) == 4
    rejects(field, 3, "rejected by", "even")
    rejects(field, -2, "must be positive")

    async def remote_check(value: int) -> None:
        return None

    mixed = F.IntegerField(validators=[even, remote_check])
    assert mixed.validators == (even,) and mixed.async_validators == (remote_check,)
    assert F.IntegerField(validators=None).validators == ()


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        (F.SmallIntegerField(), -(2**15), 2**15 - 1),
        (F.IntegerField(), -(2**31), 2**31 - 1),
        (F.BigIntegerField(), -(2**63), 2**63 - 1),
    ],
)
def test_integer_bounds_are_inclusive_and_checked_for_plain_ints(
    field: Field[Any], low: int, high: int
) -> None:
    field = bind(field, "n")
    assert field.to_db(low) == low and field.to_db(high) == high
    rejects(field, low - 1, "out of range")
    rejects(field, high + 1, "out of range")
    rejects(field, True, "expected an integer")


def test_integer_subclass_with_its_own_checks_runs_them_for_plain_ints() -> None:
    class EvenField(F.IntegerField):
        def validate(self, value: Any) -> None:
            super().validate(value)
            if value % 2:
                self.fail(value, "must be even")

    class TenTimes(F.IntegerField):
        def db_value(self, value: Any) -> Any:
            return value * 10

    even = bind(EvenField(), "n")
    assert even.to_db(4) == 4
    rejects(even, 3, "must be even")
    assert bind(TenTimes(), "t").to_db(4) == 40


def test_error_without_model_names_the_field_class() -> None:
    with pytest.raises(ValidationError) as info:
        F.IntegerField().to_db("x")
    assert "IntegerField" in str(info.value)


def test_repr() -> None:
    assert repr(bind(F.TextField(), "body")) == "<TextField: Widget.body>"


# -- text -----------------------------------------------------------------------------------------------------


def test_char_and_text_coercion() -> None:
    field = bind(F.CharField(max_length=5), "code")
    assert field.to_db("abc") == "abc"
    assert field.to_python(12) == "12"
    assert field.to_python(Decimal("1.5")) == "1.5"
    some = uuid.uuid4()
    assert bind(F.TextField(), "t").to_python(some) == str(some)

    class Color(enum.StrEnum):
        RED = "red"

    assert field.to_python(Color.RED) == "red"
    rejects(field, "abcdef", "length 6 exceeds max_length 5")
    rejects(field, True, "expected a string")
    rejects(field, {"a": 1}, "expected a string")
    rejects(bind(F.TextField(), "t"), "a\x00b", "NUL")


def test_email_and_slug() -> None:
    assert bind(F.EmailField(), "e").to_db("a@b.co") == "a@b.co"
    rejects(bind(F.EmailField(), "e"), "nope", "e-mail")
    assert bind(F.SlugField(), "s").to_db("hello-world_1") == "hello-world_1"
    rejects(bind(F.SlugField(), "s"), "hello world", "slug")


def test_uuid_field() -> None:
    field = bind(F.UUIDField(), "id")
    raw = uuid.uuid4()
    assert field.to_python(raw) == str(raw)
    assert field.to_db(str(raw).upper()) == str(raw)
    assert field.to_db(raw.hex) == str(raw)
    assert field.to_python(raw.bytes) == str(raw)
    rejects(field, "not-a-uuid", "not a valid UUID")
    rejects(field, 123, "expected a UUID")


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


def test_enum_field_with_enum_class() -> None:
    field = bind(F.EnumField(enum_class=Mood), "mood")
    assert field.to_python(Mood.HAPPY) is Mood.HAPPY
    assert field.to_python("sad") is Mood.SAD
    assert field.to_python("HAPPY") is Mood.HAPPY  # by name
    assert field.to_db(Mood.SAD) == "sad"
    assert field.to_db("happy") == "happy"
    assert field.to_db("SAD") == "sad"
    assert field.needs_from_db and field.from_db("happy") is Mood.HAPPY
    assert field.from_db("unknown") == "unknown"  # rows outside the enum still load
    assert field.choices == ("happy", "sad")
    rejects(field, "angry", "expected one of ['happy', 'sad']")
    rejects(field, Level.LOW, "expected one of")
    rejects(field, 3, "expected one of")


def test_enum_field_non_string_values_and_choices() -> None:
    levels = bind(F.EnumField(Level), "level")
    assert levels.to_db(Level.HIGH) == "2"
    assert levels.to_db(1) == "1"
    assert levels.to_db("HIGH") == "2"
    assert levels.from_db("1") is Level.LOW
    rejects(levels, True, "expected one of")

    choices = bind(F.EnumField(choices=["draft", ("live", "Live!")]), "status")
    assert not choices.needs_from_db
    assert choices.to_db("live") == "live"
    rejects(choices, "gone", "expected one of ['draft', 'live']")

    subset = bind(F.EnumField(enum_class=Mood, choices=["happy"]), "mood")
    assert subset.to_db(Mood.HAPPY) == "happy"
    rejects(subset, Mood.SAD, "expected one of ['happy']")


def test_enum_field_configuration_errors() -> None:
    with pytest.raises(TypeError):
        F.EnumField()
    with pytest.raises(TypeError):
        F.EnumField(enum_class=str)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        F.EnumField(choices=["toolong"], max_length=3)


# -- numbers --------------------------------------------------------------------------------------------------


def test_integer_fields() -> None:
    field = bind(F.IntegerField(), "n")
    assert field.to_db(5) == 5
    assert field.to_db("42") == 42
    assert field.to_db(" -7 ") == -7
    assert field.to_db(3.0) == 3
    assert field.to_db(Decimal("8")) == 8
    assert field.to_db(np.int64(9)) == 9 and type(field.to_db(np.int64(9))) is int
    rejects(field, True, "expected an integer")
    rejects(field, 2.5, "non-integral")
    rejects(field, float("nan"), "non-integral")
    rejects(field, "4.5", "not an integer")
    rejects(field, [1], "expected an integer")
    rejects(field, 2**31, "out of range for INTEGER")
    assert field.to_db(-(2**31)) == -(2**31)
    small = bind(F.SmallIntegerField(), "s")
    assert small.to_db(32767) == 32767
    rejects(small, 32768, "out of range for SMALLINT")
    big = bind(F.BigIntegerField(), "b")
    assert big.to_db(2**63 - 1) == 2**63 - 1
    rejects(big, 2**63, "out of range for BIGINT")


def test_float_field() -> None:
    field = bind(F.FloatField(), "x")
    assert field.to_db(1) == 1.0 and type(field.to_db(1)) is float
    assert field.to_db("2.5") == 2.5
    assert field.to_db(Decimal("0.1")) == 0.1
    assert math.isinf(field.to_db(float("inf")))
    rejects(field, False, "expected a number")
    rejects(field, "abc", "not a number")
    rejects(field, [], "expected a number")


def test_decimal_field() -> None:
    field = bind(F.DecimalField(), "amount")
    assert field.to_db("1.10") == Decimal("1.10")
    assert field.to_db(3) == Decimal(3)
    assert field.to_db(0.1) == Decimal("0.1")  # via repr, not binary expansion
    assert field.to_db(Decimal("NaN")).is_nan()
    rejects(field, "1,5", "not a decimal")
    rejects(field, True, "expected a decimal")
    rejects(field, object(), "expected a decimal")

    money = bind(F.DecimalField(max_digits=5, decimal_places=2), "price")
    assert money.to_db("999.99") == Decimal("999.99")
    assert money.to_db("1.005") == Decimal("1.01")  # rounded half away from zero like PostgreSQL
    assert money.to_python("-1.005") == Decimal("-1.01")
    assert money.to_db(0) == Decimal("0.00")
    rejects(money, "1000", "at most 3 digit(s) before the decimal point")
    rejects(money, "999.999", "at most 3 digit(s)")  # rounds up to 1000.00
    rejects(money, Decimal("Infinity"), "cannot hold")
    scale_only = bind(F.DecimalField(decimal_places=2), "p")  # matrx-orm style: plain NUMERIC, rounded values
    assert ddl(scale_only) == "col NUMERIC"
    assert scale_only.to_db("123456.789") == Decimal("123456.79")
    with pytest.raises(TypeError):
        F.DecimalField(max_digits=2, decimal_places=3)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("FALSE", False),
        ("t", True),
        ("f", False),
        ("Yes", True),
        ("no", False),
        ("1", True),
        ("0", False),
        (" on ", True),
        ("off", False),
    ],
)
def test_boolean_accepts(raw: Any, expected: bool) -> None:
    assert bind(F.BooleanField(), "flag").to_db(raw) is expected


@pytest.mark.parametrize("raw", [2, -1, "maybe", "", 1.0, [], "truthy"])
def test_boolean_rejects(raw: Any) -> None:
    rejects(bind(F.BooleanField(), "flag"), raw, "expected a boolean")


def test_money_field() -> None:
    field = bind(F.MoneyField(), "price")
    assert field.to_db(Decimal("12.34")) == "12.34"
    assert field.to_db(5) == "5"
    assert field.to_db(1.5) == "1.5"
    assert field.to_db("$1,234.56") == "1234.56"
    assert field.to_db("-$3.00") == "-3.00"
    rejects(field, "twelve", "not a money amount")
    rejects(field, True, "expected a decimal")
    rejects(field, float("nan"), "finite")


def test_version_field() -> None:
    field = F.VersionField()
    assert field.is_version and not F.IntegerField().is_version
    assert field.null is False and field.default == 1 and field.get_default() == 1
    assert isinstance(field, F.IntegerField)
    assert F.VersionField(nullable=True).null is False


# -- dates and times ------------------------------------------------------------------------------------------


def test_datetime_field_timezone_aware() -> None:
    field = bind(F.DateTimeField(), "at")
    assert field.timezone is True
    assert field.to_db("2024-01-02T03:04:05Z") == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert field.to_db("2024-01-02 03:04:05+02:00") == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)
    naive = field.to_db(dt.datetime(2024, 1, 2, 3, 4, 5))
    assert naive.tzinfo is UTC and naive.hour == 3  # naive values are UTC
    assert field.to_db(dt.date(2024, 5, 6)) == dt.datetime(2024, 5, 6, tzinfo=UTC)
    aware = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert field.to_db(aware) is aware
    rejects(field, "yesterday", "not an ISO 8601 datetime")
    rejects(field, 1700000000, "expected a datetime")


def test_datetime_field_naive() -> None:
    field = bind(F.DateTimeField(timezone=False), "at")
    value = field.to_db("2024-01-02T03:04:05+02:00")
    assert value == dt.datetime(2024, 1, 2, 1, 4, 5) and value.tzinfo is None
    assert field.to_db("2024-01-02T03:04:05Z") == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert field.to_db(dt.datetime(2024, 1, 2)) == dt.datetime(2024, 1, 2)


def test_auto_now_flags() -> None:
    field = F.DateTimeField(auto_now=True, auto_now_add=True)
    assert field.auto_now and field.auto_now_add and not field.has_default()
    assert F.DateField(auto_now_add=True).auto_now_add


def test_date_field() -> None:
    field = bind(F.DateField(), "day")
    assert field.to_db("2024-02-29") == dt.date(2024, 2, 29)
    assert field.to_db("2024-02-29T10:00:00Z") == dt.date(2024, 2, 29)
    assert field.to_db(dt.datetime(2024, 1, 1, 23, 0)) == dt.date(2024, 1, 1)
    assert type(field.to_db(dt.datetime(2024, 1, 1))) is dt.date
    rejects(field, "2024-02-30", "not an ISO 8601 date")
    rejects(field, 20240101, "expected a date")


def test_time_field() -> None:
    field = bind(F.TimeField(), "t")
    assert field.to_db("12:30") == dt.time(12, 30)
    assert field.to_db("12:30:00Z") == dt.time(12, 30)
    assert field.to_db("12:30:00+02:00") == dt.time(10, 30)
    assert field.to_db(dt.datetime(2024, 1, 1, 8, 15)) == dt.time(8, 15)
    tz_field = bind(F.TimeField(timezone=True), "t")
    assert tz_field.to_db("12:30").tzinfo is UTC
    rejects(field, "25:00", "not an ISO 8601 time")
    rejects(field, 1230, "expected a time")


def test_interval_field() -> None:
    field = bind(F.TimeDeltaField(), "span")
    assert field.to_db(dt.timedelta(hours=1)) == dt.timedelta(hours=1)
    assert field.to_db(90) == dt.timedelta(seconds=90)
    assert field.to_db(1.5) == dt.timedelta(seconds=1.5)
    assert field.to_db(Decimal("2")) == dt.timedelta(seconds=2)
    assert field.to_db("90") == dt.timedelta(seconds=90)
    assert field.to_db("1 day, 2:03:04") == dt.timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert field.to_db(str(dt.timedelta(days=-1, seconds=5))) == dt.timedelta(days=-1, seconds=5)
    assert field.to_db("-00:00:05") == dt.timedelta(seconds=-5)
    assert field.to_db("3 days 04:00:00") == dt.timedelta(days=3, hours=4)
    assert field.to_db("P1DT2H30M") == dt.timedelta(days=1, hours=2, minutes=30)
    assert field.to_db("PT0.5S") == dt.timedelta(seconds=0.5)
    assert field.to_db("-P1W") == dt.timedelta(weeks=-1)
    rejects(field, "soon", "not a duration")
    rejects(field, "P", "not a duration")
    rejects(field, True, "expected a timedelta")
    rejects(field, 1e300, "out of range")
    assert parse_duration("") is None


# -- JSON -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["bare string", '{"looks": "like json"}', 42, 1.5, True, [1, "a", None], {"a": {"b": [1, 2]}}, []],
)
def test_json_values_are_serialized_once(value: Any) -> None:
    field = bind(F.JSONField(), "data")
    assert field.to_python(value) == value
    result = field.to_db(value)  # JSON text every connection's codec sends as is (a str stays a JSON string)
    assert isinstance(result, JsonText) and json.loads(result) == value
    assert type(json.loads(result)) is type(value)
    assert not field.needs_from_db


def test_json_rejections() -> None:
    field = bind(F.JSONBField(), "data")
    rejects(field, {1, 2}, "not JSON serializable")
    rejects(field, {"when": dt.datetime(2024, 1, 1)}, "not JSON serializable")
    rejects(field, [float("nan")], "not JSON serializable")


def test_json_schema() -> None:
    from pydantic import BaseModel

    class Meta(BaseModel):
        source: str
        tags: list[str] = []

    field = bind(F.JSONBField(schema=Meta), "meta")
    loaded = field.to_python({"source": "web"})
    assert isinstance(loaded, Meta) and loaded.source == "web"
    assert json.loads(field.to_db(Meta(source="x", tags=["a"]))) == {"source": "x", "tags": ["a"]}
    assert json.loads(field.to_db({"source": "y"})) == {"source": "y", "tags": []}
    assert field.needs_from_db and field.from_db({"source": "db"}) == Meta(source="db")
    assert field.from_db({"bad": 1}) == {"bad": 1}
    rejects(field, {"source": 5, "tags": "x"}, "does not match Meta")
    with pytest.raises(TypeError):
        F.JSONField(schema=dict)


# -- arrays ---------------------------------------------------------------------------------------------------


def test_array_field_coerces_items() -> None:
    field = bind(F.ArrayField(item_type=F.IntegerField()), "nums")
    assert field.to_db([1, "2", 3.0, None]) == [1, 2, 3, None]
    assert field.to_db((4, 5)) == [4, 5]
    assert field.to_python(np.array([1, 2])) == [1, 2]
    assert field.lookup_family == "array"
    rejects(field, [1, "x"], "item [1]", "not an integer")
    rejects(field, [2**40], "item [0]", "out of range")
    rejects(field, "1,2", "expected a list")
    rejects(field, 5, "expected a list")


def test_array_field_item_class_and_nesting() -> None:
    grid = bind(F.ArrayField(F.IntegerField, dimensions=2), "grid")
    assert grid.to_db([[1, "2"], [3, None], None]) == [[1, 2], [3, None], None]
    rejects(grid, [[1], ["z"]], "item [1][0]")
    rejects(grid, [1, 2], "expected a list")
    with pytest.raises(TypeError):
        F.ArrayField()
    with pytest.raises(TypeError):
        F.ArrayField(F.IntegerArrayField())
    with pytest.raises(TypeError):
        F.ArrayField(int)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        F.ArrayField(F.IntegerField(), dimensions=0)


def test_typed_array_fields() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    uuids = bind(F.UUIDArrayField(), "ids")
    assert uuids.to_db([first, str(second)]) == [str(first), str(second)]
    rejects(uuids, ["nope"], "not a valid UUID")
    assert bind(F.TextArrayField(), "t").to_db(["a", "b"]) == ["a", "b"]
    assert bind(F.BooleanArrayField(), "b").to_db(["yes", 0]) == [True, False]
    assert bind(F.FloatArrayField(), "f").to_db([1, "2.5"]) == [1.0, 2.5]
    json_items = bind(F.JSONBArrayField(), "j").to_db([{"a": 1}, [1], "s", None])
    assert json_items == ['{"a": 1}', "[1]", '"s"', None]
    assert bind(F.DecimalArrayField(5, 2), "d").to_db(["1.234"]) == [Decimal("1.23")]
    assert bind(F.DateArrayField(), "d").to_db(["2024-01-01"]) == [dt.date(2024, 1, 1)]
    assert bind(F.TimeArrayField(), "t").to_db(["10:00"]) == [dt.time(10)]


def test_enum_array_reads_members() -> None:
    field = bind(F.ArrayField(F.EnumField(Mood)), "moods")
    assert field.needs_from_db
    assert field.to_db([Mood.HAPPY, "sad"]) == ["happy", "sad"]
    assert field.to_python(["happy"]) == [Mood.HAPPY]
    assert field.from_db(["sad", None]) == [Mood.SAD, None]


# -- network, geometry, binary, hstore -------------------------------------------------------------------------


def test_ip_address_field() -> None:
    field = bind(F.IPAddressField(), "ip")
    assert field.to_db("192.168.0.1") == ipaddress.IPv4Address("192.168.0.1")
    assert field.to_db("::1") == ipaddress.IPv6Address("::1")
    assert field.to_db("10.0.0.5/24") == ipaddress.IPv4Interface("10.0.0.5/24")
    assert field.to_db("10.0.0.5/32") == ipaddress.IPv4Address("10.0.0.5")
    assert field.to_db(ipaddress.ip_network("10.0.0.0/8")) == ipaddress.IPv4Interface("10.0.0.0/8")
    address = ipaddress.IPv4Address("1.2.3.4")
    assert field.to_db(address) is address
    rejects(field, "999.1.1.1", "not a valid IP address")
    rejects(field, 12345, "expected an IP address")
    assert bind(F.IPv4Field(), "v4").to_db("1.1.1.1") == ipaddress.IPv4Address("1.1.1.1")
    rejects(bind(F.IPv4Field(), "v4"), "::1", "expected an IPv4 address")
    rejects(bind(F.IPv6Field(), "v6"), "1.1.1.1", "expected an IPv6 address")


def test_ip_network_field() -> None:
    field = bind(F.IPNetworkField(), "net")
    assert field.to_db("10.0.0.0/8") == ipaddress.IPv4Network("10.0.0.0/8")
    assert field.to_db("2001:db8::/32") == ipaddress.IPv6Network("2001:db8::/32")
    assert field.to_db("10.1.2.3") == ipaddress.IPv4Network("10.1.2.3/32")
    assert field.to_db(ipaddress.IPv4Interface("10.0.0.0/8")) == ipaddress.IPv4Network("10.0.0.0/8")
    rejects(field, "10.0.0.1/8", "host bits set")
    rejects(field, "nonsense", "not a valid CIDR")
    rejects(field, 8, "expected a CIDR")


@pytest.mark.parametrize(
    "raw",
    [
        "08:00:2b:01:02:03",
        "08-00-2B-01-02-03",
        "08002b:010203",
        "08002b-010203",
        "0800.2b01.0203",
        "0800-2b01-0203",
        "08002b010203",
    ],
)
def test_mac_address_formats(raw: str) -> None:
    assert bind(F.MacAddressField(), "mac").to_db(raw) == "08:00:2b:01:02:03"


def test_mac_address_rejections() -> None:
    field = bind(F.MacAddressField(), "mac")
    rejects(field, "08:00:2b:01:02", "not a valid MAC")
    rejects(field, "zz:00:2b:01:02:03", "not a valid MAC")
    rejects(field, 1234, "expected a MAC")


def test_point_field() -> None:
    field = bind(F.PointField(), "loc")
    assert field.to_db((1, 2.5)) == asyncpg.Point(1.0, 2.5)
    assert isinstance(field.to_db([1, 2]), asyncpg.Point)
    assert field.to_db({"x": 3, "y": 4}) == asyncpg.Point(3.0, 4.0)
    assert field.to_db("(5, 6)") == asyncpg.Point(5.0, 6.0)
    point = asyncpg.Point(1, 1)
    assert field.to_db(point) is point
    rejects(field, (1, 2, 3), "expected 2 coordinates")
    rejects(field, ("a", 1), "coordinates must be numbers")
    rejects(field, (True, 1), "coordinates must be numbers")
    rejects(field, (float("inf"), 1), "finite")
    rejects(field, "nowhere", "expected '(x,y)'")
    rejects(field, 5, "expected an (x, y) pair")


def test_binary_field() -> None:
    field = bind(F.BinaryField(), "blob")
    assert field.to_db(b"\x00\x01") == b"\x00\x01"
    assert field.to_db(bytearray(b"ab")) == b"ab" and type(field.to_db(bytearray(b"ab"))) is bytes
    assert field.to_db(memoryview(b"cd")) == b"cd"
    rejects(field, "text", "encode it first")
    rejects(field, 5, "expected bytes")


def test_hstore_field() -> None:
    field = bind(F.HStoreField(), "attrs")
    assert field.to_db({"a": "1", "b": None, "c": 3, "d": Decimal("1.5")}) == {
        "a": "1",
        "b": None,
        "c": "3",
        "d": "1.5",
    }
    rejects(field, {1: "a"}, "keys must be strings")
    rejects(field, {"a": [1]}, "value of 'a' must be a string or None")
    rejects(field, {"a": True}, "must be a string or None")
    rejects(field, ["a"], "expected a dict")
    assert field.from_db({"a": "1"}) == {"a": "1"}
    assert field.from_db('"a"=>"1", "b"=>NULL, "q\\"k"=>"v\\\\"') == {"a": "1", "b": None, 'q"k': "v\\"}
    assert parse_hstore("") == {}
    with pytest.raises(ValueError):
        parse_hstore("garbage")


# -- vectors --------------------------------------------------------------------------------------------------


def test_vector_to_db_accepts_lists_tuples_and_numpy() -> None:
    field = bind(F.VectorField(dimensions=3), "embedding")
    assert field.needs_from_db and field.lookup_family == "vector"
    for value in (
        [1, 2, 3],
        (1.0, 2.0, 3.0),
        np.array([1, 2, 3], dtype=np.float64),
        Vector([1, 2, 3]),
        np.array([1, 2, 3], dtype=np.int32),
        "[1,2,3]",
    ):
        result = field.to_db(value)
        assert isinstance(result, np.ndarray) and result.dtype == np.float32
        assert result.tolist() == [1.0, 2.0, 3.0]
        assert Vector(result).to_list() == [1.0, 2.0, 3.0]  # what pgvector's asyncpg codec does with it


def test_vector_rejections() -> None:
    field = bind(F.VectorField(dimensions=3), "embedding")
    exc = rejects(field, [1.0, 2.0], "expected 3 dimensions, got 2")
    assert "3" in str(exc) and "2" in str(exc)
    rejects(field, np.zeros(4), "expected 3 dimensions, got 4")
    rejects(field, [1.0, float("nan"), 2.0], "finite")
    rejects(field, [1.0, float("inf"), 2.0], "finite")
    rejects(field, [1.0, 1e39, 2.0], "finite")  # overflows float32
    rejects(field, [1.0, "2", 3.0], "expected numbers")
    rejects(field, [True, False, True], "expected numbers")
    rejects(field, [1.0, None, 3.0], "expected numbers")
    rejects(field, [[1.0, 2.0, 3.0]], "expected a 1-D vector")
    rejects(field, [[1.0], [2.0, 3.0]], "flat list")
    rejects(field, np.zeros((3, 1)), "1-D")
    rejects(field, 5, "expected a list of numbers")
    rejects(field, "1,2,3", "'[x,y,...]'")
    rejects(field, "[1,x,3]", "not a vector literal")
    with pytest.raises(TypeError):
        F.VectorField()
    with pytest.raises(TypeError):
        F.VectorField(dimensions=0)
    with pytest.raises(TypeError):
        F.VectorField(dimensions=3, dtype="int8")
    with pytest.raises(TypeError):
        F.VectorField(dimensions=20000)


def test_vector_from_db_and_to_python() -> None:
    field = bind(F.VectorField(dimensions=3), "embedding")
    assert field.from_db(Vector([1, 2, 3])) == [1.0, 2.0, 3.0]
    assert field.from_db(np.array([1, 2, 3], dtype=np.float32)) == [1.0, 2.0, 3.0]
    assert field.from_db("[1,2,3]") == [1.0, 2.0, 3.0]
    assert field.from_db([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]
    assert field.to_python(np.array([0.5, 1.5, 2.5])) == [0.5, 1.5, 2.5]
    assert field.to_python((1, 2, 3)) == [1, 2, 3]
    value = [0.1, 0.2, 0.3]
    assert field.to_python(value) is value
    rejects(field, 7, "expected a list", via="to_python")


def test_halfvec() -> None:
    field = bind(F.HalfVectorField(dimensions=2), "h")
    assert field.kind == "halfvec"
    result = field.to_db([1.5, -2.0])
    assert HalfVector(result).to_list() == [1.5, -2.0]
    assert field.from_db(HalfVector([1.5, 2.0])) == [1.5, 2.0]
    rejects(field, [70000.0, 1.0], "halfvec elements must be within")


def test_sparsevec() -> None:
    field = bind(F.SparseVectorField(dimensions=5), "s")
    from_dict = field.to_db({0: 1.5, 3: 2})
    assert isinstance(from_dict, SparseVector)
    assert from_dict.dimensions() == 5 and from_dict.indices() == [0, 3] and from_dict.values() == [1.5, 2.0]
    assert field.to_db([0, 0, 1, 0, 0]).indices() == [2]
    ready = SparseVector({1: 1.0}, 5)
    assert field.to_db(ready) is ready
    assert field.to_db("{2:1.5}/5").indices() == [1]
    assert field.from_db(SparseVector({1: 2.0}, 5)) == [0.0, 2.0, 0.0, 0.0, 0.0]
    assert field.to_python({4: 1.0}) == [0.0, 0.0, 0.0, 0.0, 1.0]
    rejects(field, SparseVector({1: 1.0}, 6), "expected 5 dimensions, got 6")
    rejects(field, {5: 1.0}, "out of range")
    rejects(field, {"a": 1.0}, "indices must be ints")
    rejects(field, {1: "x"}, "must be a number")
    rejects(field, {1: float("nan")}, "finite")
    rejects(field, [1, 2], "expected 5 dimensions, got 2")
    assert F.VectorField(dimensions=5, dtype="sparsevec").kind == "sparsevec"


def test_vector_custom_validators_see_python_list() -> None:
    seen: list[Any] = []
    field = bind(F.VectorField(dimensions=2, validators=[seen.append]), "v")
    field.to_db(np.array([1.0, 2.0]))
    assert seen == [[1.0, 2.0]]


# -- many-to-many and the package surface ---------------------------------------------------------------------


def test_many_to_many_field_is_not_a_column() -> None:
    field = F.ManyToManyField("Tag")
    assert field.concrete is False and F.TextField.concrete is True
    assert field.to_model_name == "Tag" and field.db_table is None
    assert field.junction_table("recipe", "ingredient") == "ingredient_recipe"
    custom = F.ManyToManyField(Widget, db_table="recipe_ingredients", related_name="recipes")
    assert custom.to is Widget and custom.to_model_name == "Widget" and custom.related_name == "recipes"
    assert custom.junction_table("a", "b") == "recipe_ingredients"
    with pytest.raises(TypeError):
        field.sa_column()
    with pytest.raises(TypeError):
        F.ManyToManyField()
    with pytest.raises(TypeError):
        F.ManyToManyField(5)  # type: ignore[arg-type]


def test_field_types_and_exports() -> None:
    for name, cls in F.FIELD_TYPES.items():
        assert cls.__name__ == name
        assert issubclass(cls, Field)
        assert name in F.__all__
        assert getattr(matrx_orm, name) is cls
    assert "ForeignKey" not in F.FIELD_TYPES
    expected = {
        "UUIDField",
        "CharField",
        "TextField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "FloatField",
        "DecimalField",
        "BooleanField",
        "DateTimeField",
        "DateField",
        "TimeField",
        "JSONField",
        "JSONBField",
        "ArrayField",
        "TextArrayField",
        "IntegerArrayField",
        "BooleanArrayField",
        "UUIDArrayField",
        "JSONBArrayField",
        "EnumField",
        "IPAddressField",
        "IPNetworkField",
        "MacAddressField",
        "HStoreField",
        "PointField",
        "MoneyField",
        "BinaryField",
        "TimeDeltaField",
        "VersionField",
        "VectorField",
        "HalfVectorField",
        "SparseVectorField",
        "ManyToManyField",
    }
    assert expected <= set(F.FIELD_TYPES)


@pytest.mark.parametrize(
    "cls", [F.FIELD_TYPES[name] for name in sorted(F.FIELD_TYPES)], ids=sorted(F.FIELD_TYPES)
)
def test_every_field_has_a_lookup_family_and_tolerates_unknown_kwargs(cls: type[Field[Any]]) -> None:
    assert cls.lookup_family in {"text", "number", "datetime", "json", "array", "vector", "other"}
    args: dict[str, Any] = {"is_native": True, "some_future_option": 1}
    if cls is F.ArrayField:
        args["item_type"] = F.TextField()
    elif cls is F.EnumField:
        args["choices"] = ["a"]
    elif issubclass(cls, F.VectorField):
        args["dimensions"] = 3
    elif cls is F.ManyToManyField:
        args["to"] = "Other"
    field = cls(**args)
    assert field.extra["some_future_option"] == 1
    assert field.to_db(None) is None
