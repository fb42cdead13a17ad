"""``Field[T, R]``: the base descriptor every column field (and ForeignKey) builds on.

A field knows its SQLAlchemy column type and converts values in three directions:

``to_python(value)``  user input -> the python value kept on the instance (ISO str -> datetime, UUID -> str)
``to_db(value)``      user input -> a validated, asyncpg-ready value (runs ``to_python`` then ``validate``)
``from_db(value)``    a value asyncpg returned -> the python value; only called when ``needs_from_db``

None is never converted: ``to_db(None)`` returns None. Whether None is allowed is decided by the caller,
which knows about defaults and server defaults; ``check_null(value)`` raises the standard error.

Typing: ``T`` is the python type of values, ``R`` what reading the attribute on an instance gives (``T`` by
default). The concrete field classes are generic in ``R`` and pick it from ``null`` / ``primary_key`` with
``__init__`` overloads: ``IntegerField()`` reads ``int | None``, ``IntegerField(null=False)`` and
``IntegerField(primary_key=True)`` read ``int`` (see ``docs/typing-and-fastapi.md``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, overload

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine
from typing_extensions import TypeVar

from ..exceptions import ValidationError, safe_repr

if TYPE_CHECKING:
    from typing import Self

T = TypeVar("T")
#: what reading the attribute on an instance gives (``T | None`` for a nullable column)
if TYPE_CHECKING:
    R = TypeVar("R", default=T)
else:  # typing_extensions cannot substitute a default naming another TypeVar at run time (Python 3.11)
    R = TypeVar("R", default=Any)

Validator = Callable[[Any], Any]

_MAX_REPR = 80


class _NotProvided:
    """Sentinel type for "no default was given" (None is a valid default)."""

    _instance: ClassVar[_NotProvided | None] = None

    def __new__(cls) -> _NotProvided:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_PROVIDED"

    def __bool__(self) -> bool:
        return False

    def __copy__(self) -> _NotProvided:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _NotProvided:
        return self

    def __reduce__(self) -> str:
        return "NOT_PROVIDED"


NOT_PROVIDED: Any = _NotProvided()


def short_repr(value: Any, limit: int = _MAX_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters (vectors and documents can be huge)."""
    text = safe_repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def model_label(model: Any) -> str | None:
    """The name of a model given as a class, a name or None."""
    if model is None:
        return None
    if isinstance(model, str):
        return model
    return getattr(model, "__name__", None) or str(model)


def _server_default_clause(value: Any) -> Any:
    """SQL text for ``server_default``: strings are SQL (``"now()"``), constructs pass through."""
    if value is None or isinstance(value, sa.sql.ClauseElement | sa.schema.FetchedValue):
        return value
    if isinstance(value, bool):
        return sa.text("true" if value else "false")
    if isinstance(value, str):
        return sa.text(value)
    return sa.text(str(value))


class Field(Generic[T, R]):
    """A model attribute mapped to one column (``concrete``), or a declaration such as a M2M.

    Keyword parameters shared by every field: ``primary_key``, ``null`` (``nullable`` is an alias that wins
    when given), ``unique``, ``default`` (a value or a zero-argument callable), ``index``, ``db_column``,
    ``server_default`` (SQL text or a SQLAlchemy construct), ``comment`` and ``validators`` (callables that
    raise ``ValueError``/``ValidationError`` or return ``False`` to reject; ``async def`` ones go to
    ``async_validators`` for the model layer). ``default=None`` means no default, as in matrx-orm. Unknown
    keywords are kept in ``extra``.
    """

    #: python type of values (informational; used by codegen and error messages)
    python_type: ClassVar[Any] = object
    #: family name the lookup registry uses ("text", "number", "datetime", "json", "array", "vector", "other")
    lookup_family: ClassVar[str] = "other"
    #: True for fields that are a column of the model's table
    concrete: ClassVar[bool] = True
    is_relation: ClassVar[bool] = False
    is_version: ClassVar[bool] = False
    #: whether values read from the database need ``from_db`` (an instance may override it)
    needs_from_db: bool = False

    name: str
    column_name: str
    model: Any = None

    def __init__(
        self,
        *,
        primary_key: bool = False,
        null: bool = True,
        nullable: bool | None = None,
        unique: bool = False,
        default: Any = NOT_PROVIDED,
        index: bool = False,
        db_column: str | None = None,
        server_default: Any = None,
        comment: str | None = None,
        validators: Iterable[Validator] | None = (),
        **kwargs: Any,
    ) -> None:
        if nullable is not None:
            null = nullable
        if default is None:  # matrx-orm: default=None means "no default" (the column's own default applies)
            default = NOT_PROVIDED
        self.primary_key = bool(primary_key)
        self.null = bool(null) and not self.primary_key
        self.unique = bool(unique)
        self.default = default
        self.index = bool(index)
        self.db_column = db_column
        self.server_default = server_default
        self.comment = comment
        checks = tuple(validators or ())
        self.validators: tuple[Validator, ...] = tuple(
            v for v in checks if not inspect.iscoroutinefunction(v)
        )
        #: ``async def`` validators (matrx-orm allowed them): not run by ``validate``; the model layer awaits them
        self.async_validators: tuple[Validator, ...] = tuple(
            v for v in checks if inspect.iscoroutinefunction(v)
        )
        self.extra: dict[str, Any] = kwargs
        self.name = ""
        self.column_name = db_column or ""
        self.model = None

    # -- descriptor ------------------------------------------------------------------------------------------
    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.column_name = self.db_column or name

    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: Any) -> R: ...

    def __get__(self, instance: object | None, owner: Any = None) -> Any:
        if instance is None:
            return self
        return instance.__dict__.get(self.name)

    if TYPE_CHECKING:

        def __set__(self, instance: Any, value: R) -> None: ...

    def __repr__(self) -> str:
        owner = model_label(self.model)
        where = f"{owner}.{self.name}" if owner else (self.name or "unbound")
        return f"<{type(self).__name__}: {where}>"

    # -- schema --------------------------------------------------------------------------------------------
    def sa_type(self) -> TypeEngine[Any]:
        """The SQLAlchemy column type."""
        raise NotImplementedError(f"{type(self).__name__} does not define a column type")

    def bind_type(self) -> TypeEngine[Any]:
        """The SQLAlchemy type of bound values compared with this column (usually ``sa_type()``)."""
        return self.sa_type()

    def sa_column(self) -> sa.Column[Any]:
        """The ``sa.Column`` for the model's table, named (and keyed) by the column name; ``_meta.columns``
        maps attribute names to these columns."""
        kwargs: dict[str, Any] = {}
        if "autoincrement" in self.extra:
            kwargs["autoincrement"] = self.extra["autoincrement"]
        # identity=True / "by default" / "always": GENERATED ... AS IDENTITY (the server fills the value)
        identity = self.extra.get("identity")
        extras = [sa.Identity(always=str(identity).lower() == "always")] if identity else []
        return sa.Column(
            self.column_name or self.name,
            self.sa_type(),
            *extras,
            primary_key=self.primary_key,
            nullable=self.null and not self.primary_key,
            unique=self.unique or None,
            index=self.index or None,
            server_default=_server_default_clause(self.server_default),
            comment=self.comment,
            **kwargs,
        )

    # -- defaults ------------------------------------------------------------------------------------------
    def has_default(self) -> bool:
        return self.default is not NOT_PROVIDED

    def get_default(self) -> Any:
        """The default value (callables are called; mutable literals are copied); None without one."""
        default = self.default
        if default is NOT_PROVIDED:
            return None
        if callable(default):
            return default()
        if isinstance(default, dict | list | set):
            return copy.deepcopy(default)
        return default

    # -- values --------------------------------------------------------------------------------------------
    def to_python(self, value: Any) -> T | None:
        """Convert user input to the python value kept on instances; raise ValidationError if impossible."""
        return value  # type: ignore[no-any-return]

    def validate(self, value: Any) -> None:
        """Check a converted, non-None value (lengths, ranges, ...) and run the ``validators``."""
        for validator in self.validators:
            try:
                ok = validator(value)
            except ValidationError:
                raise
            except (ValueError, TypeError) as exc:
                self.fail(value, str(exc) or f"rejected by {_callable_name(validator)}")
            if ok is False:
                self.fail(value, f"rejected by {_callable_name(validator)}")

    def db_value(self, value: Any) -> Any:
        """The asyncpg-ready form of a converted, validated, non-None value."""
        return value

    def to_db(self, value: Any) -> Any:
        """A validated, asyncpg-ready value (None stays None; see ``check_null``)."""
        if value is None:
            return None
        value = self.to_python(value)
        if value is None:
            return None
        self.validate(value)
        return self.db_value(value)

    def from_db(self, value: Any) -> T | None:
        """Convert a value asyncpg returned (only called for non-None values when ``needs_from_db``)."""
        return value  # type: ignore[no-any-return]

    def check_null(self, value: Any) -> None:
        """Raise ValidationError when ``value`` is None and the column is NOT NULL.

        Called by the model layer where None would really be written (it skips the check when a default or
        server default supplies the value).
        """
        if value is None and not self.null:
            self.fail(None, "may not be null", message=f"{self._where()} may not be null")

    # -- errors --------------------------------------------------------------------------------------------
    def _where(self, capital: bool = True) -> str:
        owner = model_label(self.model)
        label = f"{'F' if capital else 'f'}ield '{self.name}'" if self.name else type(self).__name__
        return f"{label} on model '{owner}'" if owner else label

    def fail(self, value: Any, reason: str, *, message: str | None = None, **context: Any) -> NoReturn:
        """Raise ValidationError naming the model, the field and the value."""
        if message is None:
            message = f"Invalid value {short_repr(value)} for {self._where(capital=False)}: {reason}"
        raise ValidationError(
            message, model=self.model, field=self.name or None, value=value, reason=reason, **context
        )

    def _type_error(self, value: Any, expected: str) -> NoReturn:
        self.fail(value, f"expected {expected}, got {type(value).__name__}")


def reason_of(exc: Exception) -> str:
    """The short reason of a ValidationError raised by ``Field.fail`` (else its message)."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    return str(getattr(exc, "message", None) or exc)


def _callable_name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
