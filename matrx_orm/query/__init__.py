"""Querying: Q objects, lookups, the compiler, the executor and the QueryBuilder."""

from .builder import QueryBuilder, QueryState
from .lookups import Lookup, get_lookup, register_lookup
from .q import Q
from .results import UpdateResult

__all__ = ["Lookup", "Q", "QueryBuilder", "QueryState", "UpdateResult", "get_lookup", "register_lookup"]
