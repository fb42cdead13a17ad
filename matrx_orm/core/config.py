"""``matrx_orm.core.config``: matrx-orm 2.x's import path for database configuration (re-exports only)."""

from ..config import (
    DatabaseProjectConfig,
    get_all_database_project_names,
    get_all_database_projects_redacted,
    get_connection_string,
    get_database_alias,
    get_database_config,
    get_manager_config,
    get_schema_builder_overrides,
    register_database,
    register_database_from_env,
    unregister_database,
)
from ..exceptions import ConfigurationError as DatabaseConfigError
from ..schema_builder import get_code_config

__all__ = [
    "DatabaseConfigError",
    "DatabaseProjectConfig",
    "get_all_database_project_names",
    "get_all_database_projects_redacted",
    "get_code_config",
    "get_connection_string",
    "get_database_alias",
    "get_database_config",
    "get_manager_config",
    "get_schema_builder_overrides",
    "register_database",
    "register_database_from_env",
    "unregister_database",
]
