"""INSERT / UPDATE / DELETE / upsert statements, each compiled once per shape.

Many-row writes are single statements over ``unnest()`` of one array parameter per column, which is one
round trip whatever the row count. Models with array or vector columns (which ``unnest`` would flatten)
use asyncpg's pipelined ``fetchmany``/``executemany`` instead. ``bulk_create`` of plain dicts is checked
column at a time (:mod:`.bulk_fast`) and, when every field is sent, written with ``COPY`` (:mod:`.copy_text`).
Either way a batch is atomic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..exceptions import OptimisticLockError, ParameterError, QueryError, UnknownFieldError, ValidationError
from ..state import forget_instances, forget_keys, forget_model
from . import bulk_fast, compiler, copy_text, executor
from .expressions import as_expression, build_expression, gather_set_expression
from .hydrate import instance_loader, refresh
from .instance_values import DictPlan, server_fills, stamp, unfilled_required
from .results import UpdateResult

if TYPE_CHECKING:
    from ..models.base import Model
    from .builder import QueryBuilder

ModelT = TypeVar("ModelT", bound="Model")

_UNNEST_UNSAFE_FAMILIES = frozenset({"array", "vector", "json"})


# -- value preparation ----------------------------------------------------------------------------------------


def _db_value(field: Any, value: Any) -> Any:
    if value is None:
        if not field.null:
            raise ValidationError(
                f"Field '{field.name}' on model '{field.model.__name__}' may not be null",
                model=field.model,
                field=field.name,
                value=None,
            )
        return None
    return field.to_db(value)


def _checked_db_value(field: Any, value: Any) -> Any:
    """As :func:`_db_value` for a value that already went through ``field.to_python``."""
    if value is None:
        return _db_value(field, None)
    field.validate(value)
    return field.db_value(value)


#: (model meta, dict keys) -> (fields sent, fields the server may fill when None, required fields missing)
_column_layouts: dict[tuple[Any, tuple[str, ...]], tuple[tuple[str, ...], ...]] = {}


def _insert_columns(meta: Any, data: Mapping[str, Any]) -> tuple[str, ...]:
    """Fields sent on INSERT: every field with a value, except a None the server should fill in."""
    layout_key = (meta, tuple(data))
    layout = _column_layouts.get(layout_key)
    if layout is None:
        present = tuple(name for name in meta.field_names if name in data)
        # keys and server-default columns the database fills: a None there is left out of the INSERT. A None
        # anywhere else is sent, so a NOT NULL field refuses it (a key the database cannot generate, say)
        server_filled = tuple(
            name
            for name in present
            if (meta.fields[name].primary_key or meta.fields[name].server_default is not None)
            and server_fills(meta, name)
        )
        missing = unfilled_required(meta, present)
        if len(_column_layouts) > 1024:
            _column_layouts.clear()
        layout = _column_layouts[layout_key] = (present, server_filled, missing)
    present, server_filled, missing = layout
    if missing:  # a NOT NULL column nobody fills: say so before the database does
        _db_value(meta.fields[missing[0]], None)
    if any(data[name] is None for name in server_filled):
        return tuple(n for n in present if not (n in server_filled and data[n] is None))
    return present


def _all_defaults(meta: Any) -> dict[str, Any]:
    """The VALUES of a row the server fills entirely: ``(first_column) VALUES (DEFAULT)``."""
    return {meta.fields[meta.field_names[0]].column_name: sa.literal_column("DEFAULT")}


def _bump_version(meta: Any, names: Sequence[str], sets: dict[str, Any]) -> None:
    """Add ``version = version + 1`` to an UPDATE's SET clause when the model has a VersionField that the
    statement does not set itself (every UPDATE the ORM issues moves the version on)."""
    version = meta.version_field
    if version is not None and version.name not in names:
        sets[version.column_name] = meta.columns[version.name] + sa.literal_column("1")


def _returning(meta: Any) -> tuple[str, ...]:
    return meta.field_names


# -- single instances -------------------------------------------------------------------------------------------


async def insert_instance(instance: Model) -> None:
    meta = instance._meta
    meta.check_writable("create")
    stamp(instance, adding=True)
    data = instance.__dict__
    names = _insert_columns(meta, data)
    values = [_db_value(meta.fields[name], data[name]) for name in names]
    key = ("insert", meta.model, names)

    def build() -> Any:
        columns = {
            meta.fields[n].column_name: compiler.bind(i, meta.fields[n].bind_type())
            for i, n in enumerate(names)
        }
        stmt = sa.insert(meta.table).values(columns or _all_defaults(meta))
        return stmt.returning(*(meta.columns[n] for n in _returning(meta)))

    statement = compiler.compiled(key, build)
    rows = await executor.fetch(
        meta.database, statement.sql, statement.params(values), model=meta.model_name, operation="create"
    )
    refresh(instance, _returning(meta), rows[0])
    forget_instances(meta.model, (instance,))


def _pk_filter_values(instance: Model) -> list[Any]:
    meta = instance._meta
    if not meta.primary_keys:
        raise QueryError(
            f"'{meta.model_name}' has no primary key; use filter(...).update()", model=meta.model_name
        )
    values = []
    for field in meta.pk_fields:
        value = instance.__dict__.get(field.name)
        if value is None:
            raise QueryError(
                f"{meta.model_name} instance has no value for primary key '{field.name}'",
                model=meta.model_name,
            )
        values.append(field.to_db(value))
    return values


def _pk_condition(meta: Any, start: int) -> Any:
    return sa.and_(
        *(
            meta.columns[f.name] == compiler.bind(start + i, f.bind_type())
            for i, f in enumerate(meta.pk_fields)
        )
    )


async def update_instance(instance: Model, only: Sequence[str] | None) -> None:
    """Write the instance's fields (``only`` these, else every loaded non-key field) back by primary key."""
    meta = instance._meta
    meta.check_writable("save")
    stamp(instance, adding=False)
    data = instance.__dict__
    version = meta.version_field
    auto = [n for n, f in meta.fields.items() if getattr(f, "auto_now", False)]
    if only is None:
        names = tuple(n for n in meta.field_names if n in data and n not in meta.primary_keys)
    else:
        names = tuple(dict.fromkeys([*only, *auto]))
    if version is not None:
        names = tuple(n for n in names if n != version.name)
    values = [_db_value(meta.fields[n], data.get(n)) for n in names]
    values += _pk_filter_values(instance)
    # the version check needs the version the instance was loaded with (not loaded: increment only)
    current_version = data.get(version.name) if version is not None else None
    check = current_version is not None
    if check:
        values.append(current_version)
    key = ("update_instance", meta.model, names, version is not None, check)

    def build() -> Any:
        sets: dict[str, Any] = {
            meta.fields[n].column_name: compiler.bind(i, meta.fields[n].bind_type())
            for i, n in enumerate(names)
        }
        condition = _pk_condition(meta, len(names))
        if version is not None:
            column = meta.columns[version.name]
            sets[version.column_name] = column + sa.literal_column("1")
            if check:
                condition = sa.and_(
                    condition, column == compiler.bind(len(names) + len(meta.pk_fields), sa.Integer())
                )
        return (
            sa.update(meta.table)
            .values(sets)
            .where(condition)
            .returning(*(meta.columns[n] for n in _returning(meta)))
        )

    statement = compiler.compiled(key, build)
    rows = await executor.fetch(
        meta.database, statement.sql, statement.params(values), model=meta.model_name, operation="save"
    )
    forget_instances(meta.model, (instance,))
    if not rows:
        if check:
            raise OptimisticLockError(
                f"{meta.model_name} {instance.pk!r} was changed by someone else "
                f"(expected version {current_version}); re-fetch and retry",
                model=meta.model_name,
                operation="save",
                details={"expected_version": current_version},
            )
        from ..exceptions import DoesNotExist

        raise DoesNotExist(
            f"{meta.model_name} {instance.pk!r} no longer exists", model=meta.model_name, operation="save"
        )
    refresh(instance, _returning(meta), rows[0])


async def delete_instance(instance: Model) -> int:
    meta = instance._meta
    meta.check_writable("delete")
    values = _pk_filter_values(instance)
    key = ("delete_instance", meta.model)
    statement = compiler.compiled(key, lambda: sa.delete(meta.table).where(_pk_condition(meta, 0)))
    status = await executor.execute(
        meta.database, statement.sql, statement.params(values), model=meta.model_name, operation="delete"
    )
    forget_instances(meta.model, (instance,), deleted=True)
    instance.__dict__["_persisted"] = False
    return executor.affected_rows(status)


# -- many rows -----------------------------------------------------------------------------------------------------


def _as_instances(model: type[ModelT], objects: Sequence[Any]) -> list[ModelT]:
    return list(_instances(model, objects))


def _instances(
    model: type[ModelT], objects: Sequence[Any], drawn: bulk_fast.Drawn | None = None
) -> Iterator[ModelT]:
    """``objects`` as instances, one at a time (dicts converted as ``Model(**d)`` does); ``drawn`` holds
    default values already drawn, one per row (see :func:`.bulk_fast.plan_columns`)."""
    from ..models.base import Model

    if model.__init__ is not Model.__init__:  # a custom __init__ must see every dict
        for obj in objects:
            yield obj if isinstance(obj, model) else model(**obj)
        return
    plans: dict[tuple[str, ...], DictPlan] = {}
    new = object.__new__
    for index, obj in enumerate(objects):
        if isinstance(obj, model):
            yield obj
            continue
        if not isinstance(obj, Mapping):
            raise ParameterError(
                f"expected {model.__name__} instances or dicts; got {type(obj).__name__}",
                model=model.__name__,
            )
        layout = tuple(obj)
        plan = plans.get(layout)
        if plan is None:
            plan = plans[layout] = DictPlan.for_layout(model, layout)
        instance = new(model)
        row_drawn = {name: values[index] for name, values in drawn.items()} if drawn else None
        instance.__dict__ = plan.python_values(obj, row_drawn)
        yield instance


def _unnest_safe(meta: Any, names: Sequence[str]) -> bool:
    """Whether one INSERT over ``unnest`` can send ``names`` (not none: a row of defaults only is
    ``DEFAULT VALUES``, one statement per row)."""
    return bool(names) and not any(
        getattr(meta.fields[n], "lookup_family", "") in _UNNEST_UNSAFE_FAMILIES for n in names
    )


def _unnest(meta: Any, names: Sequence[str]) -> Any:
    """``unnest($1::t1[], $2::t2[], ...) AS u(col1, col2, ...)`` for the fields ``names``."""
    binds = [compiler.bind(i, sa.ARRAY(meta.fields[n].bind_type())) for i, n in enumerate(names)]
    return (
        sa.func.unnest(*binds)
        .table_valued(*(meta.fields[n].column_name for n in names))
        .render_derived(name="u")
    )


def _columns_of(rows: list[list[Any]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def bulk_insert(model: type[ModelT], objects: Sequence[Any]) -> list[ModelT]:
    meta = model._require_meta()
    meta.check_writable("bulk_create")
    if not objects:
        return []
    planned = bulk_fast.plan_columns(model, objects, _unnest_safe)
    if isinstance(planned, bulk_fast.BulkColumns):
        stored = await _insert_checked(model, meta, planned)
        if stored is not None:
            forget_instances(model, stored)
            return stored
        drawn = planned.drawn  # neither COPY nor one INSERT fits: the per-instance path, same defaults
    else:
        drawn = planned
    # row by row, as create() would: convert, stamp and check each row before the next (the first bad value
    # in row order is the one reported), all before any statement
    instances: list[ModelT] = []
    groups: list[tuple[tuple[str, ...], list[ModelT], list[list[Any]]]] = []
    for instance, obj in zip(_instances(model, objects, drawn), objects, strict=True):
        stamp(instance, adding=True)
        data = instance.__dict__
        names = _insert_columns(meta, data)
        # values of instances built here from dicts went through to_python already; only check those
        convert = _checked_db_value if instance is not obj else _db_value
        row = [convert(meta.fields[n], data[n]) for n in names]
        if not groups or groups[-1][0] != names:  # runs of rows in order: serial keys follow the rows
            groups.append((names, [], []))
        groups[-1][1].append(instance)
        groups[-1][2].append(row)
        instances.append(instance)
    if len(groups) == 1:
        await _insert_group(meta, *groups[0])
    else:
        from ..transaction import transaction

        async with transaction(meta.database):
            for group in groups:
                await _insert_group(meta, *group)
    forget_instances(model, instances)
    return instances


#: COPY is the fastest write from a few rows on (measured: 4 rows 0.58 ms vs 0.64 ms for the INSERT)
_COPY_MIN_ROWS = 4


async def _insert_checked(
    model: type[ModelT], meta: Any, columns: bulk_fast.BulkColumns
) -> list[ModelT] | None:
    """Write a batch checked column at a time (see :mod:`.bulk_fast`): COPY when every field is sent and
    encodable, else one INSERT over ``unnest``. None when neither applies (the caller takes the per-instance
    path)."""
    names = columns.names
    fields = [meta.fields[n] for n in names]
    need_returning = len(names) < len(meta.fields)
    if not need_returning and columns.rows >= _COPY_MIN_ROWS:
        data = copy_text.encode_rows(fields, columns.db) if copy_text.can_encode(fields) else None
        if data is not None:
            await executor.copy_in(
                meta.database,
                meta.table.name,
                meta.table.schema,
                [f.column_name for f in fields],
                data,
                model=meta.model_name,
                operation="bulk_create",
            )
            return bulk_fast.build_instances(model, columns)
    if not _unnest_safe(meta, names):
        return None
    statement = _unnest_insert(meta, names, need_returning)
    if not need_returning:
        await executor.execute(
            meta.database, statement.sql, columns.db, model=meta.model_name, operation="bulk_create"
        )
        return bulk_fast.build_instances(model, columns)
    records = await executor.fetch(
        meta.database, statement.sql, columns.db, model=meta.model_name, operation="bulk_create"
    )
    load = instance_loader(model, _returning(meta))
    return [load(record) for record in records]


def _unnest_insert(meta: Any, names: tuple[str, ...], need_returning: bool) -> Any:
    """``INSERT INTO t (names) SELECT * FROM unnest(...)``, RETURNING every field when ``need_returning``."""

    def build() -> Any:
        u = _unnest(meta, names)
        stmt = sa.insert(meta.table).from_select([meta.fields[n].column_name for n in names], sa.select(*u.c))
        return stmt.returning(*(meta.columns[n] for n in _returning(meta))) if need_returning else stmt

    return compiler.compiled(("bulk_insert", meta.model, names, need_returning), build)


async def _insert_group(
    meta: Any, names: tuple[str, ...], instances: Sequence[Model], rows: list[list[Any]]
) -> None:
    """INSERT one group of instances that send the same columns, ``rows`` their checked database values."""
    fields = [meta.fields[n] for n in names]
    # Rows are returned only when the server fills in columns we did not send.
    need_returning = len(names) < len(meta.fields)
    returning = _returning(meta)
    if _unnest_safe(meta, names):
        statement = _unnest_insert(meta, names, need_returning)
        params = _columns_of(rows, len(names))
        if need_returning:
            records = await executor.fetch(
                meta.database, statement.sql, params, model=meta.model_name, operation="bulk_create"
            )
        else:
            await executor.execute(
                meta.database, statement.sql, params, model=meta.model_name, operation="bulk_create"
            )
    else:
        key = ("insert_many", meta.model, names)

        def build_one() -> Any:
            columns = {f.column_name: compiler.bind(i, f.bind_type()) for i, f in enumerate(fields)}
            stmt = sa.insert(meta.table).values(columns or _all_defaults(meta))
            return stmt.returning(*(meta.columns[n] for n in returning))

        statement = compiler.compiled(key, build_one)
        records = await executor.fetchmany(
            meta.database,
            statement.sql,
            [statement.params(r) for r in rows],
            model=meta.model_name,
            operation="bulk_create",
        )
        need_returning = True
    if need_returning:
        for instance, record in zip(instances, records, strict=True):
            refresh(instance, returning, record)
    else:
        for instance in instances:
            instance.__dict__["_persisted"] = True


async def bulk_update(model: type[Model], instances: list[Model], field_names: list[str]) -> int:
    meta = model._require_meta()
    meta.check_writable("bulk_update")
    if not instances:
        return 0
    if not field_names:
        raise ParameterError("bulk_update() needs the names of the fields to write", model=meta.model_name)
    names = tuple(meta.get_field(n).name for n in field_names)
    if any(n in meta.primary_keys for n in names):
        raise ParameterError("bulk_update() cannot change primary key fields", model=meta.model_name)
    key_names = tuple(meta.primary_keys)
    if not key_names:
        raise QueryError(f"'{meta.model_name}' has no primary key", model=meta.model_name)
    for instance in instances:
        if not isinstance(instance, model):
            raise ParameterError(f"bulk_update() expects {meta.model_name} instances; got {instance!r}")
    all_names = key_names + names
    rows = [[_db_value(meta.fields[n], inst.__dict__.get(n)) for n in all_names] for inst in instances]
    if _unnest_safe(meta, all_names):

        def build() -> Any:
            u = _unnest(meta, all_names)
            sets = {meta.fields[n].column_name: u.c[meta.fields[n].column_name] for n in names}
            _bump_version(meta, names, sets)
            where = sa.and_(*(meta.columns[n] == u.c[meta.fields[n].column_name] for n in key_names))
            return sa.update(meta.table).values(sets).where(where)

        statement = compiler.compiled(("bulk_update", meta.model, names), build)
        status = await executor.execute(
            meta.database,
            statement.sql,
            _columns_of(rows, len(all_names)),
            model=meta.model_name,
            operation="bulk_update",
        )
        forget_instances(model, instances)
        return executor.affected_rows(status)

    def build_one() -> Any:
        sets = {
            meta.fields[n].column_name: compiler.bind(len(key_names) + i, meta.fields[n].bind_type())
            for i, n in enumerate(names)
        }
        _bump_version(meta, names, sets)
        return (
            sa.update(meta.table).values(sets).where(_pk_condition(meta, 0)).returning(sa.literal_column("1"))
        )

    statement = compiler.compiled(("update_many", meta.model, names), build_one)
    records = await executor.fetchmany(
        meta.database,
        statement.sql,
        [statement.params(r) for r in rows],
        model=meta.model_name,
        operation="bulk_update",
    )
    forget_instances(model, instances)
    return len(records)


async def bulk_delete(model: type[Model], objects: list[Any]) -> int:
    meta = model._require_meta()
    meta.check_writable("bulk_delete")
    if not objects:
        return 0
    key_names = tuple(meta.primary_keys)
    if not key_names:
        raise QueryError(f"'{meta.model_name}' has no primary key", model=meta.model_name)
    rows = []
    for obj in objects:
        if isinstance(obj, model):
            rows.append([meta.fields[n].to_db(obj.__dict__.get(n)) for n in key_names])
        elif len(key_names) == 1:
            rows.append([meta.fields[key_names[0]].to_db(obj)])
        else:
            rows.append([meta.fields[n].to_db(v) for n, v in zip(key_names, obj, strict=True)])

    def build() -> Any:
        u = _unnest(meta, key_names)
        where = sa.and_(*(meta.columns[n] == u.c[meta.fields[n].column_name] for n in key_names))
        return sa.delete(meta.table).where(where)

    statement = compiler.compiled(("bulk_delete", meta.model), build)
    status = await executor.execute(
        meta.database,
        statement.sql,
        _columns_of(rows, len(key_names)),
        model=meta.model_name,
        operation="bulk_delete",
    )
    forget_keys(model, objects, deleted=True)
    for obj in objects:
        if isinstance(obj, model):
            obj.__dict__["_persisted"] = False
    return executor.affected_rows(status)


async def upsert(
    model: type[ModelT],
    objects: list[Mapping[str, Any]],
    conflict_fields: list[str],
    update_fields: Sequence[str] | None,
) -> list[ModelT]:
    meta = model._require_meta()
    meta.check_writable("upsert")
    if not objects:
        return []
    if not conflict_fields:
        raise ParameterError("upsert needs conflict_fields (the unique columns)", model=meta.model_name)
    conflict = tuple(meta.get_field(n).name for n in conflict_fields)
    instances = _as_instances(model, objects)
    for instance in instances:
        stamp(instance, adding=True)
    names = _insert_columns(meta, instances[0].__dict__)
    for name in conflict:
        if name not in names:
            raise ParameterError(
                f"upsert data must include the conflict field '{name}'", model=meta.model_name
            )
    if any(_insert_columns(meta, inst.__dict__) != names for inst in instances[1:]):
        raise ParameterError("bulk_upsert rows must all set the same fields", model=meta.model_name)
    if update_fields is None:
        # never the primary key (a default-generated key must not replace the existing row's key) nor the
        # version (it moves on by itself, see _bump_version)
        keep = {*conflict, *meta.primary_keys, *([meta.version_field.name] if meta.version_field else [])}
        updates = tuple(n for n in names if n not in keep)
    else:
        updates = tuple(meta.get_field(n).name for n in update_fields)
        missing = [n for n in updates if n not in names]
        if missing:
            raise UnknownFieldError(name=missing[0], choices=names, model=meta.model_name)
    returning = _returning(meta)
    fields = [meta.fields[n] for n in names]
    rows = [[_db_value(f, inst.__dict__.get(f.name)) for f in fields] for inst in instances]
    single = len(rows) == 1 or not _unnest_safe(meta, names)

    def build() -> Any:
        if single:
            stmt = pg_insert(meta.table).values(
                {f.column_name: compiler.bind(i, f.bind_type()) for i, f in enumerate(fields)}
            )
        else:
            u = _unnest(meta, names)
            stmt = pg_insert(meta.table).from_select([f.column_name for f in fields], sa.select(*u.c))
        targets = updates or conflict[:1]
        sets = {meta.fields[n].column_name: stmt.excluded[meta.fields[n].column_name] for n in targets}
        if updates:
            _bump_version(meta, targets, sets)
        stmt = stmt.on_conflict_do_update(index_elements=[meta.columns[n] for n in conflict], set_=sets)
        return stmt.returning(*(meta.columns[n] for n in returning))

    statement = compiler.compiled(("upsert", meta.model, names, conflict, updates, single), build)
    if single and len(rows) > 1:
        records = await executor.fetchmany(
            meta.database,
            statement.sql,
            [statement.params(r) for r in rows],
            model=meta.model_name,
            operation="bulk_upsert",
        )
    elif single:
        records = await executor.fetch(
            meta.database, statement.sql, statement.params(rows[0]), model=meta.model_name, operation="upsert"
        )
    else:
        records = await executor.fetch(
            meta.database,
            statement.sql,
            _columns_of(rows, len(names)),
            model=meta.model_name,
            operation="bulk_upsert",
        )
    load = instance_loader(model, returning)
    stored = [load(record) for record in records]
    if any(n in meta.primary_keys for n in updates):  # keys changed: the old ones are unknown
        forget_model(model)
    else:
        forget_instances(model, stored)
    return stored


# -- query-level writes ---------------------------------------------------------------------------------------------


async def update_query(qs: QueryBuilder[Any], updates: Mapping[str, Any], *, returning: bool) -> UpdateResult:
    state = qs._state
    meta = qs._meta
    meta.check_writable("update")
    qs._check_unsliced("update")
    if not updates:
        raise ParameterError("update() needs at least one field=value", model=meta.model_name)
    names = tuple(meta.get_field(n).name for n in updates)
    values: list[Any] = []
    set_shapes = []  # None for a plain value; the shape of an expression (F("n") + 1, Now(), ...)
    for n, raw in zip(names, updates.values(), strict=True):
        if isinstance(raw, compiler.RESOLVABLE):
            set_shapes.append(gather_set_expression(state.model, n, raw, values))
        else:
            values.append(_db_value(meta.fields[n], raw))
            set_shapes.append(None)
    set_count = len(values)
    where_shape = compiler.gather(state.model, state.where, values)
    fields_out = _returning(meta)
    key = ("update_query", state.model, names, tuple(set_shapes), where_shape, returning)

    def build() -> Any:
        sets: dict[str, Any] = {}
        index = 0
        for n, raw, shape in zip(names, updates.values(), set_shapes, strict=True):
            if shape is None:
                sets[meta.fields[n].column_name] = compiler.bind(index, meta.fields[n].bind_type())
                index += 1
            else:
                sets[meta.fields[n].column_name], index = build_expression(
                    as_expression(raw), state.model, index
                )
        _bump_version(meta, names, sets)
        stmt = sa.update(meta.table).values(sets)
        where, _ = compiler.build_where(state.model, state.where, start=set_count)
        if where is not None:
            stmt = stmt.where(where)
        return stmt.returning(*(meta.columns[n] for n in fields_out)) if returning else stmt

    statement = compiler.compiled(key, build)
    database = qs._database
    if returning:
        records = await executor.fetch(
            database, statement.sql, statement.params(values), model=meta.model_name, operation="update_where"
        )
        result = UpdateResult(len(records), records=records, load=instance_loader(state.model, fields_out))
        if any(n in meta.primary_keys for n in names):  # the old keys are unknown
            forget_model(state.model)
        else:  # the rows become instances only if something cached needs their keys (or the caller reads them)
            forget_instances(state.model, _LazyRows(result))
        return result
    status = await executor.execute(
        database, statement.sql, statement.params(values), model=meta.model_name, operation="update"
    )
    forget_model(state.model)
    return UpdateResult(executor.affected_rows(status))


class _LazyRows:
    """Iterates an ``UpdateResult``'s instances, building them only when iterated."""

    __slots__ = ("_result",)

    def __init__(self, result: UpdateResult) -> None:
        self._result = result

    def __iter__(self) -> Iterator[Any]:
        return iter(self._result.updated_rows)


async def delete_query(qs: QueryBuilder[Any]) -> int:
    state = qs._state
    meta = qs._meta
    meta.check_writable("delete")
    qs._check_unsliced("delete")
    values: list[Any] = []
    where_shape = compiler.gather(state.model, state.where, values)

    def build() -> Any:
        stmt = sa.delete(meta.table)
        where, _ = compiler.build_where(state.model, state.where)
        return stmt.where(where) if where is not None else stmt

    statement = compiler.compiled(("delete_query", state.model, where_shape), build)
    status = await executor.execute(
        qs._database, statement.sql, statement.params(values), model=meta.model_name, operation="delete"
    )
    forget_model(state.model, deleted=True)
    return executor.affected_rows(status)
