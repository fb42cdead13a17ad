"""``Model``: the base class of every model, and the API on top of everything below it (reads, writes,
relations, synchronous wrappers). The metaclass that turns a subclass into a table is ``meta/metaclass.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

from . import signals as _signals
from . import state as _state
from .db import executor
from .db.sync import run_sync
from .exceptions import DoesNotExist, MultipleObjectsReturned, ORMException, QueryError, UnknownFieldError
from .fields import Field
from .meta.metaclass import ModelMeta
from .meta.options import ModelOptions
from .meta.rows import instance_loader
from .query.builder import QueryBuilder
from .query.raw import raw as run_raw
from .query.raw import raw_sql as run_raw_sql
from .query.relations.methods import RelationMethods
from .sql.compiler.select import pk_select
from .sql.expressions.base import Expression
from .sql.q import Q
from .write import bulk, instance, upsert
from .write.results import UpdateResult

__all__ = ["Model"]

ModelT = TypeVar("ModelT", bound="Model")


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
        return QueryBuilder(cls)

    @classmethod
    async def get(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self:
        """The single matching row; DoesNotExist / MultipleObjectsReturned otherwise.

        A single positional non-Q argument is taken as the primary key value. ``use_cache=False`` always
        reads the database (see the row cache in ``docs/cache-managers-signals.md``).
        """
        conditions, filters = _pk_shortcut(cls, conditions, filters)
        meta = cls._require_meta()
        pk = meta.pk
        if pk is None or conditions or len(filters) != 1 or filters.get(pk.name) is None:
            return await cls.objects().get(*conditions, use_cache=use_cache, **filters)
        value = filters[pk.name]
        if not use_cache:
            return await _get_by_pk(cls, value)
        hit: Self | None = _state.cached_get(cls, value)
        if hit is not None:
            return hit
        return await _state.fetch_and_store(cls, lambda: _get_by_pk(cls, value))

    @classmethod
    async def get_or_none(cls, *conditions: Any, use_cache: bool = True, **filters: Any) -> Self | None:
        """Like ``get`` but returns ``None`` when nothing matches."""
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
        return await cls.objects().filter(*conditions, **filters).delete()

    async def save(self) -> Self:
        """Insert the instance if it is new, else write every loaded field back."""
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

    async def update(self, **values: Any) -> Self:
        """Set the given fields and write only those."""
        meta = self._meta
        names = []
        for name, value in values.items():
            field = meta.get_field(name)
            self.__dict__[field.name] = field.to_python(value)
            names.append(field.name)
        if _signals.any_save_receivers():
            await _signals.around_save(
                self, False, tuple(names), lambda: instance.update_instance(self, names)
            )
            return self
        await instance.update_instance(self, names)
        return self

    async def delete(self) -> int:
        """Delete this row; returns 1, or 0 when it was already gone."""
        if _signals.any_delete_receivers():
            return await _signals.around_delete(self, lambda: instance.delete_instance(self))  # type: ignore[no-any-return]
        return await instance.delete_instance(self)


def _relation_alias_field(meta: ModelOptions, name: str) -> Field[Any] | None:
    alias = meta.relation_aliases.get(name)
    return meta.fields[alias] if alias else None


def _pk_shortcut(
    model: type[Model], conditions: tuple[Any, ...], filters: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``Model.get(5)``: a single positional argument that is not a condition is the primary key value."""
    if len(conditions) == 1 and not isinstance(conditions[0], Q | Expression):
        meta = model._require_meta()
        if meta.pk is None:
            raise QueryError(
                f"'{model.__name__}' has no single primary key to look up by", model=model.__name__
            )
        return (), {meta.pk.name: conditions[0], **filters}
    return conditions, filters


async def _get_by_pk(model: type[ModelT], value: Any) -> ModelT:
    """The row whose primary key is ``value``: the hottest read, served without building a QueryBuilder
    (results and errors as ``Model.filter(<pk>=value).get()``)."""
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    try:
        db_value = pk.to_db(value)
    except ORMException as exc:
        exc.enrich(model=meta.model_name, details={"filter": pk.name})
        raise
    statement, params = pk_select(model, db_value)
    records = await executor.fetch(
        meta.database, statement.sql, params, model=meta.model_name, operation="get"
    )
    if len(records) == 1:
        found: ModelT = instance_loader(model, meta.field_names)(records[0])
        return found
    details = {"filters": {pk.name: value}}
    if not records:
        raise DoesNotExist(
            f"No {meta.model_name} matches the given filters",
            model=meta.model_name,
            operation="get",
            details=details,
        )
    raise MultipleObjectsReturned(  # a primary key without a constraint (unmanaged table)
        f"More than one {meta.model_name} matches the given filters",
        model=meta.model_name,
        operation="get",
        details=details,
    )
