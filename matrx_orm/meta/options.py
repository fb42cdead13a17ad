"""``Model._meta``: what the metaclass learned about a model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa

from ..exceptions import ReadOnlyModelError, UnknownFieldError
from ..state import resolve_ttl

if TYPE_CHECKING:
    from ..fields import Field
    from ..model import Model
    from .foreign_key import ForeignKey


class ModelOptions:
    """Table, fields, keys and settings of one concrete model."""

    def __init__(
        self,
        model: type[Model],
        *,
        table_name: str,
        database: str,
        db_schema: str | None,
        fields: dict[str, Field[Any]],
        relation_fields: dict[str, Any],
        primary_keys: list[str],
        table: sa.Table,
        cache_policy: Any,
        cache_timeout: int | None,
        unfetchable: bool,
        inverse_foreign_keys: dict[str, dict[str, Any]],
        many_to_many: dict[str, dict[str, Any]],
        ordering: tuple[Any, ...] = (),
        validate_on_save: bool = False,
    ) -> None:
        self.model = model
        self.model_name = model.__name__
        self.table_name = table_name
        self.database = database
        self.db_schema = db_schema
        self.fields = fields
        self.relation_fields = relation_fields
        self.primary_keys = primary_keys
        self.pk_fields = [fields[name] for name in primary_keys]
        self.pk: Field[Any] | None = self.pk_fields[0] if len(self.pk_fields) == 1 else None
        self.table = table
        self.cache_policy = cache_policy
        self.cache_timeout = cache_timeout
        #: seconds a cached row lives (validated here, so a bad ``_cache_policy`` fails at class definition)
        self.cache_ttl: float = resolve_ttl(cache_policy, cache_timeout, model.__name__)
        self.unfetchable = unfetchable
        self.inverse_foreign_keys = inverse_foreign_keys
        self.many_to_many = many_to_many
        #: the default ordering (``_ordering`` / ``Meta.ordering``): queries without ``order_by()`` use it
        self.ordering: tuple[Any, ...] = ordering
        #: ``_validate_on_save``: ``save()`` / ``create()`` run ``full_clean()`` first
        self.validate_on_save = validate_on_save
        self.field_names: tuple[str, ...] = tuple(fields)
        self.columns: dict[str, sa.Column[Any]] = {name: table.c[f.column_name] for name, f in fields.items()}
        self.foreign_keys: dict[str, ForeignKey] = {
            name: cast("ForeignKey", f) for name, f in fields.items() if getattr(f, "is_relation", False)
        }
        self.version_field: Field[Any] | None = next(
            (f for f in fields.values() if getattr(f, "is_version", False)), None
        )
        #: a model over a view (``_is_view``): readable, never written
        self.is_view: bool = bool(table.info.get("is_view"))
        #: the model defines its own ``__init__`` (bulk paths then build instances through it)
        self.custom_init = False
        #: ``author`` -> ``author_id`` for foreign keys whose name ends in ``_id``.
        self.relation_aliases: dict[str, str] = {
            name[:-3]: name for name in self.foreign_keys if name.endswith("_id") and name[:-3] not in fields
        }

    @property
    def ordering_or_pk(self) -> tuple[Any, ...]:
        """The default ordering, else the primary key: how loaded relation lists are ordered."""
        return self.ordering or tuple(self.primary_keys)

    @property
    def qualified_table_name(self) -> str:
        """``schema.table`` when the model lives outside the default schema, else ``table``."""
        return f"{self.db_schema}.{self.table_name}" if self.db_schema else self.table_name

    def check_writable(self, operation: str) -> None:
        """Raise ``ReadOnlyModelError`` when the model cannot be written (it maps a view)."""
        if self.is_view:
            raise ReadOnlyModelError(
                f"'{self.model_name}' maps the view {self.qualified_table_name}; {operation}() is not allowed",
                model=self.model_name,
                operation=operation,
            )

    def get_field(self, name: str) -> Field[Any]:
        """The concrete field ``name`` (a relation alias such as ``author`` also works)."""
        field = self.fields.get(name)
        if field is None:
            alias = self.relation_aliases.get(name)
            if alias is not None:
                return self.fields[alias]
            raise UnknownFieldError(name=name, choices=self.field_names, model=self.model_name)
        return field

    def column(self, name: str) -> sa.Column[Any]:
        return self.columns[self.get_field(name).name]

    def __repr__(self) -> str:
        return f"<ModelOptions {self.model_name} table={self.qualified_table_name!r} db={self.database!r}>"
