"""Relations: foreign keys, inverse foreign keys, many-to-many, select_related and prefetch_related.

``spec`` resolves relation names; ``fk`` / ``inverse`` / ``m2m`` load them (one query for many instances);
``select_related`` joins foreign keys into the main SELECT; ``prefetch`` loads paths level by level;
``fanout`` runs several loads (serially inside a transaction); ``model_api`` is the Model mixin.
"""

from .m2m import M2MSpec, junction_tables
from .model_api import RelatedResults, RelationMethods
from .spec import FKSpec, IFKSpec, relation

__all__ = ["FKSpec", "IFKSpec", "M2MSpec", "RelatedResults", "RelationMethods", "junction_tables", "relation"]
