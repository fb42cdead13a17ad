"""Questions about the server itself: :func:`health_check` and :func:`server_has_extension`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from ..config import get_database_config
from ..exceptions import DatabaseError
from . import executor
from .routing import PrimaryName

__all__ = ["HealthStatus", "health_check", "server_has_extension"]

_HAS_EXTENSION = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1)"
_HEALTH = (
    "SELECT current_setting('server_version'), pg_catalog.pg_is_in_recovery(), "
    "ARRAY(SELECT extname::text FROM pg_catalog.pg_extension ORDER BY extname), "
    "ARRAY(SELECT extversion FROM pg_catalog.pg_extension ORDER BY extname)"
)


async def server_has_extension(database: str, name: str) -> bool:
    """Whether extension ``name`` is installed in the project's database."""
    rows = await executor.fetch(
        PrimaryName(database), _HAS_EXTENSION, [name], operation="server_has_extension"
    )
    return bool(rows[0][0])


@dataclass(frozen=True)
class HealthStatus:
    """What :func:`health_check` found: ``ok`` and the server's facts, or ``error`` (one line) when not ok."""

    ok: bool
    #: milliseconds the check's query took (the first check of a project also opens its pool)
    latency_ms: float | None = None
    #: e.g. "18.1"
    server_version: str | None = None
    #: True on a replica (``pg_is_in_recovery()``)
    in_recovery: bool | None = None
    #: installed extensions and their versions, e.g. ``{"plpgsql": "1.0", "vector": "0.8.0"}``
    extensions: dict[str, str] = field(default_factory=dict)
    #: why the check failed (passwords masked); None when ok
    error: str | None = None


async def health_check(database: str, timeout: float = 2.0) -> HealthStatus:
    """Check that project ``database`` answers, within ``timeout`` seconds in all.

    Never raises for a server that is down, refuses the login, has no such database or does not answer in
    time: the status says ``ok=False`` and why. An unknown project raises
    :class:`~matrx_orm.ConfigurationError`. The query runs through the executor (logged, captured) as
    operation ``health_check``.
    """
    get_database_config(database)  # an unknown project is a programming error: raise it
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            rows = await executor.fetch(
                PrimaryName(database),
                _HEALTH,  # a replica is checked by its own name
                [],
                operation="health_check",
            )
    except TimeoutError:
        return HealthStatus(ok=False, error=f"no answer from the database within {timeout:g} s")
    except DatabaseError as exc:  # every driver error comes out of the executor as one
        return HealthStatus(ok=False, error=" ".join(exc.message.split()))
    latency_ms = (time.perf_counter() - started) * 1000
    version, in_recovery, names, versions = rows[0]
    return HealthStatus(
        ok=True,
        latency_ms=latency_ms,
        server_version=str(version).split()[0],
        in_recovery=bool(in_recovery),
        extensions=dict(zip(names, versions, strict=True)),
    )
