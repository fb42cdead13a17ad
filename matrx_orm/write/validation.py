"""``full_clean()``: each field's checks, the model's ``clean()`` hook and ``validate_unique()``, gathered
into one :class:`~matrx_orm.exceptions.ValidationError` whose ``errors`` maps field names (``"__all__"`` for
the instance as a whole) to messages.

``validate_unique`` asks the database once for every unique field and unique-together constraint (the
instance's own row left out): ``SELECT CASE WHEN <check> THEN true ELSE false END, ... WHERE <any check>``.
"""

from __future__ import annotations

import functools
import inspect
import operator
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..db import executor
from ..exceptions import ValidationError
from ..fields.base import reason_of
from ..sql.compiler.select import compile_select
from ..sql.expressions.base import Value
from ..sql.expressions.conditional import Case, When
from ..sql.q import Q
from ..sql.spec import QuerySpec
from .values import server_fills

if TYPE_CHECKING:
    from ..model import Model

__all__ = ["full_clean", "unique_checks", "validate_unique"]

ALL = ValidationError.NON_FIELD_ERRORS
Errors = dict[str, list[str]]


async def full_clean(instance: Model, exclude: Iterable[str] | None = None) -> None:
    """Run the field checks, ``clean()`` and ``validate_unique()`` (skipping the fields in ``exclude`` and
    those that already failed); raise one ValidationError holding every message."""
    skipped = set(exclude or ())
    errors = await field_errors(instance, skipped)
    _merge(errors, await _clean_errors(instance))
    skipped.update(name for name in errors if name != ALL)
    _merge(errors, await unique_errors(instance, skipped))
    if errors:
        raise _error(instance, errors, "full_clean")


async def validate_unique(instance: Model, exclude: Iterable[str] | None = None) -> None:
    """Raise ValidationError when another row holds the instance's value of a unique field, or its values
    of a unique-together constraint (one query for all of them)."""
    errors = await unique_errors(instance, set(exclude or ()))
    if errors:
        raise _error(instance, errors, "validate_unique")


def _error(instance: Model, errors: Errors, operation: str) -> ValidationError:
    return ValidationError(errors=errors, model=instance._meta.model_name, operation=operation)


def _merge(errors: Errors, more: Errors) -> None:
    for name, messages in more.items():
        errors.setdefault(name, []).extend(messages)


# -- fields ------------------------------------------------------------------------------------------------------


async def field_errors(instance: Model, skipped: set[str]) -> Errors:
    """Each field's checks (``NOT NULL``, type, length, range, validators, ``async`` validators)."""
    meta = instance._meta
    data = instance.__dict__
    errors: Errors = {}
    for name, field in meta.fields.items():
        if name in skipped or (name not in data and instance._persisted):  # excluded, or not loaded
            continue
        value = data.get(name)
        if value is None:
            if not field.null and not _filled_on_write(meta, field):
                errors[name] = ["may not be null"]
            continue
        message = await _value_error(field, value)
        if message is not None:
            errors[name] = [message]
    return errors


def _filled_on_write(meta: Any, field: Any) -> bool:
    """Whether a write fills a None value of ``field`` (a generated key, a server default, a timestamp)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return True
    return bool((field.primary_key or field.server_default is not None) and server_fills(meta, field.name))


async def _value_error(field: Any, value: Any) -> str | None:
    """The message of the first check ``value`` fails, or None."""
    try:
        field.to_db(value)
    except ValidationError as exc:
        return reason_of(exc)
    for validator in field.async_validators:
        try:
            ok = await validator(value)
        except (ValidationError, ValueError, TypeError) as exc:
            return reason_of(exc)
        if ok is False:
            return f"rejected by {getattr(validator, '__qualname__', repr(validator))}"
    return None


# -- clean() -----------------------------------------------------------------------------------------------------


async def _clean_errors(instance: Model) -> Errors:
    """The errors the model's ``clean()`` hook raises (sync or ``async def``)."""
    hook = getattr(instance, "clean", None)
    if not callable(hook):
        return {}
    try:
        result = hook()
        if inspect.isawaitable(result):
            await result
    except ValidationError as exc:
        return {name: list(messages) for name, messages in exc.errors.items()}
    return {}


# -- uniqueness ----------------------------------------------------------------------------------------------------


def unique_checks(meta: Any) -> list[tuple[str, ...]]:
    """The field-name tuples whose values must be unique: unique fields, unique constraints and unique
    indexes without a condition (the primary key first)."""
    by_column = {field.column_name: name for name, field in meta.fields.items()}
    checks: dict[tuple[str, ...], None] = {tuple(meta.primary_keys): None} if meta.primary_keys else {}
    checks.update({(name,): None for name, field in meta.fields.items() if field.unique})
    table = meta.table
    groups = [
        [column.name for column in constraint.columns]
        for constraint in table.constraints
        if isinstance(constraint, sa.UniqueConstraint)
    ]
    groups += [
        [column.name for column in index.columns]
        for index in table.indexes
        if index.unique
        and len(index.columns) == len(index.expressions)
        and index.dialect_options["postgresql"].get("where") is None
    ]
    for columns in groups:
        if columns and all(column in by_column for column in columns):
            checks[tuple(by_column[column] for column in columns)] = None
    return list(checks)


async def unique_errors(instance: Model, skipped: set[str]) -> Errors:
    """``{field or "__all__": ["<Model> with this <fields> already exists"]}`` for each check another row
    fails."""
    meta = instance._meta
    data = instance.__dict__
    own = _own_row(instance)
    checks = [
        check
        for check in unique_checks(meta)
        if not skipped.intersection(check)
        and all(data.get(name) is not None for name in check)
        and not (own is not None and set(check) == set(meta.primary_keys))
    ]
    if not checks:
        return {}
    conditions = [Q(**{name: data[name] for name in check}) for check in checks]
    where = functools.reduce(operator.or_, conditions)
    if own is not None:
        where &= ~own
    labels = tuple(f"_mx_unique_{index}" for index in range(len(checks)))
    annotations = tuple(
        (label, Case(When(condition, then=Value(True)), default=Value(False)))
        for label, condition in zip(labels, conditions, strict=True)
    )
    spec = QuerySpec(meta.model, where=(where,), annotations=annotations, limit=len(checks), ordered=True)
    statement, params = compile_select(spec, labels, "values")
    records = await executor.fetch(
        meta.database, statement.sql, params, model=meta.model_name, operation="validate_unique"
    )
    errors: Errors = {}
    for check, label in zip(checks, labels, strict=True):
        if any(record[label] for record in records):
            key = check[0] if len(check) == 1 else ALL
            described = " and ".join(check)
            errors.setdefault(key, []).append(f"{meta.model_name} with this {described} already exists")
    return errors


def _own_row(instance: Model) -> Q | None:
    """The condition naming the instance's own row (None for a row not saved yet)."""
    meta = instance._meta
    if not instance._persisted or not meta.primary_keys:
        return None
    values = [(name, instance.__dict__.get(name)) for name in meta.primary_keys]
    if any(value is None for _, value in values):
        return None
    return Q(*values)
