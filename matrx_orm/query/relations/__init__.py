"""Loading relations: foreign keys, inverse foreign keys, many-to-many, ``select_related`` and
``prefetch_related``.

``fk`` / ``inverse`` / ``many_to_many`` load one kind (one query for many instances); ``select_related``
builds the joined instances; ``prefetch`` loads paths level by level; ``fanout`` runs several loads (serially
inside a transaction); ``methods`` is the mixin giving every model instance ``fetch_fk``, ``add_m2m``,
``get_related`` and the rest. Relation names are resolved by ``meta/relations.py``.
"""

from .methods import RelationMethods
from .results import (
    AggregateResult,
    AllRelatedResults,
    ForeignKeyResults,
    InverseForeignKeyResults,
    ManyToManyResults,
)

__all__ = [
    "AggregateResult",
    "AllRelatedResults",
    "ForeignKeyResults",
    "InverseForeignKeyResults",
    "ManyToManyResults",
    "RelationMethods",
]
