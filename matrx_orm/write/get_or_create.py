"""The race-safe part of ``get_or_create`` / ``update_or_create``: find the row, else create it, and when a
concurrent writer created it first (``IntegrityError`` on a unique constraint), return theirs.

The INSERT runs in a savepoint when the task is inside a transaction (so the failed INSERT does not abort
it); outside one, the INSERT is a statement of its own and its failure leaves nothing behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from ..db.context import in_transaction
from ..db.transaction import transaction
from ..exceptions import IntegrityError, ValidationError

__all__ = ["creation_values", "find_or_create", "resolved"]

T = TypeVar("T")


def resolved(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """``values`` with callables called (``defaults={"token": make_token}`` draws a new token)."""
    return {name: value() if callable(value) else value for name, value in (values or {}).items()}


def creation_values(lookup: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a missing row is created from: the lookup's plain ``field=value`` pairs (not ``field__lookup``
    ones), then ``defaults``."""
    return {**{name: value for name, value in lookup.items() if "__" not in name}, **resolved(defaults)}


async def find_or_create(
    database: str, find: Callable[[], Awaitable[T | None]], create: Callable[[], Awaitable[T]]
) -> tuple[T, bool]:
    """``(await find(), False)`` when it finds the row, else ``(await create(), True)``; when ``create``
    loses a race (IntegrityError, or the ValidationError of a model that validates on save) the row the
    winner stored, ``(await find(), False)``."""
    found = await find()
    if found is not None:
        return found, False
    try:
        async with _atomic(database):
            return await create(), True
    except (IntegrityError, ValidationError):
        found = await find()
        if found is None:  # the conflict was not with a row this lookup finds
            raise
        return found, False


def _atomic(database: str) -> contextlib.AbstractAsyncContextManager[Any]:
    """A savepoint inside the task's transaction on ``database``; nothing outside one."""
    return transaction(database) if in_transaction(database) else contextlib.nullcontext()
