"""``BaseManager``: matrx-orm's high-level manager, one per model, with sync wrappers for scripts.

Use it as a subclass (``class PostManager(BaseManager): model = Post``) or directly (``BaseManager(Post)``,
``BaseManager(Post, PostDTO)``: matrx-orm 2.x's positional form). Every item it loads or creates goes through
``_initialize_runtime_data`` and then gets the manager's view applied (``view_class``) or, without one, its
DTO built (``dto_class``, attached as ``item.dto`` and ``item.runtime.dto``).

The manager keeps a set of *active items* (their primary key values, a tuple for a composite key), filled
by ``load_items`` / ``filter_items`` / ``load_items_by_ids`` and the ``add_active_*`` methods, and read by the
``get_active_*`` family. Relation arguments accept relation names and, as 2.x generated code passes them,
table names (``"customers"`` for the foreign key ``customer_id``; ``"self_reference"``).

Every public async method has a ``*_sync`` twin for synchronous code (``load_item_sync(...)``); the ones
matrx-orm documents are written out, and ``<any async method>_sync`` also works for methods a subclass adds.
A ``*_sync`` method called while an event loop is running raises :class:`~matrx_orm.SyncContextError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableSet, Sequence
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, cast

from .db.sync import run_sync
from .dto import BaseDTO
from .exceptions import (
    ConfigurationError,
    DoesNotExist,
    ORMException,
    ParameterError,
    RelationshipError,
    UnknownRelationError,
)
from .meta.foreign_key import FKSpec
from .meta.inverse_foreign_key import IFKSpec
from .meta.many_to_many import M2MSpec, m2m_names
from .meta.relations import Relation, relation
from .model_view import ModelView
from .query.relations.prefetch import prefetch

if TYPE_CHECKING:
    from .model import Model
    from .query.builder import QueryBuilder
    from .write.results import UpdateResult

__all__ = ["ActiveItems", "BaseManager", "resolve_relation"]

ModelT = TypeVar("ModelT", bound="Model")

_MISSING: Any = object()

log = logging.getLogger("matrx_orm.manager")

#: rows ``fetch_on_init_limit`` may load before a warning (2.x's default threshold)
FETCH_ON_INIT_WARNING_THRESHOLD = 100
_WARNINGS_OFF = re.compile(r"YES_I_KNOW_WHAT_IM_DOING_TURN_OFF_WARNINGS_FOR_LIMIT_(\d+)")


# -- relations by name or by table name ------------------------------------------------------------------------


def resolve_relation(model: type[Model], name: str) -> Relation:
    """The relation ``name`` of ``model``. Besides relation names, accepts what 2.x generated code passes: the
    related *table*'s name (``"customers"`` for the foreign key ``customer_id``, ``"orders"`` for the inverse
    key from ``orders``) and ``"self_reference"`` for a foreign key to the model itself. An unknown or
    ambiguous name raises ``UnknownRelationError`` listing the choices."""
    try:
        return relation(model, name)
    except UnknownRelationError:
        matches = _relations_by_table(model, name)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise
        names = [spec.name for spec in matches]
        raise UnknownRelationError(
            f"'{name}' is ambiguous on {model.__name__}: several relations lead to it ({', '.join(names)}); "
            "pass one of those names",
            name=name,
            choices=names,
            model=model.__name__,
        ) from None


def _relation_names(model: type[Model]) -> list[str]:
    """Every relation of ``model`` by its canonical name (FK field name, inverse FK name, many-to-many name)."""
    meta = model._meta
    return [*meta.foreign_keys, *meta.inverse_foreign_keys, *m2m_names(model)]


def _relations_by_table(model: type[Model], table: str) -> list[Relation]:
    specs = [relation(model, name) for name in _relation_names(model)]
    if table == "self_reference":
        return [spec for spec in specs if isinstance(spec, FKSpec) and _other_model(spec) is model]
    return [spec for spec in specs if _table_of(_other_model(spec)) == table]


def _other_model(spec: Relation) -> type[Model] | None:
    """The model on the other side of a relation (None when it cannot be resolved)."""
    try:
        return spec.source if isinstance(spec, IFKSpec) else spec.target
    except RelationshipError:
        return None


def _table_of(model: type[Model] | None) -> str | None:
    return model._meta.table_name if model is not None else None


def _output_key(spec: Relation) -> str:
    """Where a relation goes in a dict: a foreign key under its relation name (``customer``), so the key
    column keeps its value; the others under their own name."""
    return spec.alias if isinstance(spec, FKSpec) else spec.name


async def _fetch(item: Model, spec: Relation) -> Any:
    """Load relation ``spec`` of ``item`` (kept on it for ``get_related``): an instance or None, or a list."""
    if isinstance(spec, FKSpec):
        return await item.fetch_fk(spec.name)
    if isinstance(spec, IFKSpec):
        return await item.fetch_ifk(spec.name)
    return await item.fetch_m2m(spec.name)


def _flatten(values: Iterable[Any]) -> list[Any]:
    """Related results (instances, None or lists of instances) as one list, each row once."""
    flat: dict[Any, None] = {}
    for value in values:
        for row in value if isinstance(value, list) else [value]:
            if row is not None:
                flat[row] = None
    return list(flat)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# -- active items ---------------------------------------------------------------------------------------------


class ActiveItems(MutableSet[Any]):
    """A manager's active items: primary key values (tuples for composite keys), in the order they were
    added, so "the first active item" means the one added first."""

    def __init__(self, keys: Iterable[Any] = ()) -> None:
        self._keys: dict[Any, None] = dict.fromkeys(keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"ActiveItems({list(self._keys)!r})"

    def add(self, value: Any) -> None:
        self._keys[value] = None

    def discard(self, value: Any) -> None:
        self._keys.pop(value, None)

    def update(self, values: Iterable[Any]) -> None:
        for value in values:
            self.add(value)

    def clear(self) -> None:
        self._keys.clear()

    def copy(self) -> set[Any]:
        return set(self._keys)


class BaseManager(Generic[ModelT]):
    """CRUD, relation, active-item and bulk helpers over one model. Override ``_initialize_runtime_data`` to
    enrich every item the manager loads or creates; set ``dto_class`` or ``view_class`` to attach a DTO or
    apply a view to each of them."""

    model: type[ModelT]
    #: DTO built for every item when no view is set (``item.dto``, ``item.runtime.dto``)
    dto_class: type[BaseDTO] | None = None
    #: view applied to every item (wins over ``dto_class``)
    view_class: type[ModelView] | None = None
    #: items loaded into the active set by ``initialize()`` (and on construction outside an event loop)
    fetch_on_init_limit: int = 0

    def __init__(
        self,
        model: type[ModelT] | None = None,
        dto_class: type[BaseDTO] | None = None,
        view_class: type[ModelView] | None = None,
        fetch_on_init_limit: int = 0,
        FETCH_ON_INIT_WITH_WARNINGS_OFF: str | None = None,
    ) -> None:
        if model is not None:
            self.model = model
        self._check_model()
        if dto_class is not None:
            self.dto_class = dto_class
        if view_class is not None:
            self.view_class = view_class
        self.fetch_on_init_limit = int(fetch_on_init_limit or type(self).fetch_on_init_limit)
        self._fetch_on_init_with_warnings_off = FETCH_ON_INIT_WITH_WARNINGS_OFF
        if "_active_items" not in self.__dict__:  # a singleton re-running __init__ keeps its state
            self._active_items = ActiveItems()
            self.computed_fields: set[str] = set()
            self.relation_fields: set[str] = set()
        self._hooked = type(self)._initialize_runtime_data is not BaseManager._initialize_runtime_data
        self._initialize_manager()

    def _check_model(self) -> None:
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model.__name__}>"

    # -- lifecycle and hooks ---------------------------------------------------------------------------------
    def _initialize_manager(self) -> None:
        """Hook run at the end of ``__init__``. With ``fetch_on_init_limit > 0`` it loads that many items into
        the active set: at once when no event loop is running (``initialize_sync``), else when the caller
        awaits ``initialize()`` (nothing runs in the background)."""
        if self.fetch_on_init_limit <= 0:
            return
        if _loop_running():
            log.info(
                "%s: event loop running; `await manager.initialize()` loads the items", type(self).__name__
            )
        else:
            self.initialize_sync()

    async def initialize(self) -> Self:
        """Load up to ``fetch_on_init_limit`` items (in primary key order) into the active set; returns the
        manager. Warns when the limit is large or was reached (see ``FETCH_ON_INIT_WITH_WARNINGS_OFF``)."""
        limit = self.fetch_on_init_limit
        if limit > 0:
            query = self.model.objects().order_by(*self.model._meta.primary_keys).limit(limit)
            items = self._activate(await self._initialize_items_runtime(await query.all()))
            self._warn_fetch_on_init(len(items))
        return self

    def initialize_sync(self) -> Self:
        """:meth:`initialize` for synchronous code."""
        return cast(Self, self._sync("initialize"))

    def _warn_fetch_on_init(self, loaded: int) -> None:
        limit, name = self.fetch_on_init_limit, f"{type(self).__name__} ({self.model.__name__})"
        match = _WARNINGS_OFF.fullmatch(self._fetch_on_init_with_warnings_off or "")
        threshold = int(match.group(1)) if match else FETCH_ON_INIT_WARNING_THRESHOLD
        if limit > threshold:
            warnings.warn(
                f"{name}: fetch_on_init_limit={limit} loads up to {limit} rows on every start; pass "
                f"FETCH_ON_INIT_WITH_WARNINGS_OFF='YES_I_KNOW_WHAT_IM_DOING_TURN_OFF_WARNINGS_FOR_LIMIT_{limit}'",
                UserWarning,
                stacklevel=3,
            )
        if loaded >= limit:
            warnings.warn(
                f"{name}: fetch_on_init_limit={limit} reached; rows beyond it are not active",
                UserWarning,
                stacklevel=3,
            )

    async def _initialize_runtime_data(self, item: ModelT) -> None:
        """Called for every item this manager loads or creates, before its view or DTO; override it."""

    async def _initialize_dto_runtime(self, dto: BaseDTO, item: ModelT) -> None:
        """Called with every DTO the manager builds, before it is attached to the item; override it."""

    async def _initialize_item_runtime(self, item: ModelT) -> ModelT:
        """Run the hook on ``item``, then apply the view or (without one) build and attach the DTO."""
        if self._hooked:
            await self._initialize_runtime_data(item)
        if self.view_class is not None:
            await self.view_class.apply(item)
        elif self.dto_class is not None:
            dto = await self.dto_class.from_model(item)
            await self._initialize_dto_runtime(dto, item)
            item.runtime.dto = dto
            item.__dict__["dto"] = dto
        return item

    async def _initialize_items_runtime(self, items: list[ModelT]) -> list[ModelT]:
        if self._hooked or self.view_class is not None or self.dto_class is not None:
            for item in items:
                await self._initialize_item_runtime(item)
        return items

    async def _process_item(self, item: ModelT) -> ModelT:
        """Initialise ``item`` (hook, view or DTO) and make it active."""
        return self._activate([await self._initialize_item_runtime(item)])[0]

    def add_computed_field(self, field: str) -> None:
        """Name an item attribute :meth:`get_item_attributes` reports."""
        self.computed_fields.add(field)

    def add_relation_field(self, field: str) -> None:
        """Name an item attribute holding a relation for :meth:`get_item_attributes`."""
        self.relation_fields.add(field)

    # -- helpers ---------------------------------------------------------------------------------------------
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

    def _relation(self, name: str) -> Relation:
        """The relation ``name`` of the model (a relation or table name, see :func:`resolve_relation`)."""
        return resolve_relation(self.model, name)

    def _relation_of_kind(self, name: str, kind: type[FKSpec | IFKSpec | M2MSpec], label: str) -> Relation:
        spec = self._relation(name)
        if not isinstance(spec, kind):
            raise RelationshipError(f"'{name}' is not {label} of {self.model.__name__}", model=self.model)
        return spec

    def _relations(self, *kinds: type[FKSpec | IFKSpec | M2MSpec]) -> dict[str, Relation]:
        """The model's relations of ``kinds`` by dict key (see ``_output_key``)."""
        specs = [relation(self.model, name) for name in _relation_names(self.model)]
        return {_output_key(spec): spec for spec in specs if isinstance(spec, kinds)}

    def _named(self, names: Iterable[str]) -> dict[str, Relation]:
        """Relations by the names the caller gave (relation or table names)."""
        return {name: self._relation(name) for name in names}

    async def _fetch_related(self, item: ModelT, relation_name: str) -> Any:
        """Load one relation of ``item`` (by relation or table name)."""
        return await _fetch(item, self._relation(relation_name))

    @staticmethod
    async def _load_relations(items: list[ModelT], specs: Iterable[Relation]) -> list[ModelT]:
        """Load ``specs`` on every item: one query per relation, whatever the number of items."""
        names = list(dict.fromkeys(spec.name for spec in specs))
        if items and names:
            await prefetch(items, names)
        return items

    # -- dicts -------------------------------------------------------------------------------------------------
    @staticmethod
    def _item_to_dict(item: Any) -> dict[str, Any] | None:
        """The item's DTO as a dict when it has one (2.x), else ``item.to_dict()``; None for None."""
        if item is None:
            return None
        dto = getattr(item.__dict__.get("runtime"), "dto", None)
        if dto is None:
            dto = item.__dict__.get("dto")
        data: dict[str, Any] = dto.to_dict() if dto is not None else item.to_dict()
        return data

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

    def _dicts(
        self, items: Iterable[ModelT], *, dto: bool, relations: Mapping[str, Relation] | None = None
    ) -> list[dict[str, Any]]:
        """Each item as a dict: its DTO's (``dto=True``, when it has one) or the model's ``to_dict()``, plus the
        loaded ``relations`` under their keys."""
        found = []
        for item in items:
            data = cast("dict[str, Any]", self._item_to_dict(item) if dto else item.to_dict())
            for key, spec in (relations or {}).items():
                data[key] = self._related_to_data(item.get_related(spec.name))
            found.append(data)
        return found

    # -- active items ----------------------------------------------------------------------------------------
    def _active_key(self, item_id: Any) -> Any:
        """The active-set key of an instance or primary key value (a tuple for a composite key)."""
        if isinstance(item_id, self.model):
            return item_id.pk
        meta = self.model._meta
        filters = self._pk_filters(item_id)
        values = tuple(meta.fields[name].to_python(filters[name]) for name in meta.primary_keys)
        return values[0] if len(values) == 1 else values

    def _activate(self, items: list[ModelT]) -> list[ModelT]:
        self._active_items.update(item.pk for item in items)
        return items

    def _add_to_active(self, item_id: Any) -> Any:
        """Add a primary key value (or instance) to the active set; returns its key."""
        key = self._active_key(item_id)
        self._active_items.add(key)
        return key

    def _remove_from_active(self, item_id: Any) -> None:
        """Drop a primary key value (or instance) from the active set."""
        self._active_items.discard(self._active_key(item_id))

    @property
    def active_item_ids(self) -> set[Any]:
        """The primary key values of the active items (a copy)."""
        return self._active_items.copy()

    async def _load_active(self) -> list[ModelT]:
        """The active items, freshly loaded, in the order they were added; DoesNotExist if one is gone."""
        keys = list(self._active_items)
        items = await self._load_keys(keys)
        found = {item.pk for item in items}
        missing = [key for key in keys if key not in found]
        if missing:
            raise DoesNotExist(
                f"{len(missing)} active {self.model.__name__} item(s) no longer exist: {missing!r}",
                model=self.model,
                operation="get_active_items",
                details={"missing": missing},
            )
        return items

    async def _first_active(self) -> ModelT | None:
        """The active item added first (None when there is none, or it no longer exists)."""
        key = next(iter(self._active_items), _MISSING)
        return None if key is _MISSING else await self.load_by_id_or_none(key)

    async def add_active_by_id(self, item_id: Any) -> ModelT:
        """Load the item and make it active; DoesNotExist (and nothing added) when it does not exist."""
        return await self._process_item(await self.model.get(**self._pk_filters(item_id)))

    async def add_active_by_ids(self, item_ids: Iterable[Any]) -> list[ModelT]:
        """Load the items and make the ones that exist active."""
        return await self.load_items_by_ids(item_ids)

    async def add_active_by_id_or_not(self, item_id: Any = None) -> ModelT | None:
        """Like :meth:`add_active_by_id`, but None for a None id or a missing item."""
        if item_id is None:
            return None
        item = await self.model.get_or_none(**self._pk_filters(item_id))
        return await self._process_item(item) if item is not None else None

    async def add_active_by_ids_or_not(self, item_ids: Iterable[Any] | None = None) -> list[ModelT] | None:
        """Like :meth:`add_active_by_ids`, but None when no ids are given."""
        ids = list(item_ids or ())
        return await self.add_active_by_ids(ids) if ids else None

    async def add_active_by_item_or_not(self, item: ModelT | None = None) -> ModelT | None:
        """Make an instance active (initialising it); None for None."""
        return await self._process_item(item) if item is not None else None

    async def add_active_by_items_or_not(self, items: Iterable[ModelT] | None = None) -> list[ModelT] | None:
        """Make instances active (initialising them); None when none are given."""
        listed = list(items or ())
        return [await self._process_item(item) for item in listed] if listed else None

    async def remove_active_by_id(self, item_id: Any) -> None:
        """Drop the item from the active set."""
        self._remove_from_active(item_id)

    async def remove_active_by_ids(self, item_ids: Iterable[Any]) -> None:
        """Drop the items from the active set."""
        for item_id in item_ids:
            self._remove_from_active(item_id)

    async def remove_all_active(self) -> None:
        """Empty the active set."""
        self._active_items.clear()

    async def get_active_item(self, item_id: Any) -> ModelT:
        """Load the item and make it active (it need not be active yet); DoesNotExist when it does not exist."""
        return await self.add_active_by_id(item_id)

    async def get_active_items(self) -> list[ModelT]:
        """The active items, loaded fresh in one query, in the order they were added (DoesNotExist naming the
        ones deleted meanwhile)."""
        return await self._load_active()

    async def get_active_item_with_fk(self, item_id: Any, related_model: str) -> tuple[ModelT, Any]:
        """:meth:`get_active_item` and one of its relations (by relation or table name)."""
        item = await self.get_active_item(item_id)
        return item, await self._fetch_related(item, related_model)

    async def get_active_item_with_through_fk(
        self, item_id: Any, first_relationship: str, second_relationship: str
    ) -> tuple[ModelT, Any, Any]:
        """``(item, first, second)``: the item made active, the row its foreign key ``first_relationship``
        points at, and the row that one's ``second_relationship`` points at (None where a hop finds nothing
        or the first relation is not a single row)."""
        item = await self.get_active_item(item_id)
        return (item, *await self._through_fk(item, first_relationship, second_relationship))

    async def get_active_item_through_ifk(
        self, item_id: Any, first_relationship: str, second_relationship: str
    ) -> tuple[ModelT, list[Any] | None, list[Any] | None]:
        """``(item, rows, second_rows)``: the item made active, the rows of its inverse foreign key
        ``first_relationship``, and the rows of ``second_relationship`` of all of those (each once);
        ``(item, None, None)`` when the first hop finds nothing."""
        spec = self._relation_of_kind(first_relationship, IFKSpec, "an inverse foreign key")
        item = await self.get_active_item(item_id)
        rows = await _fetch(item, spec)
        if not rows:
            return item, None, None
        second = resolve_relation(type(rows[0]), second_relationship)
        await prefetch(rows, [second.name])
        return item, rows, _flatten(row.get_related(second.name) for row in rows)

    async def get_active_item_with_ifk(self, related_model: str) -> ModelT | None:
        """The first active item (the one added first) with its inverse foreign key ``related_model`` loaded
        (``item.get_related(...)``); None when there is no active item."""
        spec = self._relation_of_kind(related_model, IFKSpec, "an inverse foreign key")
        return await self._first_active_with([spec])

    async def get_active_item_with_all_related(self) -> ModelT | None:
        """The first active item (the one added first) with every relation loaded; None when there is none."""
        return await self._first_active_with(self._relations(FKSpec, IFKSpec, M2MSpec).values())

    async def _first_active_with(self, specs: Iterable[Relation]) -> ModelT | None:
        item = await self._first_active()
        if item is not None:
            await self._load_relations([item], specs)
        return item

    async def _active_with(self, specs: Iterable[Relation]) -> list[ModelT]:
        return await self._load_relations(await self._load_active(), specs)

    async def get_active_items_with_fks(self) -> list[ModelT]:
        """The active items with every foreign key loaded (one query per key)."""
        return await self._active_with(self._relations(FKSpec).values())

    async def get_active_items_with_ifks(self) -> list[ModelT]:
        """The active items with every inverse foreign key loaded."""
        return await self._active_with(self._relations(IFKSpec).values())

    async def get_active_items_with_all_related(self) -> list[ModelT]:
        """The active items with every relation loaded."""
        return await self._active_with(self._relations(FKSpec, IFKSpec, M2MSpec).values())

    async def get_active_items_with_one_relation(self, relation_name: str) -> list[ModelT]:
        """The active items with one relation loaded."""
        return await self._active_with([self._relation(relation_name)])

    async def get_active_item_with_one_relation(self, relation_name: str) -> list[ModelT]:
        """Same as :meth:`get_active_items_with_one_relation` (2.x's name; it returns every active item)."""
        return await self.get_active_items_with_one_relation(relation_name)

    async def get_active_items_with_related_models_list(
        self, related_models_list: Iterable[str]
    ) -> list[ModelT]:
        """The active items with each of these relations loaded."""
        return await self._active_with(self._named(related_models_list).values())

    async def get_active_item_with_related_models_list(
        self, related_models_list: Iterable[str]
    ) -> list[ModelT]:
        """Same as :meth:`get_active_items_with_related_models_list` (2.x's name)."""
        return await self.get_active_items_with_related_models_list(related_models_list)

    async def get_items_with_related_list(self, relation_names: Iterable[str]) -> list[ModelT]:
        """The active items with each of these relations loaded (2.x's name)."""
        return await self.get_active_items_with_related_models_list(relation_names)

    # -- active-item dicts ------------------------------------------------------------------------------------
    async def get_active_item_dict(self, item_id: Any) -> dict[str, Any]:
        """``get_active_item(item_id).to_dict()``."""
        return (await self.get_active_item(item_id)).to_dict()

    async def get_active_items_dict(self) -> list[dict[str, Any]]:
        """The active items as dicts (their DTO's, when they have one)."""
        return self._dicts(await self.get_active_items(), dto=True)

    async def get_active_items_with_ifks_dict(self) -> list[dict[str, Any]]:
        """``to_dict()`` of the active items, each inverse foreign key under its name."""
        relations = self._relations(IFKSpec)
        return self._dicts(await self._active_with(relations.values()), dto=False, relations=relations)

    async def get_active_items_with_all_related_dict(self) -> list[dict[str, Any]]:
        """``to_dict()`` of the active items with every relation (a foreign key under its relation name,
        ``customer`` for ``customer_id``)."""
        relations = self._relations(FKSpec, IFKSpec, M2MSpec)
        return self._dicts(await self._active_with(relations.values()), dto=False, relations=relations)

    async def get_active_item_with_one_relation_dict(self, relation_name: str) -> list[dict[str, Any]]:
        """``to_dict()`` of the active items, the relation under ``relation_name``."""
        return await self.get_active_item_with_related_models_list_dict([relation_name])

    async def get_active_item_with_related_models_list_dict(
        self, related_models_list: Iterable[str]
    ) -> list[dict[str, Any]]:
        """``to_dict()`` of the active items, each relation under the name given."""
        relations = self._named(related_models_list)
        return self._dicts(await self._active_with(relations.values()), dto=False, relations=relations)

    # -- reads -----------------------------------------------------------------------------------------------
    async def load_item(self, use_cache: bool = True, **filters: Any) -> ModelT:
        """The single item matching ``filters`` (through the state cache); DoesNotExist otherwise."""
        return await self._initialize_item_runtime(await self.model.get(use_cache=use_cache, **filters))

    async def load_item_or_none(self, use_cache: bool = True, **filters: Any) -> ModelT | None:
        """Like :meth:`load_item`, but None when nothing matches."""
        item = await self.model.get_or_none(use_cache=use_cache, **filters)
        return await self._initialize_item_runtime(item) if item is not None else None

    async def load_item_with_retry(self, use_cache: bool = True, **filters: Any) -> ModelT:
        """Like :meth:`load_item`; when nothing matches it asks the database once more (bypassing the cache)
        before raising DoesNotExist."""
        item = await self.load_item_or_none(use_cache=use_cache, **filters)
        if item is not None:
            return item
        log.info("%s: no %s matched %r; retrying once", type(self).__name__, self.model.__name__, filters)
        return await self.load_item(use_cache=False, **filters)

    async def load_by_id(self, item_id: Any, *, use_cache: bool = True) -> ModelT:
        """The item with primary key ``item_id``; DoesNotExist otherwise."""
        return await self.load_item(use_cache=use_cache, **self._pk_filters(item_id))

    async def load_by_id_or_none(self, item_id: Any, *, use_cache: bool = True) -> ModelT | None:
        """The item with primary key ``item_id``, or None."""
        return await self.load_item_or_none(use_cache=use_cache, **self._pk_filters(item_id))

    async def load_by_id_with_retry(self, item_id: Any) -> ModelT:
        """:meth:`load_item_with_retry` by primary key."""
        return await self.load_item_with_retry(**self._pk_filters(item_id))

    async def load_items(self, order_by: str | Sequence[str] | None = None, **filters: Any) -> list[ModelT]:
        """Every item matching ``filters`` (optionally ordered: ``order_by="-created_at"``); they become
        active."""
        items = await self._initialize_items_runtime(await self._query(order_by, filters).all())
        return self._activate(items)

    async def filter_items(self, order_by: str | Sequence[str] | None = None, **filters: Any) -> list[ModelT]:
        """Same as :meth:`load_items` (matrx-orm name)."""
        return await self.load_items(order_by=order_by, **filters)

    async def load_all(self, order_by: str | Sequence[str] | None = None) -> list[ModelT]:
        """Every row of the model (they become active)."""
        return await self.load_items(order_by=order_by)

    async def load_items_by_ids(self, item_ids: Iterable[Any]) -> list[ModelT]:
        """The items with these primary keys in one query, in the order given (missing ids are skipped,
        duplicates come once); they become active."""
        return self._activate(await self._load_keys(item_ids))

    async def filter_items_by_ids(self, item_ids: Iterable[Any]) -> list[ModelT]:
        """Same as :meth:`load_items_by_ids` (matrx-orm name)."""
        return await self.load_items_by_ids(item_ids)

    async def _load_keys(self, item_ids: Iterable[Any]) -> list[ModelT]:
        meta = self.model._meta
        ids = list(item_ids)
        if not ids:
            return []
        if meta.pk is None:
            maybe = [await self.load_by_id_or_none(item_id, use_cache=False) for item_id in ids]
            return list({item.pk: item for item in maybe if item is not None}.values())
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
        return await self._initialize_items_runtime(ordered)

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
        """Insert one row; returns it as stored (not made active)."""
        return await self._initialize_item_runtime(await self.model.create(**data))

    async def create_item_get_object(self, **data: Any) -> ModelT:
        """Same as :meth:`create_item` (2.x's name)."""
        return await self.create_item(**data)

    async def create_items(
        self, items_data: Iterable[Mapping[str, Any]], batch_size: int = 1000, ignore_conflicts: bool = False
    ) -> list[ModelT]:
        """Insert many rows (one statement per ``batch_size`` rows); returns them as stored."""
        if ignore_conflicts:
            raise ParameterError(
                "create_items(ignore_conflicts=True) is not supported; use upsert_items(...)",
                model=self.model.__name__,
            )
        created: list[ModelT] = []
        for batch in self._batches(list(items_data), batch_size):
            created.extend(await self.model.bulk_create(batch))
        return await self._initialize_items_runtime(created)

    def _batches(self, rows: list[Any], batch_size: int) -> Iterator[list[Any]]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive int; got {batch_size!r}", model=self.model)
        for start in range(0, len(rows), batch_size):
            yield rows[start : start + batch_size]

    async def update_item(self, item_id: Any, **updates: Any) -> ModelT:
        """Load the item (fresh from the database) and write ``updates``; returns it. DoesNotExist if gone."""
        item = await self.model.get(use_cache=False, **self._pk_filters(item_id))
        await item.update(**updates)
        return await self._initialize_item_runtime(item)

    async def update_items(
        self, objects: Sequence[ModelT], fields: Sequence[str], batch_size: int = 1000
    ) -> int:
        """Write ``fields`` of each instance (one statement per ``batch_size``); returns the rows updated."""
        total = 0
        for batch in self._batches(list(objects), batch_size):
            total += await self.model.bulk_update(batch, list(fields))
        return total

    async def delete_item(self, item_id: Any) -> int:
        """Delete the item (its delete signals fire) and drop it from the active set; returns 1, or 0 when it
        did not exist."""
        item = await self.model.get_or_none(use_cache=False, **self._pk_filters(item_id))
        if item is None:
            return 0
        deleted = await item.delete()
        self._active_items.discard(item.pk)
        return deleted

    async def delete_items(self, objects: Iterable[Any], batch_size: int = 1000) -> int:
        """Delete these instances (or primary key values), one statement per ``batch_size``, and drop them
        from the active set; returns how many went."""
        listed = list(objects)
        total = 0
        for batch in self._batches(listed, batch_size):
            total += await self.model.bulk_delete(batch)
        for obj in listed:
            with contextlib.suppress(ORMException):  # a key the active set cannot hold was never in it
                self._remove_from_active(obj)
        return total

    async def get_or_create(self, defaults: Mapping[str, Any] | None = None, **filters: Any) -> ModelT:
        """The item matching ``filters``, else a new one created from ``filters`` plus ``defaults``."""
        item, _created = await self.model.get_or_create(defaults=defaults, **filters)  # safe under races
        return await self._initialize_item_runtime(item)

    async def upsert_item(
        self,
        data: Mapping[str, Any],
        conflict_fields: Sequence[str],
        update_fields: Sequence[str] | None = None,
    ) -> ModelT:
        """INSERT … ON CONFLICT (conflict_fields) DO UPDATE; returns the stored row."""
        return await self._initialize_item_runtime(
            await self.model.upsert(data, conflict_fields, update_fields)
        )

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
        stored = await self.model.bulk_upsert(rows, conflict_fields, update_fields)
        return await self._initialize_items_runtime(stored)

    async def update_where(self, filters: Mapping[str, Any], **updates: Any) -> UpdateResult:
        """UPDATE every row matching ``filters``; the result has ``rows_affected`` and ``updated_rows``."""
        return await self.model.update_where(filters, **updates)

    async def delete_where(self, **filters: Any) -> int:
        """DELETE every row matching ``filters`` (at least one is required); returns how many."""
        return await self.model.delete_where(**filters)

    # -- relations (by relation or table name) -------------------------------------------------------------
    async def get_item_with_related(
        self, item_id: Any, relation_name: str, *, use_join: bool | None = None
    ) -> tuple[ModelT, Any]:
        """The item and one relation: a foreign key comes back as the related instance (loaded with a JOIN
        unless ``use_join=False``), an inverse FK or many-to-many as a list."""
        spec = self._relation(relation_name)
        if isinstance(spec, FKSpec) and use_join is not False:
            filters = self._pk_filters(item_id)
            items = await self.model.filter(**filters).select_related(spec.name).all()
            if not items:
                raise DoesNotExist(
                    f"No {self.model.__name__} matches the given filters",
                    model=self.model,
                    operation="get_item_with_related",
                    details={"filters": filters},
                )
            item = await self._initialize_item_runtime(items[0])
            return item, item.get_related(spec.name)
        item = await self.load_by_id(item_id)
        return item, await _fetch(item, spec)

    async def get_item_with_related_with_retry(self, item_id: Any, relation_name: str) -> tuple[ModelT, Any]:
        """Like :meth:`get_item_with_related` (one query per step), loading the item with
        :meth:`load_by_id_with_retry`."""
        spec = self._relation(relation_name)
        item = await self.load_by_id_with_retry(item_id)
        return item, await _fetch(item, spec)

    async def get_items_with_related(
        self, relation_name: str, *, use_join: bool | None = None, **filters: Any
    ) -> list[ModelT]:
        """Every item matching ``filters`` with one relation loaded (``item.get_related(name)``): a JOIN
        for a foreign key, one extra query otherwise (never one query per item)."""
        spec = self._relation(relation_name)
        qs: Any = self.model.filter(**filters)
        if isinstance(spec, FKSpec) and use_join is not False:
            qs = qs.select_related(spec.name)
        else:
            qs = qs.prefetch_related(spec.name)
        return await self._initialize_items_runtime(await qs.all())

    async def get_item_with_all_related(self, item_id: Any) -> tuple[ModelT, dict[str, Any]]:
        """The item and every relation: ``{"foreign_keys": …, "inverse_foreign_keys": …, "many_to_many": …}``."""
        item = await self.load_by_id(item_id)
        return item, await item.fetch_all_related()

    async def get_items_with_all_related(self, **filters: Any) -> list[ModelT]:
        """Every item matching ``filters`` with every relation loaded (``item.get_related(name)``): one
        query for the items plus one per relation, whatever the number of items."""
        names = _relation_names(self.model)
        qs: Any = self.model.filter(**filters)
        if names:
            qs = qs.prefetch_related(*names)
        return await self._initialize_items_runtime(await qs.all())

    async def get_item_through_fk(
        self, item_id: Any, first_relation: str, second_relation: str
    ) -> tuple[ModelT, Any, Any]:
        """``(item, first, second)``: the row the item's foreign key ``first_relation`` points at and the row
        that one's ``second_relation`` points at (None where a hop finds nothing or is not a single row)."""
        item = await self.load_by_id(item_id)
        return (item, *await self._through_fk(item, first_relation, second_relation))

    async def _through_fk(self, item: ModelT, first: str, second: str) -> tuple[Any, Any]:
        hop = await self._fetch_related(item, first)
        if hop is None or isinstance(hop, list):
            return None, None
        target = await _fetch(hop, resolve_relation(type(hop), second))
        return hop, None if isinstance(target, list) else target

    async def get_item_with_fk(
        self, item_id: Any, fk_name: str, *, use_join: bool = True
    ) -> tuple[ModelT, Any]:
        """The item and the instance its foreign key ``fk_name`` points to (or None)."""
        spec = self._relation_of_kind(fk_name, FKSpec, "a foreign key")
        return await self.get_item_with_related(item_id, spec.name, use_join=use_join)

    async def get_item_with_ifk(self, item_id: Any, ifk_name: str) -> tuple[ModelT, list[Any]]:
        """The item and the rows of inverse foreign key ``ifk_name``."""
        spec = self._relation_of_kind(ifk_name, IFKSpec, "an inverse foreign key")
        item = await self.load_by_id(item_id)
        return item, await _fetch(item, spec)

    async def get_item_with_m2m(self, item_id: Any, relation_name: str) -> tuple[ModelT, list[Any]]:
        """The item and the targets of many-to-many relation ``relation_name``."""
        spec = self._relation_of_kind(relation_name, M2MSpec, "a many-to-many relation")
        item = await self.load_by_id(item_id)
        return item, await _fetch(item, spec)

    def _m2m_name(self, relation_name: str) -> str:
        return self._relation_of_kind(relation_name, M2MSpec, "a many-to-many relation").name

    async def add_m2m(self, item_id: Any, relation_name: str, *target_ids: Any) -> int:
        """Link targets to the item (already linked ones are left alone); returns how many were added."""
        item = await self.load_by_id(item_id)
        return await item.add_m2m(self._m2m_name(relation_name), *target_ids)

    async def remove_m2m(self, item_id: Any, relation_name: str, *target_ids: Any) -> int:
        """Unlink targets from the item; returns how many links were removed."""
        item = await self.load_by_id(item_id)
        return await item.remove_m2m(self._m2m_name(relation_name), *target_ids)

    async def set_m2m(self, item_id: Any, relation_name: str, target_ids: Iterable[Any]) -> None:
        """Make ``target_ids`` exactly the item's targets."""
        item = await self.load_by_id(item_id)
        await item.set_m2m(self._m2m_name(relation_name), list(target_ids))

    async def clear_m2m(self, item_id: Any, relation_name: str) -> int:
        """Unlink every target of the item; returns how many links were removed."""
        item = await self.load_by_id(item_id)
        return await item.clear_m2m(self._m2m_name(relation_name))

    # -- dict variants ------------------------------------------------------------------------------------------
    async def get_item_dict(self, item_id: Any) -> dict[str, Any] | None:
        """The item as a dict: its DTO's when it has one (2.x), else ``to_dict()``."""
        return self._item_to_dict(await self.load_by_id(item_id))

    async def load_item_get_dict(self, use_cache: bool = True, **filters: Any) -> dict[str, Any] | None:
        """``load_item(**filters).to_dict()``."""
        return (await self.load_item(use_cache=use_cache, **filters)).to_dict()

    async def get_items_dict(self, **filters: Any) -> list[dict[str, Any]]:
        """:meth:`load_items` as dicts (their DTO's, when they have one)."""
        return self._dicts(await self.load_items(**filters), dto=True)

    async def filter_items_get_dict(self, **filters: Any) -> list[dict[str, Any]]:
        """``to_dict()`` of :meth:`filter_items`."""
        return self._dicts(await self.filter_items(**filters), dto=False)

    async def load_all_dict(self) -> list[dict[str, Any]]:
        """``to_dict()`` of every row."""
        return self._dicts(await self.load_all(), dto=False)

    async def load_items_by_ids_get_dict(self, item_ids: Iterable[Any]) -> list[dict[str, Any]]:
        """``to_dict()`` of :meth:`load_items_by_ids`."""
        return self._dicts(await self.load_items_by_ids(item_ids), dto=False)

    async def create_item_get_dict(self, **data: Any) -> dict[str, Any] | None:
        """The created item as a dict (its DTO's, when it has one)."""
        return self._item_to_dict(await self.create_item(**data))

    async def update_item_get_dict(self, item_id: Any, **updates: Any) -> dict[str, Any] | None:
        """The updated item as a dict (its DTO's, when it has one)."""
        return self._item_to_dict(await self.update_item(item_id, **updates))

    async def get_item_with_related_dict(self, item_id: Any, relation_name: str) -> dict[str, Any]:
        """The item's dict with the relation under ``relation_name`` (as dicts)."""
        item, related = await self.get_item_with_related(item_id, relation_name)
        return {**item.to_dict(), relation_name: self._related_to_data(related)}

    async def get_items_with_related_dict(self, relation_name: str, **filters: Any) -> list[dict[str, Any]]:
        """Dicts of :meth:`get_items_with_related` (their DTO's, when they have one), each with the relation
        under ``relation_name``."""
        items = await self.get_items_with_related(relation_name, **filters)
        return self._dicts(items, dto=True, relations=self._named([relation_name]))

    async def get_item_with_all_related_dict(self, item_id: Any) -> dict[str, Any]:
        """``{"item": {...}, "related": {"foreign_keys": …, "inverse_foreign_keys": …, "many_to_many": …}}``."""
        item, related = await self.get_item_with_all_related(item_id)
        return {"item": item.to_dict(), "related": self._related_to_data(related)}

    async def get_items_with_all_related_dict(self, **filters: Any) -> list[dict[str, Any]]:
        """Dicts of :meth:`get_items_with_all_related` (their DTO's, when they have one), with every relation
        (a foreign key under its relation name)."""
        relations = self._relations(FKSpec, IFKSpec, M2MSpec)
        return self._dicts(await self.get_items_with_all_related(**filters), dto=True, relations=relations)

    # -- introspection -------------------------------------------------------------------------------------------
    def get_all_attributes(self) -> dict[str, Any]:
        """The model and every non-callable attribute of the manager (instance, class and properties)."""
        found: dict[str, Any] = {"model": self.model}
        found.update({name: value for name, value in vars(self).items() if not callable(value)})
        found.update(_plain_attributes(self, skip=found))
        return found

    def get_item_attributes(self, item: ModelT | None) -> dict[str, Any]:
        """The item's instance data, the computed and relation fields named on the manager, and its other
        non-callable attributes; an attribute that fails to read gives ``"Error retrieving attribute"``."""
        if item is None:
            return {}
        found = dict(vars(item))
        for name in sorted(self.computed_fields | self.relation_fields):
            if hasattr(item, name):
                found[name] = getattr(item, name)
        found.update(_plain_attributes(item, skip=found))
        return found

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

    def get_active_items_sync(self) -> list[ModelT]:
        """:meth:`get_active_items` for synchronous code."""
        return cast("list[ModelT]", self._sync("get_active_items"))

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


def _plain_attributes(obj: object, skip: Mapping[str, Any]) -> dict[str, Any]:
    """``obj``'s non-callable, non-dunder attributes from ``dir()`` not in ``skip``; one that fails to read
    gives ``"Error retrieving attribute"``."""
    found: dict[str, Any] = {}
    for name in dir(obj):
        if name.startswith("__") or name in skip:
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # introspection never fails as a whole
            found[name] = "Error retrieving attribute"
            continue
        if not callable(value):
            found[name] = value
    return found
