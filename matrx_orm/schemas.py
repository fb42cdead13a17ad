"""Pydantic v2 schemas from models: input (create, update, PATCH) and output (what ``to_dict()`` gives).

``build_input_schema(Post)`` describes what ``Post.create(**data)`` accepts: one attribute per column with its
python type, nullability and constraints (``max_length``, decimal digits and places, enum members, vector
dimensions, integer ranges), plus the field's own checks (run after pydantic's, so custom ``validators=`` and
everything ``to_db`` refuses fail here too). A field is required when it is NOT NULL and nothing fills it:
no python default, no server default, no serial or identity key, no ``auto_now``. Unknown keys are errors.

``build_output_schema(Post)`` describes a stored row: it validates an instance (``from_attributes``) or a
``to_dict()`` result, and its JSON form is ``to_dict()``'s (``model_dump(mode="json", exclude_none=True) ==
instance.to_dict()``); private attributes such as ``_persisted`` never appear.

``validate_input(Post, data)`` returns the clean dict to pass to ``create``/``update`` or raises the ORM's
``ValidationError`` whose ``errors`` maps each field to its messages. Schemas are built once per model and
options.
"""

from __future__ import annotations

import ast
import datetime as dt
import enum
import ipaddress
import uuid
import weakref
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    JsonValue,
    PlainSerializer,
    WithJsonSchema,
    create_model,
)
from pydantic import Field as Attribute
from pydantic import ValidationError as PydanticError
from pydantic_core import PydanticCustomError

from .exceptions import ValidationError
from .fields import (
    ArrayField,
    BinaryField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    EmailField,
    EnumField,
    Field,
    FloatField,
    HStoreField,
    IntegerField,
    IPAddressField,
    IPNetworkField,
    IPv4Field,
    IPv6Field,
    JSONField,
    MacAddressField,
    MoneyField,
    PointField,
    SlugField,
    TextField,
    TimeDeltaField,
    TimeField,
    UUIDField,
    VectorField,
)
from .fields.base import reason_of
from .meta.foreign_key import FKSpec, ForeignKey
from .model import Model
from .write.values import server_fills

__all__ = ["build_input_schema", "build_output_schema", "model_json_schema", "validate_input"]

Names = Collection[str] | None
#: pydantic Field(...) keywords of one attribute
Constraints = dict[str, Any]

_INPUT_CONFIG = ConfigDict(extra="forbid")
_OUTPUT_CONFIG = ConfigDict(from_attributes=True, extra="ignore")
_ANY_JSON = Annotated[JsonValue, WithJsonSchema({})]
_SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"

_schemas: weakref.WeakKeyDictionary[type[Model], dict[tuple[Any, ...], type[BaseModel]]] = (
    weakref.WeakKeyDictionary()
)


# -- public API ------------------------------------------------------------------------------------------------


def build_input_schema(
    model: type[Model],
    *,
    partial: bool = False,
    include: Names = None,
    exclude: Names = None,
    name: str | None = None,
) -> type[BaseModel]:
    """A pydantic model of what ``model.create(**data)`` accepts (``partial=True``: every attribute optional,
    for PATCH); ``include`` / ``exclude`` pick fields by name; ``name`` names the class (default
    ``PostInput`` / ``PostPatch``)."""

    def build() -> type[BaseModel]:
        attributes = {f.name: _input_attribute(model, f, partial) for f in _selected(model, include, exclude)}
        title = name or f"{model.__name__}{'Patch' if partial else 'Input'}"
        return _schema(
            title, _INPUT_CONFIG, f"Input schema of {model.__name__} (matrx_orm.schemas).", attributes
        )

    return _cached(model, ("input", partial, _key(include), _key(exclude), name), build)


def build_output_schema(
    model: type[Model], *, include: Names = None, exclude: Names = None, name: str | None = None
) -> type[BaseModel]:
    """A pydantic model of a stored row, as ``instance.to_dict()`` gives it (``from_attributes``: validate an
    instance directly); ``name`` names the class (default ``PostOutput``)."""

    def build() -> type[BaseModel]:
        attributes = {f.name: _output_attribute(f) for f in _selected(model, include, exclude)}
        title = name or f"{model.__name__}Output"
        return _schema(
            title, _OUTPUT_CONFIG, f"Output schema of {model.__name__} (matrx_orm.schemas).", attributes
        )

    return _cached(model, ("output", _key(include), _key(exclude), name), build)


def validate_input(model: type[Model], data: Any, *, partial: bool = False) -> dict[str, Any]:
    """``data`` checked against ``build_input_schema(model, partial=partial)``: the given fields as the python
    values ``create``/``update`` take. Raises the ORM's ``ValidationError`` whose ``errors`` maps each bad
    field (``"__all__"`` for the input as a whole) to its messages."""
    schema = build_input_schema(model, partial=partial)
    try:
        checked = schema.model_validate(data)
    except PydanticError as exc:
        raise _input_error(model, exc) from None
    fields = model._require_meta().fields
    given = checked.model_fields_set
    return {name: fields[name].to_python(getattr(checked, name)) for name in fields if name in given}


def model_json_schema(model: type[Model], mode: Literal["input", "output"] = "input") -> dict[str, Any]:
    """The JSON schema of ``model``'s input schema (``mode="input"``) or output schema (``"output"``)."""
    if mode == "input":
        return build_input_schema(model).model_json_schema(mode="validation")
    if mode == "output":
        return build_output_schema(model).model_json_schema(mode="serialization")
    raise ValueError(f"model_json_schema mode must be 'input' or 'output'; got {mode!r}")


def _input_error(model: type[Model], exc: PydanticError) -> ValidationError:
    """The ORM's ``ValidationError`` for a pydantic one: ``errors`` maps fields to messages."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        location = error["loc"]
        key = str(location[0]) if location else ValidationError.NON_FIELD_ERRORS
        errors.setdefault(key, []).append(error["msg"])
    summary = "; ".join(f"{key}: {' / '.join(messages)}" for key, messages in errors.items())
    single = next(iter(errors)) if len(errors) == 1 else None
    return ValidationError(
        f"Invalid input for {model.__name__}: {summary}",
        model=model,
        field=single if single != ValidationError.NON_FIELD_ERRORS else None,
        reason=summary,
        errors=errors,
    )


# -- building ----------------------------------------------------------------------------------------------------


def _key(names: Names) -> frozenset[str] | None:
    return None if names is None else frozenset(names)


def _cached(
    model: type[Model], key: tuple[Any, ...], build: Callable[[], type[BaseModel]]
) -> type[BaseModel]:
    per_model = _schemas.setdefault(model, {})
    schema = per_model.get(key)
    if schema is None:
        schema = per_model[key] = build()
    return schema


def _selected(model: type[Model], include: Names, exclude: Names) -> list[Field[Any]]:
    """The model's column fields, in declaration order, narrowed by ``include`` / ``exclude`` (names or
    relation aliases; an unknown name raises ``UnknownFieldError``)."""
    meta = model._require_meta()
    chosen = None if include is None else {meta.get_field(name).name for name in include}
    dropped = {meta.get_field(name).name for name in exclude or ()}
    return [
        field
        for name, field in meta.fields.items()
        if field.concrete and name not in dropped and (chosen is None or name in chosen)
    ]


def _schema(name: str, config: ConfigDict, doc: str, attributes: dict[str, Any]) -> type[BaseModel]:
    schema: type[BaseModel] = create_model(name, __config__=config, __doc__=doc, **attributes)
    return schema


def _input_attribute(model: type[Model], field: Field[Any], partial: bool) -> tuple[Any, Any]:
    """``(annotation, pydantic Field)`` of one input attribute."""
    python_type, constraints = _value_type(field, output=False)
    annotation: Any = Annotated[python_type, Attribute(**constraints), AfterValidator(_orm_check(field))]
    if _nullable(field):
        annotation = annotation | None
    extra: Constraints = {"description": field.comment} if field.comment else {}
    if partial or _filled_when_left_out(model, field):
        return annotation, Attribute(default_factory=_left_out, **extra)
    if field.has_default():
        if callable(field.default):
            return annotation, Attribute(default_factory=field.get_default, **extra)
        return annotation, Attribute(default=field.get_default(), **extra)
    if field.null:
        return annotation, Attribute(default=None, **extra)
    return annotation, Attribute(**extra)


def _output_attribute(field: Field[Any]) -> tuple[Any, Any]:
    """``(annotation, pydantic Field)`` of one output attribute (required unless the column is nullable)."""
    python_type, _ = _value_type(field, output=True)
    annotation: Any = Annotated[python_type, BeforeValidator(_stored_value(field))]
    extra: Constraints = {"description": field.comment} if field.comment else {}
    if field.null:
        return (annotation | None if _nullable(field) else annotation), Attribute(default=None, **extra)
    return annotation, Attribute(**extra)


def _nullable(field: Field[Any]) -> bool:
    """Whether None is added to the type (a JSON value already takes JSON ``null``)."""
    return field.null and not isinstance(field, JSONField)


def _left_out() -> None:
    """Default of attributes that may be left out without a default to show (the model or server fills
    them); ``validate_input`` only returns the attributes that were given."""
    return None


def _filled_when_left_out(model: type[Model], field: Field[Any]) -> bool:
    """Whether a missing value is filled by the database (server default, serial or identity key) or stamped
    by the model (``auto_now`` / ``auto_now_add``)."""
    stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    return bool(stamped) or server_fills(model._require_meta(), field.name)


# -- python types of fields ----------------------------------------------------------------------------------------


def _value_type(field: Field[Any], *, output: bool) -> tuple[Any, Constraints]:
    """The python type of ``field``'s values and the pydantic constraints of input values."""
    if isinstance(field, ForeignKey):
        return _value_type(_key_field(field), output=output)
    for kinds, describe in _TYPES:
        if isinstance(field, kinds):
            python_type, constraints = describe(field, output)
            return python_type, ({} if output else constraints)
    return Any, {}


def _key_field(field: ForeignKey[Any]) -> Field[Any]:
    """The field a foreign key points at (its values have that field's type)."""
    target: Field[Any] = FKSpec(field.model, field).target_field
    return target


def _text(field: Any, output: bool) -> tuple[Any, Constraints]:
    constraints: Constraints = {}
    if getattr(field, "max_length", None) is not None:
        constraints["max_length"] = field.max_length
    if isinstance(field, EmailField):
        constraints["json_schema_extra"] = {"format": "email"}
    if isinstance(field, SlugField):
        constraints["pattern"] = _SLUG_PATTERN
    return str, constraints


def _integer(field: Any, output: bool) -> tuple[Any, Constraints]:
    return int, {"ge": field.min_value, "le": field.max_value}


def _decimal(field: Any, output: bool) -> tuple[Any, Constraints]:
    constraints: Constraints = {}
    if field.max_digits is not None:
        constraints["max_digits"] = field.max_digits
    if field.decimal_places is not None:
        constraints["decimal_places"] = field.decimal_places
    return Decimal, constraints


def _money(field: Any, output: bool) -> tuple[Any, Constraints]:
    return (str if output else Decimal), {}


def _enum(field: Any, output: bool) -> tuple[Any, Constraints]:
    """The allowed values (members' values with ``enum_class``; members and their values are accepted)."""
    values = _enum_values(field)
    return Annotated[Literal[values], BeforeValidator(_member_value)], {}


def _enum_values(field: EnumField[Any]) -> tuple[Any, ...]:
    if field.enum_class is None:
        return field.choices
    allowed = set(field.choices)
    return tuple(member.value for member in field.enum_class if str(member.value) in allowed)


def _member_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _as_text(
    python_type: type, json_schema: dict[str, Any]
) -> Callable[[Any, bool], tuple[Any, Constraints]]:
    """Values whose JSON output is ``str(value)``, as ``to_dict()`` gives them (datetimes, durations, bytes)."""

    def describe(field: Any, output: bool) -> tuple[Any, Constraints]:
        if not output:
            return python_type, {}
        serializer = PlainSerializer(str, return_type=str, when_used="json")
        return Annotated[python_type, serializer, WithJsonSchema(json_schema, mode="serialization")], {}

    return describe


def _json(field: Any, output: bool) -> tuple[Any, Constraints]:
    schema = getattr(field, "schema", None)
    return (_ANY_JSON if schema is None else schema | _ANY_JSON), {}


def _array(field: Any, output: bool) -> tuple[Any, Constraints]:
    """``list[item | None]`` (nested for ``dimensions`` > 1), item constraints on each element."""
    item_type, item_constraints = _value_type(field.item_field, output=output)
    item: Any = Annotated[item_type, Attribute(**item_constraints)] if item_constraints else item_type
    shape: Any = item | None
    for _ in range(field.dimensions or 1):
        shape = list[shape]
    return shape, {}


def _vector(field: Any, output: bool) -> tuple[Any, Constraints]:
    return list[float], {"min_length": field.dimensions, "max_length": field.dimensions}


def _address(format_name: str) -> Callable[[Any, bool], tuple[Any, Constraints]]:
    def describe(field: Any, output: bool) -> tuple[Any, Constraints]:
        return str, {"json_schema_extra": {"format": format_name}}

    return describe


def _plain(python_type: Any) -> Callable[[Any, bool], tuple[Any, Constraints]]:
    def describe(field: Any, output: bool) -> tuple[Any, Constraints]:
        return python_type, {}

    return describe


#: field classes (most specific first) and how their values are typed
_TYPES: tuple[tuple[type | tuple[type, ...], Callable[[Any, bool], tuple[Any, Constraints]]], ...] = (
    ((CharField, TextField, MacAddressField), _text),
    (UUIDField, _plain(uuid.UUID)),
    (EnumField, _enum),
    (IntegerField, _integer),
    (FloatField, _plain(float)),
    (DecimalField, _decimal),
    (MoneyField, _money),
    (BooleanField, _plain(bool)),
    (DateTimeField, _as_text(dt.datetime, {"type": "string", "format": "date-time"})),
    (DateField, _plain(dt.date)),
    (TimeField, _plain(dt.time)),
    (TimeDeltaField, _as_text(dt.timedelta, {"type": "string"})),
    (JSONField, _json),
    (ArrayField, _array),
    (HStoreField, _plain(dict[str, str | None])),
    (VectorField, _vector),
    (IPv4Field, _address("ipv4")),
    (IPv6Field, _address("ipv6")),
    (IPAddressField, _address("ipvanyaddress")),
    (IPNetworkField, _address("ipvanynetwork")),
    (PointField, _plain(tuple[float, float])),
    (BinaryField, _as_text(bytes, {"type": "string"})),
)


# -- field checks -------------------------------------------------------------------------------------------------


def _orm_check(field: Field[Any]) -> Callable[[Any], Any]:
    """A pydantic after-validator running ``field.to_db`` (conversion, range, length, custom validators):
    what the ORM would refuse at write time fails validation with the ORM's reason."""

    def check(value: Any) -> Any:
        try:
            field.to_db(value)
        except ValidationError as exc:
            raise PydanticCustomError("orm_validation", "{reason}", {"reason": reason_of(exc)}) from None
        return value

    return check


def _stored_value(field: Field[Any]) -> Callable[[Any], Any]:
    """A pydantic before-validator turning a stored value (an instance attribute, or what ``to_dict()``
    gave) into the output type: the field's own conversion, then enum members as values and network
    addresses as text."""

    def convert(value: Any) -> Any:
        if value is None or isinstance(field, MoneyField):  # MONEY reads as the server's text ("$3.75")
            return value
        if isinstance(value, str) and isinstance(field, BinaryField):
            value = _bytes_from_repr(value)
        try:
            return _jsonish(field.to_python(value))
        except ValidationError as exc:
            raise PydanticCustomError("orm_validation", "{reason}", {"reason": reason_of(exc)}) from None

    return convert


def _bytes_from_repr(text: str) -> Any:
    """``to_dict()`` writes bytes as ``str(b"...")``: read that back (anything else is left as it is)."""
    if text[:2] in ("b'", 'b"'):
        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError):
            return text
    return text


_ADDRESSES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


def _jsonish(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _ADDRESSES):
        return str(value)
    if isinstance(value, list):
        return [_jsonish(item) for item in value]
    return value
