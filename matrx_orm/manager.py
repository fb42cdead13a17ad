"""``BaseManager``: matrx-orm's high-level manager, one per model, with sync wrappers for scripts.

Use it as a subclass (``class PostManager(BaseManager): model = Post``) or directly (``BaseManager(Post)``).
Every public async method has a ``*_sync`` twin for synchronous code (``load_item_sync(...)``); the ones
matrx-orm documents are written out, and ``<any async method>_sync`` also works for methods a subclass adds.
A ``*_sync`` method called while an event loop is running raises :class:`~matrx_orm.SyncContextError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .db.sync import run_sync
from .exceptions import ConfigurationError, DoesNotExist, IntegrityError, ParameterError, RelationshipError
from .meta.foreign_key import FKSpec
from .meta.inverse_foreign_key import IFKSpec
from .meta.many_to_many import m2m_names
from .meta.relations import relation

if TYPE_CHECKING:
    from .model import Model
    from .query.builder import QueryBuilder
    from .write.results import UpdateResult

ModelT = TypeVar("ModelT", bound="Model")

_MISSING: Any = object()


class BaseManager(Generic[ModelT]):
    """CRUD, relation and bulk helpers over one model; override ``_initialize_runtime_data`` to enrich
    every item the manager loads or creates."""

    model: type[ModelT]

    def __init__(self, model: type[ModelT] | None = None) -> None:
        if model is not None:
            self.model = model
        chosen = getattr(self, "model", None)
        if chosen is None:
            raise ConfigurationError(
                f"{type(self).__name__} has no model: set `model = MyModel` on the class or pass it, "
                "BaseManager(MyModel)"
            )
        if not isinstance(chosen, type) or chosen.__dict__.get("_meta") is None:
            raise ConfigurationError(
                f"{type(self).__name__}.model must be a concrete Model class; got {chosen!r}",
                details={"manager": type(self).__name__},
            )
        self._hooked = type(self)._initialize_runtime_data is not BaseManager._initialize_runtime_data

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model.__name__}>"

    # -- hooks and helpers ---------------------------------------------------------------------------------
    async def _initialize_runtime_data(self, item: ModelT) -> None:
        """Called for every item this manager loads or creates; override to attach computed data."""

    async def _ready(self, item: ModelT) -> ModelT:
        if self._hooked:
            await self._initialize_runtime_data(item)
        return item

    async def _ready_all(self, items: list[ModelT]) -> list[ModelT]:
        if self._hooked:
            for item in items:
                await self._initialize_runtime_data(item)
        return items

    def _pk_filters(self, item_id: Any) -> dict[str, Any]:
        """``{"id": item_id}`` for the model's primary key (a tuple or mapping for composite keys)."""
        meta = self.model._meta
        keys = meta.primary_keys
        if not keys:
            raise ParameterError(f"{meta.model_name} has no primary key to load by", model=meta.model_name)
        if isinstance(item_id, self.model):
            return {name: item_id.__dict__.get(name) for name in keys}
        if len(keys) == 1:
            if item_id is None:
                raise ParameterError(f"{meta.model_name}: the id may not be None", model=meta.model_name)
            return {keys[0]: item_id}
        if isinstance(item_id, Mapping):
            values = dict(item_id)
        elif isinstance(item_id, tuple | list) and len(item_id) == len(keys):
            values = dict(zip(keys, item_id, strict=True))
        else:
            raise ParameterError(
                f"{meta.model_name} has a composite primary key {keys}; pass a tuple or mapping of them, "
                f"got {item_id!r}",
                model=meta.model_name,
            )
        return values

    def _query(
        self, order_by: str | Sequence[str] | None, filters: Mapping[str, Any]
    ) -> QueryBuilder[ModelT]:
        qs = self.model.filter(**filters)
        if order_by:
            qs = qs.order_by(*([order_by] if isinstance(order_by, str) else order_by))
        return qs

    @staticmethod
    def _item_to_dict(item: Any) -> dict[str, Any] | None:
        return item.to_dict() if item is not None else None

    @classmethod
    def _related_to_data(cls, related: Any) -> Any:
        if related is None:
            return None
        if hasattr(related, "to_dict") and hasattr(related, "_meta"):
            return related.to_dict()
        if isinstance(related, Mapping):
            return {key: cls._related_to_data(value) for key, value in related.items()}
        if isinstance(related, list | tuple):
            return [cls._related_to_data(value) for value in related]
        return related

    def _relation_kind(self, name: str) -> str:
        """``fk``, ``ifk`` or ``m2m`` for a relation name of the model (UnknownRelationError otherwise)."""
        spec = relation(self.model, name)
        if isinstance(spec, FKSpec):
            return "fk"
        return "ifk" if isinstance(spec, IFKSpec) else "m2m"

    # -- reads -----------------------------------------------------------------------------------------------
    async def load_item(self, use_cache: bool = True, **filters: Any) -> ModelT:
        """The single item matching ``filters`` (through the state cache); DoesNotExist otherwise."""
        return await self._ready(await self.model.get(use_cache=use_cache, **filters))

    async def load_item_or_none(self, use_cache: bool = True, **filters: Any) -> ModelT | None:
        """Like :meth:`load_item`, but None when nothing matches."""
        item = await self.model.get_or_none(use_cache=use_cache, **filters)
        return await self._ready(item) if item is not None else None

    async def load_by_id(self, item_id: Any, *, use_cache: bool = True) -> ModelT:
        """The item with primary key ``item_id``; DoesNotExist otherwise."""
        return await self.load_item(use_cache=use_cache, **self._pk_filters(item_id))

    async def load_by_id_or_none(self, item_id: Any, *, use_cache: bool = True) -> ModelT | None:
        """The item with primary key ``item_id``, or None."""
        return await self.load_item_or_none(use_cache=use_cache, **self._pk_filters(item_id))

    async def load_items(self, order_by: str | Sequence[str] | None = None, **filters: Any) -> list[ModelT]:
        """Every item matching ``filters`` (optionally ordered: ``order_by="-created_at"``)."""
        return await self._ready_all(await self._query(order_by, filters).all())

    async def filter_items(self, order_by: str | Sequence[str] | None = None, **filters: Any) -> list[ModelT]:
        """Same as :meth:`load_items` (matrx-orm name)."""
        return await self.load_items(order_by=order_by, **filters)

    async def load_all(self, order_by: str | Sequence[str] | None = None) -> list[ModelT]:
        """Every row of the model."""
        return await self.load_items(order_by=order_by)

    async def load_items_by_ids(self, item_ids: Iterable[Any]) -> list[ModelT]:
        """The items with these primary keys in one query, in the order given (missing ids are skipped)."""
        meta = self.model._meta
        ids = list(item_ids)
        if not ids:
            return []
        if meta.pk is None:
            maybe = [await self.load_by_id_or_none(item_id) for item_id in ids]
            return [item for item in maybe if item is not None]
        pk = meta.pk
        found = await self.model.filter(**{f"{pk.name}__in": ids}).all()
        by_key = {item.__dict__.get(pk.name): item for item in found}
        ordered: list[ModelT] = []
        seen: set[Any] = set()
        for item_id in ids:
            key = pk.to_python(item_id)
            item = by_key.get(key)
            if item is not None and key not in seen:
                seen.add(key)
                ordered.append(item)
        return await self._ready_all(ordered)

    async def exists(self, item_id: Any = _MISSING, **filters: Any) -> bool:
        """Whether the item with primary key ``item_id`` exists, or (keywords) whether any row matches."""
        if item_id is not _MISSING:
            filters = {**self._pk_filters(item_id), **filters}
        return await self.model.exists(**filters)

    async def count(self, **filters: Any) -> int:
        """Number of matching rows (no hydration)."""
        return await self.model.count(**filters)

    # -- writes ----------------------------------------------------------------------------------------------
    async def create_item(self, **data: Any) -> ModelT:
        """Insert one row; returns it as stored."""
        return await self._ready(await self.model.create(**data))

    async def create_items(
        self, items_data: Iterable[Mapping[str, Any]], batch_size: int = 1000, ignore_conflicts: bool = False
    ) -> list[ModelT]:
        """Insert many rows (one statement per ``batch_size`` rows); returns them as stored."""
        if ignore_conflicts:
            raise ParameterError(
                "create_items(ignore_conflicts=True) is not supported; use upsert_items(...)",
                model=self.model.__name__,
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive int; got {batch_size!r}", model=self.model)
        rows = list(items_data)
        created: list[ModelT] = []
        for start in range(0, len(rows), batch_size):
            created.extend(await self.model.bulk_create(rows[start : start + batch_size]))
        return await self._ready_all(created)

    async def update_item(self, item_id: Any, **updates: Any) -> ModelT:
        """Load the item (fresh from the database) and write ``updates``; returns it. DoesNotExist if gone."""
        item = await self.model.get(use_cache=False, **self._pk_filters(item_id))
        await item.update(**updates)
        return await self._ready(item)

    async def update_items(self, objects: Sequence[ModelT], fields: Sequence[str]) -> int:
        """Write ``fields`` of each instance in one statement; returns the number of rows updated."""
        if not objects:
            return 0
        return await self.model.bulk_update(list(objects), list(fields))

    async def delete_item(self, item_id: Any) -> int:
        """Delete the item (its delete signals fire); returns 1, or 0 when it did not exist."""
        item = await self.model.get_or_none(use_cache=False, **self._pk_filters(item_id))
        if item is None:
            return 0
        return await item.delete()

    async def delete_items(self, objects: Iterable[Any]) -> int:
        """Delete these instances (or primary key values) in one statement; returns how many went."""
        return await self.model.bulk_delete(list(objects))

    async def get_or_create(self, defaults: Mapping[str, Any] | None = None, **filters: Any) -> ModelT:
        """The item matching ``filters``, else a new one created from ``filters`` plus ``defaults``."""
        item = await self.model.get_or_none(**filters)
        if item is not None:
            return await self._ready(item)
        try:
            created = await self.model.create(**{**filters, **(defaults or {})})
        except IntegrityError:  # created concurrently by someone else
            existing = await self.model.get_or_none(use_cache=False, **filters)
            if existing is None:
                raise
            return await self._ready(existing)
        return await self._ready(created)

    async def upsert_item(
        self,
        data: Mapping[str, Any],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> ModelT:
        """INSERT … ON CONFLICT (conflict_fields) DO UPDATE; returns the stored row."""
        return await self._ready(await self.model.upsert(data, conflict_fields, update_fields))

    async def upsert_items(
        self,
        items_data: Iterable[Mapping[str, Any]],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> list[ModelT]:
        """Upsert many rows in one statement; returns the stored rows."""
        rows = list(items_data)
        if not rows:
            return []
        return await self._ready_all(await self.model.bulk_upsert(rows, conflict_fields, update_fields))

    async def update_where(self, filters: Mapping[str, Any], **updates: Any) -> UpdateResult:
        """UPDATE every row matching ``filters``; the result has ``rows_affected`` and ``updated_rows``."""
        return await self.model.update_where(filters, **updates)

    async def delete_where(self, **filters: Any) -> int:
        """DELETE every row matching ``filters`` (at least one is required); returns how many."""
        return await self.model.delete_where(**filters)

    # -- relations (delegate to the model's relation methods) ------------------------------------------------
    async def get_item_with_related(
        self, item_id: Any, relation_name: str, *, use_join: bool | None = None
    ) -> tuple[ModelT, Any]:
        """The item and one relation: a foreign key comes back as the related instance (loaded with a JOIN
        unless ``use_join=False``), an inverse FK or many-to-many as a list."""
        kind = self._relation_kind(relation_name)
        if kind == "fk" and use_join is not False:
            qs: Any = self.model.filter(**self._pk_filters(item_id))
            items = await qs.select_related(relation_name).all()
            if not items:
                raise DoesNotExist(
                    f"No {self.model.__name__} matches the given filters",
                    model=self.model,
                    operation="get_item_with_related",
                    details={"filters": self._pk_filters(item_id)},
                )
            item = items[0]
            return await self._ready(item), item.get_related(relation_name)
        item = await self.load_by_id(item_id)
        return item, await self._fetch_relation(item, relation_name, kind)

    async def _fetch_relation(self, item: ModelT, name: str, kind: str) -> Any:
        target = cast(Any, item)
        if kind == "fk":
            return await target.fetch_fk(name)
        if kind == "ifk":
            return await target.fetch_ifk(name)
        return await target.fetch_m2m(name)

    async def get_items_with_related(
        self, relation_name: str, *, use_join: bool | None = None, **filters: Any
    ) -> list[ModelT]:
        """Every item matching ``filters`` with one relation loaded (``item.get_related(name)``): a JOIN
        for a foreign key, one extra query otherwise (never one query per item)."""
        kind = self._relation_kind(relation_name)
        qs: Any = self.model.filter(**filters)
        if kind == "fk" and use_join is not False:
            qs = qs.select_related(relation_name)
        else:
            qs = qs.prefetch_related(relation_name)
        return await self._ready_all(await qs.all())

    async def get_item_with_all_related(self, item_id: Any) -> tuple[ModelT, dict[str, Any]]:
        """The item and every relation: ``{"foreign_keys": …, "inverse_foreign_keys": …, "many_to_many": …}``."""
        item = await self.load_by_id(item_id)
        return item, await cast(Any, item).fetch_all_related()

    async def get_items_with_all_related(self, **filters: Any) -> list[ModelT]:
        """Every item matching ``filters`` with every relation loaded (``item.get_related(name)``): one
        query for the items plus one per relation, whatever the number of items."""
        meta = self.model._meta
        names = [*meta.foreign_keys, *meta.inverse_foreign_keys, *m2m_names(self.model)]
        qs: Any = self.model.filter(**filters)
        if names:
            qs = qs.prefetch_related(*names)
        return await self._ready_all(await qs.all())

    async def get_item_with_fk(
        self, item_id: Any, fk_name: str, *, use_join: bool = True
    ) -> tuple[ModelT, Any]:
        """The item and the instance its foreign key ``fk_name`` points to (or None)."""
        if self._relation_kind(fk_name) != "fk":
            raise RelationshipError(
                f"'{fk_name}' is not a foreign key of {self.model.__name__}", model=self.model
            )
        return await self.get_item_with_related(item_id, fk_name, use_join=use_join)

    async def get_item_with_ifk(self, item_id: Any, ifk_name: str) -> tuple[ModelT, list[Any]]:
        """The item and the rows of inverse foreign key ``ifk_name``."""
        if self._relation_kind(ifk_name) != "ifk":
            raise RelationshipError(
                f"'{ifk_name}' is not an inverse foreign key of {self.model.__name__}", model=self.model
            )
        item = await self.load_by_id(item_id)
        return item, await cast(Any, item).fetch_ifk(ifk_name)

    async def get_item_with_m2m(self, item_id: Any, relation_name: str) -> tuple[ModelT, list[Any]]:
        """The item and the targets of many-to-many relation ``relation_name``."""
        item = await self.load_by_id(item_id)
        return item, await cast(Any, item).fetch_m2m(relation_name)

    async def add_m2m(self, item_id: Any, relation_name: str, *target_ids: Any) -> int:
        """Link targets to the item (already linked ones are left alone); returns how many were added."""
        item = await self.load_by_id(item_id)
        return cast(int, await cast(Any, item).add_m2m(relation_name, *target_ids))

    async def remove_m2m(self, item_id: Any, relation_name: str, *target_ids: Any) -> int:
        """Unlink targets from the item; returns how many links were removed."""
        item = await self.load_by_id(item_id)
        return cast(int, await cast(Any, item).remove_m2m(relation_name, *target_ids))

    async def set_m2m(self, item_id: Any, relation_name: str, target_ids: Iterable[Any]) -> Any:
        """Make ``target_ids`` exactly the item's targets."""
        item = await self.load_by_id(item_id)
        return await cast(Any, item).set_m2m(relation_name, list(target_ids))

    async def clear_m2m(self, item_id: Any, relation_name: str) -> int:
        """Unlink every target of the item; returns how many links were removed."""
        item = await self.load_by_id(item_id)
        return cast(int, await cast(Any, item).clear_m2m(relation_name))

    # -- dict variants ------------------------------------------------------------------------------------------
    async def get_item_dict(self, item_id: Any) -> dict[str, Any] | None:
        """``load_by_id(item_id).to_dict()``."""
        return self._item_to_dict(await self.load_by_id(item_id))

    async def load_item_get_dict(self, use_cache: bool = True, **filters: Any) -> dict[str, Any] | None:
        """``load_item(**filters).to_dict()``."""
        return self._item_to_dict(await self.load_item(use_cache=use_cache, **filters))

    async def get_items_dict(self, **filters: Any) -> list[dict[str, Any]]:
        """``to_dict()`` of every item matching ``filters``."""
        return [item.to_dict() for item in await self.load_items(**filters)]

    async def filter_items_get_dict(self, **filters: Any) -> list[dict[str, Any]]:
        """Same as :meth:`get_items_dict` (matrx-orm name)."""
        return await self.get_items_dict(**filters)

    async def load_all_dict(self) -> list[dict[str, Any]]:
        """``to_dict()`` of every row."""
        return [item.to_dict() for item in await self.load_all()]

    async def load_items_by_ids_get_dict(self, item_ids: Iterable[Any]) -> list[dict[str, Any]]:
        """``to_dict()`` of :meth:`load_items_by_ids`."""
        return [item.to_dict() for item in await self.load_items_by_ids(item_ids)]

    async def create_item_get_dict(self, **data: Any) -> dict[str, Any] | None:
        """``create_item(**data).to_dict()``."""
        return self._item_to_dict(await self.create_item(**data))

    async def update_item_get_dict(self, item_id: Any, **updates: Any) -> dict[str, Any] | None:
        """``update_item(item_id, **updates).to_dict()``."""
        return self._item_to_dict(await self.update_item(item_id, **updates))

    async def get_item_with_related_dict(self, item_id: Any, relation_name: str) -> dict[str, Any]:
        """The item's dict with the relation under ``relation_name`` (as dicts)."""
        item, related = await self.get_item_with_related(item_id, relation_name)
        return {**item.to_dict(), relation_name: self._related_to_data(related)}

    async def get_items_with_related_dict(self, relation_name: str, **filters: Any) -> list[dict[str, Any]]:
        """Dicts of :meth:`get_items_with_related`, each with the relation under ``relation_name``."""
        items = await self.get_items_with_related(relation_name, **filters)
        return [
            {
                **item.to_dict(),
                relation_name: self._related_to_data(cast(Any, item).get_related(relation_name)),
            }
            for item in items
        ]

    async def get_item_with_all_related_dict(self, item_id: Any) -> dict[str, Any]:
        """``{"item": {...}, "related": {"foreign_keys": …, "inverse_foreign_keys": …, "many_to_many": …}}``."""
        item, related = await self.get_item_with_all_related(item_id)
        return {"item": item.to_dict(), "related": self._related_to_data(related)}

    # -- synchronous wrappers -------------------------------------------------------------------------------------
    def _sync(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self, name)
        return run_sync(lambda: method(*args, **kwargs), f"{name}_sync", f"{type(self).__name__}.{name}")

    def load_item_sync(self, use_cache: bool = True, **filters: Any) -> ModelT:
        """:meth:`load_item` for synchronous code."""
        return cast("ModelT", self._sync("load_item", use_cache=use_cache, **filters))

    def load_item_or_none_sync(self, use_cache: bool = True, **filters: Any) -> ModelT | None:
        """:meth:`load_item_or_none` for synchronous code."""
        return cast("ModelT | None", self._sync("load_item_or_none", use_cache=use_cache, **filters))

    def load_by_id_sync(self, item_id: Any, *, use_cache: bool = True) -> ModelT:
        """:meth:`load_by_id` for synchronous code."""
        return cast("ModelT", self._sync("load_by_id", item_id, use_cache=use_cache))

    def load_items_sync(self, order_by: str | Sequence[str] | None = None, **filters: Any) -> list[ModelT]:
        """:meth:`load_items` for synchronous code."""
        return cast("list[ModelT]", self._sync("load_items", order_by=order_by, **filters))

    def load_all_sync(self, order_by: str | Sequence[str] | None = None) -> list[ModelT]:
        """:meth:`load_all` for synchronous code."""
        return cast("list[ModelT]", self._sync("load_all", order_by=order_by))

    def load_items_by_ids_sync(self, item_ids: Iterable[Any]) -> list[ModelT]:
        """:meth:`load_items_by_ids` for synchronous code."""
        return cast("list[ModelT]", self._sync("load_items_by_ids", list(item_ids)))

    def filter_items_sync(self, order_by: str | Sequence[str] | None = None, **filters: Any) -> list[ModelT]:
        """:meth:`filter_items` for synchronous code."""
        return cast("list[ModelT]", self._sync("filter_items", order_by=order_by, **filters))

    def create_item_sync(self, **data: Any) -> ModelT:
        """:meth:`create_item` for synchronous code."""
        return cast("ModelT", self._sync("create_item", **data))

    def create_items_sync(
        self, items_data: Iterable[Mapping[str, Any]], batch_size: int = 1000
    ) -> list[ModelT]:
        """:meth:`create_items` for synchronous code."""
        return cast("list[ModelT]", self._sync("create_items", list(items_data), batch_size=batch_size))

    def update_item_sync(self, item_id: Any, **updates: Any) -> ModelT:
        """:meth:`update_item` for synchronous code."""
        return cast("ModelT", self._sync("update_item", item_id, **updates))

    def delete_item_sync(self, item_id: Any) -> int:
        """:meth:`delete_item` for synchronous code."""
        return cast(int, self._sync("delete_item", item_id))

    def get_or_create_sync(self, defaults: Mapping[str, Any] | None = None, **filters: Any) -> ModelT:
        """:meth:`get_or_create` for synchronous code."""
        return cast("ModelT", self._sync("get_or_create", defaults=defaults, **filters))

    def upsert_item_sync(
        self,
        data: Mapping[str, Any],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> ModelT:
        """:meth:`upsert_item` for synchronous code."""
        return cast("ModelT", self._sync("upsert_item", data, conflict_fields, update_fields))

    def exists_sync(self, item_id: Any = _MISSING, **filters: Any) -> bool:
        """:meth:`exists` for synchronous code."""
        return cast(bool, self._sync("exists", item_id, **filters))

    def count_sync(self, **filters: Any) -> int:
        """:meth:`count` for synchronous code."""
        return cast(int, self._sync("count", **filters))

    def update_where_sync(self, filters: Mapping[str, Any], **updates: Any) -> UpdateResult:
        """:meth:`update_where` for synchronous code."""
        return cast("UpdateResult", self._sync("update_where", filters, **updates))

    def delete_where_sync(self, **filters: Any) -> int:
        """:meth:`delete_where` for synchronous code."""
        return cast(int, self._sync("delete_where", **filters))

    def get_item_dict_sync(self, item_id: Any) -> dict[str, Any] | None:
        """:meth:`get_item_dict` for synchronous code."""
        return cast("dict[str, Any] | None", self._sync("get_item_dict", item_id))

    def get_items_dict_sync(self, **filters: Any) -> list[dict[str, Any]]:
        """:meth:`get_items_dict` for synchronous code."""
        return cast("list[dict[str, Any]]", self._sync("get_items_dict", **filters))

    def __getattr__(self, name: str) -> Any:
        """``<async method>_sync`` for any other coroutine method (including those a subclass defines)."""
        if name.endswith("_sync") and not name.startswith("__"):
            target = name[:-5]
            method = getattr(type(self), target, None)
            if method is not None and inspect.iscoroutinefunction(method):

                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    return self._sync(target, *args, **kwargs)

                wrapper.__name__ = name
                wrapper.__doc__ = f"``{target}`` for synchronous code."
                return wrapper
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
