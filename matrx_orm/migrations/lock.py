"""A PostgreSQL advisory lock held while revisions are applied or rolled back.

Two processes running ``migrate`` at once queue on the lock: the second one starts after the first has
committed, sees the revisions applied and does nothing.

* :func:`advisory_lock`: a session-level lock (``pg_advisory_lock``) held across the revisions, each in its own
  transaction. Only safe on a connection that keeps its server session: a direct connection, or a pooler in
  session mode.
* :func:`transaction_lock`: a transaction-level lock (``pg_advisory_xact_lock``) released by the ``COMMIT`` or
  ``ROLLBACK`` of the transaction that took it. Behind a transaction pooler (PgBouncer ``pool_mode =
  transaction``, Supabase's port 6543) consecutive statements may reach different server sessions, so a
  session lock taken by one statement could be released on another session (or never): the runner then
  applies all pending revisions in one transaction that takes this lock first.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["LOCK_NAME", "advisory_lock", "lock_key", "transaction_lock"]

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


def transaction_lock(connection: Connection, name: str = LOCK_NAME) -> None:
    """Take the transaction-level advisory lock in ``connection``'s current transaction (waits until it is
    free); the transaction's end releases it."""
    key = lock_key(name)
    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.literal(key, sa.BigInteger))))


def _unlock(connection: Connection, key: int) -> None:
    if connection.in_transaction():
        connection.rollback()
    connection.execute(sa.select(sa.func.pg_advisory_unlock(sa.literal(key, sa.BigInteger))))
    connection.commit()
