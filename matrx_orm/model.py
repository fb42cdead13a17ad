"""``Model``: the base class of every model, and the API on top of everything below it (reads, writes,
relations, synchronous wrappers). The metaclass that turns a subclass into a table is ``meta/metaclass.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

import sqlalchemy as sa

from . import signals as _signals
from . import state as _state
from .db.sa_pool import plain_value
from .db.sync import run_sync
from .db.transaction import transaction
from .exceptions import (
    DoesNotExist,
    ParameterError,
    QueryError,
    UnknownFieldError,
)
from .fields import Field
from .meta.metaclass import ModelMeta
from .meta.options import ModelOptions
from .meta.relations import Relation, relation
from .meta.rows import instance_loader, serialize
from .meta.runtime import RuntimeContainer
from .query.builder import QueryBuilder, pk_shortcut
from .query.by_pk import get_by_pk
from .query.raw import raw as run_raw
from .query.raw import raw_sql as run_raw_sql
from .query.relations.methods import RelationMethods
from .query.relations.prefetch import prefetch
from .sql.q import Q
from .write import bulk, instance, nested, upsert, validation
from .write.get_or_create import creation_values, find_or_create, resolved
from .write.results import UpdateResult

__all__ = ["Model"]

ModelT = TypeVar("ModelT", bound="Model")


class _ModelTable:
    """``Model.__table__``: the model's ``sqlalchemy.Table`` (as declarative SQLAlchemy models have)."""

    def __get__(self, instance: object, owner: type[Model]) -> sa.Table:
        table: sa.Table = owner._require_meta().table
        return table


class Model(RelationMethods, metaclass=ModelMeta):
    """Base class of every matrx-orm model."""

    #: the model's ``sqlalchemy.Table``: ``sa.select(Post.__table__)``
    __table__ = _ModelTable()

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
    #: the default ordering of queries without ``order_by()`` (``["-created_at", "name"]``); also
    #: ``class Meta: ordering = [...]``
    _ordering: ClassVar[Sequence[Any]] = ()
    #: ``save()`` and ``create()`` run ``full_clean()`` first; also ``class Meta: validate_on_save = True``
    _validate_on_save: ClassVar[bool] = False
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
        meta: ModelOptions | None = cls.__dict__.get("_meta")
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
        return self.pk is not None and self.pk == other.pk

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.pk))

    def to_dict(self) -> dict[str, Any]:
        """The instance as JSON-ready data: every field that holds a value (``None`` ones are left out), as
        JSON types (enums by value, other non-JSON values as ``str``), then what a manager attached: a
        view's computed fields, or the runtime data and ``"dto"`` (see ``docs/cache-managers-signals.md``)."""
        data = {name: serialize(value) for name, value in self._field_values().items() if value is not None}
        attached = self.__dict__
        data.update({key: serialize(value) for key, value in attached.get("_view_data", {}).items()})
        if attached.get("_applied_view") is None:
            runtime = attached.get("runtime")
            if runtime is not None:
                data.update(runtime.to_dict())
            dto = attached.get("dto")
            if dto is not None:
                data["dto"] = dto.to_dict()
        return data

    def to_flat_dict(self) -> dict[str, Any]:
        """Like :meth:`to_dict` but with Python values (``Decimal``, ``datetime``, enum members) and the DTO's
        fields merged in flat instead of under ``"dto"``."""
        data = {name: value for name, value in self._field_values().items() if value is not None}
        attached = self.__dict__
        data.update(attached.get("_view_data", {}))
        if attached.get("_applied_view") is None:
            runtime = attached.get("runtime")
            if runtime is not None:
                data.update(runtime.to_dict())
            dto = attached.get("dto")
            if dto is not None:
                data.update(dto.to_dict())
        return data

    def _field_values(self) -> dict[str, Any]:
        """Field values by name, without the fields an applied view excludes or inlines."""
        attached = self.__dict__
        hidden = {*attached.get("_view_excluded", ()), *attached.get("_view_inlined_fks", {})}
        return {name: attached.get(name) for name in self._meta.fields if name not in hidden}

    @property
    def runtime(self) -> RuntimeContainer:
        """Free-form data a manager attaches to this instance (created on first use)."""
        container = self.__dict__.get("runtime")
        if container is None:
            container = self.__dict__["runtime"] = RuntimeContainer()
        return container

    @property
    def table_name(self) -> str:
        """The model's table name (matrx-orm 2.x's instance property)."""
        return self._meta.table_name

    def get_cache_key(self) -> str:
        """The primary key values joined by ``_`` (matrx-orm 2.x's cache key)."""
        return "_".join(str(self.__dict__.get(name)) for name in self._meta.primary_keys)

    @classmethod
    def get_database_name(cls) -> str:
        """The project name of the model's database."""
        return cls._require_meta().database

    @classmethod
    def get_field(cls, field_name: str) -> Field[Any] | None:
        """The field ``field_name`` (a relation alias such as ``author`` too), or None."""
        meta = cls._require_meta()
        return meta.fields.get(field_name) or _relation_alias_field(meta, field_name)

    @classmethod
    def get_relation(cls, field_name: str) -> Relation:
        """The relation called ``field_name`` (a foreign key, inverse foreign key or many-to-many);
        ``UnknownRelationError`` when there is none."""
        return relation(cls, field_name)

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """A persisted instance from a row read with SQLAlchemy (a ``Row`` of ``sa.select(Post.__table__)``
        or ``Post.filter(...).statement()``, or a mapping of column or field names to values); the values are
        converted through the fields like the rows the ORM reads."""
        mapping: Mapping[str, Any] = row._mapping if hasattr(row, "_mapping") else row
        return cls.from_db_result({key: plain_value(value) for key, value in mapping.items()})

    @classmethod
    def from_db_result(cls, data: Mapping[str, Any]) -> Self:
        """An instance holding a row read elsewhere (``{"column or field": value}``), persisted; keys that
        are not fields become plain attributes."""
        meta = cls._require_meta()
        by_column = {field.column_name: name for name, field in meta.fields.items()}
        names = tuple(by_column.get(key, key) for key in data)
        instance: Self = instance_loader(cls, names)(tuple(data.values()))
        return instance

    # -- reads -----------------------------------------------------------------------------------------------
    @classmethod
    def filter(cls, *conditions: Any, **filters: Any) -> QueryBuilder[Self]:
        """Rows matching every condition (Q objects and ``field__lookup=value`` keywords)."""
        if not cls._plain_objects():
            return cls.objects().filter(*conditions, **filters)
        if not conditions and not filters:
            return cls.objects()
        return QueryBuilder._filtered(cls, Q(*conditions, **filters), negate=False)

    @classmethod
    def exclude(cls, *conditions: Any, **filters: Any) -> QueryBuilder[Self]:
        """Rows matching none of the conditions."""
        if not cls._plain_objects():
            return cls.objects().exclude(*conditions, **filters)
        if not conditions and not filters:
            return cls.objects()
        return QueryBuilder._filtered(cls, Q(*conditions, **filters), negate=True)

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
        return cls._start().nearest(
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
        return QueryBuilder(cls)

    @classmethod
    async def get(
        cls, *conditions: Any, use_cache: bool = True, using: str | None = None, **filters: Any
    ) -> Self:
        """The single matching row; DoesNotExist / MultipleObjectsReturned otherwise.

        A single positional non-Q argument is taken as the primary key value. ``use_cache=False`` always
        reads the database (see the row cache in ``docs/cache-managers-signals.md``); ``using`` reads another
        registered database.
        """
        if conditions:
            conditions, filters = pk_shortcut(cls, conditions, filters)
        meta = cls._require_meta()
        pk = meta.pk
        if using is not None and using != meta.database:
            return await cls.objects().using(using).get(*conditions, use_cache=use_cache, **filters)
        value = filters.get(pk.name) if pk is not None and not conditions and len(filters) == 1 else None
        if value is None:
            return await cls.objects().get(*conditions, use_cache=use_cache, **filters)
        if not use_cache:
            return await get_by_pk(cls, value)  # type: ignore[no-any-return]
        hit: Self | None = _state.cached_get(cls, value)
        if hit is not None:
            return hit
        return await _state.fetch_and_store(cls, lambda: get_by_pk(cls, value))

    @classmethod
    async def get_or_none(
        cls, *conditions: Any, use_cache: bool = True, using: str | None = None, **filters: Any
    ) -> Self | None:
        """Like ``get`` but returns ``None`` when nothing matches."""
        try:
            return await cls.get(*conditions, use_cache=use_cache, using=using, **filters)
        except DoesNotExist:
            return None

    @classmethod
    async def get_by_id(cls, id_value: Any, use_cache: bool = True, *, using: str | None = None) -> Self:
        """The row whose primary key is ``id_value``; DoesNotExist otherwise."""
        return await cls.get(id_value, use_cache=use_cache, using=using)

    @classmethod
    async def get_many(cls, *conditions: Any, **filters: Any) -> list[Self]:
        """Every matching row (``filter(...).all()``)."""
        return await cls._start()._narrowed(*conditions, **filters).all()

    @classmethod
    async def count(cls, *conditions: Any, using: str | None = None, **filters: Any) -> int:
        """Number of matching rows."""
        return await cls._query(using)._narrowed(*conditions, **filters).count()

    @classmethod
    async def exists(cls, *conditions: Any, using: str | None = None, **filters: Any) -> bool:
        """Whether any row matches."""
        return await cls._query(using)._narrowed(*conditions, **filters).exists()

    @classmethod
    def _query(cls, using: str | None) -> QueryBuilder[Self]:
        """The start of a query the package runs at once, on ``using`` when given."""
        return cls._start() if using is None else cls._start().using(using)

    @classmethod
    def _start(cls) -> QueryBuilder[Self]:
        """``objects()`` for a chain the package goes on with at once: unless the model has an
        ``objects()`` of its own, a builder that records no origin (``QueryBuilder._used``)."""
        return QueryBuilder._of(cls) if cls._plain_objects() else cls.objects()

    @classmethod
    def _plain_objects(cls) -> bool:
        """Whether ``objects()`` is the package's own (a model may override it to add conditions)."""
        return getattr(cls.objects, "__func__", None) is _PLAIN_OBJECTS

    @classmethod
    async def raw(cls, sql: str, *args: Any, database: str | None = None) -> list[Self]:
        """Run your SQL (``$1, $2, ...`` bound to ``args``); rows as instances, extra columns as attributes."""
        return await run_raw(cls, sql, args, database)

    @classmethod
    async def raw_sql(cls, sql: str, *args: Any, database: str | None = None) -> list[dict[str, Any]]:
        """Run your SQL (``$1, $2, ...`` bound to ``args``); rows as dicts."""
        return await run_raw_sql(cls, sql, args, database)

    # -- synchronous wrappers (scripts; raise SyncContextError inside a running event loop) ------------------
    @classmethod
    def get_sync(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self:
        """``get`` for synchronous code."""
        return run_sync(lambda: cls.get(*conditions, use_cache=use_cache, **filters), "get_sync")

    @classmethod
    def filter_sync(cls, *conditions: Any, **filters: Any) -> list[Self]:
        """``await Model.filter(...).all()`` for synchronous code."""
        return run_sync(lambda: cls.filter(*conditions, **filters).all(), "filter_sync")

    @classmethod
    def all_sync(cls) -> list[Self]:
        """Every row, for synchronous code."""
        return run_sync(lambda: cls.objects().all(), "all_sync")

    @classmethod
    def count_sync(cls, *conditions: Any, **filters: Any) -> int:
        """``count`` for synchronous code."""
        return run_sync(lambda: cls.count(*conditions, **filters), "count_sync")

    @classmethod
    def exists_sync(cls, *conditions: Any, **filters: Any) -> bool:
        """``exists`` for synchronous code."""
        return run_sync(lambda: cls.exists(*conditions, **filters), "exists_sync")

    @classmethod
    def get_or_none_sync(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self | None:
        """``get_or_none`` for synchronous code."""
        return run_sync(
            lambda: cls.get_or_none(*conditions, use_cache=use_cache, **filters), "get_or_none_sync"
        )

    # -- writes ----------------------------------------------------------------------------------------------
    @classmethod
    async def create(cls, *, related: Mapping[str, Iterable[Any]] | None = None, **values: Any) -> Self:
        """Insert one row and return it as stored (server defaults included).

        ``related={"posts": [{"title": "a"}], "tags": [tag, 7]}`` also creates inverse-foreign-key children
        (their key filled in) and many-to-many links, in one transaction, and returns the instance with
        those relations loaded (``get_related("posts")``).
        """
        if related is not None and "related" in cls._require_meta().fields:  # a field called "related"
            values["related"], related = related, None
        instance = cls(**values)
        if not related:
            await instance.save()
            return instance
        await nested.create_with_related(
            instance, related, instance.save, lambda names: prefetch([instance], names)
        )
        return instance

    @classmethod
    async def get_or_create(
        cls, defaults: Mapping[str, Any] | None = None, **lookup: Any
    ) -> tuple[Self, bool]:
        """``(row, False)`` for the row matching ``lookup``, else ``(new row, True)`` created from the
        lookup's ``field=value`` pairs and ``defaults`` (callables are called). Safe when many tasks race on
        the same lookup backed by a unique constraint: one row is created and every caller gets it."""
        return await find_or_create(
            cls._require_meta().database,
            lambda: cls.get_or_none(use_cache=False, **lookup),
            lambda: cls.create(**creation_values(lookup, defaults)),
        )

    @classmethod
    async def update_or_create(
        cls,
        defaults: Mapping[str, Any] | None = None,
        create_defaults: Mapping[str, Any] | None = None,
        **lookup: Any,
    ) -> tuple[Self, bool]:
        """Lock and update the row matching ``lookup`` with ``defaults`` (``(row, False)``), else create it
        from the lookup and ``create_defaults`` (``defaults`` when None): ``(row, True)``. Runs in one
        transaction; race-safe like :meth:`get_or_create`."""
        database = cls._require_meta().database
        locked = cls.filter(**lookup).select_for_update()
        on_create = defaults if create_defaults is None else create_defaults
        async with transaction(database):
            row, created = await find_or_create(
                database,
                lambda: locked.get_or_none(use_cache=False),
                lambda: cls.create(**creation_values(lookup, on_create)),
            )
            if not created and defaults:
                await row.update(**resolved(defaults))
        return row, created

    @classmethod
    async def in_bulk(cls, ids: Iterable[Any], field_name: str = "id") -> dict[Any, Self]:
        """``{value: row}`` for the rows whose ``field_name`` (a unique field, or ``"pk"``) is in ``ids``, in
        the order of ``ids``; values without a row are left out. One query."""
        meta = cls._require_meta()
        field = meta.pk if field_name == "pk" else meta.get_field(field_name)
        if field is None or not (field.unique or (field.primary_key and len(meta.primary_keys) == 1)):
            raise ParameterError(
                f"in_bulk() needs a unique field or the primary key; {cls.__name__}.{field_name} is neither",
                model=cls.__name__,
                operation="in_bulk",
            )
        keys = list(dict.fromkeys(field.to_python(value) for value in ids))
        if not keys:
            return {}
        rows = await cls.filter(**{f"{field.name}__in": keys}).all()
        found = {row.__dict__.get(field.name): row for row in rows}
        return {key: found[key] for key in keys if key in found}

    @classmethod
    async def bulk_create(cls, objects: Iterable[Mapping[str, Any] | Self]) -> list[Self]:
        """Insert many rows in one statement; returns the stored instances."""
        return await bulk.bulk_insert(cls, list(objects))

    @classmethod
    async def bulk_update(cls, objects: Sequence[Self], fields: Sequence[str]) -> int:
        """Write ``fields`` of each instance in one statement; returns the number of rows updated."""
        return await bulk.bulk_update(cls, list(objects), list(fields))

    @classmethod
    async def bulk_delete(cls, objects: Iterable[Self | Any]) -> int:
        """Delete the given instances (or primary key values); returns the number of rows deleted."""
        return await bulk.bulk_delete(cls, list(objects))

    @classmethod
    async def upsert(
        cls,
        data: Mapping[str, Any],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> Self:
        """INSERT … ON CONFLICT (conflict_fields) DO UPDATE; returns the stored row."""
        rows = await upsert.upsert(cls, [data], list(conflict_fields), update_fields)
        return rows[0]

    @classmethod
    async def bulk_upsert(
        cls,
        objects_data: Iterable[Mapping[str, Any]],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> list[Self]:
        """Upsert many rows in one statement; returns the stored rows."""
        return await upsert.upsert(cls, list(objects_data), list(conflict_fields), update_fields)

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
        return await cls._start()._narrowed(*conditions, **filters).delete()

    async def save(self) -> Self:
        """Insert the instance if it is new, else write every loaded field back (after ``full_clean()``
        when the model sets ``_validate_on_save``)."""
        if self._meta.validate_on_save:
            await validation.full_clean(self)
        if _signals.any_save_receivers():
            if self._persisted:
                await _signals.around_save(self, False, None, lambda: instance.update_instance(self, None))
            else:
                await _signals.around_save(self, True, None, lambda: instance.insert_instance(self))
            return self
        if self._persisted:
            await instance.update_instance(self, None)
        else:
            await instance.insert_instance(self)
        return self

    @classmethod
    async def update_fields(cls, instance_or_id: Any, **values: Any) -> Self | None:
        """Set ``values`` on an instance, or on the row whose primary key is ``instance_or_id``, and save it;
        None when that row does not exist."""
        instance = (
            instance_or_id
            if isinstance(instance_or_id, cls)
            else await cls.get_or_none(instance_or_id, use_cache=False)
        )
        if instance is None:
            return None
        return await instance.update(**values)

    async def update(self, **values: Any) -> Self:
        """Set the given fields and write only those."""
        meta = self._meta
        names = []
        for name, value in values.items():
            field = meta.get_field(name)
            self.__dict__[field.name] = field.to_python(value)
            names.append(field.name)
        if meta.validate_on_save:
            await validation.full_clean(self)
        if _signals.any_save_receivers():
            await _signals.around_save(
                self, False, tuple(names), lambda: instance.update_instance(self, names)
            )
            return self
        await instance.update_instance(self, names)
        return self

    async def full_clean(self, exclude: Iterable[str] | None = None) -> None:
        """Validate the instance: each field's checks, then the model's ``clean()`` hook (sync or async),
        then :meth:`validate_unique`; fields in ``exclude`` are skipped. Raises one ``ValidationError``
        whose ``errors`` maps field names (``"__all__"`` for the whole instance) to messages."""
        await validation.full_clean(self, exclude)

    async def validate_unique(self, exclude: Iterable[str] | None = None) -> None:
        """``ValidationError`` when another row holds this instance's value of a unique field or its values
        of a unique-together constraint (one query for all of them; the instance's own row is ignored)."""
        await validation.validate_unique(self, exclude)

    async def delete(self) -> int:
        """Delete this row; returns 1, or 0 when it was already gone."""
        if _signals.any_delete_receivers():
            return await _signals.around_delete(self, lambda: instance.delete_instance(self))  # type: ignore[no-any-return]
        return await instance.delete_instance(self)


#: ``Model.objects``'s own function: a model whose ``objects`` is another adds conditions of its own
_PLAIN_OBJECTS = Model.__dict__["objects"].__func__


def _relation_alias_field(meta: ModelOptions, name: str) -> Field[Any] | None:
    alias = meta.relation_aliases.get(name)
    return meta.fields[alias] if alias else None
