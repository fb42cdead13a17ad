"""Many-to-many relations through a junction table: config-based (``_many_to_many``) or ``ManyToManyField``.

A declared ``ManyToManyField("Tag")`` on ``Post`` adds the junction table ``post_tag`` (the two table names
sorted, or ``db_table=``) with columns ``post_id`` and ``tag_id`` (``from_<t>_id`` / ``to_<t>_id`` when a model
relates to itself) to the project's MetaData, so ``create_all`` and migrations create it. A config-based
relation names an existing junction table; it is described by a private ``sa.Table`` that migrations never see.

Reads join the junction to the target table in one query (``junction.source = ANY($1)``), so loading the
relation for one instance or for a thousand costs one round trip. Writes touch only the junction table.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..exceptions import ConfigurationError, ORMException, RelationshipError
from ..fields.relations import ManyToManyField
from ..models import registry
from ..query import compiler, executor
from ..query.hydrate import instance_loader
from . import fanout
from .spec import RELATED_KEY, remember, skipped_unfetchable, unknown

if TYPE_CHECKING:
    from ..fields import Field
    from ..models.base import Model

M2M_KEYS = frozenset(
    {
        "junction_table",
        "source_column",
        "target_column",
        "target_model",
        "related_name",
        "junction_schema",
        "source_field",
        "target_field",
    }
)
M2M_REQUIRED = ("junction_table", "source_column", "target_column", "target_model")
SOURCE_LABEL = "_mx_m2m_source"


@dataclass(frozen=True, slots=True)
class M2MSpec:
    """A many-to-many relation of ``model`` called ``name``."""

    model: type[Model]
    name: str
    target_name: str
    junction_name: str
    junction_schema: str | None
    source_column: str
    target_column: str
    source_key: str | None = None  # field of ``model`` the junction stores (default: primary key)
    target_key: str | None = None  # field of the target the junction stores (default: primary key)
    declared: bool = False  # from a ManyToManyField: the junction table lives in the project's MetaData

    @property
    def target(self) -> type[Model]:
        return registry.get_model(self.target_name, self.model._meta.database)

    @property
    def database(self) -> str:
        """The junction table's database (the source model's)."""
        return self.model._meta.database

    @property
    def source_field(self) -> Field[Any]:
        return _key_field(self.model, self.source_key, self.name)

    @property
    def target_field(self) -> Field[Any]:
        return _key_field(self.target, self.target_key, self.name)

    @property
    def junction(self) -> sa.Table:
        """The junction table as a SQLAlchemy ``Table``."""
        key = f"{self.junction_schema}.{self.junction_name}" if self.junction_schema else self.junction_name
        if self.declared:
            table = registry.metadata_for(self.database).tables.get(key)
            if table is None:
                raise RelationshipError(
                    f"The junction table of {self.model.__name__}.{self.name} is not built yet: "
                    f"model '{self.target_name}' is not defined",
                    model=self.model.__name__,
                )
            return table
        target = self.target
        cache_key = (self.model, self.name, target)
        table = _private_tables.get(cache_key)
        if table is None:
            table = _private_tables[cache_key] = sa.Table(
                self.junction_name,
                sa.MetaData(),
                sa.Column(self.source_column, self.source_field.sa_type()),
                sa.Column(self.target_column, self.target_field.sa_type()),
                schema=self.junction_schema,
            )
        return table


_private_tables: dict[tuple[Any, ...], sa.Table] = {}


def _key_field(model: type[Model], name: str | None, relation: str) -> Field[Any]:
    meta = model._meta
    if name is not None:
        return meta.get_field(name)
    if meta.pk is None:
        raise ConfigurationError(
            f"Many-to-many '{relation}' needs a single-column key on '{model.__name__}' "
            "(name it with source_field= / target_field= in _many_to_many)",
            model=model.__name__,
        )
    return meta.pk


# -- resolution ------------------------------------------------------------------------------------------------


def m2m_names(model: type[Model]) -> list[str]:
    meta = model._meta
    names = list(meta.many_to_many)
    names.extend(
        n for n, f in meta.relation_fields.items() if isinstance(f, ManyToManyField) and n not in names
    )
    return names


def many_to_many(model: type[Model], name: str) -> M2MSpec | None:
    """The many-to-many relation ``name`` of ``model``, or None."""
    meta = model._meta
    field = meta.relation_fields.get(name)
    if isinstance(field, ManyToManyField):
        return _declared_spec(model, name, field)
    config = meta.many_to_many.get(name)
    if config is None:
        return None
    check_m2m_config(model, name, config)
    junction = str(config["junction_table"])
    schema = config.get("junction_schema")
    if schema is None and "." in junction:
        schema, junction = junction.split(".", 1)
    target = config["target_model"]
    return M2MSpec(
        model,
        name,
        target if isinstance(target, str) else target.__name__,
        junction,
        schema if schema is not None else model._meta.db_schema,
        config["source_column"],
        config["target_column"],
        config.get("source_field"),
        config.get("target_field"),
    )


def m2m_spec(instance_or_model: Model | type[Model], name: str) -> M2MSpec:
    model = instance_or_model if isinstance(instance_or_model, type) else type(instance_or_model)
    spec = many_to_many(model, name)
    if spec is None:
        raise unknown(model, name, "many-to-many relation")
    return spec


def check_m2m_config(model: type, name: str, config: Any) -> None:
    """Raise ConfigurationError for a malformed ``_many_to_many`` entry."""
    where = f"_many_to_many['{name}'] on model '{model.__name__}'"
    if not isinstance(config, dict):
        raise ConfigurationError(f"{where} must be a dict; got {config!r}", model=model.__name__)
    missing = [key for key in M2M_REQUIRED if not config.get(key)]
    unknown_keys = sorted(set(config) - M2M_KEYS)
    if missing or unknown_keys:
        problem = f"missing {missing}" if missing else f"unknown keys {unknown_keys}"
        raise ConfigurationError(
            f"{where}: {problem}; expected keys {sorted(M2M_KEYS)}", model=model.__name__
        )


def junction_columns(source_table: str, target_table: str) -> tuple[str, str]:
    """``post``/``tag`` -> (``post_id``, ``tag_id``); a self-relation gets ``from_<t>_id``/``to_<t>_id``."""
    if source_table == target_table:
        return f"from_{source_table}_id", f"to_{target_table}_id"
    return f"{source_table}_id", f"{target_table}_id"


def _declared_spec(model: type[Model], name: str, field: ManyToManyField) -> M2MSpec:
    target: Any = field.to
    if not isinstance(target, type):
        target = registry.get_model(field.to_model_name, model._meta.database)
    source_table, target_table = model._meta.table_name, target._meta.table_name
    source_column, target_column = junction_columns(source_table, target_table)
    return M2MSpec(
        model,
        name,
        target.__name__,
        field.junction_table(source_table, target_table),
        model._meta.db_schema,
        source_column,
        target_column,
        declared=True,
    )


# -- declaration (called by the metaclass) ---------------------------------------------------------------------


def attach(model: type[Model]) -> None:
    """Check the relation configs of a new model and build the junction tables of its ManyToManyFields."""
    from .spec import check_ifk_config

    meta = model._meta
    for name, config in meta.inverse_foreign_keys.items():
        check_ifk_config(model, name, config)
    for name, config in meta.many_to_many.items():
        check_m2m_config(model, name, config)
    for name, field in meta.relation_fields.items():
        if isinstance(field, ManyToManyField):
            if isinstance(field.to, type):
                _build_junction(model, name, field, field.to)
            else:
                registry.when_registered(
                    field.to_model_name,
                    functools.partial(_build_target_junction, model, name, field),
                )


def _build_target_junction(
    model: type[Model], name: str, field: ManyToManyField, target: type[Model]
) -> None:
    _build_junction(model, name, field, target)


def _build_junction(model: type[Model], name: str, field: ManyToManyField, target: type[Model]) -> None:
    if model._meta.pk is None or getattr(target, "_meta", None) is None or target._meta.pk is None:
        raise ConfigurationError(
            f"ManyToManyField {model.__name__}.{name} needs a single-column primary key on both models",
            model=model.__name__,
        )
    spec = _declared_spec(model, name, field)
    metadata = registry.metadata_for(model._meta.database)
    key = f"{spec.junction_schema}.{spec.junction_name}" if spec.junction_schema else spec.junction_name
    old = metadata.tables.get(key)
    if old is not None:
        metadata.remove(old)
    same_db = target._meta.database == model._meta.database
    source_pk, target_pk = model._meta.pk, target._meta.pk
    columns = []
    for column_name, owner, pk in (
        (spec.source_column, model, source_pk),
        (spec.target_column, target, target_pk),
    ):
        constraint = []
        if owner is model or same_db:
            ref = owner._meta.columns[pk.name]
            qualified = f"{ref.table.schema}.{ref.table.name}" if ref.table.schema else ref.table.name
            constraint = [sa.ForeignKey(f"{qualified}.{ref.name}", ondelete="CASCADE")]
        columns.append(sa.Column(column_name, pk.sa_type(), *constraint, primary_key=True))
    sa.Table(spec.junction_name, metadata, *columns, schema=spec.junction_schema)
    if field.related_name and field.related_name not in target._meta.many_to_many:
        target._meta.many_to_many[field.related_name] = {
            "junction_table": spec.junction_name,
            "junction_schema": spec.junction_schema,
            "source_column": spec.target_column,
            "target_column": spec.source_column,
            "target_model": model.__name__,
        }


def junction_tables(models: Iterable[type[Model]]) -> list[sa.Table]:
    """The junction tables declared by ``models``' ManyToManyFields (those whose target exists)."""
    tables: list[sa.Table] = []
    for model in models:
        for name, field in model._meta.relation_fields.items():
            if not isinstance(field, ManyToManyField):
                continue
            try:
                table = _declared_spec(model, name, field).junction
            except ORMException:
                continue
            if table not in tables:
                tables.append(table)
    return tables


# -- reads -----------------------------------------------------------------------------------------------------


async def fetch_m2m(instance: Model, name: str, *, stacklevel: int = 4) -> list[Model]:
    """The targets related to ``instance`` (ordered by the target's primary key)."""
    spec = m2m_spec(instance, name)
    if skipped_unfetchable(spec.target, "fetch_m2m", name, stacklevel=stacklevel):
        return []
    rows = await load_many([instance], spec)
    return list(rows)


async def fetch_m2ms(instance: Model) -> dict[str, list[Model]]:
    """Every many-to-many relation by name; a failing one logs a warning and gives ``[]``."""
    model = type(instance)
    jobs = [
        fanout.Job(name, _databases(model, name), functools.partial(fetch_m2m, instance, name, stacklevel=6))
        for name in m2m_names(model)
    ]
    return await fanout.run_resilient(jobs, lambda _key: [], model._meta.model_name)


def _databases(model: type[Model], name: str) -> tuple[str, ...]:
    try:
        spec = m2m_spec(model, name)
        return tuple(dict.fromkeys((spec.database, spec.target._meta.database)))
    except Exception:  # reported by the job itself
        return ()


async def load_many(instances: Sequence[Model], spec: M2MSpec) -> list[Model]:
    """Load the relation for every instance with one query; returns every target row loaded."""
    target = spec.target
    if skipped_unfetchable(target, "prefetch_related", spec.name, stacklevel=5):
        for instance in instances:
            remember(instance, spec.name, [])
        return []
    source_field = spec.source_field
    keys = list(
        dict.fromkeys(v for v in (i.__dict__.get(source_field.name) for i in instances) if v is not None)
    )
    grouped: dict[Any, list[Model]] = {}
    loaded: list[Model] = []
    if keys:
        db_keys = [source_field.to_db(key) for key in keys]
        if target._meta.database == spec.database:
            loaded = await _joined(spec, target, db_keys, grouped)
        else:
            loaded = await _two_step(spec, target, db_keys, grouped)
    for instance in instances:
        remember(instance, spec.name, list(grouped.get(instance.__dict__.get(source_field.name), ())))
    return loaded


async def _joined(
    spec: M2MSpec, target: type[Model], keys: list[Any], grouped: dict[Any, list[Model]]
) -> list[Model]:
    junction = spec.junction
    meta = target._meta
    names = meta.field_names

    def build() -> Any:
        source_col = junction.c[spec.source_column]
        target_key_col = meta.columns[spec.target_field.name]
        columns = [meta.columns[n] for n in names]
        return (
            sa.select(*columns, source_col.label(SOURCE_LABEL))
            .select_from(meta.table.join(junction, junction.c[spec.target_column] == target_key_col))
            .where(source_col == sa.func.any(compiler.bind(0, ARRAY(spec.source_field.bind_type()))))
            .order_by(*(meta.columns[n] for n in meta.primary_keys))
        )

    statement = compiler.compiled(("m2m_fetch", spec.model, spec.name, target, junction), build)
    records = await executor.fetch(
        spec.database,
        statement.sql,
        statement.params([keys]),
        model=spec.model.__name__,
        operation="fetch_m2m",
    )
    load = instance_loader(target, names)
    source_field = spec.source_field
    convert = source_field.from_db if source_field.needs_from_db else None
    rows: dict[Any, Model] = {}
    for record in records:
        row = load(record)
        pk = row.pk
        row = rows.setdefault(pk, row)  # one instance per target row, shared by the parents that hold it
        source = record[SOURCE_LABEL]
        grouped.setdefault(convert(source) if convert and source is not None else source, []).append(row)
    return list(rows.values())


async def _two_step(
    spec: M2MSpec, target: type[Model], keys: list[Any], grouped: dict[Any, list[Model]]
) -> list[Model]:
    """Target in another database: junction rows first, then the targets there (two queries)."""
    junction = spec.junction

    def build() -> Any:
        source_col = junction.c[spec.source_column]
        return sa.select(source_col, junction.c[spec.target_column]).where(
            source_col == sa.func.any(compiler.bind(0, ARRAY(spec.source_field.bind_type())))
        )

    statement = compiler.compiled(("m2m_pairs", spec.model, spec.name, junction), build)
    pairs = await executor.fetch(
        spec.database,
        statement.sql,
        statement.params([keys]),
        model=spec.model.__name__,
        operation="fetch_m2m",
    )
    target_key = spec.target_field.name
    wanted = list(dict.fromkeys(pair[1] for pair in pairs))
    rows = (
        await target.objects()
        .filter(**{f"{target_key}__in": wanted})
        .order_by(*target._meta.primary_keys)
        .all()
    )
    by_key = {row.__dict__.get(target_key): row for row in rows}
    order = {row.__dict__.get(target_key): i for i, row in enumerate(rows)}
    for source, target_value in sorted(pairs, key=lambda p: order.get(p[1], -1)):
        row = by_key.get(target_value)
        if row is not None:
            grouped.setdefault(source, []).append(row)
    return rows


# -- writes ----------------------------------------------------------------------------------------------------


def _source_value(instance: Model, spec: M2MSpec, operation: str) -> Any:
    field = spec.source_field
    value = instance.__dict__.get(field.name)
    if value is None:
        raise RelationshipError(
            f"{operation}('{spec.name}') needs a saved {type(instance).__name__} "
            f"(its '{field.name}' is None)",
            model=type(instance).__name__,
            operation=operation,
        )
    return field.to_db(value)


def _target_values(spec: M2MSpec, ids: Sequence[Any]) -> list[Any]:
    """Validated, de-duplicated target keys (model instances give their key); raises before any query."""
    if len(ids) == 1 and isinstance(ids[0], list | tuple | set | frozenset):
        ids = list(ids[0])
    from ..models.base import Model

    field = spec.target_field
    values = []
    for item in ids:
        if item is None:
            raise RelationshipError(f"None is not a key of '{spec.target_name}'", model=spec.model.__name__)
        if isinstance(item, Model):
            item = item.__dict__.get(field.name)
        values.append(field.to_db(item))
    return list(dict.fromkeys(values))


def _types(spec: M2MSpec) -> tuple[Any, Any]:
    junction = spec.junction
    return junction.c[spec.source_column].type, junction.c[spec.target_column].type


async def _run(spec: M2MSpec, kind: str, build: Any, params: list[Any], operation: str) -> int:
    statement = compiler.compiled((kind, spec.model, spec.name, spec.junction), build)
    status = await executor.execute(
        spec.database, statement.sql, statement.params(params), model=spec.model.__name__, operation=operation
    )
    _forget_junction_rows(spec)
    return executor.affected_rows(status)


async def add_m2m(instance: Model, name: str, *ids: Any) -> int:
    """Link ``ids`` (keys or instances of the target); existing links are kept (idempotent). Returns how
    many links were added."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "add_m2m")
    values = _target_values(spec, ids)
    _forget_loaded(instance, spec)
    if not values:
        return 0
    return await _add(spec, source, values)


async def _add(spec: M2MSpec, source: Any, values: list[Any]) -> int:
    junction = spec.junction
    source_type, target_type = _types(spec)

    def build() -> Any:
        source_col, target_col = junction.c[spec.source_column], junction.c[spec.target_column]
        source_value = sa.cast(compiler.bind(0), source_type)
        ids = sa.func.unnest(sa.cast(compiler.bind(1), ARRAY(target_type))).table_valued("value")
        ids = ids.render_derived(name="_mx_ids")
        rows = sa.select(source_value, ids.c.value).where(
            ~sa.exists().where(source_col == source_value, target_col == ids.c.value)
        )
        return pg_insert(junction).from_select([source_col, target_col], rows).on_conflict_do_nothing()

    return await _run(spec, "m2m_add", build, [source, values], "add_m2m")


async def remove_m2m(instance: Model, name: str, *ids: Any) -> int:
    """Unlink ``ids``; returns how many links were removed."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "remove_m2m")
    values = _target_values(spec, ids)
    _forget_loaded(instance, spec)
    if not values:
        return 0
    junction = spec.junction
    source_type, target_type = _types(spec)

    def build() -> Any:
        return sa.delete(junction).where(
            junction.c[spec.source_column] == compiler.bind(0, source_type),
            junction.c[spec.target_column] == sa.func.any(compiler.bind(1, ARRAY(target_type))),
        )

    return await _run(spec, "m2m_remove", build, [source, values], "remove_m2m")


async def clear_m2m(instance: Model, name: str) -> int:
    """Unlink every target; returns how many links were removed."""
    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "clear_m2m")
    _forget_loaded(instance, spec)
    junction = spec.junction
    source_type, _ = _types(spec)

    def build() -> Any:
        return sa.delete(junction).where(junction.c[spec.source_column] == compiler.bind(0, source_type))

    return await _run(spec, "m2m_clear", build, [source], "clear_m2m")


async def set_m2m(instance: Model, name: str, ids: Iterable[Any]) -> None:
    """Make ``ids`` exactly the linked targets (one transaction: unlink the others, link the missing)."""
    from ..transaction import transaction

    spec = m2m_spec(instance, name)
    source = _source_value(instance, spec, "set_m2m")
    values = _target_values(spec, [list(ids)])
    _forget_loaded(instance, spec)
    if not values:
        await clear_m2m(instance, name)
        return
    junction = spec.junction
    source_type, target_type = _types(spec)

    def build() -> Any:
        return sa.delete(junction).where(
            junction.c[spec.source_column] == compiler.bind(0, source_type),
            sa.not_(junction.c[spec.target_column] == sa.func.any(compiler.bind(1, ARRAY(target_type)))),
        )

    async with transaction(spec.database):
        await _run(spec, "m2m_set", build, [source, values], "set_m2m")
        await _add(spec, source, values)


def _forget_loaded(instance: Model, spec: M2MSpec) -> None:
    related = instance.__dict__.get(RELATED_KEY)
    if related is not None:
        related.pop(spec.name, None)


def _forget_junction_rows(spec: M2MSpec) -> None:
    """A junction table that is also a model has rows in the state cache: drop them."""
    from .. import state

    forget = getattr(state, "forget_model", None)
    if forget is None:
        return
    junction = spec.junction
    for model in registry.all_models(spec.database):
        table = model._meta.table
        if table.name == junction.name and table.schema == junction.schema:
            forget(model)
