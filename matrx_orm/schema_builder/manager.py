"""``SchemaManager``: the matrx-orm entry point for scoped introspection, usable from synchronous code.

::

    manager = SchemaManager(schema="public", database_project="my_project", include_tables={"user", "post"})
    manager.initialize()               # reflects (sync); ``await manager.ainitialize()`` in async code
    manager.schema.generate_models()   # writes models.py and managers (sync)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..config import get_database_config, get_schema_builder_overrides
from ..exceptions import ConfigurationError, StateError
from .generator import GenerationResult, _default_output_dir, _generate, run_sync
from .info import SchemaInfo, TableInfo
from .progress import Progress
from .reflect import TableSelection, reflect_database

__all__ = ["Schema", "SchemaManager"]


class Schema:
    """The reflected schema(s) of a :class:`SchemaManager`: tables, views, enums, and code generation."""

    def __init__(self, manager: SchemaManager, info: SchemaInfo) -> None:
        self.manager = manager
        self.info = info

    @property
    def name(self) -> str:
        return self.manager.schema_name

    @property
    def tables(self) -> list[TableInfo]:
        return [t for t in self.info.tables if not t.is_view]

    @property
    def views(self) -> list[TableInfo]:
        return [t for t in self.info.tables if t.is_view]

    @property
    def table_names(self) -> list[str]:
        """``table`` for tables of the main schema, ``schema.table`` for the others."""
        return [t.name if t.schema == self.name else t.qualified_name for t in self.tables]

    def generate_models(
        self,
        output_dir: str | Path | None = None,
        *,
        managers: bool = True,
        typescript: bool | None = None,
        progress: Progress | bool | None = None,
    ) -> GenerationResult:
        """Write models.py, managers (and TypeScript) for the reflected tables (synchronous, no I/O to the
        database)."""
        manager = self.manager
        target = output_dir or manager.output_dir or _default_output_dir(manager.database_project)
        want_ts = manager.typescript if typescript is None else typescript
        if progress is None or progress is True:
            reporter = Progress.auto()
        elif progress is False:
            reporter = Progress.quiet()
        else:
            reporter = progress
        return _generate(
            self.info,
            target,
            managers=managers,
            typescript=want_ts,
            overrides=get_schema_builder_overrides(manager.database_project) if want_ts else None,
            m2m_payload_junctions=manager.m2m_payload_junctions,
            progress=reporter,
        )

    def __repr__(self) -> str:
        return f"<Schema {self.name!r}: {len(self.tables)} tables, {len(self.views)} views>"


class SchemaManager:
    """Introspects ``schema`` (plus the project's ``additional_schemas``) of ``database_project``.

    ``include_tables`` / ``exclude_tables`` are mutually exclusive (``ConfigurationError`` when both are
    given). ``output_dir`` is where ``schema.generate_models()`` writes (default ``./database/<alias>``).
    """

    def __init__(
        self,
        schema: str = "public",
        database_project: str | None = None,
        *,
        include_tables: Iterable[str] | None = None,
        exclude_tables: Iterable[str] | None = None,
        additional_schemas: Iterable[str] | None = None,
        output_dir: str | Path | None = None,
        typescript: bool = False,
        m2m_payload_junctions: bool = True,
    ) -> None:
        if not database_project:
            raise ConfigurationError(
                "SchemaManager needs database_project=<registered project name>",
                details={"schema": schema},
            )
        # validate now, before any database round trip
        TableSelection(include_tables, exclude_tables)
        self.schema_name = schema
        self.database_project = database_project
        self.include_tables = set(include_tables) if include_tables is not None else None
        self.exclude_tables = set(exclude_tables) if exclude_tables is not None else None
        self._additional = list(additional_schemas) if additional_schemas is not None else None
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.typescript = typescript
        self.m2m_payload_junctions = m2m_payload_junctions
        self._schema: Schema | None = None

    @property
    def schemas(self) -> list[str]:
        """The schemas reflected: ``schema`` then ``additional_schemas`` (from the project config by default)."""
        extra = self._additional
        if extra is None:
            extra = list(get_database_config(self.database_project).additional_schemas)
        return list(dict.fromkeys([self.schema_name, *extra]))

    async def ainitialize(self) -> SchemaManager:
        """Reflect the database (async)."""
        info = await reflect_database(
            self.database_project,
            self.schemas,
            include_tables=self.include_tables,
            exclude_tables=self.exclude_tables,
        )
        self._schema = Schema(self, info)
        return self

    def initialize(self) -> SchemaManager:
        """Reflect the database from synchronous code (see :func:`run_sync`)."""
        return run_sync(self.ainitialize)

    @property
    def schema(self) -> Schema:
        """The reflected schema; call :meth:`initialize` first."""
        if self._schema is None:
            raise StateError("SchemaManager.schema is available after initialize() (or await ainitialize())")
        return self._schema

    def __repr__(self) -> str:
        return f"<SchemaManager {self.database_project!r} schemas={self.schemas}>"
