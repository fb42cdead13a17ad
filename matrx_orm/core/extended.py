"""``matrx_orm.core.extended``: matrx-orm 2.x's import path for managers and DTOs (re-exports only)."""

from ..dto import BaseDTO
from ..manager import BaseManager, ModelT

__all__ = ["BaseDTO", "BaseManager", "ModelT"]
