"""``Model.raw(sql, *args)`` (hydrated instances) and ``Model.raw_sql(sql, *args)`` (dicts).

The SQL is the caller's, run as written with ``$1, $2, ...`` placeholders bound to ``args`` (asyncpg).
Columns are matched to fields by column name; other columns (``count(*) AS n``) are kept as attributes.
"""

from __future__ import annotations

from typing import Any

from ..db import executor
from ..exceptions import ParameterError
from ..meta.rows import instance_loader, loaded

__all__ = ["raw", "raw_sql"]


def _check_sql(sql: Any, model: type) -> str:
    if not isinstance(sql, str) or not sql.strip():
        raise ParameterError(f"raw SQL must be a non-empty str; got {sql!r}", model=model.__name__)
    return sql


async def raw(model: type, sql: str, args: tuple[Any, ...], database: str | None = None) -> list[Any]:
    """Rows of ``sql`` as ``model`` instances."""
    meta = model._meta  # type: ignore[attr-defined]
    records = await executor.fetch(
        database or meta.database,
        _check_sql(sql, model),
        list(args),
        model=meta.model_name,
        operation="raw",
        user_sql=True,
    )
    if not records:
        return []
    by_column = {field.column_name: name for name, field in meta.fields.items()}
    names = tuple(by_column.get(key, key) for key in records[0].keys())  # noqa: SIM118 (Record iterates values)
    if len(set(names)) != len(names):
        raise ParameterError(
            f"raw SQL returned duplicate column names {list(records[0].keys())}; alias them",
            model=meta.model_name,
            operation="raw",
        )
    load = instance_loader(model, names)
    return loaded(load, records)


async def raw_sql(
    model: type, sql: str, args: tuple[Any, ...], database: str | None = None
) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts (column name → value)."""
    meta = model._meta  # type: ignore[attr-defined]
    records = await executor.fetch(
        database or meta.database,
        _check_sql(sql, model),
        list(args),
        model=meta.model_name,
        operation="raw_sql",
        user_sql=True,
    )
    return [dict(record) for record in records]
