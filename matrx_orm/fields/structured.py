"""Structured values: JSON/JSONB, arrays (of any field) and HSTORE."""

from __future__ import annotations

import copy
import datetime as dt
import numbers
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, overload

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine
from typing_extensions import TypeVar

from ..exceptions import ValidationError
from .base import Field, reason_of, short_repr
from .json_text import json_text
from .numeric import BigIntegerField, BooleanField, DecimalField, FloatField, IntegerField, SmallIntegerField
from .temporal import DateField, DateTimeField, TimeField
from .text import TextField, UUIDField

J = TypeVar("J", default=Any)
E = TypeVar("E", default=Any)
# what reading each field gives when the class is named without arguments (see Field's docstring)
_ArrayR = TypeVar("_ArrayR", default=Any)
_StrListR = TypeVar("_StrListR", default=list[str] | None)
_IntListR = TypeVar("_IntListR", default=list[int] | None)
_FloatListR = TypeVar("_FloatListR", default=list[float] | None)
_BoolListR = TypeVar("_BoolListR", default=list[bool] | None)
_DecimalListR = TypeVar("_DecimalListR", default=list[Decimal] | None)
_DateListR = TypeVar("_DateListR", default=list[dt.date] | None)
_TimeListR = TypeVar("_TimeListR", default=list[dt.time] | None)
_AnyListR = TypeVar("_AnyListR", default=list[Any] | None)
_HStoreR = TypeVar("_HStoreR", default=dict[str, str | None] | None)
_I = TypeVar("_I")


class JSONField(Field[J]):
    """``JSONB``. Any JSON value (dict, list, str, int, float, bool) is stored as is: a python str is a JSON
    string, never parsed. ``to_db`` serializes it (to a ``JsonText``) and so checks it is JSON (NaN and
    infinity are rejected, PostgreSQL's JSON has no such numbers).

    ``schema`` (a pydantic ``BaseModel`` subclass) makes dicts load as that model and models dump to JSON.
    Reads are typed ``Any`` whatever ``null`` says (a NOT NULL column still holds JSON ``null``, read as
    None); ``JSONField[MyTypedDict]()`` types them for checkers.
    """

    python_type = object
    lookup_family = "json"

    def __init__(self, schema: type | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if schema is not None:
            if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
                raise TypeError(
                    f"{type(self).__name__} schema must be a pydantic BaseModel subclass; got {schema!r}"
                )
            self.needs_from_db = True
        self.schema = schema

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.JSONB()

    def to_python(self, value: Any) -> Any:
        schema = self.schema
        if schema is None or value is None or isinstance(value, schema):
            return value
        if isinstance(value, dict):
            try:
                return schema.model_validate(value)
            except PydanticError as exc:
                self.fail(value, f"does not match {schema.__name__}: {exc}")
        return value

    def db_value(self, value: Any) -> Any:
        """The value serialized, once: a :class:`~.json_text.JsonText` (every connection's json codec sends
        it as is). A value that is not JSON (NaN, infinity, sets, ...) is refused here."""
        if self.schema is not None and isinstance(value, self.schema):
            value = value.model_dump(mode="json")
        try:
            return json_text(value)
        except (TypeError, ValueError) as exc:
            self.fail(value, f"not JSON serializable ({exc})")
        except RecursionError:
            self.fail(value, "not JSON serializable (too deeply nested or circular)")

    def from_db(self, value: Any) -> Any:
        if self.schema is not None and isinstance(value, dict):
            try:
                return self.schema.model_validate(value)
            except Exception:
                return value  # rows that predate the schema load as plain JSON
        return value


class JSONBField(JSONField[J]):
    """``JSONB`` (same as ``JSONField``)."""


def _item_field(item_type: Any) -> Field[Any]:
    if isinstance(item_type, Field):
        return copy.copy(item_type)
    if isinstance(item_type, type) and issubclass(item_type, Field):
        return item_type()
    raise TypeError(f"ArrayField item_type must be a Field instance or class; got {item_type!r}")


class ArrayField(Field[list[E], _ArrayR]):
    """``item_type[]``: a list whose elements are converted by ``item_type`` (a Field instance or class).

    ``dimensions`` > 1 makes nested lists (``INTEGER[][]``). Elements may be None.
    """

    python_type = list
    lookup_family = "array"

    @overload
    def __init__(
        self: ArrayField[_I, list[_I]],
        item_type: Field[_I, Any] | type[Field[_I, Any]],
        dimensions: Literal[1] | None = None,
        *,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: ArrayField[_I, list[_I]],
        item_type: Field[_I, Any] | type[Field[_I, Any]],
        dimensions: Literal[1] | None = None,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: ArrayField[_I, list[_I]],
        item_type: Field[_I, Any] | type[Field[_I, Any]],
        dimensions: Literal[1] | None = None,
        *,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: ArrayField[_I, list[_I] | None],
        item_type: Field[_I, Any] | type[Field[_I, Any]],
        dimensions: Literal[1] | None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload  # nested (dimensions > 1), or a subclass's own __init__: reads are not checked
    def __init__(
        self: ArrayField[Any, Any],
        item_type: Field[Any, Any] | type[Field[Any, Any]] | None = None,
        dimensions: int | None = None,
        **kwargs: Any,
    ) -> None: ...
    def __init__(
        self,
        item_type: Field[Any, Any] | type[Field[Any, Any]] | None = None,
        dimensions: int | None = None,
        **kwargs: Any,
    ) -> None:
        base_field = kwargs.pop("base_field", None)
        if item_type is None:
            item_type = base_field
        if item_type is None:
            raise TypeError("ArrayField needs item_type, e.g. ArrayField(IntegerField())")
        super().__init__(**kwargs)
        self.item_field: Field[Any] = _item_field(item_type)
        if getattr(self.item_field, "concrete", True) is False or isinstance(self.item_field, ArrayField):
            raise TypeError(
                "ArrayField item_type must be a scalar column field (use dimensions= for nesting)"
            )
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            raise TypeError(f"ArrayField dimensions must be a positive int; got {dimensions!r}")
        self.dimensions = dimensions
        self.needs_from_db = self.item_field.needs_from_db

    @property
    def item_type(self) -> Field[Any]:
        """The element field (matrx-orm name)."""
        return self.item_field

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.ARRAY(self.item_field.sa_type(), dimensions=self.dimensions)

    # -- conversion ------------------------------------------------------------------------------------------
    def _as_list(self, value: Any, whole: Any) -> list[Any]:
        if isinstance(value, list):
            return value
        if isinstance(value, tuple | set | frozenset):
            return list(value)
        tolist = getattr(value, "tolist", None)
        if callable(tolist) and not isinstance(value, str | bytes):
            result = tolist()
            if isinstance(result, list):
                return result
        self.fail(whole, f"expected a list or tuple, got {type(value).__name__}")

    def _map(self, value: Any, convert: Callable[[Any], Any], depth: int, whole: Any, path: str) -> list[Any]:
        items = self._as_list(value, whole)
        nested = depth > 1
        out: list[Any] = []
        for index, item in enumerate(items):
            if item is None:
                out.append(None)
            elif nested:
                out.append(self._map(item, convert, depth - 1, whole, f"{path}[{index}]"))
            else:
                try:
                    out.append(convert(item))
                except ValidationError as exc:
                    self.fail(whole, f"item {path}[{index}] {short_repr(item, 40)}: {reason_of(exc)}")
        return out

    def to_python(self, value: Any) -> list[Any] | None:
        if value is None:
            return None
        return self._map(value, self.item_field.to_python, self.dimensions or 1, value, "")

    def validate(self, value: Any) -> None:
        """Check every element with the element field (lengths, ranges, ...), then the list's validators."""
        check = self.item_field.validate

        def checked(item: Any) -> Any:
            check(item)
            return item

        self._map(value, checked, self.dimensions or 1, value, "")
        super().validate(value)

    def db_value(self, value: Any) -> Any:
        if type(self.item_field).db_value is Field.db_value:
            return value  # elements are already asyncpg-ready
        return self._map(value, self.item_field.db_value, self.dimensions or 1, value, "")

    def from_db(self, value: Any) -> list[Any] | None:
        convert = self.item_field.from_db
        depth = self.dimensions or 1

        def load(items: list[Any], level: int) -> list[Any]:
            if level > 1:
                return [None if v is None else load(v, level - 1) for v in items]
            return [None if v is None else convert(v) for v in items]

        return load(value, depth)


class TextArrayField(ArrayField[str, _StrListR]):
    """``TEXT[]``."""

    @overload
    def __init__(
        self: TextArrayField[list[str]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TextArrayField[list[str]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TextArrayField[list[str]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TextArrayField[list[str] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: TextArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(TextField(), **kwargs)


class IntegerArrayField(ArrayField[int, _IntListR]):
    """``INTEGER[]``."""

    @overload
    def __init__(
        self: IntegerArrayField[list[int]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: IntegerArrayField[list[int]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: IntegerArrayField[list[int]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: IntegerArrayField[list[int] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: IntegerArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(IntegerField(), **kwargs)


class FloatArrayField(ArrayField[float, _FloatListR]):
    """``FLOAT[]``."""

    @overload
    def __init__(
        self: FloatArrayField[list[float]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: FloatArrayField[list[float]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: FloatArrayField[list[float]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: FloatArrayField[list[float] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: FloatArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(FloatField(), **kwargs)


class BooleanArrayField(ArrayField[bool, _BoolListR]):
    """``BOOLEAN[]``."""

    @overload
    def __init__(
        self: BooleanArrayField[list[bool]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: BooleanArrayField[list[bool]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: BooleanArrayField[list[bool]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: BooleanArrayField[list[bool] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: BooleanArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(BooleanField(), **kwargs)


class UUIDArrayField(ArrayField[str, _StrListR]):
    """``UUID[]``; elements are canonical UUID strings."""

    @overload
    def __init__(
        self: UUIDArrayField[list[str]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: UUIDArrayField[list[str]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: UUIDArrayField[list[str]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: UUIDArrayField[list[str] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: UUIDArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(UUIDField(), **kwargs)


class JSONBArrayField(ArrayField[Any, _AnyListR]):
    """``JSONB[]``; each element is any JSON value."""

    @overload
    def __init__(
        self: JSONBArrayField[list[Any]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: JSONBArrayField[list[Any]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: JSONBArrayField[list[Any]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: JSONBArrayField[list[Any] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: JSONBArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(JSONBField(), **kwargs)


class DecimalArrayField(ArrayField[Decimal, _DecimalListR]):
    """``NUMERIC(p, s)[]``."""

    @overload
    def __init__(
        self: DecimalArrayField[list[Decimal]],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DecimalArrayField[list[Decimal]],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DecimalArrayField[list[Decimal]],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DecimalArrayField[list[Decimal] | None],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        *,
        dimensions: Literal[1] | None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(
        self: DecimalArrayField[Any],
        max_digits: int | None = None,
        decimal_places: int | None = None,
        **kwargs: Any,
    ) -> None: ...
    def __init__(
        self, max_digits: int | None = None, decimal_places: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(DecimalField(max_digits=max_digits, decimal_places=decimal_places), **kwargs)


#: SQL element type names ``PrimitiveArrayField`` takes, and their element fields
PRIMITIVE_ELEMENTS: dict[str, Callable[[], Field[Any]]] = {
    "text": TextField,
    "varchar": TextField,
    "character varying": TextField,
    "smallint": SmallIntegerField,
    "int2": SmallIntegerField,
    "integer": IntegerField,
    "int": IntegerField,
    "int4": IntegerField,
    "bigint": BigIntegerField,
    "int8": BigIntegerField,
    "real": FloatField,
    "float4": FloatField,
    "double precision": FloatField,
    "float8": FloatField,
    "numeric": DecimalField,
    "decimal": DecimalField,
    "boolean": BooleanField,
    "bool": BooleanField,
    "uuid": UUIDField,
    "date": DateField,
    "time": TimeField,
    "timestamp": lambda: DateTimeField(timezone=False),
    "timestamptz": DateTimeField,
    "jsonb": JSONBField,
}


class PrimitiveArrayField(ArrayField[Any, _AnyListR]):
    """``<element_type>[]`` named by its SQL element type (matrx-orm 2.x): ``PrimitiveArrayField("integer")``
    is ``IntegerArrayField()``; the names are those of :data:`PRIMITIVE_ELEMENTS`."""

    @overload
    def __init__(
        self: PrimitiveArrayField[list[Any]],
        element_type: str = "text",
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: PrimitiveArrayField[list[Any]],
        element_type: str = "text",
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: PrimitiveArrayField[list[Any]],
        element_type: str = "text",
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: PrimitiveArrayField[list[Any] | None],
        element_type: str = "text",
        *,
        dimensions: Literal[1] | None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: PrimitiveArrayField[Any], element_type: str = "text", **kwargs: Any) -> None: ...
    def __init__(self, element_type: str = "text", **kwargs: Any) -> None:
        make = PRIMITIVE_ELEMENTS.get(str(element_type).strip().lower())
        if make is None:
            raise TypeError(
                f"PrimitiveArrayField element_type {element_type!r} is not one of {sorted(PRIMITIVE_ELEMENTS)}"
            )
        super().__init__(make(), **kwargs)


class DateArrayField(ArrayField[dt.date, _DateListR]):
    """``DATE[]``."""

    @overload
    def __init__(
        self: DateArrayField[list[dt.date]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateArrayField[list[dt.date]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateArrayField[list[dt.date]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: DateArrayField[list[dt.date] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: DateArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(DateField(), **kwargs)


class TimeArrayField(ArrayField[dt.time, _TimeListR]):
    """``TIME[]``."""

    @overload
    def __init__(
        self: TimeArrayField[list[dt.time]],
        *,
        dimensions: Literal[1] | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TimeArrayField[list[dt.time]],
        *,
        dimensions: Literal[1] | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TimeArrayField[list[dt.time]],
        *,
        dimensions: Literal[1] | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: TimeArrayField[list[dt.time] | None], *, dimensions: Literal[1] | None = None, **kwargs: Any
    ) -> None: ...
    @overload  # nested (dimensions > 1): reads are not checked
    def __init__(self: TimeArrayField[Any], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(TimeField(), **kwargs)


_HSTORE_PAIR = re.compile(
    r'\s*"((?:[^"\\]|\\.)*)"\s*=>\s*(?:"((?:[^"\\]|\\.)*)"|(NULL))\s*(?:,|$)', re.IGNORECASE
)
_UNESCAPE = re.compile(r"\\(.)")


def parse_hstore(text: str) -> dict[str, str | None]:
    """Parse PostgreSQL's hstore text output (``"a"=>"1", "b"=>NULL``)."""
    result: dict[str, str | None] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = _HSTORE_PAIR.match(text, position)
        if match is None:
            raise ValueError(f"malformed hstore text at {position}: {text[position : position + 30]!r}")
        key = _UNESCAPE.sub(r"\1", match.group(1))
        result[key] = None if match.group(3) else _UNESCAPE.sub(r"\1", match.group(2))
        position = match.end()
    return result


class HStoreField(Field[dict[str, str | None], _HStoreR]):
    """``HSTORE``: a dict of str keys to str or None values (numbers are turned into strings).

    Writes need the connection's hstore codec (``set_builtin_type_codec('hstore', codec_name=
    'pg_contrib.hstore')``); reads also accept hstore text when that codec is missing.
    """

    python_type = dict
    lookup_family = "other"
    needs_from_db = True

    if TYPE_CHECKING:

        @overload
        def __init__(
            self: HStoreField[dict[str, str | None]], *, primary_key: Literal[True], **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(
            self: HStoreField[dict[str, str | None]],
            *,
            null: Literal[False],
            nullable: None = None,
            **kwargs: Any,
        ) -> None: ...
        @overload
        def __init__(
            self: HStoreField[dict[str, str | None]], *, nullable: Literal[False], **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: HStoreField[dict[str, str | None] | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return postgresql.HSTORE()

    def to_python(self, value: Any) -> dict[str, str | None] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self._type_error(value, "a dict of str to str or None")
        result: dict[str, str | None] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.fail(value, f"keys must be strings, got {type(key).__name__} {short_repr(key, 30)}")
            if item is None or isinstance(item, str):
                result[key] = item
            elif isinstance(item, numbers.Real | Decimal) and not isinstance(item, bool):
                result[key] = str(item)
            else:
                self.fail(value, f"value of {key!r} must be a string or None, got {type(item).__name__}")
        return result

    def from_db(self, value: Any) -> dict[str, str | None] | None:
        if isinstance(value, str):
            return parse_hstore(value)
        return value  # type: ignore[no-any-return]
