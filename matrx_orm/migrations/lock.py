"""A PostgreSQL advisory lock held while revisions are applied or rolled back.

Two processes running ``migrate`` at once queue on the lock: the second one starts after the first has
committed, sees the revisions applied and does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["LOCK_NAME", "advisory_lock", "lock_key"]

LOCK_NAME = "matrx_orm.migrations"


def lock_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` derived from ``name``."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def advisory_lock(connection: Connection, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold a session-level advisory lock on ``connection`` for the block (waits until it is free).

    The connection is left outside any transaction on entry and on exit, so Alembic can open one
    transaction per revision.
    """
    key = lock_key(name)
    connection.execute(sa.select(sa.func.pg_advisory_lock(sa.literal(key, sa.BigInteger))))
    connection.commit()
    try:
        yield
    except BaseException:
        # the body failed: release the lock if the connection still works, and let the body's error through
        with contextlib.suppress(Exception):
            _unlock(connection, key)
        raise
    _unlock(connection, key)


def _unlock(connection: Connection, key: int) -> None:
    if connection.in_transaction():
        connection.rollback()
    connection.execute(sa.select(sa.func.pg_advisory_unlock(sa.literal(key, sa.BigInteger))))
    connection.commit()
