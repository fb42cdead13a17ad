"""The SQL layer: what a query says (``QuerySpec``, ``Q``, lookups, expressions) and the compiler that turns
it into SQLAlchemy statements and SQL text, cached per shape.

It may import ``meta``, ``fields`` and the ground floor (``exceptions``), never the query builder or the
write paths; it runs nothing: statements leave here as SQL text and parameters for the executor.
"""

from . import json_lookups  # noqa: F401  (registers the JSONB lookups)
from .lookups import Lookup, get_lookup, register_lookup
from .q import Q
from .spec import Queryable, QuerySpec

__all__ = ["Lookup", "Q", "Queryable", "QuerySpec", "get_lookup", "register_lookup"]
