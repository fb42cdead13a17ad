"""``matrx_orm.core.types``: matrx-orm 2.x's import path for result types (re-exports only)."""

from ..query.relations.results import (
    AggregateResult,
    AllRelatedResults,
    ForeignKeyResults,
    InverseForeignKeyResults,
    ManyToManyResults,
)
from ..write.results import UpdateResult

__all__ = [
    "AggregateResult",
    "AllRelatedResults",
    "ForeignKeyResults",
    "InverseForeignKeyResults",
    "ManyToManyResults",
    "UpdateResult",
]
