"""``qs.iterator(chunk_size)``: rows streamed through a server-side cursor, ``chunk_size`` per round trip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..engine import acquire
from ..exceptions import map_database_error
from ..transaction import current_transaction
from .hydrate import instance_loader

__all__ = ["stream"]


async def stream(qs: Any, chunk_size: int) -> AsyncIterator[Any]:
    """Instances of ``qs`` fetched ``chunk_size`` at a time from a cursor (inside a transaction)."""
    names = qs._field_names()
    statement, params = qs._select(names)
    load = instance_loader(qs._state.model, names)
    database = qs._database
    context = {"model": qs._meta.model_name, "operation": "iterator", "query": statement.sql}
    tx = current_transaction(database)
    if tx is not None:
        try:
            async with tx.lock:
                cursor = await tx.connection.cursor(statement.sql, *params)
        except Exception as exc:
            raise map_database_error(exc, params=list(params), **context) from exc
        while True:
            try:
                async with tx.lock:  # other statements of the transaction may run between chunks
                    records = await cursor.fetch(chunk_size)
            except Exception as exc:
                raise map_database_error(exc, **context) from exc
            for record in records:
                yield load(record)
            if len(records) < chunk_size:
                return
    async with acquire(database) as connection:
        try:
            transaction = connection.transaction(readonly=True)
            await transaction.start()
        except Exception as exc:
            raise map_database_error(exc, **context) from exc
        try:
            cursor = await connection.cursor(statement.sql, *params)
            while True:
                records = await cursor.fetch(chunk_size)
                for record in records:
                    yield load(record)
                if len(records) < chunk_size:
                    break
        except Exception as exc:
            await transaction.rollback()
            raise map_database_error(exc, params=list(params), **context) from exc
        except BaseException:  # the consumer stopped early (GeneratorExit) or was cancelled
            await transaction.rollback()
            raise
        else:
            await transaction.commit()
