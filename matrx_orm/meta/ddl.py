"""Create or drop the tables of registered models (tests, demos, prototypes; use migrations in production)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..db.engine import engine_connection, reload_type_codecs
from . import registry
from .many_to_many import junction_tables

if TYPE_CHECKING:
    from ..model import Model


def _models(database: str, models: Iterable[type[Model]] | None) -> list[type[Model]]:
    """The models given (whatever database they are registered on), else every model of ``database``."""
    return list(models) if models is not None else registry.all_models(database)


def _by_metadata(tables: list[sa.Table]) -> dict[sa.MetaData, list[sa.Table]]:
    grouped: dict[sa.MetaData, list[sa.Table]] = {}
    for table in tables:
        grouped.setdefault(table.metadata, []).append(table)
    return grouped


async def create_all(
    database: str = registry.DEFAULT_DATABASE, *, models: Iterable[type[Model]] | None = None
) -> None:
    """CREATE the schemas, the ``vector`` extension (when a model needs it) and the tables that are missing.

    ``models`` defaults to every model registered on ``database``; models given explicitly are created on
    ``database`` even when they are registered on another one (handy for copies of a schema in tests).
    Errors are raised like a query's: an unreachable database raises :class:`~matrx_orm.ConnectionError`.
    """
    chosen = _models(database, models)
    tables = [m._meta.table for m in chosen if not m._meta.table.info.get("is_view")]  # views: read-only
    tables += [t for t in junction_tables(chosen) if t not in tables]  # ManyToManyField junctions
    schemas = sorted({t.schema for t in tables if t.schema})
    needs_vector = any(
        getattr(field, "lookup_family", "") == "vector" for m in chosen for field in m._meta.fields.values()
    )
    async with engine_connection(database, operation="create_all", begin=True) as connection:
        if needs_vector:
            await connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        for schema in schemas:
            await connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        for metadata, group in _by_metadata(tables).items():
            await connection.run_sync(metadata.create_all, tables=group, checkfirst=True)
    if needs_vector:
        await reload_type_codecs(database)


async def drop_all(
    database: str = registry.DEFAULT_DATABASE, *, models: Iterable[type[Model]] | None = None
) -> None:
    """DROP the tables (those that exist) of ``models``, by default every model registered on ``database``."""
    chosen = _models(database, models)
    tables = [m._meta.table for m in chosen if not m._meta.table.info.get("is_view")]  # views: read-only
    tables += [t for t in junction_tables(chosen) if t not in tables]
    async with engine_connection(database, operation="drop_all", begin=True) as connection:
        for metadata, group in _by_metadata(tables).items():
            await connection.run_sync(metadata.drop_all, tables=group, checkfirst=True)
