"""Reflect a database into :class:`~matrx_orm.schema_builder.info.SchemaInfo` with the SQLAlchemy inspector.

The inspector runs on the project's ``AsyncEngine`` through ``connection.run_sync`` and uses the inspector's
``get_multi_*`` calls (a few catalog queries per schema, whatever the number of tables). pgvector's types are
registered with the PostgreSQL dialect first, so ``vector(3)`` reflects as a 3-dimension vector.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from pgvector.sqlalchemy import HALFVEC, SPARSEVEC, VECTOR
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.base import PGInspector, ischema_names
from sqlalchemy.engine.reflection import Inspector, ObjectKind

from ..config import get_database_config
from ..db.engine import engine_connection
from ..exceptions import ConfigurationError
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
from .progress import Progress

__all__ = ["TableSelection", "reflect_database", "register_vector_types"]

_NEXTVAL = re.compile(r"^nextval\('(?:(?:\"[^\"]+\"|[^'.]+)\.)?\"?([^'\"]+)\"?'::regclass\)$")


def register_vector_types() -> None:
    """Make the PostgreSQL dialect's reflection recognise ``vector``, ``halfvec`` and ``sparsevec``."""

    ischema_names.setdefault("vector", VECTOR)
    ischema_names.setdefault("halfvec", HALFVEC)
    ischema_names.setdefault("sparsevec", SPARSEVEC)


#: migration bookkeeping (Alembic's ``alembic_version``, matrx-orm's ``_matrx_migrations``; the migrations
#: package's ``INTERNAL_TABLES``): never generated
BOOKKEEPING_TABLES = frozenset({"alembic_version", "_matrx_migrations"})


class TableSelection:
    """Which tables are in scope: ``include`` (allowlist) or ``exclude`` (denylist), never both.

    Names are ``table`` (any schema) or ``schema.table``. :data:`BOOKKEEPING_TABLES` and the names in
    ``skip`` are always left out.
    """

    def __init__(
        self,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        skip: Iterable[str] = (),
    ) -> None:
        if include is not None and exclude is not None:
            raise ConfigurationError(
                "include_tables and exclude_tables are mutually exclusive; pass one of them",
                details={"include_tables": sorted(include), "exclude_tables": sorted(exclude)},
            )
        for label, names in (("include_tables", include), ("exclude_tables", exclude)):
            if names is not None and (isinstance(names, str) or not all(isinstance(n, str) for n in names)):
                raise ConfigurationError(f"{label} must be a collection of table names; got {names!r}")
        self.include = frozenset(include) if include is not None else None
        self.exclude = frozenset(exclude or ())
        self.skip = BOOKKEEPING_TABLES | frozenset(skip)

    def allows(self, schema: str, table: str) -> bool:
        names = {table, f"{schema}.{table}"}
        if names & self.skip:
            return False
        if self.include is not None:
            return bool(names & self.include)
        return not names & self.exclude


def _type_of(sa_type: Any, enums: dict[tuple[str, str], EnumInfo], default_schema: str) -> ColumnType:
    """The reflected SQLAlchemy type as a :class:`ColumnType`."""

    sql = _sql_of(sa_type)
    if isinstance(sa_type, postgresql.ARRAY):
        item = _type_of(sa_type.item_type, enums, default_schema)
        return ColumnType("array", item=item, array_dimensions=sa_type.dimensions or 1, sql=f"{item.sql}[]")
    if isinstance(sa_type, postgresql.ENUM):
        schema = sa_type.schema or _visible_schema(enums, sa_type.name or "", default_schema)
        key = (schema, sa_type.name or "")
        info = enums.get(key)
        if info is None:
            info = enums[key] = EnumInfo(schema, sa_type.name or "", tuple(sa_type.enums))
        return ColumnType("enum", enum=info, sql=sql)
    if isinstance(sa_type, VECTOR | HALFVEC | SPARSEVEC):
        kind = {VECTOR: "vector", HALFVEC: "halfvec", SPARSEVEC: "sparsevec"}[type(sa_type)]
        return ColumnType(kind, dimensions=getattr(sa_type, "dim", None), sql=sql)
    if isinstance(sa_type, sa.Numeric) and not isinstance(sa_type, sa.Float):
        return ColumnType("numeric", precision=sa_type.precision, scale=sa_type.scale, sql=sql)
    if isinstance(sa_type, postgresql.DOUBLE_PRECISION):
        return ColumnType("double", sql=sql)
    if isinstance(sa_type, postgresql.REAL):
        return ColumnType("real", sql=sql)
    if isinstance(sa_type, sa.Float):
        return ColumnType("double" if (sa_type.precision or 53) > 24 else "real", sql=sql)
    if isinstance(sa_type, postgresql.TIMESTAMP | sa.DateTime):
        return ColumnType("timestamp", timezone=bool(sa_type.timezone), sql=sql)
    if isinstance(sa_type, postgresql.TIME | sa.Time):
        return ColumnType("time", timezone=bool(sa_type.timezone), sql=sql)
    if isinstance(sa_type, sa.String) and not isinstance(sa_type, sa.Text):
        name = "char" if isinstance(sa_type, sa.CHAR) else "varchar"
        return ColumnType(name, length=sa_type.length, sql=sql)
    simple: list[tuple[Any, str]] = [
        (sa.SmallInteger, "smallint"),
        (sa.BigInteger, "bigint"),
        (sa.Integer, "integer"),
        (sa.Boolean, "boolean"),
        (sa.Date, "date"),
        (postgresql.INTERVAL, "interval"),
        (postgresql.JSONB, "jsonb"),
        (postgresql.JSON, "json"),
        (sa.JSON, "json"),
        (sa.Uuid, "uuid"),
        (postgresql.INET, "inet"),
        (postgresql.CIDR, "cidr"),
        (postgresql.MACADDR, "macaddr"),
        (postgresql.MONEY, "money"),
        (postgresql.HSTORE, "hstore"),
        (postgresql.BYTEA, "bytea"),
        (sa.LargeBinary, "bytea"),
        (sa.Text, "text"),
    ]
    for cls, kind in simple:
        if isinstance(sa_type, cls):
            return ColumnType(kind, sql=sql)
    return ColumnType("unknown", sql=sql)


def _visible_schema(enums: dict[tuple[str, str], EnumInfo], name: str, fallback: str) -> str:
    """The schema of the enum ``name`` that the search path finds (reflection leaves it out then)."""
    found = sorted(schema for schema, enum_name in enums if enum_name == name)
    if "public" in found:
        return "public"
    return found[0] if len(found) == 1 else fallback


def _sql_of(sa_type: Any) -> str:
    try:
        return str(sa_type.compile(dialect=postgresql.dialect()))
    except Exception:
        return type(sa_type).__name__.lower()


def _serial(default: str | None, autoincrement: bool) -> bool:
    return bool(default and autoincrement and _NEXTVAL.match(default))


def _identity(column: dict[str, Any]) -> str | None:
    identity = column.get("identity")
    if not identity:
        return None
    return "always" if identity.get("always") else "by default"


def _index_info(raw: dict[str, Any]) -> IndexInfo:
    options = raw.get("dialect_options") or {}
    columns = tuple(raw.get("column_names") or ())
    expressions = tuple(str(e) for e in (raw.get("expressions") or ()) if e is not None)
    ops = tuple(sorted((str(k), str(v)) for k, v in (options.get("postgresql_ops") or {}).items()))
    params = tuple(sorted((str(k), str(v)) for k, v in (options.get("postgresql_with") or {}).items()))
    where = options.get("postgresql_where")
    return IndexInfo(
        name=raw["name"],
        columns=columns,
        unique=bool(raw.get("unique")),
        method=str(options.get("postgresql_using") or "btree"),
        ops=ops,
        params=params,
        where=str(where) if where is not None else None,
        expressions=expressions if any(c is None for c in columns) else (),
        include=tuple(raw.get("include_columns") or options.get("postgresql_include") or ()),
    )


def _reflect_schema(
    inspector: Inspector,
    schema: str,
    selection: TableSelection,
    only: set[str] | None,
    enums: dict[tuple[str, str], EnumInfo],
    progress: Progress,
) -> list[TableInfo]:
    """Tables and views of one schema (``only``: just these names, for pulled-in FK targets)."""
    table_names = inspector.get_table_names(schema=schema)
    view_names = set(inspector.get_view_names(schema=schema))
    view_names.update(inspector.get_materialized_view_names(schema=schema))
    names = sorted(
        name
        for name in [*table_names, *view_names]
        if (only is None and selection.allows(schema, name)) or (only is not None and name in only)
    )
    if not names:
        return []
    tables = [n for n in names if n not in view_names]
    progress.step(f"reflecting {schema}: {len(tables)} tables, {len(names) - len(tables)} views")
    columns = inspector.get_multi_columns(schema=schema, filter_names=names, kind=ObjectKind.ANY)
    comments = inspector.get_multi_table_comment(schema=schema, filter_names=names, kind=ObjectKind.ANY)
    pks = inspector.get_multi_pk_constraint(schema=schema, filter_names=tables) if tables else {}
    fks = inspector.get_multi_foreign_keys(schema=schema, filter_names=tables) if tables else {}
    uniques = inspector.get_multi_unique_constraints(schema=schema, filter_names=tables) if tables else {}
    checks = inspector.get_multi_check_constraints(schema=schema, filter_names=tables) if tables else {}
    indexes = inspector.get_multi_indexes(schema=schema, filter_names=tables) if tables else {}
    result: list[TableInfo] = []
    for name in names:
        key = (schema, name)
        info = TableInfo(schema=schema, name=name, is_view=name in view_names)
        for column in columns.get(key, []):
            default = column.get("default")
            serial = _serial(default, bool(column.get("autoincrement")))
            info.columns.append(
                ColumnInfo(
                    name=column["name"],
                    type=_type_of(column["type"], enums, schema),
                    nullable=bool(column.get("nullable", True)),
                    default=None if serial else default,
                    comment=column.get("comment"),
                    identity=_identity(dict(column)),
                    serial=serial,
                )
            )
        comment = dict(comments.get(key) or {}).get("text")
        info.comment = str(comment) if comment else None
        if info.is_view:
            try:
                definition = inspector.get_view_definition(name, schema=schema)
            except Exception:  # pragma: no cover - permissions on another role's view
                definition = None
            info.view_definition = definition.strip() if definition else None
        else:
            pk: dict[str, Any] = dict(pks.get(key) or {})
            info.primary_key = tuple(pk.get("constrained_columns") or ())
            info.primary_key_name = pk.get("name")
            info.foreign_keys = sorted(
                (
                    ForeignKeyInfo(
                        name=fk.get("name"),
                        columns=tuple(fk["constrained_columns"]),
                        ref_schema=fk.get("referred_schema") or schema,
                        ref_table=fk["referred_table"],
                        ref_columns=tuple(fk["referred_columns"]),
                        on_delete=(fk.get("options") or {}).get("ondelete"),
                        on_update=(fk.get("options") or {}).get("onupdate"),
                    )
                    for fk in fks.get(key, [])
                ),
                key=lambda fk: (fk.columns, fk.name or ""),
            )
            info.uniques = sorted(
                (UniqueInfo(u.get("name"), tuple(u["column_names"])) for u in uniques.get(key, [])),
                key=lambda u: (u.name or "", u.columns),
            )
            info.checks = sorted(
                (CheckInfo(c.get("name"), str(c["sqltext"])) for c in checks.get(key, [])),
                key=lambda c: (c.name or "", c.sqltext),
            )
            backing = {u.name for u in info.uniques} | {info.primary_key_name}
            info.indexes = sorted(
                (
                    _index_info(dict(raw))
                    for raw in indexes.get(key, [])
                    if raw.get("name") not in backing and not raw.get("duplicates_constraint")
                ),
                key=lambda ix: ix.name,
            )
        result.append(info)
    return result


def reflect_sync(
    connection: sa.Connection,
    database: str,
    schemas: Sequence[str],
    selection: TableSelection,
    progress: Progress,
) -> SchemaInfo:
    """The synchronous body of :func:`reflect_database` (runs inside ``run_sync``)."""
    register_vector_types()
    inspector = sa.inspect(connection)
    existing = set(inspector.get_schema_names())
    missing = [s for s in schemas if s not in existing]
    if missing:
        raise ConfigurationError(
            f"schema(s) {', '.join(missing)} do not exist in database project {database!r}",
            details={"schemas": list(schemas), "existing": sorted(existing)},
        )
    enums: dict[tuple[str, str], EnumInfo] = {}
    for raw in cast(PGInspector, inspector).get_enums(schema="*"):
        key = (raw["schema"], raw["name"])
        enums[key] = EnumInfo(raw["schema"], raw["name"], tuple(raw["labels"]))
    used_enums: dict[tuple[str, str], EnumInfo] = {}
    info = SchemaInfo(database=database, schemas=tuple(schemas))
    for schema in schemas:
        info.tables.extend(_reflect_schema(inspector, schema, selection, None, enums, progress))
    # foreign keys into schemas that are not in scope (Supabase auth.users): reflect those targets too
    in_scope = {t.key for t in info.tables}
    wanted: dict[str, set[str]] = {}
    for _round in range(3):  # targets of targets, a few levels deep
        wanted.clear()
        for table in info.tables:
            for fk in table.foreign_keys:
                target = (fk.ref_schema, fk.ref_table)
                if target not in in_scope and fk.ref_schema not in schemas:
                    wanted.setdefault(fk.ref_schema, set()).add(fk.ref_table)
        if not wanted:
            break
        for schema in sorted(wanted):
            pulled = _reflect_schema(inspector, schema, selection, wanted[schema], enums, progress)
            for table in pulled:
                info.notes.append(
                    f"{table.qualified_name} is outside the schemas in scope; generated because "
                    "other tables reference it"
                )
            info.tables.extend(pulled)
            in_scope.update(t.key for t in pulled)
    for table in info.tables:
        for column in table.columns:
            for enum in _enums_in(column.type):
                used_enums[(enum.schema, enum.name)] = enums.get((enum.schema, enum.name), enum)
    info.tables.sort(key=lambda t: (t.schema != "public", t.schema, t.name))
    info.enums = [used_enums[key] for key in sorted(used_enums)]
    return info


def _enums_in(column_type: ColumnType) -> list[EnumInfo]:
    if column_type.enum is not None:
        return [column_type.enum]
    if column_type.item is not None:
        return _enums_in(column_type.item)
    return []


async def reflect_database(
    database: str,
    schemas: Sequence[str] | None = None,
    *,
    include_tables: Iterable[str] | None = None,
    exclude_tables: Iterable[str] | None = None,
    skip_tables: Iterable[str] = (),
    progress: Progress | None = None,
) -> SchemaInfo:
    """Reflect ``schemas`` (default: ``public`` plus the project's ``additional_schemas``) of ``database``;
    ``skip_tables`` are left out on top of the migration bookkeeping tables."""
    selection = TableSelection(include_tables, exclude_tables, skip_tables)
    config = get_database_config(database)
    if schemas is None:
        schemas = ["public", *config.additional_schemas]
    schemas = list(dict.fromkeys(schemas))
    progress = progress or Progress.quiet()
    body: Callable[[sa.Connection], SchemaInfo] = lambda connection: reflect_sync(  # noqa: E731
        connection, config.name, schemas, selection, progress
    )
    async with engine_connection(database, operation="reflect") as connection:
        return await connection.run_sync(body)
