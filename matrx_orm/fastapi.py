"""FastAPI integration (``pip install 'matrx-orm[fastapi]'``): ORM errors as HTTP answers, pools closed on
shutdown, request bodies checked by the model's input schema.

```python
from fastapi import FastAPI
from matrx_orm.fastapi import PinConnectionMiddleware, install_exception_handlers, orm_lifespan

app = FastAPI(lifespan=orm_lifespan)
install_exception_handlers(app)
app.add_middleware(PinConnectionMiddleware)  # one pooled connection per request (see matrx_orm.asgi)
```

| error | status | body |
|---|---|---|
| ``DoesNotExist`` | 404 | ``{"detail": message}`` |
| ``ValidationError``, ``UnknownFieldError``, ``UnknownLookupError``, ``ParameterError`` | 422 | ``{"detail": [{"loc": [field], "msg": ..., "type": ...}]}`` |
| ``IntegrityError``, ``OptimisticLockError`` | 409 | ``{"detail": ..., "violation": ..., "constraint": ...}`` |
| ``ConnectionError`` (``PoolExhaustedError`` too) | 503 | ``{"detail": "Database unavailable"}``, ``Retry-After`` |
| any other ``ORMException`` | 500 | ``{"detail": "Internal Server Error"}`` (logged, never sent) |
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Annotated, Any

try:
    from fastapi import Body, FastAPI, Request
    from fastapi.responses import JSONResponse
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("matrx_orm.fastapi needs FastAPI: pip install 'matrx-orm[fastapi]'") from exc

from .asgi import PinConnectionMiddleware
from .db import dispose_all
from .exceptions import (
    ConnectionError,
    DoesNotExist,
    IntegrityError,
    OptimisticLockError,
    ORMException,
    ParameterError,
    UnknownFieldError,
    UnknownLookupError,
    ValidationError,
)
from .model import Model
from .schemas import build_input_schema, validate_input

__all__ = [
    "ModelBody",
    "PinConnectionMiddleware",
    "error_response",
    "install_exception_handlers",
    "orm_lifespan",
    "status_for",
]

log = logging.getLogger("matrx_orm.fastapi")

#: seconds a client should wait before retrying a 503
RETRY_AFTER_SECONDS = 1

_INTEGRITY_MESSAGES = {
    "unique": "A row with the same unique values already exists",
    "foreign_key": "A referenced row does not exist, or other rows still reference this one",
    "not_null": "A required value is missing",
    "check": "A value breaks a check constraint",
    "exclusion": "The row conflicts with an existing one",
}


# -- errors -----------------------------------------------------------------------------------------------------


def status_for(exc: ORMException) -> int:
    """The HTTP status an ORM error answers with (see the module docstring)."""
    if isinstance(exc, DoesNotExist):
        return 404
    if isinstance(exc, ValidationError | UnknownFieldError | UnknownLookupError | ParameterError):
        return 422
    if isinstance(exc, IntegrityError | OptimisticLockError):
        return 409
    if isinstance(exc, ConnectionError):
        return 503
    return 500


def error_response(exc: ORMException) -> JSONResponse:
    """The JSON response for ``exc``: its status and a body that never holds SQL, parameters or hosts."""
    status = status_for(exc)
    if status == 422:
        return JSONResponse({"detail": _field_errors(exc)}, status_code=status)
    if status == 404:
        return JSONResponse({"detail": exc.message}, status_code=status)
    if status == 409:
        return JSONResponse(_conflict(exc), status_code=status)
    if status == 503:
        log.warning("database unavailable: %s", exc.message)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse({"detail": "Database unavailable"}, status_code=status, headers=headers)
    log.error("unhandled ORM error", exc_info=exc)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=status)


def _field_errors(exc: ORMException) -> list[dict[str, Any]]:
    """FastAPI-style 422 items: one per message, ``loc`` naming the field (empty for the whole input)."""
    if isinstance(exc, ValidationError):
        return [
            _item(key, message, "validation_error")
            for key, messages in exc.errors.items()
            for message in messages
        ]
    if isinstance(exc, UnknownFieldError | UnknownLookupError):
        return [_item(exc.name, exc.message, f"unknown_{exc.kind}")]
    return [_item(ValidationError.NON_FIELD_ERRORS, exc.message, "parameter_error")]


def _item(key: str, message: str, kind: str) -> dict[str, Any]:
    location = [] if key == ValidationError.NON_FIELD_ERRORS or not key else [key]
    return {"loc": location, "msg": message, "type": kind}


def _conflict(exc: ORMException) -> dict[str, Any]:
    if isinstance(exc, OptimisticLockError):
        return {"detail": "The row was changed by someone else; reload it and try again"}
    violation = exc.details.get("violation", "integrity")
    body: dict[str, Any] = {
        "detail": _INTEGRITY_MESSAGES.get(violation, "The change breaks a database constraint"),
        "violation": violation,
    }
    for source, key in (("constraint_name", "constraint"), ("column_name", "column")):
        if exc.details.get(source):
            body[key] = exc.details[source]
    return body


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ORMException):  # registered for ORMException only
        raise exc
    return error_response(exc)


def install_exception_handlers(app: FastAPI) -> None:
    """Answer every ``ORMException`` a route raises with :func:`error_response` (handlers the app registers
    for a subclass still win: Starlette picks the closest class)."""
    app.add_exception_handler(ORMException, _handle)


# -- lifespan ---------------------------------------------------------------------------------------------------


@asynccontextmanager
async def orm_lifespan(app: Any) -> AsyncGenerator[None, None]:
    """A FastAPI ``lifespan`` closing every connection pool on shutdown (``matrx_orm.dispose_all``).

    ``FastAPI(lifespan=orm_lifespan)``; inside a lifespan of your own: ``async with orm_lifespan(app): yield``.
    """
    try:
        yield
    finally:
        await dispose_all()


# -- request bodies ---------------------------------------------------------------------------------------------


class ModelBody:
    """A dependency reading the JSON body with ``build_input_schema(model, partial=partial)`` (documented in
    OpenAPI, refused with FastAPI's 422) and giving the clean dict of :func:`~matrx_orm.validate_input`:

    ``data: Annotated[dict[str, Any], Depends(ModelBody(Post))]`` then ``await Post.create(**data)``.
    """

    def __init__(self, model: type[Model], *, partial: bool = False) -> None:
        self.model = model
        self.partial = partial
        schema = build_input_schema(model, partial=partial)
        body = inspect.Parameter(
            "body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[schema, Body()]
        )
        #: what FastAPI reads to find the body's type
        self.__signature__ = inspect.Signature([body], return_annotation=dict[str, Any])

    async def __call__(self, body: Any) -> dict[str, Any]:
        return validate_input(self.model, body, partial=self.partial)
