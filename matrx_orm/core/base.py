"""``matrx_orm.core.base``: matrx-orm 2.x's import path for the model classes (re-exports only)."""

from ..meta.metaclass import ModelMeta
from ..meta.options import ModelOptions
from ..meta.runtime import RuntimeContainer
from ..model import Model

__all__ = ["Model", "ModelMeta", "ModelOptions", "RuntimeContainer"]
