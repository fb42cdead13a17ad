"""Which server a statement runs on: the project's primary, or one of its read replicas.

A project registered with ``replicas=[...]`` sends **reads outside a transaction** to its replicas, round
robin: SELECT statements the ORM built, and SQL you wrote that starts with ``SELECT``, unless they lock rows
(``FOR UPDATE`` / ``FOR SHARE``). Everything else goes to the primary: writes, anything inside
``transaction()``, migrations and schema commands.

Reads go to the primary instead when

* the current task wrote to the project within the last ``replica_lag_window`` seconds (read-your-writes).
  The window is counted from when the write has completed: a write only marks the task, and its next read
  (which begins after the write finished) starts the window. A ``transaction()`` marks the task that owns
  the block when it ends, so the window starts after its ``COMMIT`` — also when the block's statements ran
  in tasks it gathered. Tasks started afterwards inherit the mark or the deadline; the task that started
  them does not see theirs;
* the code runs inside ``with primary():``, or the query asked with ``.using_primary()``;
* every replica is left out after failing to connect (each for ``replica_backoff`` seconds).

Replica ``N`` of project ``shop`` is itself a project named ``shop~replicaN``: ``pool_stats``,
``health_check`` and the logs name it so.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from ..config import add_registry_listener, get_database_config, replica_names
from ..exceptions import ConfigurationError

__all__ = ["PrimaryName", "primary", "replica_failed", "route", "transaction_ended", "wrote"]

logger = logging.getLogger(__name__)

_LOCKING = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b", re.IGNORECASE)


class PrimaryName(str):
    """A project name whose statements never go to a replica (what ``QueryBuilder.using_primary()`` uses)."""

    __slots__ = ()


@dataclass(eq=False)
class _Replicas:
    project: str
    names: list[str]
    window: float
    backoff: float
    turn: int = 0
    down_until: dict[str, float] = field(default_factory=dict)


#: project name or alias -> its replicas (None: it has none); cleared when the registry changes
_replicas: dict[str, _Replicas | None] = {}
#: project name -> monotonic time until which the current context's reads stay on the primary (_WROTE: a
#: write since the last read, whose window starts at the next read)
_primary_until: ContextVar[Mapping[str, float] | None] = ContextVar("matrx_orm_primary_until", default=None)
_forced: ContextVar[bool] = ContextVar("matrx_orm_primary", default=False)
_WROTE = math.inf


def _replicas_of(database: str) -> _Replicas | None:
    try:
        return _replicas[database]
    except KeyError:
        pass
    try:
        config = get_database_config(database)
    except ConfigurationError:
        return None
    found = (
        _Replicas(config.name, replica_names(config.name), config.replica_lag_window, config.replica_backoff)
        if config.replicas
        else None
    )
    _replicas[database] = found
    return found


add_registry_listener(lambda _name: _replicas.clear())


def route(database: str, sql: str, user_sql: bool) -> str:
    """The project (``database`` or one of its replicas) a statement outside a transaction runs on. A
    statement that is not a read starts the read-your-writes window."""
    replicas = _replicas[database] if database in _replicas else _replicas_of(database)
    if replicas is None:
        return database
    if not _is_read(sql, user_sql):
        _remember_write(replicas)
        return database
    deadlines = _primary_until.get()
    deadline = deadlines.get(replicas.project) if deadlines is not None else None
    if deadline is not None:
        if deadline == _WROTE:  # the first read since a write: the write is over, its window starts now
            _primary_until.set({**(deadlines or {}), replicas.project: time.monotonic() + replicas.window})
            return database
        if time.monotonic() < deadline:
            return database
    if type(database) is PrimaryName or _forced.get():
        return database
    return _next_replica(replicas) or database


def wrote(database: str) -> None:
    """Record that the current task wrote (or may have written) to ``database``: its reads stay on the
    primary until ``replica_lag_window`` seconds after its next read begins."""
    replicas = _replicas_of(database)
    if replicas is not None:
        _remember_write(replicas)


def transaction_ended(database: str) -> None:
    """A ``transaction()`` on ``database`` ended (committed, or rolled back): call it in the task that owns
    the block, after its ``COMMIT``, so that task's reads see what the block wrote — also what tasks it
    gathered inside the block wrote, whose own marks stay in their contexts."""
    wrote(database)


def replica_failed(name: str, error: BaseException) -> None:
    """Leave replica ``name`` out for its project's ``replica_backoff`` seconds (logged once per outage)."""
    project = name.split("~", 1)[0]
    replicas = _replicas_of(project)
    if replicas is None:
        return
    if replicas.down_until.get(name, 0.0) <= time.monotonic():
        logger.warning(
            "replica %r cannot be reached (%s); its reads go to the primary for %g s",
            name,
            error,
            replicas.backoff,
        )
    replicas.down_until[name] = time.monotonic() + replicas.backoff


@contextlib.contextmanager
def primary() -> Iterator[None]:
    """``with primary():`` — every read of the block goes to the primary."""
    token = _forced.set(True)
    try:
        yield
    finally:
        _forced.reset(token)


def _is_read(sql: str, user_sql: bool) -> bool:
    if user_sql:
        head = sql.lstrip()[:6]
        if head.upper() != "SELECT":
            return False
    elif not sql.startswith("SELECT "):
        return False
    return _LOCKING.search(sql) is None


def _remember_write(replicas: _Replicas) -> None:
    if replicas.window <= 0:
        return
    current = _primary_until.get() or {}
    if current.get(replicas.project) != _WROTE:
        _primary_until.set({**current, replicas.project: _WROTE})


def _next_replica(replicas: _Replicas) -> str | None:
    now = time.monotonic()
    count = len(replicas.names)
    for step in range(count):
        name = replicas.names[(replicas.turn + step) % count]
        if replicas.down_until.get(name, 0.0) <= now:
            replicas.turn = (replicas.turn + step + 1) % count
            return name
    return None
