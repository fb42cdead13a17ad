"""Models: the metaclass, the registry of models and tables, foreign keys and table creation."""

from .base import Model, ModelMeta, snake_case
from .ddl import create_all, drop_all
from .foreign_key import ForeignKey, ForeignKeyReference
from .options import ModelOptions
from .registry import all_models, get_model, metadata_for

__all__ = [
    "ForeignKey",
    "ForeignKeyReference",
    "Model",
    "ModelMeta",
    "ModelOptions",
    "all_models",
    "create_all",
    "drop_all",
    "get_model",
    "metadata_for",
    "snake_case",
]
