"""Questions about the server itself (installed extensions)."""

from __future__ import annotations

from . import executor

__all__ = ["server_has_extension"]

_HAS_EXTENSION = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1)"


async def server_has_extension(database: str, name: str) -> bool:
    """Whether extension ``name`` is installed in the project's database."""
    rows = await executor.fetch(database, _HAS_EXTENSION, [name], operation="server_has_extension")
    return bool(rows[0][0])
