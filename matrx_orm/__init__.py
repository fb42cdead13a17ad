"""matrx-orm: an async-first PostgreSQL ORM with the matrx-orm API, on SQLAlchemy Core and asyncpg."""

from typing import TYPE_CHECKING, Any

from .config import (
    DatabaseProjectConfig,
    get_all_database_project_names,
    get_connection_string,
    get_database_alias,
    get_database_config,
    get_manager_config,
    get_schema_builder_overrides,
    register_database,
    register_database_from_env,
    unregister_database,
)
from .db import (
    HealthStatus,
    PoolStats,
    QueryEvent,
    QueryHook,
    all_pool_stats,
    close_all_pools,
    connection,
    dispose_all,
    get_engine,
    health_check,
    on_query,
    pool_stats,
    primary,
    transaction,
)
from .db.capture import CapturedQuery, QueryLog, capture_queries
from .dto import BaseDTO
from .exceptions import (
    CacheError,
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConnectionError,
    DatabaseError,
    DoesNotExist,
    FieldError,
    IntegrityError,
    MigrationError,
    MultipleObjectsReturned,
    OptimisticLockError,
    ORMException,
    ParameterError,
    PartialCommitError,
    PoolExhaustedError,
    QueryError,
    ReadOnlyModelError,
    RelationshipError,
    StateError,
    SyncContextError,
    TransactionEndedError,
    TransactionError,
    UnknownDatabaseError,
    UnknownFieldError,
    UnknownLookupError,
    UnknownRelationError,
    UnusedQueryWarning,
    ValidationError,
)
from .fields import *  # noqa: F403  (every field class)
from .fields import __all__ as _field_names
from .manager import BaseManager
from .meta import DDLGenerator, ForeignKey, ForeignKeyReference, IndexDef, create_all, drop_all, get_model
from .meta.indexes import vector_ops_for
from .meta.registry import model_registry
from .model import Model
from .model_view import ModelView
from .query import EmptyPage, InvalidPage, Page, Paginator, QueryBuilder
from .query.relations.results import (
    AggregateResult,
    AllRelatedResults,
    ForeignKeyResults,
    InverseForeignKeyResults,
    ManyToManyResults,
)
from .schemas import build_input_schema, build_output_schema, model_json_schema, validate_input
from .signals import Signal, post_create, post_delete, post_save, pre_create, pre_delete, pre_save
from .sql import Q
from .sql.expressions import *  # noqa: F403  (F, Sum, Window, CTE, VectorDistance, ...)
from .sql.expressions import __all__ as _expression_names
from .state import CachePolicy, StateManager
from .write import UpdateResult

if TYPE_CHECKING:  # the names __getattr__ below loads lazily
    from .migrations import (
        MigrationDB,
        SchemaDiff,
        TableFilter,
        create_empty,
        makemigrations,
        migrate,
        migrate_and_rebuild,
        migration_status,
        rollback,
    )
    from .schema_builder import get_code_config

__version__ = "3.0.0.dev0"

#: loaded on first use (importing Alembic costs ~150 ms that plain ORM use does not need)
_MIGRATION_NAMES = (
    "MigrationDB",
    "SchemaDiff",
    "TableFilter",
    "create_empty",
    "makemigrations",
    "migrate",
    "migrate_and_rebuild",
    "migration_status",
    "rollback",
)


def __getattr__(name: str) -> Any:
    if name in _MIGRATION_NAMES:
        from . import migrations  # in-function: Alembic costs ~150 ms that plain ORM use does not need

        return getattr(migrations, name)
    if name == "get_code_config":
        from .schema_builder import get_code_config  # in-function: the code generator is loaded on use

        return get_code_config
    raise AttributeError(f"module 'matrx_orm' has no attribute {name!r}")


__all__ = [
    "AggregateResult",
    "AllRelatedResults",
    "ForeignKeyResults",
    "InverseForeignKeyResults",
    "ManyToManyResults",
    "Signal",
    "get_code_config",
    "get_database_alias",
    "get_manager_config",
    "post_create",
    "post_delete",
    "post_save",
    "pre_create",
    "pre_delete",
    "pre_save",
    "vector_ops_for",
    "BaseDTO",
    "BaseManager",
    "ModelView",
    "build_input_schema",
    "build_output_schema",
    "model_json_schema",
    "validate_input",
    "UnusedQueryWarning",
    "model_registry",
    "CacheError",
    "CapturedQuery",
    "CachePolicy",
    "ConfigurationError",
    "ConnectionError",
    "DatabaseError",
    "DDLGenerator",
    "DatabaseProjectConfig",
    "DoesNotExist",
    "FieldError",
    "ForeignKey",
    "ForeignKeyReference",
    "IndexDef",
    "IntegrityError",
    "MigrationError",
    "Model",
    "MultipleObjectsReturned",
    "ORMException",
    "OptimisticLockError",
    "QueryLog",
    "ParameterError",
    "PartialCommitError",
    "PoolExhaustedError",
    "CommitOutcomeUnknownError",
    "Q",
    "QueryBuilder",
    "QueryError",
    "ReadOnlyModelError",
    "RelationshipError",
    "StateError",
    "StateManager",
    "SyncContextError",
    "TransactionEndedError",
    "TransactionError",
    "UnknownDatabaseError",
    "UnknownFieldError",
    "UnknownLookupError",
    "UnknownRelationError",
    "UpdateResult",
    "ValidationError",
    "HealthStatus",
    "EmptyPage",
    "InvalidPage",
    "Page",
    "Paginator",
    "capture_queries",
    "on_query",
    "pool_stats",
    "primary",
    "connection",
    "all_pool_stats",
    "PoolStats",
    "QueryEvent",
    "QueryHook",
    "close_all_pools",
    "create_all",
    "dispose_all",
    "drop_all",
    "get_all_database_project_names",
    "get_connection_string",
    "get_database_config",
    "get_engine",
    "get_model",
    "get_schema_builder_overrides",
    "health_check",
    "register_database",
    "register_database_from_env",
    "transaction",
    "unregister_database",
    *_field_names,
    *_expression_names,
    # migrations (lazy, see __getattr__)
    "MigrationDB",
    "SchemaDiff",
    "TableFilter",
    "create_empty",
    "makemigrations",
    "migrate",
    "migrate_and_rebuild",
    "migration_status",
    "rollback",
]
