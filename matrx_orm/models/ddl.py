"""Create or drop the tables of registered models (tests, demos, prototypes; use migrations in production)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import registry

if TYPE_CHECKING:
    from .base import Model


def _models(database: str, models: Iterable[type[Model]] | None) -> list[type[Model]]:
    chosen = list(models) if models is not None else registry.all_models(database)
    return [m for m in chosen if m._meta.database == database]


async def create_all(database: str = registry.DEFAULT_DATABASE, *, models: Iterable[type[Model]] | None = None) -> None:
    """CREATE the schemas, the ``vector`` extension (when a model needs it) and the tables that are missing."""
    from ..engine import get_engine

    chosen = _models(database, models)
    tables = [m._meta.table for m in chosen]
    schemas = sorted({t.schema for t in tables if t.schema})
    needs_vector = any(
        getattr(field, "lookup_family", "") == "vector" for m in chosen for field in m._meta.fields.values()
    )
    async with get_engine(database).begin() as connection:
        if needs_vector:
            await connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        for schema in schemas:
            await connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        await connection.run_sync(registry.metadata_for(database).create_all, tables=tables, checkfirst=True)


async def drop_all(database: str = registry.DEFAULT_DATABASE, *, models: Iterable[type[Model]] | None = None) -> None:
    """DROP the tables of the registered models of ``database`` (those that exist)."""
    from ..engine import get_engine

    tables = [m._meta.table for m in _models(database, models)]
    async with get_engine(database).begin() as connection:
        await connection.run_sync(registry.metadata_for(database).drop_all, tables=tables, checkfirst=True)
