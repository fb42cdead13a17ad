"""The ORMException tree and :func:`map_database_error`.

Every error the ORM raises is an :class:`ORMException` carrying structured context: the model, the operation,
the SQL, its parameters and a ``details`` dict. Layers the error bubbles through add what they know with
:meth:`ORMException.enrich`. ``str(exc)`` renders a readable block; secrets (password-like keys, the password
part of ``scheme://user:pw@host`` URLs) are masked in everything it shows.

Hierarchy::

    ORMException
    ├── ValidationError
    ├── FieldError
    │   └── UnknownFieldError (also a QueryError)
    ├── QueryError
    │   ├── UnknownLookupError
    │   ├── DoesNotExist
    │   ├── MultipleObjectsReturned
    │   └── ReadOnlyModelError
    ├── DatabaseError
    │   ├── ConnectionError
    │   │   └── PoolExhaustedError
    │   ├── IntegrityError
    │   ├── TransactionError
    │   │   ├── PartialCommitError
    │   │   └── CommitOutcomeUnknownError
    │   ├── OptimisticLockError
    │   └── UnknownDatabaseError
    ├── ConfigurationError
    ├── CacheError
    ├── StateError
    ├── RelationshipError
    ├── MigrationError
    └── ParameterError
"""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Self

import asyncpg.exceptions as pg
from asyncpg.exceptions import _base as pg_base
from sqlalchemy import exc as sa_exc

__all__ = [
    "CacheError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConnectionError",
    "DatabaseError",
    "DoesNotExist",
    "FieldError",
    "IntegrityError",
    "MigrationError",
    "MultipleObjectsReturned",
    "ORMException",
    "OptimisticLockError",
    "ParameterError",
    "PartialCommitError",
    "PoolExhaustedError",
    "ReadOnlyModelError",
    "QueryError",
    "RelationshipError",
    "StateError",
    "SyncContextError",
    "TransactionEndedError",
    "TransactionError",
    "UnknownDatabaseError",
    "UnknownFieldError",
    "UnknownLookupError",
    "UnknownRelationError",
    "ValidationError",
    "UnusedQueryWarning",
    "map_database_error",
    "hide_values",
    "mask_secrets",
    "mask_url_passwords",
]

MASK = "********"
_RULE = "=" * 80
_MAX_VALUE_CHARS = 1000
_MAX_AVAILABLE = 25

_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_?key", re.IGNORECASE)
# scheme://user:password@host: the password runs to the last '@' before the host (it may hold unencoded
# ':', '@', '/', '?', '#': SQLAlchemy's URL parser reads them as part of it), never over whitespace or quotes
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*:)(?P<pw>[^\s'\"]*?)"
    r"(?P<tail>@[^@\s/?#'\"]*(?=[/?#\s'\"]|$))"
)
# key=value / key: value pairs in free text ('password=x' in a URL query, a libpq DSN "host=x password='a b'",
# '"password": "x"' in JSON, where a quoted key takes quoted values only: "field 'password': reason" stays);
# a ':' '.' ')' or ']' ending an unquoted value is punctuation, not part of the secret
_QUOTED = r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\""
_TEXT_PAIR = re.compile(
    r"(?P<key>\b\w*(?:password|passwd|secret|token|api_?key)\w*\b(?P<q>[\"'])?\s*[=:]\s*)(?![$:%*])"
    rf"(?P<val>(?(q)(?:{_QUOTED})|(?:{_QUOTED}|[^\s,;&'\"]+?(?=[:.)\]]*(?:[\s,;&'\"]|$)))))",
    re.IGNORECASE,
)


class _Missing:
    def __repr__(self) -> str:
        return "<not given>"


#: the default of ``ValidationError(value=...)``: "no value was given" (None is a value)
NOT_GIVEN: Any = _Missing()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def mask_url_passwords(text: str, mask: str = MASK) -> str:
    """``text`` with the password of every ``scheme://user:password@host`` URL and the value of every
    ``password=...`` / ``password: ...`` pair (quoted values keep their quotes) replaced by ``mask``; host,
    port, database and the rest of the text stay."""
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{mask}{m['tail']}" if m["pw"] else m[0], text)
    if _TEXT_PAIR.search(text):
        text = _TEXT_PAIR.sub(lambda m: m["key"] + _masked_value(m["val"], mask), text)
    return text


def _masked_value(value: str, mask: str) -> str:
    """``mask`` in the quotes ``value`` had, if any."""
    quote = value[0] if value[0] in "'\"" and len(value) > 1 and value[-1] == value[0] else ""
    return f"{quote}{mask}{quote}"


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` safe to show: secret-looking mapping keys and URL passwords masked (recursive)."""
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if _is_secret_key(k) and not _blank(v) else mask_secrets(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        masked = [mask_secrets(v) for v in value]
        return tuple(masked) if isinstance(value, tuple) else masked
    return value


def _model_name(model: Any) -> str | None:
    if model is None:
        return None
    if isinstance(model, str):
        return model
    if isinstance(model, type):
        return model.__name__
    name = getattr(model, "__name__", None)
    return name if isinstance(name, str) else type(model).__name__


def safe_repr(value: Any) -> str:
    """``repr(value)``, also for an int too long for ``repr()`` (beyond ``sys.get_int_max_str_digits()``)."""
    try:
        return repr(value)
    except ValueError:
        if not isinstance(value, int):
            raise
        return f"<int of about {value.bit_length() * 30103 // 100000 + 1} digits>"


def _short(text: str, limit: int = _MAX_VALUE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} chars)"


def _restore(cls: type[ORMException], args: tuple[Any, ...], state: dict[str, Any]) -> ORMException:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ORMException(Exception):
    """Base of every matrx-orm error; carries model / operation / query / params / details context."""

    default_message: str = "ORM error"

    def __init__(
        self,
        message: str = "",
        *,
        model: str | type | None = None,
        operation: str | None = None,
        query: str | None = None,
        params: Any = None,
        details: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> None:
        self.message: str = mask_url_passwords(str(message)) if message else self.default_message
        self.model: str | None = _model_name(model)
        self.operation: str | None = operation
        self.query: str | None = query
        self.params: Any = params
        self.details: dict[str, Any] = dict(details or {})
        self.details.update(context)
        super().__init__(self.message)

    # -- context -------------------------------------------------------------------------------------------
    def enrich(
        self,
        *,
        model: str | type | None = None,
        operation: str | None = None,
        query: str | None = None,
        params: Any = None,
        details: Mapping[str, Any] | None = None,
        **context: Any,
    ) -> Self:
        """Fill the attributes that are still unset and add missing ``details`` keys; returns ``self``.

        Called by the layers an error passes through; what the inner layer recorded is never overwritten.
        """
        if self.model is None and model is not None:
            self.model = _model_name(model)
        if not self.operation and operation:
            self.operation = operation
        if not self.query and query:
            self.query = query
        if self.params is None and params is not None:
            self.params = params
        for key, value in {**(details or {}), **context}.items():
            self.details.setdefault(key, value)
        return self

    def _context_items(self) -> list[tuple[str, Any]]:
        items: list[tuple[str, Any]] = []
        if self.query:
            items.append(("query", self.query))
        if self.params is not None:
            items.append(("params", self.params))
        items.extend(self.details.items())
        return items

    # -- rendering -----------------------------------------------------------------------------------------
    def __str__(self) -> str:
        items = self._context_items()
        if not items:  # short form: "[Model: operation] message", leaving out what the message already says
            where = [part for part in (self.model, self.operation) if part and part not in self.message]
            return f"[{': '.join(where)}] {self.message}" if where else self.message
        if self.model and self.operation:
            header = f"[ERROR in {self.model}: {self.operation}]"
        elif self.model or self.operation:
            header = f"[ERROR in {self.model or self.operation}]"
        else:
            header = "[ERROR]"
        lines = [_RULE, header, "", f"Message: {self.message}"]
        if items:
            width = max(len(str(key)) for key, _ in items) + 1
            lines += ["", "Context:"]
            for key, value in items:
                shown = MASK if _is_secret_key(key) and not _blank(value) else mask_secrets(value)
                text = _short(shown if isinstance(shown, str) else safe_repr(shown))
                text = text.replace("\n", "\n" + " " * (width + 3))
                lines.append(f"  {str(key) + ':':<{width}} {text}")
        lines.append(_RULE)
        return "\n".join(lines)

    def __repr__(self) -> str:
        extra = f", model={self.model!r}" if self.model else ""
        return f"{type(self).__name__}({self.message!r}{extra})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ValidationError(ORMException):
    """A value failed field or model validation.

    ``errors`` maps field names (``"__all__"`` for the instance as a whole) to lists of messages. Pass them
    as ``errors=`` or as the first argument: ``ValidationError({"end": "must be after start"})``; without
    them, the error belongs to ``field`` when given, else to ``"__all__"``.
    """

    default_message = "Validation failed"
    #: the ``errors`` key of messages about the whole instance
    NON_FIELD_ERRORS = "__all__"

    def __init__(
        self,
        message: str | Mapping[str, Any] = "",
        *,
        field: str | None = None,
        value: Any = NOT_GIVEN,
        reason: str | None = None,
        errors: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(message, Mapping):
            errors, message = message, ""
        listed = _message_lists(errors) if errors else None
        if not message and listed:
            message = "; ".join(f"{key}: {text}" for key, texts in listed.items() for text in texts)
        has_value = value is not NOT_GIVEN
        if not message:
            model = _model_name(kwargs.get("model"))
            shown = f"value {_short(safe_repr(value), 200)}" if has_value else "value"
            message = f"Invalid {shown}"
            if field:
                message += f" for field '{field}'"
            if model:
                message += f" on model '{model}'"
            if reason:
                message += f": {reason}"
        super().__init__(message, **kwargs)
        self.field: str | None = field
        self.value: Any = value if has_value else None
        self.has_value: bool = has_value
        self.reason: str | None = reason
        self.errors: dict[str, list[str]] = listed or {
            field or self.NON_FIELD_ERRORS: [reason or self.message]
        }


def _message_lists(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{"name": "taken"}`` / ``{"name": ["a", "b"]}`` -> ``{"name": ["taken"]}`` / ``{"name": ["a", "b"]}``."""
    return {
        str(key): [str(text) for text in texts]
        if isinstance(texts, Iterable) and not isinstance(texts, str)
        else [str(texts)]
        for key, texts in errors.items()
    }


class FieldError(ORMException):
    """A field is misdeclared or could not process a value."""

    default_message = "Field error"


class QueryError(ORMException):
    """A query could not be built or did not produce what was expected."""

    default_message = "Query error"


def _suggest(name: str, choices: list[str]) -> list[str]:
    folded = [c for c in choices if c.lower() == name.lower() and c != name]
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return list(dict.fromkeys(folded + close))[:3]


def _quoted_list(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class _UnknownNameMixin:
    kind: str = "name"

    def _unknown_message(
        self, name: str, choices: Iterable[str], model: Any
    ) -> tuple[str, list[str], list[str]]:
        available = sorted({str(c) for c in choices})
        suggestions = _suggest(name, available)
        owner = _model_name(model)
        message = f"Unknown {self.kind} '{name}'" + (f" on model '{owner}'" if owner else "") + "."
        if suggestions:
            message += f" Did you mean: {_quoted_list(suggestions)}?"
        if available:
            shown = ", ".join(available[:_MAX_AVAILABLE])
            more = (
                f", ... ({len(available) - _MAX_AVAILABLE} more)" if len(available) > _MAX_AVAILABLE else ""
            )
            message += f" Available: {shown}{more}"
        return message, suggestions, available


class UnknownFieldError(_UnknownNameMixin, FieldError, QueryError):
    """A field name that the model does not have; the message names the closest matches."""

    kind = "field"

    def __init__(
        self, message: str = "", *, name: str = "", choices: Iterable[str] = (), **kwargs: Any
    ) -> None:
        built, self.suggestions, self.choices = self._unknown_message(name, choices, kwargs.get("model"))
        self.name: str = name
        super().__init__(message or built, **kwargs)


class UnknownLookupError(_UnknownNameMixin, QueryError):
    """A lookup (``__icontains``...) that does not exist for the field; names the closest matches."""

    kind = "lookup"

    def __init__(
        self, message: str = "", *, name: str = "", choices: Iterable[str] = (), **kwargs: Any
    ) -> None:
        built, self.suggestions, self.choices = self._unknown_message(name, choices, kwargs.get("model"))
        self.name: str = name
        super().__init__(message or built, **kwargs)


class ReadOnlyModelError(QueryError):
    """A write (create, save, update, delete, bulk or upsert) on a read-only model, such as one over a view."""

    default_message = "This model is read-only"


class DoesNotExist(QueryError):
    """No row matched where exactly one was expected."""

    default_message = "No matching row"


class MultipleObjectsReturned(QueryError):
    """Several rows matched where exactly one was expected."""

    default_message = "More than one row matched"


class DatabaseError(ORMException):
    """An error reported by PostgreSQL or the driver."""

    default_message = "Database error"


class ConnectionError(DatabaseError):  # the public name; shadows the builtin inside this module
    """The database could not be reached, refused the login, or the connection was lost."""

    default_message = "Could not connect to the database"


class PoolExhaustedError(ConnectionError):
    """Every connection of the pool stayed in use for ``pool_timeout`` seconds; ``details`` holds the
    database, the pool size and how many statements were waiting."""

    default_message = "No free connection in the pool"


class IntegrityError(DatabaseError):
    """A constraint (unique, foreign key, not null, check, exclusion) was violated."""

    default_message = "Integrity constraint violated"


class TransactionError(DatabaseError):
    """The transaction failed (serialization failure, deadlock, aborted transaction, ...)."""

    default_message = "Transaction error"


class PartialCommitError(TransactionError):
    """A ``transaction()`` over several databases committed some of them, then a later commit failed: the
    committed ones keep their changes (``details["committed"]``), the others were rolled back
    (``details["rolled_back"]``)."""

    default_message = "A multi-database transaction was committed only in part"


class CommitOutcomeUnknownError(TransactionError):
    """The connection was lost while ``COMMIT`` was under way: the transaction may or may not have been
    committed. Check the data before retrying a write that is not idempotent."""

    default_message = "The connection was lost during COMMIT; the outcome is unknown"


class TransactionEndedError(TransactionError):
    """A statement of a task started inside a ``transaction()`` block ran after the block ended (committed
    or rolled back): it is not sent, rather than run outside the transaction it was written for."""

    default_message = "The transaction this statement belonged to has ended"


class OptimisticLockError(DatabaseError):
    """A versioned row was changed by someone else since it was read."""

    default_message = "The row was modified concurrently"


class UnknownDatabaseError(DatabaseError):
    """An unexpected error while talking to the database; carries the full context."""

    default_message = "Unexpected database error"


class ConfigurationError(ORMException):
    """Missing or invalid ORM configuration."""

    default_message = "Configuration error"


class CacheError(ORMException):
    """The state manager's cache failed."""

    default_message = "Cache error"


class StateError(ORMException):
    """State management went wrong."""

    default_message = "State error"


class RelationshipError(ORMException):
    """A foreign key / inverse FK / many-to-many could not be resolved."""

    default_message = "Relationship error"


class UnknownRelationError(_UnknownNameMixin, RelationshipError, QueryError, AttributeError):
    """A relation name (FK, inverse FK, many-to-many) the model does not have; names the closest matches.

    Also an ``AttributeError``, as matrx-orm's ``get_related`` raised for unknown names.
    """

    kind = "relation"

    def __init__(
        self, message: str = "", *, name: str = "", choices: Iterable[str] = (), **kwargs: Any
    ) -> None:
        built, self.suggestions, self.choices = self._unknown_message(name, choices, kwargs.get("model"))
        self.name: str = name
        super().__init__(message or built, **kwargs)


class MigrationError(ORMException):
    """A migration could not be generated, applied or rolled back."""

    default_message = "Migration error"


class ParameterError(ORMException):
    """Malformed arguments to an ORM call or query."""

    default_message = "Invalid parameter"


class SyncContextError(ORMException, RuntimeError):
    """A ``*_sync`` wrapper was called while an event loop runs in this thread: await the async method."""

    default_message = "A *_sync method was called inside a running event loop"


class UnusedQueryWarning(UserWarning):
    """A query builder was made and never used: builders are immutable, so ``qs.filter(...)`` on a line of
    its own changes nothing (matrx-orm 2.x changed ``qs`` in place)."""


# -- mapping driver errors ----------------------------------------------------------------------------------

_VIOLATIONS = {
    "23505": "unique",
    "23503": "foreign_key",
    "23502": "not_null",
    "23514": "check",
    "23P01": "exclusion",
    "23001": "restrict",
}
# sqlstates that mean "could not connect / lost the connection" beyond class 08
_CONNECTION_STATES = {"57P01", "57P02", "57P03", "53300", "3D000"}
_CONNECTING_OPERATIONS = ("connect", "acquire", "pool", "begin")


def _pg_details(exc: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for attr in ("sqlstate", "constraint_name", "schema_name", "table_name", "column_name", "detail", "hint"):
        value = getattr(exc, attr, None)
        if value:
            details[attr] = value
    return details


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, else its type name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def map_database_error(exc: BaseException, **context: Any) -> ORMException:
    """The :class:`ORMException` for a driver / database error ``exc``, carrying ``context``.

    ``exc`` may be an asyncpg error, an ``OSError`` / ``TimeoutError`` from connecting, or a SQLAlchemy error
    wrapping one (``DBAPIError`` and subclasses, the engine pool's ``TimeoutError``): both map the same way.
    ``context`` takes the constructor's keywords (model, operation, query, params, details, extra keys); a
    ``details["url"]`` (the masked URL being connected to) puts the URL in connection failure messages. An
    ORMException is returned as is, enriched with ``context``. Use it as ``raise map_database_error(e) from e``.
    """
    if isinstance(exc, ORMException):
        return exc.enrich(**context)
    mapped = _map(exc, context)
    mapped.__cause__ = exc
    mapped.__suppress_context__ = True
    return mapped


def _map(exc: BaseException, context: dict[str, Any]) -> ORMException:
    context = dict(context)
    details = dict(context.pop("details", None) or {})
    if isinstance(exc, sa_exc.SQLAlchemyError):
        if isinstance(exc, sa_exc.StatementError) and exc.statement and not context.get("query"):
            context["query"] = exc.statement
        driver = _driver_error(exc)
        if driver is None:
            return _map_sqlalchemy(exc, details, context)
        exc = driver
    if isinstance(exc, pg.PostgresError):
        return _map_postgres(exc, details, context)
    return _map_client(exc, details, context)


def _driver_error(exc: sa_exc.SQLAlchemyError) -> BaseException | None:
    """The driver's exception inside SQLAlchemy's wrappers, None when there is none.

    ``DBAPIError.orig`` is the asyncpg dialect's adapted error (``sqlalchemy.dialects.postgresql.asyncpg.Error``
    and subclasses) whose ``orig`` and ``__cause__`` are asyncpg's own exception.
    """
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    adapted = exc.orig
    if isinstance(adapted, sa_exc.EmulatedDBAPIException):
        return adapted.orig or adapted.__cause__
    return adapted


def _connection_failed(
    reason: str, details: dict[str, Any], context: dict[str, Any], fallback: str
) -> ConnectionError:
    """``cannot connect to URL: reason`` while connecting (``details["url"]`` given), else ``fallback``."""
    url = details.get("url")
    message = f"cannot connect to {url}: {reason}" if url else fallback
    return ConnectionError(message, details=details, **context)


def _map_postgres(exc: pg.PostgresError, details: dict[str, Any], context: dict[str, Any]) -> ORMException:
    details = {**_pg_details(exc), **details}
    state = getattr(exc, "sqlstate", None) or ""
    text = str(getattr(exc, "message", None) or (exc.args[0] if exc.args else exc))
    if isinstance(exc, pg.IntegrityConstraintViolationError):
        details.setdefault("violation", _VIOLATIONS.get(state, "integrity"))
        extra = f" ({exc.detail})" if getattr(exc, "detail", None) else ""
        return IntegrityError(f"{text}{extra}", details=details, **context)
    if (
        isinstance(exc, pg.PostgresConnectionError | pg.InvalidAuthorizationSpecificationError)
        or state in _CONNECTION_STATES
    ):
        return _connection_failed(text, details, context, f"Database connection failed: {text}")
    if isinstance(exc, pg.TransactionRollbackError | pg.InvalidTransactionStateError):
        return TransactionError(f"Transaction failed: {text}", details=details, **context)
    return DatabaseError(text, details=details, **context)


def _map_client(exc: BaseException, details: dict[str, Any], context: dict[str, Any]) -> ORMException:
    """Errors raised on the client side: timeouts, sockets, the driver's interface errors, anything else."""
    operation = str(context.get("operation") or "")
    if isinstance(exc, builtins.TimeoutError):  # asyncio.TimeoutError is TimeoutError (an OSError) on 3.11+
        if any(word in operation.lower() for word in _CONNECTING_OPERATIONS):
            fallback = f"Timed out connecting to the database ({_describe(exc)})"
            return _connection_failed("timed out", details, context, fallback)
        return DatabaseError(f"The statement timed out ({_describe(exc)})", details=details, **context)
    if isinstance(exc, OSError):
        fallback = f"Could not connect to the database: {_describe(exc)}"
        return _connection_failed(_first_line(exc), details, context, fallback)
    if isinstance(exc, pg_base.InterfaceError):
        text = str(exc)
        if "closed" in text.lower() or "closing" in text.lower():
            return ConnectionError(f"Database connection unavailable: {text}", details=details, **context)
        return DatabaseError(f"Driver error: {_describe(exc)}", details=details, **context)
    return UnknownDatabaseError(f"Unexpected database error: {_describe(exc)}", details=details, **context)


def _map_sqlalchemy(
    exc: sa_exc.SQLAlchemyError, details: dict[str, Any], context: dict[str, Any]
) -> ORMException:
    """SQLAlchemy errors that carry no driver exception (raised by SQLAlchemy or its asyncpg adapter)."""
    if isinstance(exc, sa_exc.TimeoutError):  # the SQLAlchemy engine's own pool (not asyncpg's)
        return PoolExhaustedError(
            f"No free connection in the SQLAlchemy engine pool: {_first_line(exc)}",
            details=details,
            **context,
        )
    if isinstance(exc, sa_exc.DBAPIError):
        reason = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate:
            details.setdefault("sqlstate", sqlstate)
        if exc.connection_invalidated or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return _connection_failed(reason, details, context, f"Database connection failed: {reason}")
        return DatabaseError(reason, details=details, **context)
    return UnknownDatabaseError(f"Unexpected database error: {_describe(exc)}", details=details, **context)


# -- hide_parameters ---------------------------------------------------------------------------------------------

#: what ``hide_parameters`` shows in place of a bound value
HIDDEN = "<hidden>"
#: values shorter than this are left in messages: they would match ordinary words ("$1", "id", "an")
_MIN_HIDDEN_CHARS = 3
#: asyncpg's client-side encoding error: "invalid input for query argument $2: 'value' (reason)"
_ARGUMENT = re.compile(
    r"(?P<head>invalid input for query argument \$(?P<number>\d+)"
    r"(?: in element #(?P<row>\d+) of executemany\(\) sequence)?): (?P<rest>.*)",
    re.DOTALL,
)
#: a server message ending in the quoted input ('invalid input syntax for type integer: "x"')
_QUOTED_TAIL = re.compile(r': "(?s:.*)"$')
_QUOTED_INPUT = re.compile(r'"[^"]*"')
#: PostgreSQL error fields that may quote values (the driver error's attributes)
_SERVER_TEXT = ("message", "hint", "where")


def hide_values(error: ORMException, params: Any) -> None:
    """``hide_parameters``: take every bound value out of ``error`` — its message, ``details`` and the driver
    errors it was raised from (``__cause__`` / ``__context__``, so a logged traceback shows none either).

    ``params`` are the statement's values (for a batch, its rows). The server's DETAIL line (it quotes row
    values) is dropped; a value the message quotes becomes ``<hidden>``, keeping what went wrong and where:
    ``invalid input for query argument $2: <hidden> ('str' object cannot be interpreted as an integer)``,
    ``invalid input syntax for type integer: "<hidden>"``.
    """
    values = _value_texts(params)
    state = str(error.details.get("sqlstate") or "")
    detail = error.details.pop("detail", None)
    if detail:
        error.message = error.message.replace(f" ({detail})", "")
    error.message = _without_values(error.message, params, values, state)
    error.args = (error.message,)
    for key, value in list(error.details.items()):
        if isinstance(value, str):
            error.details[key] = _scrubbed(value, values)
    for cause in _chain(error):
        _hide_in_driver_error(cause, params, values)


def _without_values(text: str, params: Any, values: list[str], sqlstate: str) -> str:
    """``text`` with the quoted input of an encoding or data error and every text of ``values`` hidden."""
    argument = _ARGUMENT.search(text)
    if argument is not None:
        text = text[: argument.start()] + _argument_message(argument, params, values)
    elif sqlstate.startswith("22"):  # data exceptions quote the offending input
        text = _QUOTED_INPUT.sub(f'"{HIDDEN}"', _QUOTED_TAIL.sub(f': "{HIDDEN}"', text))
    return _scrubbed(text, values)


def _argument_message(match: re.Match[str], params: Any, values: list[str]) -> str:
    """asyncpg's "invalid input for query argument $N: <value repr> (<reason>)" with the value hidden."""
    rest = match["rest"]
    shown = _argument_repr(params, int(match["number"]), match["row"])
    if shown is not None and rest.startswith(f"{shown} ("):
        reason = rest[len(shown) + 2 :]
    else:  # the value is not at hand (a batch row past those kept): the reason follows the first " ("
        reason = rest.partition(" (")[2]
    reason = _scrubbed(reason.removesuffix(")"), values)
    return f"{match['head']}: {HIDDEN}" + (f" ({reason})" if reason else "")


def _argument_repr(params: Any, number: int, row: str | None) -> str | None:
    """The argument as asyncpg's message shows it (its repr, cut at 40 characters), None when unknown."""
    try:
        value = params[int(row)][number - 1] if row is not None else params[number - 1]
    except (TypeError, IndexError, KeyError):
        return None
    text = repr(value)
    return text[:40] + "..." if len(text) > 40 else text


def _value_texts(params: Any) -> list[str]:
    """How the values of ``params`` (nested rows and arrays too) may appear in a message, longest first."""
    texts = {
        text
        for value in _flattened(params)
        for text in (str(value), repr(value))
        if len(text) >= _MIN_HIDDEN_CHARS
    }
    return sorted(texts, key=len, reverse=True)


def _flattened(params: Any) -> Iterator[Any]:
    if params is None or isinstance(params, bool):
        return
    if isinstance(params, list | tuple | set | frozenset):
        for item in params:
            yield from _flattened(item)
    elif isinstance(params, Mapping):
        for key, item in params.items():
            yield from _flattened(key)
            yield from _flattened(item)
    else:
        yield params


def _scrubbed(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, HIDDEN)
    return text


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The exceptions ``error`` was raised from or while handling (each once)."""
    seen = {id(error)}
    pending = [error.__cause__, error.__context__]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        pending += [exc.__cause__, exc.__context__]


def _hide_in_driver_error(exc: BaseException, params: Any, values: list[str]) -> None:
    """The bound values out of a driver error's message, arguments and PostgreSQL fields (DETAIL dropped)."""
    state = str(getattr(exc, "sqlstate", None) or "")
    if isinstance(exc, pg_base.PostgresMessage | pg_base.InterfaceMessage):
        exc.detail = None
        for name in _SERVER_TEXT:
            text = getattr(exc, name, None)
            if isinstance(text, str):
                setattr(exc, name, _without_values(text, params, values, state))
    exc.args = tuple(
        _without_values(arg, params, values, state) if isinstance(arg, str) else arg for arg in exc.args
    )
