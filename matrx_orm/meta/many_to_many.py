"""Many-to-many relations through a junction table: config-based (``_many_to_many``) or ``ManyToManyField``.

A declared ``ManyToManyField("Tag")`` on ``Post`` adds the junction table ``post_tag`` (the two table names
sorted, or ``db_table=``) with columns ``post_id`` and ``tag_id`` (``from_<t>_id`` / ``to_<t>_id`` when a model
relates to itself) to the project's MetaData, so ``create_all`` and migrations create it. A config-based
relation names an existing junction table; it is described by a private ``sa.Table`` that migrations never see.

This module describes the relations (``M2MSpec``) and declares the junction tables; reads live in
``query/relations/many_to_many.py`` and junction writes in ``write/many_to_many.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..exceptions import ConfigurationError, ORMException, RelationshipError
from ..fields.relations import ManyToManyField
from . import registry
from .inverse_foreign_key import check_ifk_config

if TYPE_CHECKING:
    from ..fields import Field
    from ..model import Model

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
