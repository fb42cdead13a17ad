"""Schema introspection and model code generation.

Pipeline: reflect (SQLAlchemy inspector on the project's AsyncEngine) -> plain dataclasses
(:mod:`.info`) -> a code plan (:mod:`.plan`) -> small render functions -> files (:mod:`.generator`).

``run_generate_models`` (async) and ``SchemaManager`` (sync-friendly) are the entry points; see
docs/codegen.md.
"""

from __future__ import annotations

from .generator import GenerationResult, get_code_config, run_generate_models, run_generate_models_sync
from .info import (
    CheckInfo,
    ColumnInfo,
    ColumnType,
    EnumInfo,
    ForeignKeyInfo,
    IndexInfo,
    SchemaInfo,
    TableInfo,
    UniqueInfo,
)
from .manager import Schema, SchemaManager
from .progress import Progress
from .reflect import TableSelection, reflect_database

__all__ = [
    "get_code_config",
    "CheckInfo",
    "ColumnInfo",
    "ColumnType",
    "EnumInfo",
    "ForeignKeyInfo",
    "GenerationResult",
    "IndexInfo",
    "Progress",
    "Schema",
    "SchemaInfo",
    "SchemaManager",
    "TableInfo",
    "TableSelection",
    "UniqueInfo",
    "reflect_database",
    "run_generate_models",
    "run_generate_models_sync",
]
