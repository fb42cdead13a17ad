"""What a model is: the metaclass, ``_meta`` options, the registry of models and tables, relations by name,
indexes, table creation, and how rows become instances.

It may import ``fields``, ``state``, ``db`` (``create_all`` runs DDL through the project's engine) and the
ground floor (``config``, ``exceptions``); nothing here builds queries.
"""

from .ddl import create_all, drop_all
from .foreign_key import ForeignKey, ForeignKeyReference
from .indexes import DDLGenerator, IndexDef
from .metaclass import ModelMeta, snake_case
from .options import ModelOptions
from .registry import all_models, get_model, metadata_for

__all__ = [
    "DDLGenerator",
    "ForeignKey",
    "ForeignKeyReference",
    "IndexDef",
    "ModelMeta",
    "ModelOptions",
    "all_models",
    "create_all",
    "drop_all",
    "get_model",
    "metadata_for",
    "snake_case",
]
