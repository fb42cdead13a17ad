"""The ``_matrx_migrations`` table: one row per applied revision file, with a checksum of its contents.

Alembic's ``alembic_version`` says *which* revisions are applied; this table says *what* was applied, so a file
edited after it ran is noticed (``status`` flags it, ``migrate`` refuses to run until it is restored or the
override is given). Rows are written by an ``on_version_apply`` hook inside each revision's transaction.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection

__all__ = [
    "STATE_TABLE",
    "AppliedRecord",
    "ensure_state_table",
    "file_checksum",
    "forget_applied",
    "read_applied",
    "record_applied",
    "revision_name",
]

STATE_TABLE = "_matrx_migrations"

_metadata = sa.MetaData()
state_table = sa.Table(
    STATE_TABLE,
    _metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    sa.Column("checksum", sa.String(64), nullable=False),
)


@dataclass(frozen=True)
class AppliedRecord:
    """A row of ``_matrx_migrations``."""

    name: str
    applied_at: datetime.datetime
    checksum: str


def file_checksum(path: str | Path) -> str:
    """SHA-256 (hex, 64 characters) of a file's bytes, with line endings normalised to ``\\n``."""
    data = Path(path).read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def revision_name(path: str | Path) -> str:
    """The name a revision file is tracked under: its file name without ``.py``."""
    return Path(path).stem


def ensure_state_table(connection: Connection) -> None:
    """CREATE ``_matrx_migrations`` when missing (an existing matrx-orm table is used as it is)."""
    state_table.create(connection, checkfirst=True)


def read_applied(connection: Connection) -> dict[str, AppliedRecord]:
    """Every row, by name (empty when the table does not exist yet)."""
    if not sa.inspect(connection).has_table(STATE_TABLE):
        return {}
    rows = connection.execute(
        sa.select(state_table.c.name, state_table.c.applied_at, state_table.c.checksum)
    ).all()
    return {row.name: AppliedRecord(row.name, row.applied_at, row.checksum) for row in rows}


def record_applied(connection: Connection, path: str | Path) -> None:
    """Insert (or refresh) the row of the revision file at ``path``."""

    values: dict[str, Any] = {"name": revision_name(path), "checksum": file_checksum(path)}
    statement = insert(state_table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[state_table.c.name],
        set_={"checksum": statement.excluded.checksum, "applied_at": sa.func.now()},
    )
    connection.execute(statement)


def forget_applied(connection: Connection, path: str | Path) -> None:
    """Delete the row of the revision file at ``path`` (after it was rolled back)."""
    connection.execute(sa.delete(state_table).where(state_table.c.name == revision_name(path)))
