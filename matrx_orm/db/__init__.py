"""The database layer: the only code that talks to asyncpg.

Owns the per-project, per-event-loop connection pools and SQLAlchemy engines (``engine``), the task-local
transactions (``context``, ``transaction``), the executor that runs every statement (``executor``: error
mapping, ``capture_queries``), what is reported about each statement (``observe``: SQL logging, query
events, the trace span hook) and the server health check (``health``). It may import ``matrx_orm.config``
and ``matrx_orm.exceptions`` only.
"""

from .capture import CapturedQuery, QueryLog, capture_queries
from .engine import PoolStats, all_pool_stats, close_all_pools, dispose_all, get_engine, pool_stats
from .health import HealthStatus, health_check
from .observe import QueryEvent, QueryHook, on_query
from .pinning import connection
from .routing import primary
from .transaction import transaction

__all__ = [
    "CapturedQuery",
    "HealthStatus",
    "PoolStats",
    "QueryEvent",
    "QueryHook",
    "QueryLog",
    "all_pool_stats",
    "capture_queries",
    "close_all_pools",
    "connection",
    "dispose_all",
    "get_engine",
    "health_check",
    "on_query",
    "pool_stats",
    "primary",
    "transaction",
]
