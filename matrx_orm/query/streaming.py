"""``qs.iterator(chunk_size)``: rows streamed through a server-side cursor, ``chunk_size`` per round trip.

``select_related`` paths come in the cursor's own rows (the same LEFT JOINs as ``all()``); the
``prefetch_related`` paths (and select_related paths that cannot be joined) are loaded once per chunk, one
query per relation, on the cursor's connection, so memory stays bounded by the chunk and no second
connection is needed. The cursor statement is recorded once by ``capture_queries()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ..engine import acquire
from ..exceptions import map_database_error
from ..transaction import OpenTransaction, borrow_connection, current_transaction
from .capture import ACTIVE as _capturing
from .capture import record as _record
from .hydrate import instance_loader
from .vector import DISTANCE_LABEL

__all__ = ["stream"]


def _chunk_loader(qs: Any) -> Callable[[Sequence[Any]], Any]:
    """A coroutine function turning one chunk of records into instances (joined and prefetched relations)."""
    state = qs._state
    names = qs._field_names()
    if state.nearest is not None:  # the distance column follows the fields, as in all()
        names = (*names, DISTANCE_LABEL)
    load = instance_loader(state.model, names)
    related = bool(state.select_related or state.prefetch_related)

    async def chunk(records: Sequence[Any]) -> list[Any]:
        instances = [load(record) for record in records]
        if related and instances:
            from ..relations.loading import load_related

            await load_related(instances, records, state)
        return instances

    return chunk


async def stream(qs: Any, chunk_size: int) -> AsyncIterator[Any]:
    """Instances of ``qs`` fetched ``chunk_size`` at a time from a cursor (inside a transaction)."""
    statement, params = qs._select(qs._field_names())
    chunk = _chunk_loader(qs)
    database = qs._database
    context = {"model": qs._meta.model_name, "operation": "iterator", "query": statement.sql}
    tx = current_transaction(database)
    if logs := _capturing.get():
        _record(logs, database, statement.sql, tx is not None)
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
            for instance in await chunk(records):
                yield instance
            if len(records) < chunk_size:
                return
    async with acquire(database) as connection:
        try:
            transaction = connection.transaction(readonly=True)
            await transaction.start()
        except Exception as exc:
            raise map_database_error(exc, **context) from exc
        borrowed = OpenTransaction(database, connection)  # relation loads run on this connection
        try:
            cursor = await connection.cursor(statement.sql, *params)
            while True:
                records = await cursor.fetch(chunk_size)
                with borrow_connection(borrowed):
                    instances = await chunk(records)
                for instance in instances:
                    yield instance
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
