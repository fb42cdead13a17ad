"""The INSERT / UPDATE / DELETE builder: every write statement, each compiled once per shape.

Many-row writes are single statements over ``unnest()`` of one array parameter per column, which is one
round trip whatever the row count. Junction-table writes of many-to-many relations are here too. Callers
(``write/``) check and convert the values; the statements only bind them, numbered in the order the
functions document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ...exceptions import ParameterError
from ..expressions.base import Fragment
from ..expressions.coerce import as_expression, is_expression
from ..spec import QuerySpec
from .cache import DIALECT, Compiled, bind, compiled
from .select import Scope

__all__ = [
    "BinaryCopy",
    "copy_binary",
    "delete_by_pk",
    "delete_unnest",
    "delete_where",
    "insert_row",
    "insert_unnest",
    "junction_add",
    "junction_clear",
    "junction_keep_only",
    "junction_remove",
    "update_by_pk",
    "update_rows",
    "update_unnest",
    "update_where",
    "upsert",
]


def _returning(meta: Any) -> list[Any]:
    return [meta.columns[n] for n in meta.field_names]


def _all_defaults(meta: Any) -> dict[str, Any]:
    """The VALUES of a row the server fills entirely: ``(first_column) VALUES (DEFAULT)``."""
    return {meta.fields[meta.field_names[0]].column_name: sa.literal_column("DEFAULT")}


def _bump_version(meta: Any, names: Sequence[str], sets: dict[str, Any]) -> None:
    """Add ``version = version + 1`` to an UPDATE's SET clause when the model has a VersionField that the
    statement does not set itself (every UPDATE the package issues moves the version on)."""
    version = meta.version_field
    if version is not None and version.name not in names:
        sets[version.column_name] = meta.columns[version.name] + sa.literal_column("1")


def _pk_condition(meta: Any, start: int) -> Any:
    """``pk1 = $start AND pk2 = $start+1 ...``."""
    return sa.and_(
        *(meta.columns[f.name] == bind(start + i, f.bind_type()) for i, f in enumerate(meta.pk_fields))
    )


def _unnest(meta: Any, names: Sequence[str]) -> Any:
    """``unnest($0::t1[], $1::t2[], ...) AS u(col1, col2, ...)`` for the fields ``names``."""
    binds = [bind(i, sa.ARRAY(meta.fields[n].bind_type())) for i, n in enumerate(names)]
    return (
        sa.func.unnest(*binds)
        .table_valued(*(meta.fields[n].column_name for n in names))
        .render_derived(name="u")
    )


# -- COPY ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BinaryCopy:
    """A binary ``COPY`` into a model's table. ``copy``: the statement. ``shape``: a SELECT of typed NULLs
    (no table: nothing in it can go stale) whose result columns have the types the rows are encoded as;
    asyncpg takes its binary encoders from it. ``check``: an INSERT of no rows (never run) returning the
    fields' own types followed by the table's columns, whose types must agree pair by pair for the binary
    form of the values to be what the columns read."""

    copy: str
    shape: str
    check: str


_STAND_IN_TYPES: dict[str, sa.types.TypeEngine[Any]] = {"bytea": sa.LargeBinary(), "text": sa.Text()}


def copy_binary(meta: Any, names: tuple[str, ...], stand_ins: tuple[str | None, ...]) -> BinaryCopy:
    """``COPY t (names) FROM STDIN (FORMAT binary)``, its shape (each field's own type, or its stand-in type,
    ``bytea`` or ``text``, where ``stand_ins`` names one) and its check."""
    fields = [meta.fields[n] for n in names]
    columns = [f.column_name for f in fields]

    def shape() -> Any:
        return sa.select(
            *(
                sa.cast(sa.null(), f.bind_type() if kind is None else _STAND_IN_TYPES[kind]).label(f"c{i}")
                for i, (f, kind) in enumerate(zip(fields, stand_ins, strict=True))
            )
        )

    def check() -> Any:
        # an INSERT, so that preparing it takes the lock the COPY needs (ROW EXCLUSIVE) at once: a lock
        # taken weaker and raised later could deadlock with a migration waiting in between
        nothing: Any = sa.select(*(sa.literal_column("NULL") for _ in names)).where(sa.false())
        own = [sa.cast(sa.null(), f.bind_type()).label(f"f{i}") for i, f in enumerate(fields)]
        statement = sa.insert(meta.table).from_select(columns, nothing)
        return statement.returning(*own, *(meta.columns[n] for n in names))

    preparer = DIALECT.identifier_preparer
    copy = (
        f"COPY {preparer.format_table(meta.table)} ({', '.join(map(preparer.quote, columns))}) "
        "FROM STDIN (FORMAT binary)"
    )
    return BinaryCopy(
        copy,
        compiled(("copy_shape", meta.model, names, stand_ins), shape).sql,
        compiled(("copy_check", meta.model, names), check).sql,
    )


# -- rows by value ----------------------------------------------------------------------------------------------


def insert_row(meta: Any, names: tuple[str, ...]) -> Compiled:
    """``INSERT (names) VALUES ($0, ...) RETURNING <every field>`` (``DEFAULT`` values when none)."""

    def build() -> Any:
        columns = {
            meta.fields[n].column_name: bind(i, meta.fields[n].bind_type()) for i, n in enumerate(names)
        }
        statement = sa.insert(meta.table).values(columns or _all_defaults(meta))
        return statement.returning(*_returning(meta))

    return compiled(("insert", meta.model, names), build)


def insert_unnest(meta: Any, names: tuple[str, ...], returning: bool) -> Compiled:
    """``INSERT INTO t (names) SELECT * FROM unnest(<one array per name>)``, RETURNING every field when
    ``returning``."""

    def build() -> Any:
        u = _unnest(meta, names)
        columns = [meta.fields[n].column_name for n in names]
        statement = sa.insert(meta.table).from_select(columns, sa.select(*u.c))
        return statement.returning(*_returning(meta)) if returning else statement

    return compiled(("insert_unnest", meta.model, names, returning), build)


def update_by_pk(meta: Any, names: tuple[str, ...], check_version: bool) -> Compiled:
    """``UPDATE SET names = $0.. WHERE pk = $n.. [AND version = $m] RETURNING <every field>``; a
    VersionField moves on by one."""
    version = meta.version_field

    def build() -> Any:
        sets: dict[str, Any] = {
            meta.fields[n].column_name: bind(i, meta.fields[n].bind_type()) for i, n in enumerate(names)
        }
        condition = _pk_condition(meta, len(names))
        if version is not None:
            column = meta.columns[version.name]
            sets[version.column_name] = column + sa.literal_column("1")
            if check_version:
                condition = sa.and_(condition, column == bind(len(names) + len(meta.pk_fields), sa.Integer()))
        return sa.update(meta.table).values(sets).where(condition).returning(*_returning(meta))

    return compiled(("update_instance", meta.model, names, version is not None, check_version), build)


def delete_by_pk(meta: Any) -> Compiled:
    """``DELETE WHERE pk = $0 ...``."""
    return compiled(
        ("delete_instance", meta.model), lambda: sa.delete(meta.table).where(_pk_condition(meta, 0))
    )


def update_unnest(meta: Any, keys: tuple[str, ...], names: tuple[str, ...]) -> Compiled:
    """``UPDATE t SET names = u.names FROM unnest(keys + names) AS u WHERE t.keys = u.keys``."""
    everything = keys + names

    def build() -> Any:
        u = _unnest(meta, everything)
        sets = {meta.fields[n].column_name: u.c[meta.fields[n].column_name] for n in names}
        _bump_version(meta, names, sets)
        where = sa.and_(*(meta.columns[n] == u.c[meta.fields[n].column_name] for n in keys))
        return sa.update(meta.table).values(sets).where(where)

    return compiled(("bulk_update", meta.model, names), build)


def update_rows(meta: Any, keys: tuple[str, ...], names: tuple[str, ...]) -> Compiled:
    """``UPDATE SET names = $k.. WHERE pk = $0.. RETURNING 1`` for one row (run once per row)."""

    def build() -> Any:
        sets = {
            meta.fields[n].column_name: bind(len(keys) + i, meta.fields[n].bind_type())
            for i, n in enumerate(names)
        }
        _bump_version(meta, names, sets)
        statement = sa.update(meta.table).values(sets).where(_pk_condition(meta, 0))
        return statement.returning(sa.literal_column("1"))

    return compiled(("update_many", meta.model, names), build)


def delete_unnest(meta: Any, keys: tuple[str, ...]) -> Compiled:
    """``DELETE FROM t USING unnest(keys) AS u WHERE t.keys = u.keys``."""

    def build() -> Any:
        u = _unnest(meta, keys)
        where = sa.and_(*(meta.columns[n] == u.c[meta.fields[n].column_name] for n in keys))
        return sa.delete(meta.table).where(where)

    return compiled(("bulk_delete", meta.model), build)


def upsert(
    meta: Any, names: tuple[str, ...], conflict: tuple[str, ...], updates: tuple[str, ...], single: bool
) -> Compiled:
    """``INSERT ... ON CONFLICT (conflict) DO UPDATE SET updates = excluded.updates RETURNING *``: one row of
    ``$0..`` values (``single``), or every row from ``unnest`` arrays."""
    fields = [meta.fields[n] for n in names]

    def build() -> Any:
        if single:
            statement = pg_insert(meta.table).values(
                {f.column_name: bind(i, f.bind_type()) for i, f in enumerate(fields)}
            )
        else:
            u = _unnest(meta, names)
            statement = pg_insert(meta.table).from_select([f.column_name for f in fields], sa.select(*u.c))
        targets = updates or conflict[:1]
        sets = {meta.fields[n].column_name: statement.excluded[meta.fields[n].column_name] for n in targets}
        if updates:
            _bump_version(meta, targets, sets)
        statement = statement.on_conflict_do_update(
            index_elements=[meta.columns[n] for n in conflict], set_=sets
        )
        return statement.returning(*_returning(meta))

    return compiled(("upsert", meta.model, names, conflict, updates, single), build)


# -- rows by query -----------------------------------------------------------------------------------------------


def update_where(
    spec: QuerySpec, sets: Mapping[str, Any], *, returning: bool, convert: Any
) -> tuple[Compiled, list[Any]]:
    """``UPDATE <table> SET ... WHERE <spec's filters> [RETURNING <every field>]``.

    ``sets`` maps field names to plain values (converted by ``convert(field, value)``) or expressions
    (``F("n") + 1``, ``Now()``, a query as a subquery).
    """
    meta = spec.meta
    scope = Scope(spec.model)
    assignments: list[tuple[str, Fragment]] = []
    for name, raw in sets.items():
        field = meta.fields[name]
        if is_expression(raw):
            assignments.append((field.column_name, _set_expression(scope, name, raw)))
        else:
            assignments.append((field.column_name, scope.bind(convert(field, raw), field.bind_type())))
    where = [scope.condition(q) for q in spec.where]
    names = tuple(sets)

    def build() -> Any:
        values = {column: fragment.build() for column, fragment in assignments}
        _bump_version(meta, names, values)
        statement = sa.update(meta.table).values(values)
        if where:
            statement = statement.where(*(w.build() for w in where))
        return statement.returning(*_returning(meta)) if returning else statement

    key = (
        "update_query",
        spec.model,
        tuple((column, fragment.key) for column, fragment in assignments),
        tuple(w.key for w in where),
        returning,
    )
    found = compiled(key, build)
    return found, found.params(scope.values)


def _set_expression(scope: Scope, name: str, value: Any) -> Fragment:
    """An expression assigned to field ``name`` in an UPDATE (no aggregates or window functions)."""
    expression = as_expression(value)
    if expression.contains_aggregate or expression.contains_window:
        raise ParameterError(
            f"update({name}=...) cannot use an aggregate or window function: {expression!r}",
            model=scope.meta.model_name,
        )
    expression.check_window_use()
    return scope.expression(expression)


def delete_where(spec: QuerySpec) -> tuple[Compiled, list[Any]]:
    """``DELETE FROM <table> WHERE <spec's filters>``."""
    scope = Scope(spec.model)
    where = [scope.condition(q) for q in spec.where]
    meta = spec.meta

    def build() -> Any:
        statement = sa.delete(meta.table)
        return statement.where(*(w.build() for w in where)) if where else statement

    found = compiled(("delete_query", spec.model, tuple(w.key for w in where)), build)
    return found, found.params(scope.values)


# -- junction tables of many-to-many relations ----------------------------------------------------------------------


def _junction_types(spec: Any) -> tuple[Any, Any]:
    junction = spec.junction
    return junction.c[spec.source_column].type, junction.c[spec.target_column].type


def junction_add(spec: Any) -> Compiled:
    """Link source ``$0`` to the targets in ``$1`` (an array), skipping links that exist."""
    junction = spec.junction
    source_type, target_type = _junction_types(spec)

    def build() -> Any:
        source_col, target_col = junction.c[spec.source_column], junction.c[spec.target_column]
        source_value = sa.cast(bind(0), source_type)
        ids = sa.func.unnest(sa.cast(bind(1), ARRAY(target_type))).table_valued("value")
        ids = ids.render_derived(name="_mx_ids")
        rows = sa.select(source_value, ids.c.value).where(
            ~sa.exists().where(source_col == source_value, target_col == ids.c.value)
        )
        return pg_insert(junction).from_select([source_col, target_col], rows).on_conflict_do_nothing()

    return compiled(("m2m_add", spec.model, spec.name, junction), build)


def junction_remove(spec: Any) -> Compiled:
    """Unlink source ``$0`` from the targets in ``$1`` (an array)."""
    junction = spec.junction
    source_type, target_type = _junction_types(spec)

    def build() -> Any:
        return sa.delete(junction).where(
            junction.c[spec.source_column] == bind(0, source_type),
            junction.c[spec.target_column] == sa.func.any(bind(1, ARRAY(target_type))),
        )

    return compiled(("m2m_remove", spec.model, spec.name, junction), build)


def junction_keep_only(spec: Any) -> Compiled:
    """Unlink source ``$0`` from every target not in ``$1`` (an array)."""
    junction = spec.junction
    source_type, target_type = _junction_types(spec)

    def build() -> Any:
        return sa.delete(junction).where(
            junction.c[spec.source_column] == bind(0, source_type),
            sa.not_(junction.c[spec.target_column] == sa.func.any(bind(1, ARRAY(target_type)))),
        )

    return compiled(("m2m_set", spec.model, spec.name, junction), build)


def junction_clear(spec: Any) -> Compiled:
    """Unlink source ``$0`` from every target."""
    junction = spec.junction
    source_type, _ = _junction_types(spec)

    def build() -> Any:
        return sa.delete(junction).where(junction.c[spec.source_column] == bind(0, source_type))

    return compiled(("m2m_clear", spec.model, spec.name, junction), build)
