"""``matrx_orm.core.model_view``: matrx-orm 2.x's import path for ``ModelView`` (re-exports only)."""

from ..model_view import ModelView

__all__ = ["ModelView"]
