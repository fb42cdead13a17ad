"""``Model``: the metaclass that turns a class into a table, and the CRUD API on top of it."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

import sqlalchemy as sa

from .. import signals as _signals
from .. import state as _state
from ..exceptions import FieldError, QueryError, UnknownFieldError, ValidationError
from ..fields import NOT_PROVIDED, Field
from ..relations import m2m as relations_m2m
from ..relations.model_api import RelationMethods
from . import registry
from .options import ModelOptions

if TYPE_CHECKING:
    from ..query.builder import QueryBuilder
    from ..query.results import UpdateResult

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``BlogPost`` → ``blog_post``; ``HTTPLog`` → ``http_log``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _own_setting(namespace: Mapping[str, Any], inner_meta: Any, attr: str, meta_attr: str) -> Any:
    if attr in namespace:
        return namespace[attr]
    return getattr(inner_meta, meta_attr, None) if inner_meta is not None else None


class ModelMeta(type):
    """Collects fields (inheriting from abstract bases), builds the ``sa.Table`` and registers the model."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> type:
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        if namespace.get("_is_model_base"):
            return cls
        inner_meta = namespace.get("Meta")
        abstract = bool(namespace.get("_abstract") or getattr(inner_meta, "abstract", False))

        inherited: dict[str, Field[Any]] = {}
        inverse_fks: dict[str, dict[str, Any]] = {}
        many_to_many: dict[str, dict[str, Any]] = {}
        for base in reversed(cls.__mro__[1:]):
            inherited.update(base.__dict__.get("_declared_fields", {}))
            inverse_fks.update(base.__dict__.get("_inverse_foreign_keys", None) or {})
            many_to_many.update(base.__dict__.get("_many_to_many", None) or {})
        own = {key: value for key, value in namespace.items() if isinstance(value, Field)}
        declared = {**{k: v for k, v in inherited.items() if k not in own}, **own}
        cls._declared_fields = declared  # type: ignore[attr-defined]
        inverse_fks.update(namespace.get("_inverse_foreign_keys") or {})
        many_to_many.update(namespace.get("_many_to_many") or {})
        cls._inverse_foreign_keys = inverse_fks  # type: ignore[attr-defined]
        cls._many_to_many = many_to_many  # type: ignore[attr-defined]
        cls._abstract = abstract  # type: ignore[attr-defined]
        if abstract:
            cls._meta = None  # type: ignore[attr-defined]
            return cls
        return mcs._build_concrete(cls, namespace, inner_meta, declared, inverse_fks, many_to_many)

    @staticmethod
    def _build_concrete(
        cls: Any,
        namespace: Mapping[str, Any],
        inner_meta: Any,
        declared: dict[str, Field[Any]],
        inverse_fks: dict[str, dict[str, Any]],
        many_to_many: dict[str, dict[str, Any]],
    ) -> type:
        reserved = _reserved_names()
        fields: dict[str, Field[Any]] = {}
        relation_fields: dict[str, Any] = {}
        for field_name, declared_field in declared.items():
            if field_name in reserved:
                raise FieldError(
                    f"Field name '{field_name}' on model '{cls.__name__}' collides with Model.{field_name}; "
                    "rename the attribute and keep the column name with db_column=",
                    model=cls.__name__,
                    details={"field": field_name},
                )
            field = declared_field if field_name in namespace else copy.copy(declared_field)
            field.name = field_name
            field.column_name = getattr(field, "db_column", None) or field_name
            field.model = cls
            setattr(cls, field_name, field)
            if getattr(field, "concrete", True):
                fields[field_name] = field
            else:
                relation_fields[field_name] = field

        table_name = _own_setting(namespace, inner_meta, "_table_name", "table_name") or snake_case(
            cls.__name__
        )
        database = (
            _own_setting(namespace, inner_meta, "_database", "database")
            or getattr(cls, "_database", None)
            or registry.DEFAULT_DATABASE
        )
        db_schema = _own_setting(namespace, inner_meta, "_db_schema", "db_schema") or getattr(
            cls, "_db_schema", None
        )
        explicit_pks = _own_setting(namespace, inner_meta, "_primary_keys", "primary_keys")
        primary_keys = list(explicit_pks or [n for n, f in fields.items() if f.primary_key])
        for pk_name in primary_keys:
            if pk_name not in fields:
                raise UnknownFieldError(name=pk_name, choices=fields, model=cls.__name__)
            pk_field = fields[pk_name]
            pk_field.primary_key = True
            pk_field.null = False

        # ``_is_view``: a read-only model over a view; its table stays out of the project's MetaData (so
        # migrations and create_all never touch it). ``_table_comment``: COMMENT ON TABLE. ``_constraints``:
        # extra ``sa.UniqueConstraint`` / ``sa.CheckConstraint`` objects (named as in the database).
        is_view = bool(_own_setting(namespace, inner_meta, "_is_view", "is_view"))
        if is_view:
            metadata = sa.MetaData(naming_convention=registry.NAMING_CONVENTION)
        else:
            metadata = registry.metadata_for(database)
            registry.replace_table(metadata, table_name, db_schema)
        table = sa.Table(
            table_name,
            metadata,
            *(field.sa_column() for field in fields.values()),
            schema=db_schema,
            comment=_own_setting(namespace, inner_meta, "_table_comment", "table_comment"),
            info={"is_view": True} if is_view else {},
        )
        for constraint in _own_setting(namespace, inner_meta, "_constraints", "constraints") or ():
            if getattr(constraint, "parent", None) is not None:  # already on another model's table
                constraint = constraint._copy(target_table=table)
            table.append_constraint(constraint)
        declared_indexes = _own_setting(namespace, inner_meta, "_indexes", "indexes")
        if declared_indexes is None:  # inherited from an abstract base
            declared_indexes = getattr(cls, "_indexes", ())
        if declared_indexes:
            from ..indexes import model_indexes

            model_indexes(cls.__name__, table, fields, declared_indexes)
        cls._table_name = table_name
        cls._database = database
        cls._db_schema = db_schema
        cls._primary_keys = primary_keys
        cls._meta = ModelOptions(
            cls,
            table_name=table_name,
            database=database,
            db_schema=db_schema,
            fields=fields,
            relation_fields=relation_fields,
            primary_keys=primary_keys,
            table=table,
            cache_policy=getattr(cls, "_cache_policy", None),
            cache_timeout=getattr(cls, "_cache_timeout", None),
            unfetchable=bool(getattr(cls, "_unfetchable", False)),
            inverse_foreign_keys=inverse_fks,
            many_to_many=many_to_many,
        )
        registry.register_model(cls)
        for fk in cls._meta.foreign_keys.values():
            fk.attach(cls)
        relations_m2m.attach(cls)
        return cls


_RESERVED: frozenset[str] | None = None


def _reserved_names() -> frozenset[str]:
    global _RESERVED
    if _RESERVED is None:
        _RESERVED = frozenset(n for n in dir(Model) if not n.startswith("__") and n not in _ALLOWED_SHADOWS)
    return _RESERVED


#: Model class attributes a field may legitimately replace.
_ALLOWED_SHADOWS = frozenset({"_database", "_db_schema", "_table_name"})


class Model(RelationMethods, metaclass=ModelMeta):
    """Base class of every matrx-orm model."""

    _is_model_base: ClassVar[bool] = True
    _meta: ClassVar[ModelOptions]
    _table_name: ClassVar[str]
    _database: ClassVar[str]
    _db_schema: ClassVar[str | None] = None
    _primary_keys: ClassVar[list[str]]
    _unfetchable: ClassVar[bool] = False
    _cache_policy: ClassVar[Any] = None
    _cache_timeout: ClassVar[int | None] = None
    _inverse_foreign_keys: ClassVar[dict[str, dict[str, Any]]] = {}
    _many_to_many: ClassVar[dict[str, dict[str, Any]]] = {}
    #: True once the row exists in the database (set by hydration and after an insert).
    _persisted: bool = False
    #: extra indexes on the table (``IndexDef`` objects, e.g. HNSW); also ``class Meta: indexes = [...]``
    _indexes: ClassVar[Sequence[Any]] = ()
    #: the distance to the query vector, on instances returned by ``nearest()``
    _vector_distance: float | None = None

    def __init__(self, **values: Any) -> None:
        meta = self._require_meta()
        data = self.__dict__
        for name, value in values.items():
            field = meta.fields.get(name) or _relation_alias_field(meta, name)
            if field is None:
                if name in meta.relation_fields:
                    continue
                raise UnknownFieldError(name=name, choices=meta.field_names, model=meta.model_name)
            data[field.name] = field.to_python(value)
        for name, field in meta.fields.items():
            if name not in data and field.has_default():
                data[name] = field.to_python(field.get_default())

    # -- identity ------------------------------------------------------------------------------------------
    @classmethod
    def _require_meta(cls) -> ModelOptions:
        meta = cls.__dict__.get("_meta")
        if meta is None:
            raise QueryError(
                f"'{cls.__name__}' is abstract (or not a model) and has no table", model=cls.__name__
            )
        return meta

    @property
    def pk(self) -> Any:
        """The primary key value (a tuple for composite keys)."""
        keys = self._meta.primary_keys
        if len(keys) == 1:
            return self.__dict__.get(keys[0])
        return tuple(self.__dict__.get(k) for k in keys)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pk!r}>"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.pk is not None and self.pk == other.pk  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.pk))

    def to_dict(self) -> dict[str, Any]:
        """Field values by field name (unloaded fields are ``None``)."""
        data = self.__dict__
        return {name: data.get(name) for name in self._meta.fields}

    # -- reads -----------------------------------------------------------------------------------------------
    @classmethod
    def filter(cls, *conditions: Any, **filters: Any) -> QueryBuilder[Self]:
        """Rows matching every condition (Q objects and ``field__lookup=value`` keywords)."""
        return cls.objects().filter(*conditions, **filters)

    @classmethod
    def exclude(cls, *conditions: Any, **filters: Any) -> QueryBuilder[Self]:
        """Rows matching none of the conditions."""
        return cls.objects().exclude(*conditions, **filters)

    @classmethod
    def all(cls) -> QueryBuilder[Self]:
        """Every row; await it for a list, or keep chaining."""
        return cls.objects()

    @classmethod
    def nearest(
        cls,
        column: str,
        vector: Any,
        metric: str = "cosine",
        *,
        null_guard: bool = True,
        ef_search: int | None = None,
        probes: int | None = None,
        iterative_scan: str | None = None,
    ) -> QueryBuilder[Self]:
        """Rows ordered by vector distance to ``vector``, nearest first (see ``QueryBuilder.nearest``)."""
        return cls.objects().nearest(
            column,
            vector,
            metric,
            null_guard=null_guard,
            ef_search=ef_search,
            probes=probes,
            iterative_scan=iterative_scan,
        )

    @classmethod
    def objects(cls) -> QueryBuilder[Self]:
        """A fresh QueryBuilder over this model."""
        from ..query.builder import QueryBuilder

        return QueryBuilder(cls)

    @classmethod
    async def get(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self:
        """The single matching row; DoesNotExist / MultipleObjectsReturned otherwise.

        A single positional non-Q argument is taken as the primary key value.
        """
        from ..query import pk_get

        conditions, filters = _pk_shortcut(cls, conditions, filters)
        cls._require_meta()
        pk_value = pk_get.single_pk_filter(cls, conditions, filters)
        if pk_value is not pk_get._NO:
            if use_cache:
                hit = _state.cached_get(cls, pk_value)
                if hit is not None:
                    return hit  # type: ignore[no-any-return]
                return await _state.fetch_and_store(cls, lambda: pk_get.get_by_pk(cls, pk_value))
            return await pk_get.get_by_pk(cls, pk_value)
        qs = cls.objects().filter(*conditions, **filters)
        if use_cache:
            return await _state.read_through(cls, _state.pk_of_filters(cls, conditions, filters), qs.get)
        return await qs.get(use_cache=False)

    @classmethod
    async def get_or_none(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self | None:
        """Like ``get`` but returns ``None`` when nothing matches."""
        from ..exceptions import DoesNotExist

        try:
            return await cls.get(*conditions, use_cache=use_cache, **filters)
        except DoesNotExist:
            return None

    @classmethod
    async def count(cls, *conditions: Any, **filters: Any) -> int:
        """Number of matching rows."""
        return await cls.objects().filter(*conditions, **filters).count()

    @classmethod
    async def exists(cls, *conditions: Any, **filters: Any) -> bool:
        """Whether any row matches."""
        return await cls.objects().filter(*conditions, **filters).exists()

    @classmethod
    async def raw(cls, sql: str, *args: Any, database: str | None = None) -> list[Self]:
        """Run your SQL (``$1, $2, ...`` bound to ``args``); rows as instances, extra columns as attributes."""
        from ..query.raw import raw

        return await raw(cls, sql, args, database)

    @classmethod
    async def raw_sql(cls, sql: str, *args: Any, database: str | None = None) -> list[dict[str, Any]]:
        """Run your SQL (``$1, $2, ...`` bound to ``args``); rows as dicts."""
        from ..query.raw import raw_sql

        return await raw_sql(cls, sql, args, database)

    # -- synchronous wrappers (scripts; raise SyncContextError inside a running event loop) ------------------
    @classmethod
    def get_sync(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self:
        """``get`` for synchronous code."""
        from ..sync import run_sync

        return run_sync(lambda: cls.get(*conditions, use_cache=use_cache, **filters), "get_sync")

    @classmethod
    def filter_sync(cls, *conditions: Any, **filters: Any) -> list[Self]:
        """``await Model.filter(...).all()`` for synchronous code."""
        from ..sync import run_sync

        return run_sync(lambda: cls.filter(*conditions, **filters).all(), "filter_sync")

    @classmethod
    def all_sync(cls) -> list[Self]:
        """Every row, for synchronous code."""
        from ..sync import run_sync

        return run_sync(lambda: cls.objects().all(), "all_sync")

    @classmethod
    def count_sync(cls, *conditions: Any, **filters: Any) -> int:
        """``count`` for synchronous code."""
        from ..sync import run_sync

        return run_sync(lambda: cls.count(*conditions, **filters), "count_sync")

    # -- writes ----------------------------------------------------------------------------------------------
    @classmethod
    async def create(cls, **values: Any) -> Self:
        """Insert one row and return it as stored (server defaults included)."""
        instance = cls(**values)
        await instance.save()
        return instance

    @classmethod
    async def bulk_create(cls, objects: Iterable[Mapping[str, Any] | Self]) -> list[Self]:
        """Insert many rows in one statement; returns the stored instances."""
        from ..query import writes

        return await writes.bulk_insert(cls, list(objects))

    @classmethod
    async def bulk_update(cls, objects: Sequence[Self], fields: Sequence[str]) -> int:
        """Write ``fields`` of each instance in one statement; returns the number of rows updated."""
        from ..query import writes

        return await writes.bulk_update(cls, list(objects), list(fields))

    @classmethod
    async def bulk_delete(cls, objects: Iterable[Self | Any]) -> int:
        """Delete the given instances (or primary key values); returns the number of rows deleted."""
        from ..query import writes

        return await writes.bulk_delete(cls, list(objects))

    @classmethod
    async def upsert(
        cls,
        data: Mapping[str, Any],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> Self:
        """INSERT … ON CONFLICT (conflict_fields) DO UPDATE; returns the stored row."""
        from ..query import writes

        rows = await writes.upsert(cls, [data], list(conflict_fields), update_fields)
        return rows[0]

    @classmethod
    async def bulk_upsert(
        cls,
        objects_data: Iterable[Mapping[str, Any]],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> list[Self]:
        """Upsert many rows in one statement; returns the stored rows."""
        from ..query import writes

        return await writes.upsert(cls, list(objects_data), list(conflict_fields), update_fields)

    @classmethod
    async def update_where(cls, filters: Mapping[str, Any] | Any, **updates: Any) -> UpdateResult:
        """UPDATE the rows matching ``filters``; the result maps rows_affected and updated_rows."""
        qs = cls.objects().filter(filters) if not isinstance(filters, Mapping) else cls.filter(**filters)
        return await qs.update_returning(**updates)

    @classmethod
    async def delete_where(cls, *conditions: Any, **filters: Any) -> int:
        """DELETE the matching rows; returns how many were deleted."""
        if not conditions and not filters:
            raise QueryError(
                "delete_where() needs at least one filter; use Model.all().delete() to empty a table",
                model=cls.__name__,
                operation="delete_where",
            )
        return await cls.objects().filter(*conditions, **filters).delete()

    async def save(self) -> Self:
        """Insert the instance if it is new, else write every loaded field back."""
        from ..query import writes

        if _signals.any_save_receivers():
            if self._persisted:
                await _signals.around_save(self, False, None, lambda: writes.update_instance(self, None))
            else:
                await _signals.around_save(self, True, None, lambda: writes.insert_instance(self))
            return self
        if self._persisted:
            await writes.update_instance(self, None)
        else:
            await writes.insert_instance(self)
        return self

    async def update(self, **values: Any) -> Self:
        """Set the given fields and write only those."""
        meta = self._meta
        names = []
        for name, value in values.items():
            field = meta.get_field(name)
            self.__dict__[field.name] = field.to_python(value)
            names.append(field.name)
        from ..query import writes

        if _signals.any_save_receivers():
            await _signals.around_save(self, False, tuple(names), lambda: writes.update_instance(self, names))
            return self
        await writes.update_instance(self, names)
        return self

    async def delete(self) -> int:
        """Delete this row; returns 1, or 0 when it was already gone."""
        from ..query import writes

        if _signals.any_delete_receivers():
            return await _signals.around_delete(self, lambda: writes.delete_instance(self))  # type: ignore[no-any-return]
        return await writes.delete_instance(self)


def _relation_alias_field(meta: ModelOptions, name: str) -> Field[Any] | None:
    alias = meta.relation_aliases.get(name)
    return meta.fields[alias] if alias else None


def _pk_shortcut(
    model: type[Model], conditions: tuple[Any, ...], filters: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    from ..query.q import Q

    if (
        len(conditions) == 1
        and not isinstance(conditions[0], Q)
        and not hasattr(conditions[0], "__sa_condition__")
    ):
        meta = model._require_meta()
        if meta.pk is None:
            raise QueryError(
                f"'{model.__name__}' has no single primary key to look up by", model=model.__name__
            )
        return (), {meta.pk.name: conditions[0], **filters}
    return conditions, filters


def check_required(instance: Model, fields: Iterable[Field[Any]]) -> None:
    """Raise ValidationError for a non-null field set to None explicitly."""
    data = instance.__dict__
    for field in fields:
        if (
            field.name in data
            and data[field.name] is None
            and not field.null
            and field.default is NOT_PROVIDED
        ):
            raise ValidationError(
                f"Field '{field.name}' on model '{type(instance).__name__}' may not be null",
                model=type(instance).__name__,
                field=field.name,
                value=None,
            )
