"""``matrx_orm.core.registry``: matrx-orm 2.x's import path for the model registry (re-exports only)."""

from ..meta.registry import ModelRegistry, get_model, model_registry

#: 2.x's name of ``get_model``
get_model_by_name = get_model

__all__ = ["ModelRegistry", "get_model", "get_model_by_name", "model_registry"]
