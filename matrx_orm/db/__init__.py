"""The database layer: the only code that talks to asyncpg.

Owns the per-project, per-event-loop connection pools and SQLAlchemy engines (``engine``), the task-local
transactions (``context``, ``transaction``), and the executor that runs every statement (``executor``:
error mapping, ``capture_queries``). It may import ``matrx_orm.config`` and ``matrx_orm.exceptions`` only.
"""

from .capture import CapturedQuery, QueryLog, capture_queries
from .engine import close_all_pools, dispose_all, get_engine
from .transaction import transaction

__all__ = [
    "CapturedQuery",
    "QueryLog",
    "capture_queries",
    "close_all_pools",
    "dispose_all",
    "get_engine",
    "transaction",
]
