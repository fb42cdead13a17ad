"""Pydantic schemas from models (matrx_orm.schemas): every field type through validate_input, the database and
the output schema; required and optional inputs, PATCH, constraints, caching and a JSON schema snapshot."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import uuid
from decimal import Decimal
from typing import Any

import pytest
from asyncpg import Point
from pydantic import BaseModel

from matrx_orm import (
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
    EmailField,
    EnumField,
    FloatArrayField,
    FloatField,
    ForeignKey,
    HalfVectorField,
    HStoreField,
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
    Model,
    MoneyField,
    PointField,
    PrimitiveArrayField,
    SlugField,
    SmallIntegerField,
    SparseVectorField,
    TextArrayField,
    TextField,
    TimeArrayField,
    TimeDeltaField,
    TimeField,
    UnknownFieldError,
    UUIDArrayField,
    UUIDField,
    ValidationError,
    VectorField,
    VersionField,
    build_input_schema,
    build_output_schema,
    create_all,
    model_json_schema,
    validate_input,
)
from matrx_orm.db import executor


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Settings(BaseModel):
    theme: str
    size: int = 12


class SchemaOwner(Model):
    id = IntegerField(primary_key=True)
    name = CharField(max_length=20, null=False)

    _table_name = "schema_owner"
    _database = "test"


class Sink(Model):
    """A column of every kind (pgvector and hstore ones are in their own models)."""

    id = UUIDField(primary_key=True, default=uuid.uuid4)
    owner_id = ForeignKey(SchemaOwner, null=False)
    title = CharField(max_length=10, null=False)
    body = TextField()
    email = EmailField()
    slug = SlugField()
    mood = EnumField(Mood)
    size = EnumField(choices=["s", "m", "l"], null=False, default="m")
    hits = IntegerField(null=False, default=0)
    small = SmallIntegerField()
    big = BigIntegerField()
    ratio = FloatField()
    price = DecimalField(max_digits=6, decimal_places=2)
    active = BooleanField()
    cost = MoneyField()
    version = VersionField()
    happened = DateTimeField()
    created = DateTimeField(auto_now_add=True, null=False)
    day = DateField()
    clock = TimeField()
    wait = TimeDeltaField()
    data = JSONField()
    more = JSONBField(default=dict)
    settings = JSONField(schema=Settings)
    numbers = ArrayField(IntegerField())
    words = TextArrayField()
    ints = IntegerArrayField()
    floats = FloatArrayField()
    flags = BooleanArrayField()
    uuids = UUIDArrayField()
    docs = JSONBArrayField()
    amounts = DecimalArrayField(max_digits=5, decimal_places=1)
    days = DateArrayField()
    times = TimeArrayField()
    prims = PrimitiveArrayField("bigint")
    grid = ArrayField(IntegerField(), dimensions=2)
    host = IPAddressField()
    host4 = IPv4Field()
    host6 = IPv6Field()
    network = IPNetworkField()
    mac = MacAddressField()
    spot = PointField()
    blob = BinaryField()

    _table_name = "schema_sink"
    _database = "test"


class Embedded(Model):
    id = IntegerField(primary_key=True)
    dense = VectorField(dimensions=3, null=False)
    half = HalfVectorField(dimensions=2)
    sparse = SparseVectorField(dimensions=4)

    _table_name = "schema_embedded"
    _database = "test"


class Tagged(Model):
    id = IntegerField(primary_key=True)
    attrs = HStoreField()

    _table_name = "schema_tagged"
    _database = "test"


OWNER_ID = 1
VALID: dict[str, tuple[Any, Any]] = {
    # field: (input, the python value create() gets)
    "title": ("Hello", "Hello"),
    "body": ("long text", "long text"),
    "email": ("ada@example.com", "ada@example.com"),
    "slug": ("a-slug_1", "a-slug_1"),
    "mood": ("sad", Mood.SAD),
    "size": ("l", "l"),
    "hits": ("7", 7),
    "small": (-5, -5),
    "big": (2**40, 2**40),
    "ratio": ("0.25", 0.25),
    "price": ("12.5", Decimal("12.50")),
    "active": ("yes", True),
    "cost": ("3.75", "3.75"),
    "version": (3, 3),
    "happened": ("2024-05-01T10:00:00+02:00", dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC)),
    "day": ("2024-05-01", dt.date(2024, 5, 1)),
    "clock": ("10:30:00", dt.time(10, 30)),
    "wait": ("PT90S", dt.timedelta(seconds=90)),
    "data": ({"a": [1, None, "x"]}, {"a": [1, None, "x"]}),
    "more": ([1, 2], [1, 2]),
    "settings": ({"theme": "dark"}, Settings(theme="dark")),
    "numbers": (["1", 2, None], [1, 2, None]),
    "words": (["a", "b"], ["a", "b"]),
    "ints": ([1, 2], [1, 2]),
    "floats": ([0.5], [0.5]),
    "flags": ([True, False], [True, False]),
    "uuids": (["6c1c2a8e-0a7f-4a5e-9d0e-3c8b1b2a4f10"], ["6c1c2a8e-0a7f-4a5e-9d0e-3c8b1b2a4f10"]),
    "docs": ([{"k": 1}, "two"], [{"k": 1}, "two"]),
    "amounts": (["1.5", 2], [Decimal("1.5"), Decimal("2.0")]),
    "days": (["2024-01-02"], [dt.date(2024, 1, 2)]),
    "times": (["08:00:00"], [dt.time(8)]),
    "prims": ([2**40], [2**40]),
    "grid": ([[1, 2], [3, 4]], [[1, 2], [3, 4]]),
    "host": ("10.0.0.5/24", ipaddress.ip_interface("10.0.0.5/24")),
    "host4": ("192.168.1.1", ipaddress.IPv4Address("192.168.1.1")),
    "host6": ("::1", ipaddress.IPv6Address("::1")),
    "network": ("10.0.0.0/8", ipaddress.IPv4Network("10.0.0.0/8")),
    "mac": ("08-00-2B-01-02-03", "08:00:2b:01:02:03"),
    "spot": ([1, 2.5], Point(1.0, 2.5)),
    "blob": ("raw", b"raw"),
}
INVALID: dict[str, tuple[Any, str]] = {
    # field: (input, part of the message)
    "owner_id": ("one", "valid integer"),
    "title": ("x" * 11, "at most 10 characters"),
    "body": ("nul\x00", "NUL"),
    "email": ("not-an-address", "not an e-mail address"),
    "slug": ("no spaces", "should match pattern"),
    "mood": ("angry", "'happy' or 'sad'"),
    "size": ("xl", "'s', 'm' or 'l'"),
    "hits": (1.5, "valid integer"),
    "small": (2**15, "less than or equal to 32767"),
    "big": (2**63, "less than or equal to 9223372036854775807"),
    "ratio": ("many", "valid number"),
    "price": ("12.345", "no more than 2 decimal places"),
    "active": ("perhaps", "valid boolean"),
    "cost": ("a lot", "decimal"),
    "happened": ("yesterday", "valid datetime"),
    "day": ("2024-13-01", "valid date"),
    "clock": ("25:00", "valid time"),
    "wait": ("forever", "valid timedelta"),
    "data": ({1, 2}, "valid"),
    "settings": ({"theme": 5}, "valid"),
    "numbers": ([1, "two"], "valid integer"),
    "words": ("abc", "valid list"),
    "uuids": (["nope"], "valid UUID"),
    "amounts": (["1.25"], "no more than 1 decimal place"),
    "grid": ([1, 2], "valid list"),
    "host": ("999.1.1.1", "not a valid IP address"),
    "host4": ("::1", "expected an IPv4 address"),
    "network": ("10.0.0.1/8", "not a valid CIDR network"),
    "mac": ("zz:zz", "not a valid MAC address"),
    "spot": ([1, 2, 3], "at most 2 items"),
}


def _sink(**values: Any) -> dict[str, Any]:
    return {"owner_id": OWNER_ID, "title": "t", **values}


@pytest.fixture
async def tables(db: str) -> None:
    models = [SchemaOwner, Sink]
    await create_all(db, models=models)
    for model in reversed(models):
        await executor.execute(db, f'TRUNCATE "{model._meta.table_name}" CASCADE', [])
    await SchemaOwner.create(id=OWNER_ID, name="owner")


# -- input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_input_gives_the_python_value(name: str) -> None:
    given, expected = VALID[name]
    clean = validate_input(Sink, _sink(**{name: given}))
    assert clean[name] == expected
    assert type(clean[name]) is type(expected)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_input_names_the_field(name: str) -> None:
    given, message = INVALID[name]
    with pytest.raises(ValidationError) as caught:
        validate_input(Sink, _sink(**{name: given}))
    assert list(caught.value.errors) == [name]
    assert caught.value.field == name
    assert message in caught.value.errors[name][0], caught.value.errors


def test_every_concrete_field_is_covered() -> None:
    assert set(VALID) | {"id", "owner_id", "created"} == set(Sink._meta.field_names)


def test_only_given_fields_are_returned_so_the_model_applies_its_defaults() -> None:
    assert validate_input(Sink, _sink()) == {"owner_id": OWNER_ID, "title": "t"}
    assert validate_input(Sink, _sink(body=None))["body"] is None  # an explicit NULL is kept


def test_required_and_optional_inputs() -> None:
    schema = build_input_schema(Sink)
    required = {name for name, info in schema.model_fields.items() if info.is_required()}
    # id: python default; created: auto_now_add; hits/size/more/version: defaults; the rest: nullable
    assert required == {"owner_id", "title"}
    assert build_input_schema(SchemaOwner).model_fields["id"].is_required() is False  # serial key


def test_many_errors_at_once_and_unknown_keys() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_input(Sink, {"title": None, "colour": "red", "hits": "x"})
    errors = caught.value.errors
    assert set(errors) == {"owner_id", "title", "colour", "hits"}
    assert errors["colour"] == ["Extra inputs are not permitted"]
    assert errors["owner_id"] == ["Field required"]
    assert caught.value.field is None  # several fields: none is singled out
    assert "owner_id: Field required" in caught.value.message


def test_input_that_is_not_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_input(Sink, ["title"])
    assert list(caught.value.errors) == ["__all__"]


def test_partial_input_for_patch() -> None:
    assert validate_input(Sink, {"price": "1"}, partial=True) == {"price": Decimal("1.00")}
    assert validate_input(Sink, {}, partial=True) == {}
    patch = build_input_schema(Sink, partial=True)
    assert not any(info.is_required() for info in patch.model_fields.values())
    with pytest.raises(ValidationError) as caught:
        validate_input(Sink, {"title": None}, partial=True)  # still NOT NULL
    assert list(caught.value.errors) == ["title"]


def test_custom_validators_run_in_the_schema() -> None:
    class Checked(Model):
        id = IntegerField(primary_key=True)
        even = IntegerField(validators=[lambda value: value % 2 == 0])

        _table_name = "schema_checked"
        _database = "test"

    assert validate_input(Checked, {"even": 4}) == {"even": 4}
    with pytest.raises(ValidationError) as caught:
        validate_input(Checked, {"even": 3})
    assert "rejected by" in caught.value.errors["even"][0]


def test_include_exclude_and_names() -> None:
    picked = build_input_schema(Sink, include=["title", "owner"], name="SinkTitle")  # relation alias works
    assert list(picked.model_fields) == ["owner_id", "title"] and picked.__name__ == "SinkTitle"
    left = build_output_schema(Sink, exclude=["blob", "spot"])
    assert "blob" not in left.model_fields and "title" in left.model_fields
    with pytest.raises(UnknownFieldError, match="titel"):
        build_input_schema(Sink, include=["titel"])


def test_schemas_are_cached_per_model_and_options() -> None:
    assert build_input_schema(Sink) is build_input_schema(Sink)
    assert build_input_schema(Sink, partial=True) is not build_input_schema(Sink)
    assert build_input_schema(Sink, exclude=["blob"]) is build_input_schema(Sink, exclude=("blob",))
    assert build_output_schema(Sink) is build_output_schema(Sink)
    assert build_input_schema(Sink).__name__ == "SinkInput"
    assert build_input_schema(Sink, partial=True).__name__ == "SinkPatch"
    assert build_output_schema(Sink).__name__ == "SinkOutput"


def test_vector_hstore_and_json_schema_constraints() -> None:
    assert validate_input(Embedded, {"dense": [1, 2, 3]}) == {"dense": [1.0, 2.0, 3.0]}
    with pytest.raises(ValidationError) as caught:
        validate_input(Embedded, {"dense": [1, 2], "half": [1e6, 0]})
    assert set(caught.value.errors) == {"dense", "half"}
    assert "halfvec elements must be within" in caught.value.errors["half"][0]
    assert validate_input(Tagged, {"attrs": {"a": "1", "b": None}}) == {"attrs": {"a": "1", "b": None}}
    with pytest.raises(ValidationError):
        validate_input(Tagged, {"attrs": {"a": 1}})
    vector = model_json_schema(Embedded)["properties"]["dense"]
    assert vector == {
        "items": {"type": "number"},
        "maxItems": 3,
        "minItems": 3,
        "title": "Dense",
        "type": "array",
    }


def test_model_json_schema_modes() -> None:
    with pytest.raises(ValueError, match="'input' or 'output'"):
        model_json_schema(Sink, "both")  # type: ignore[arg-type]
    output = model_json_schema(Sink, "output")
    assert output["properties"]["happened"]["anyOf"][0] == {"format": "date-time", "type": "string"}
    assert output["properties"]["price"]["anyOf"][0] == {"type": "string"}  # Decimal as to_dict() gives it
    assert set(output["required"]) == {"id", "owner_id", "title", "size", "hits", "version", "created"}


class Article(Model):
    """The JSON schema snapshot's model."""

    id = UUIDField(primary_key=True, default=uuid.uuid4)
    author_id = ForeignKey(SchemaOwner, null=False)
    title = CharField(max_length=80, null=False)
    mood = EnumField(Mood, null=False, default=Mood.HAPPY)
    price = DecimalField(max_digits=8, decimal_places=2)
    tags = TextArrayField(null=False, default=list)
    embedding = VectorField(dimensions=2)
    extra = JSONField()
    views = IntegerField(null=False, default=0)
    published = DateTimeField(comment="when it went out")

    _table_name = "schema_article"
    _database = "test"


INT32 = {"maximum": 2147483647, "minimum": -2147483648}
EXPECTED_ARTICLE_INPUT_SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "description": "Input schema of Article (matrx_orm.schemas).",
    "properties": {
        "id": {"format": "uuid", "title": "Id", "type": "string"},
        "author_id": {"title": "Author Id", "type": "integer", **INT32},
        "title": {"maxLength": 80, "title": "Title", "type": "string"},
        "mood": {"default": "happy", "enum": ["happy", "sad"], "title": "Mood", "type": "string"},
        "price": {
            "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}],
            "default": None,
            "title": "Price",
        },
        "tags": {
            "items": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "title": "Tags",
            "type": "array",
        },
        "embedding": {
            "anyOf": [
                {"items": {"type": "number"}, "maxItems": 2, "minItems": 2, "type": "array"},
                {"type": "null"},
            ],
            "default": None,
            "title": "Embedding",
        },
        "extra": {"default": None},  # any JSON value
        "views": {"default": 0, "title": "Views", "type": "integer", **INT32},
        "published": {
            "anyOf": [{"format": "date-time", "type": "string"}, {"type": "null"}],
            "default": None,
            "description": "when it went out",
            "title": "Published",
        },
    },
    "required": ["author_id", "title"],
    "title": "ArticleInput",
    "type": "object",
}


def test_json_schema_snapshot() -> None:
    assert model_json_schema(Article) == EXPECTED_ARTICLE_INPUT_SCHEMA


# -- output and round trips through the database ---------------------------------------------------------------


async def test_every_field_type_round_trips(tables: None) -> None:
    values = {name: given for name, (given, _) in VALID.items()}
    created = await Sink.create(**validate_input(Sink, _sink(**values)))
    stored = await Sink.get(created.id, use_cache=False)
    read_back = {"cost": "$3.75"}  # PostgreSQL formats MONEY with the locale's currency symbol
    for name, (_, expected) in VALID.items():
        assert getattr(stored, name) == read_back.get(name, expected), name
    output = build_output_schema(Sink)
    from_instance = output.model_validate(stored)
    from_dict = output.model_validate(stored.to_dict())
    # to_dict() writes a pydantic JSON value (JSONField(schema=...)) as str(value); the schema writes it whole
    as_object = {"settings": {"theme": "dark", "size": 12}}
    assert from_instance.model_dump(mode="json", exclude_none=True) == stored.to_dict() | as_object
    assert from_dict.model_dump(mode="json", exclude_none=True) == stored.to_dict()
    assert "_persisted" not in from_instance.model_dump() and "_persisted" not in stored.to_dict()


async def test_partial_update_round_trip(tables: None) -> None:
    post = await Sink.create(**validate_input(Sink, _sink(price="1.10", words=["a"])))
    changes = validate_input(Sink, {"price": "2", "body": None, "words": ["b", None]}, partial=True)
    await post.update(**changes)
    stored = await Sink.get(post.id, use_cache=False)
    assert (stored.price, stored.body, stored.words, stored.title) == (
        Decimal("2.00"),
        None,
        ["b", None],
        "t",
    )
    dumped = build_output_schema(Sink).model_validate(stored).model_dump(mode="json", exclude_none=True)
    assert dumped == stored.to_dict()


async def test_vector_round_trip(db: str, needs_pgvector: None) -> None:
    await create_all(db, models=[Embedded])
    await executor.execute(db, 'TRUNCATE "schema_embedded"', [])
    row = await Embedded.create(**validate_input(Embedded, {"dense": [1, 2, 3], "sparse": [0, 1.5, 0, 0]}))
    stored = await Embedded.get(row.id, use_cache=False)
    dumped = build_output_schema(Embedded).model_validate(stored).model_dump(mode="json", exclude_none=True)
    assert (
        dumped == stored.to_dict() == {"id": row.id, "dense": [1.0, 2.0, 3.0], "sparse": [0.0, 1.5, 0.0, 0.0]}
    )


def test_output_requires_the_not_null_columns() -> None:
    with pytest.raises(Exception, match="title"):
        build_output_schema(Sink).model_validate({"id": str(uuid.uuid4()), "owner_id": 1})
