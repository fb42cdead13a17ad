"""Plain dataclasses describing a reflected database: what the reflector fills and the renderers read.

Nothing here talks to a database or renders code; every list is kept in a deterministic order (tables by
schema and name, columns by position, constraints by name) so generated files are byte-for-byte stable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnumInfo:
    """A PostgreSQL enum type (``CREATE TYPE name AS ENUM (...)``)."""

    schema: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ColumnType:
    """A column's type as plain data.

    ``kind`` is the base type name in lower case (``integer``, ``varchar``, ``numeric``, ``vector``, ``enum``,
    ...); ``length`` / ``precision`` / ``scale`` / ``dimensions`` / ``timezone`` when the type has them;
    ``enum`` for enum columns; ``item`` (and ``array_dimensions``) for arrays.
    """

    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    timezone: bool = False
    dimensions: int | None = None
    enum: EnumInfo | None = None
    item: ColumnType | None = None
    array_dimensions: int = 1
    #: the SQL spelling, for comments and unknown types (``"tsvector"``)
    sql: str = ""


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a table or view, in table order."""

    name: str
    type: ColumnType
    nullable: bool
    #: the server default as PostgreSQL prints it (``now()``, ``'pending'::order_status``), or None
    default: str | None = None
    comment: str | None = None
    #: ``"always"`` / ``"by default"`` for identity columns
    identity: str | None = None
    #: a serial column (``nextval('<table>_<col>_seq')`` default owned by the column)
    serial: bool = False


@dataclass(frozen=True)
class ForeignKeyInfo:
    """A foreign key constraint (``columns`` of this table -> ``ref_columns`` of ``ref_schema.ref_table``)."""

    name: str | None
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True)
class UniqueInfo:
    """A unique constraint."""

    name: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CheckInfo:
    """A check constraint (``sqltext`` as PostgreSQL prints it)."""

    name: str | None
    sqltext: str


@dataclass(frozen=True)
class IndexInfo:
    """An index that is not the backing index of a primary key or unique constraint."""

    name: str
    columns: tuple[str | None, ...]
    unique: bool = False
    method: str = "btree"
    #: operator class per column (``{"embedding": "vector_cosine_ops"}``)
    ops: tuple[tuple[str, str], ...] = ()
    #: ``WITH (...)`` storage parameters, values as PostgreSQL prints them (strings)
    params: tuple[tuple[str, str], ...] = ()
    where: str | None = None
    #: expression parts of a functional index (``None`` entries of ``columns``), as SQL text
    expressions: tuple[str, ...] = ()
    include: tuple[str, ...] = ()

    @property
    def is_expression(self) -> bool:
        return any(column is None for column in self.columns)


@dataclass
class TableInfo:
    """A table (or view, ``is_view``) with everything the generator needs."""

    schema: str
    name: str
    columns: list[ColumnInfo] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    primary_key_name: str | None = None
    foreign_keys: list[ForeignKeyInfo] = field(default_factory=list)
    uniques: list[UniqueInfo] = field(default_factory=list)
    checks: list[CheckInfo] = field(default_factory=list)
    indexes: list[IndexInfo] = field(default_factory=list)
    comment: str | None = None
    is_view: bool = False
    #: the view's SELECT, when it could be read
    view_definition: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def single_column_fk(self, column: str) -> ForeignKeyInfo | None:
        """The single-column foreign key on ``column`` (the first by name when several exist)."""
        for fk in self.foreign_keys:
            if fk.columns == (column,):
                return fk
        return None


@dataclass
class SchemaInfo:
    """Everything reflected from one database: tables and views of the schemas in scope, and the enums
    their columns use."""

    database: str
    schemas: tuple[str, ...]
    tables: list[TableInfo] = field(default_factory=list)
    enums: list[EnumInfo] = field(default_factory=list)
    #: anything the reflector had to leave out or approximate, as readable sentences
    notes: list[str] = field(default_factory=list)

    def table(self, schema: str, name: str) -> TableInfo | None:
        for table in self.tables:
            if table.schema == schema and table.name == name:
                return table
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dump (handy for debugging and snapshot tests)."""

        return asdict(self)
