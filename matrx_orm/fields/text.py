"""Text-like fields: CharField, TextField, UUIDField and EnumField."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, overload

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine, UserDefinedType
from typing_extensions import TypeVar

from .base import Field

# what reading each field gives when the class is named without arguments (see Field's docstring)
_StrR = TypeVar("_StrR", default=str | None)
_EnumR = TypeVar("_EnumR", default=Any)
_E = TypeVar("_E", bound=enum.Enum)


def _text_of(field: Field[Any], value: Any) -> str:
    """Accept str, UUID, numbers (not bool) and str-valued enum members as text."""
    if isinstance(value, str):
        if isinstance(value, enum.Enum):
            return str(value.value)
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    field._type_error(value, "a string")


def utf8_encodable(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8 (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _StringField(Field[str, _StrR]):
    python_type = str
    lookup_family = "text"

    def to_python(self, value: Any) -> str | None:
        if value is None or type(value) is str:
            return value
        return _text_of(self, value)

    def validate(self, value: Any) -> None:
        if "\x00" in value:
            self.fail(value, "PostgreSQL text cannot contain NUL (\\x00) characters")
        if not utf8_encodable(value):
            self.fail(value, "not valid Unicode text (a lone surrogate cannot be stored as UTF-8)")
        super().validate(value)


class CharField(_StringField[_StrR]):
    """``VARCHAR(max_length)``; longer values are rejected."""

    @overload
    def __init__(
        self: CharField[str], max_length: int | None = 255, *, primary_key: Literal[True], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(
        self: CharField[str],
        max_length: int | None = 255,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: CharField[str], max_length: int | None = 255, *, nullable: Literal[False], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: CharField[str | None], max_length: int | None = 255, **kwargs: Any) -> None: ...
    @overload  # a subclass's own __init__ (or an explicit CharField[...]()) states the type itself
    def __init__(self: CharField[Any], max_length: int | None = 255, **kwargs: Any) -> None: ...
    def __init__(self, max_length: int | None = 255, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_length is not None and (not isinstance(max_length, int) or max_length <= 0):
            raise TypeError(f"CharField max_length must be a positive int or None; got {max_length!r}")
        self.max_length = max_length

    def sa_type(self) -> TypeEngine[Any]:
        return sa.String(self.max_length)

    def validate(self, value: Any) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            self.fail(value, f"length {len(value)} exceeds max_length {self.max_length}")
        super().validate(value)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


class EmailField(CharField[_StrR]):
    """``VARCHAR(254)`` holding an e-mail address (a light ``name@domain.tld`` check)."""

    @overload
    def __init__(
        self: EmailField[str], max_length: int | None = 254, *, primary_key: Literal[True], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(
        self: EmailField[str],
        max_length: int | None = 254,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EmailField[str], max_length: int | None = 254, *, nullable: Literal[False], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: EmailField[str | None], max_length: int | None = 254, **kwargs: Any) -> None: ...
    def __init__(self, max_length: int | None = 254, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)

    def validate(self, value: Any) -> None:
        if not _EMAIL.match(value):
            self.fail(value, "not an e-mail address")
        super().validate(value)


class SlugField(CharField[_StrR]):
    """``VARCHAR(200)`` of letters, digits, ``-`` and ``_``."""

    @overload
    def __init__(
        self: SlugField[str], max_length: int | None = 200, *, primary_key: Literal[True], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(
        self: SlugField[str],
        max_length: int | None = 200,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: SlugField[str], max_length: int | None = 200, *, nullable: Literal[False], **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: SlugField[str | None], max_length: int | None = 200, **kwargs: Any) -> None: ...
    def __init__(self, max_length: int | None = 200, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)

    def validate(self, value: Any) -> None:
        if not _SLUG.match(value):
            self.fail(value, "a slug may only contain letters, digits, '-' and '_'")
        super().validate(value)


class TextField(_StringField[_StrR]):
    """``TEXT``."""

    if TYPE_CHECKING:

        @overload
        def __init__(self: TextField[str], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
        @overload
        def __init__(
            self: TextField[str], *, null: Literal[False], nullable: None = None, **kwargs: Any
        ) -> None: ...
        @overload
        def __init__(self: TextField[str], *, nullable: Literal[False], **kwargs: Any) -> None: ...
        @overload
        def __init__(self: TextField[str | None], **kwargs: Any) -> None: ...
        def __init__(self, **kwargs: Any) -> None: ...

    def sa_type(self) -> TypeEngine[Any]:
        return sa.Text()


class UUIDField(Field[str, _StrR]):
    """``UUID`` column; values are canonical strings (``uuid.UUID`` input is accepted).

    A callable default such as ``uuid.uuid4`` is called and its result returned as a string.
    """

    python_type = str
    lookup_family = "text"

    @overload
    def __init__(self: UUIDField[str], *, primary_key: Literal[True], **kwargs: Any) -> None: ...
    @overload
    def __init__(
        self: UUIDField[str], *, null: Literal[False], nullable: None = None, **kwargs: Any
    ) -> None: ...
    @overload
    def __init__(self: UUIDField[str], *, nullable: Literal[False], **kwargs: Any) -> None: ...
    @overload
    def __init__(self: UUIDField[str | None], **kwargs: Any) -> None: ...
    def __init__(self, **kwargs: Any) -> None:
        default = kwargs.get("default")
        if isinstance(default, str) and default.strip().endswith("()"):
            # matrx-orm style default="gen_random_uuid()": generate in python, keep it as the server default
            kwargs.setdefault("server_default", default)
            kwargs["default"] = uuid.uuid4
        super().__init__(**kwargs)

    def sa_type(self) -> TypeEngine[Any]:
        return sa.Uuid(as_uuid=False)

    def get_default(self) -> Any:
        value = super().get_default()
        return self.to_python(value) if value is not None else None

    def to_python(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, str):
            if _CANONICAL_UUID.match(value):
                return value
            try:
                return str(uuid.UUID(value))
            except ValueError:
                self.fail(value, "not a valid UUID")
        if isinstance(value, bytes) and len(value) == 16:
            return str(uuid.UUID(bytes=value))
        self._type_error(value, "a UUID or a UUID string")


class ContextText(UserDefinedType[str]):
    """Text bound without a cast (``$1``, not ``$1::VARCHAR``): PostgreSQL gives the parameter the type its
    context needs, such as a native enum column."""

    cache_ok = True
    render_bind_cast = False

    def get_col_spec(self, **kw: Any) -> str:
        return "TEXT"


class EnumField(Field[Any, _EnumR]):
    """``VARCHAR`` holding an enum's value, checked against ``enum_class`` or ``choices``.

    Accepts a member, its value or its name; reads return the member when ``enum_class`` is given,
    else the string. ``choices`` may be plain values or Django-style ``(value, label)`` pairs.
    ``enum_name`` (and ``enum_schema``) make the column a native PostgreSQL enum type of that name
    instead of ``VARCHAR`` (what the schema builder emits for enum columns it reflects).
    """

    lookup_family = "text"

    @overload
    def __init__(
        self: EnumField[_E],
        enum_class: type[_E],
        choices: Iterable[Any] | None = None,
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        *,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[_E],
        enum_class: type[_E],
        choices: Iterable[Any] | None = None,
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        *,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[_E],
        enum_class: type[_E],
        choices: Iterable[Any] | None = None,
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        *,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[_E | None],
        enum_class: type[_E],
        choices: Iterable[Any] | None = None,
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[str],
        enum_class: None = None,
        *,
        choices: Iterable[Any],
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[str],
        enum_class: None = None,
        *,
        choices: Iterable[Any],
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[str],
        enum_class: None = None,
        *,
        choices: Iterable[Any],
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: EnumField[str | None],
        enum_class: None = None,
        *,
        choices: Iterable[Any],
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    def __init__(
        self,
        enum_class: type[enum.Enum] | None = None,
        choices: Iterable[Any] | None = None,
        max_length: int | None = None,
        enum_name: str | None = None,
        enum_schema: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.enum_name = enum_name
        self.enum_schema = enum_schema
        if enum_class is None and choices is None:
            raise TypeError("EnumField needs enum_class= or choices=")
        if enum_class is not None and not (
            isinstance(enum_class, type) and issubclass(enum_class, enum.Enum)
        ):
            raise TypeError(f"EnumField enum_class must be an Enum subclass; got {enum_class!r}")
        self.enum_class = enum_class
        self.max_length = max_length
        # db string -> python value (member or str); names -> db string
        self._by_db: dict[str, Any] = {}
        self._by_name: dict[str, str] = {}
        if enum_class is not None:
            for member in enum_class:
                db = str(member.value)
                self._by_db.setdefault(db, member)
                self._by_name[member.name] = db
            if choices is not None:
                allowed = {self._choice_value(c) for c in choices}
                self._by_db = {k: v for k, v in self._by_db.items() if k in allowed}
                self._by_name = {k: v for k, v in self._by_name.items() if v in allowed}
            self.needs_from_db = True
        else:
            for choice in choices or ():
                db = self._choice_value(choice)
                self._by_db[db] = db
        self.choices: tuple[str, ...] = tuple(self._by_db)
        if max_length is not None:
            too_long = [c for c in self.choices if len(c) > max_length]
            if too_long:
                raise TypeError(f"EnumField values {too_long} are longer than max_length {max_length}")

    @staticmethod
    def _choice_value(choice: Any) -> str:
        if isinstance(choice, tuple | list) and len(choice) == 2:
            choice = choice[0]
        if isinstance(choice, enum.Enum):
            choice = choice.value
        return str(choice)

    def sa_type(self) -> TypeEngine[Any]:
        if self.enum_name:
            return postgresql.ENUM(*self.choices, name=self.enum_name, schema=self.enum_schema)
        return sa.String(self.max_length)

    def bind_type(self) -> TypeEngine[Any]:
        """Values are sent without a cast unless the enum type is named: PostgreSQL types them from the
        column, so the field works on a ``VARCHAR`` and on a native enum column it does not name (as 2.x
        generated models declare them)."""
        return self.sa_type() if self.enum_name else ContextText()

    def _db_string(self, value: Any) -> str | None:
        if isinstance(value, enum.Enum):
            if self.enum_class is not None and not isinstance(value, self.enum_class):
                return None
            value = value.value
        if isinstance(value, bool):
            return None
        if isinstance(value, str | int | float | Decimal):
            key = str(value)
            if key in self._by_db:
                return key
            if isinstance(value, str):
                return self._by_name.get(value)
        return None

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        key = self._db_string(value)
        if key is None:
            self.fail(value, f"expected one of {list(self.choices)}")
        return self._by_db[key]

    def db_value(self, value: Any) -> Any:
        return str(value.value) if isinstance(value, enum.Enum) else value

    def from_db(self, value: Any) -> Any:
        return self._by_db.get(value, value)
