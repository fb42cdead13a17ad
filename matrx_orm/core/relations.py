"""``matrx_orm.core.relations``: matrx-orm 2.x's import path for relation declarations (re-exports only)."""

from ..fields.relations import ManyToManyField
from ..meta.foreign_key import FKSpec, ForeignKey, ForeignKeyReference
from ..meta.inverse_foreign_key import IFKSpec
from ..meta.many_to_many import M2MSpec

__all__ = ["FKSpec", "ForeignKey", "ForeignKeyReference", "IFKSpec", "M2MSpec", "ManyToManyField"]
