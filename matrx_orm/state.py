"""The per-process state cache: ``StateManager`` and ``CachePolicy``.

Every concrete model gets a small in-memory cache of rows keyed by primary key. ``Model.get`` /
``Model.get_or_none`` read through it (``use_cache=False`` always goes to the database) and every write the
ORM makes drops the rows it touched (see ``docs/cache-managers-signals.md``).

Design notes
------------
- An entry is a *snapshot* of the row's field values plus its expiry time; a hit builds a fresh instance from
  it, so a caller mutating what it got (without saving) never changes what the next caller sees.
- Writes *invalidate* (they never write values into the cache): an uncommitted value can then never be served.
  Inside ``transaction()`` the cache is bypassed for that database, and the rows a transaction wrote are
  dropped again when its outermost block ends (commit or rollback).
- A read that started before a write to the same model does not store its (possibly older) row: each model's
  cache has a ``generation`` counter, bumped by every invalidation, that the read checks before storing.
- Expiry uses :func:`time.monotonic` unless a clock is installed with :meth:`StateManager.set_clock`.

This module sits below ``query`` and ``models`` (it imports neither), so the write paths can call it.
"""

from __future__ import annotations

import copy
import datetime as dt
import enum
import ipaddress
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

from .db import context
from .exceptions import CacheError, ConfigurationError, DoesNotExist

__all__ = ["CachePolicy", "ModelCache", "StateManager"]

T = TypeVar("T")


class CachePolicy(enum.Enum):
    """How long a cached row stays valid (``_cache_timeout`` on the model overrides it)."""

    PERMANENT = "permanent"
    LONG_TERM = "long_term"
    SHORT_TERM = "short_term"
    INSTANT = "instant"

    @property
    def ttl(self) -> float:
        """Seconds an entry lives (``math.inf`` for PERMANENT)."""
        return _POLICY_TTL[self]


_POLICY_TTL: dict[CachePolicy, float] = {
    CachePolicy.PERMANENT: math.inf,
    CachePolicy.LONG_TERM: 4 * 60 * 60.0,
    CachePolicy.SHORT_TERM: 10 * 60.0,
    CachePolicy.INSTANT: 60.0,
}

DEFAULT_POLICY = CachePolicy.SHORT_TERM
#: entries kept per model before the oldest are evicted (``StateManager.max_entries`` changes it)
DEFAULT_MAX_ENTRIES = 10_000


def resolve_ttl(policy: Any, timeout: Any, model_name: str) -> float:
    """Seconds a model's entries live, from its ``_cache_policy`` and ``_cache_timeout``.

    ``policy`` may be a :class:`CachePolicy`, its value or name (``"long_term"``, ``"LONG_TERM"``) or None (the
    default, SHORT_TERM). ``timeout`` (seconds, >= 0) wins over the policy; 0 turns caching off for the model.
    Anything else raises :class:`~matrx_orm.ConfigurationError`.
    """
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise ConfigurationError(
                f"{model_name}._cache_timeout must be a number of seconds >= 0 (or None); got {timeout!r}",
                model=model_name,
                details={"setting": "_cache_timeout"},
            )
        return float(timeout)
    if policy is None:
        return DEFAULT_POLICY.ttl
    if isinstance(policy, CachePolicy):
        return policy.ttl
    if isinstance(policy, str):
        for member in CachePolicy:
            if policy in (member.value, member.name):
                return member.ttl
    raise ConfigurationError(
        f"{model_name}._cache_policy must be a CachePolicy "
        f"({', '.join('CachePolicy.' + m.name for m in CachePolicy)}); got {policy!r}",
        model=model_name,
        details={"setting": "_cache_policy"},
    )


# -- value snapshots ------------------------------------------------------------------------------------------

_IMMUTABLE: frozenset[type] = frozenset(
    {
        str,
        int,
        float,
        bool,
        bytes,
        Decimal,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        uuid.UUID,
        ipaddress.IPv4Address,
        ipaddress.IPv6Address,
        ipaddress.IPv4Network,
        ipaddress.IPv6Network,
        ipaddress.IPv4Interface,
        ipaddress.IPv6Interface,
        type(None),
    }
)


def _copied(value: Any) -> Any:
    """``value`` itself when immutable, else a deep copy (JSON dicts/lists, arrays, vectors)."""
    if type(value) in _IMMUTABLE or isinstance(value, enum.Enum):
        return value
    return copy.deepcopy(value)


# -- the per-model cache ----------------------------------------------------------------------------------------

_MUTABLE_FAMILIES = frozenset({"json", "array", "vector", "other"})

_clock: Callable[[], float] = time.monotonic


class ModelCache:
    """The cached rows of one model: ``entries[key] = (values, expires_at)``."""

    __slots__ = ("model", "meta", "ttl", "entries", "generation", "max_entries", "_pk_names", "_mutable")

    def __init__(self, model: type, max_entries: int) -> None:
        meta = model._meta  # type: ignore[attr-defined]
        self.model = model
        self.meta = meta
        self.ttl: float = meta.cache_ttl
        self.entries: dict[Any, tuple[dict[str, Any], float]] = {}
        self.generation = 0
        self.max_entries = max_entries
        self._pk_names: tuple[str, ...] = tuple(meta.primary_keys)
        #: fields whose values may be mutable containers (JSON, arrays, vectors, hstore): copied deeply
        self._mutable: tuple[str, ...] = tuple(
            name
            for name, field in meta.fields.items()
            if getattr(field, "lookup_family", "other") in _MUTABLE_FAMILIES
            and not getattr(field, "is_relation", False)
        )

    # -- keys ------------------------------------------------------------------------------------------------
    def key_of(self, instance: Any) -> Any:
        """The cache key of an instance (its primary key value; a tuple for composite keys), or None."""
        data = instance.__dict__
        names = self._pk_names
        if len(names) == 1:
            return data.get(names[0])
        key = tuple(data.get(n) for n in names)
        return None if not names or None in key else key

    def key_of_value(self, value: Any) -> Any:
        """The cache key for a primary key value given by the caller (normalised like the field does)."""
        names = self._pk_names
        fields = self.meta.fields
        if len(names) == 1:
            if type(value) is str or type(value) is int:
                return value
            return fields[names[0]].to_python(value)
        if not isinstance(value, tuple | list) or len(value) != len(names):
            return None
        return tuple(fields[n].to_python(v) for n, v in zip(names, value, strict=True))

    def key_of_filters(self, filters: dict[str, Any]) -> Any:
        """The key when ``filters`` name exactly the (composite) primary key with plain values, else None."""
        names = self._pk_names
        if len(filters) != len(names) or not names:
            return None
        try:
            if len(names) == 1:
                value = filters.get(names[0])
                return None if value is None else self.key_of_value(value)
            values = tuple(filters.get(n) for n in names)
            return None if None in values else self.key_of_value(values)
        except Exception:  # an invalid value: let the database path raise the proper error
            return None

    # -- entries ---------------------------------------------------------------------------------------------
    def lookup(self, key: Any) -> Any:
        """A fresh instance built from the live entry for ``key``, or None."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        values, expires = entry
        if expires <= _clock():
            self.entries.pop(key, None)
            return None
        obj: Any = object.__new__(self.model)
        data = dict(values)
        for name in self._mutable:
            value = data[name]
            if type(value) not in _IMMUTABLE:
                data[name] = _copied(value)
        obj.__dict__ = data
        return obj

    def store(self, instance: Any) -> bool:
        """Cache a snapshot of ``instance`` (only a persisted instance with every field loaded)."""
        if self.ttl <= 0 or not instance.__dict__.get("_persisted"):
            return False
        data = instance.__dict__
        try:
            values = {name: data[name] for name in self.meta.field_names}
        except KeyError:  # loaded with select()/only(): not a full row
            return False
        for name in self._mutable:
            value = values[name]
            if type(value) not in _IMMUTABLE:
                values[name] = _copied(value)
        values["_persisted"] = True
        key = self.key_of(instance)
        if key is None:
            return False
        entries = self.entries
        entries.pop(key, None)
        if len(entries) >= self.max_entries:
            self._evict()
        entries[key] = (values, _clock() + self.ttl)
        return True

    def _drop_expired(self) -> None:
        now = _clock()
        entries = self.entries
        for key in [k for k, (_, expires) in list(entries.items()) if expires <= now]:
            entries.pop(key, None)

    def _evict(self) -> None:
        self._drop_expired()
        entries = self.entries
        while len(entries) >= self.max_entries:
            try:
                entries.pop(next(iter(entries)), None)
            except (StopIteration, RuntimeError):  # emptied or changed by another thread (sync wrappers)
                break

    def live_count(self) -> int:
        """Number of unexpired entries (expired ones are dropped)."""
        self._drop_expired()
        return len(self.entries)

    def drop(self, keys: Iterable[Any]) -> None:
        self.generation += 1
        entries = self.entries
        if entries:
            for key in keys:
                entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self.entries.clear()


_caches: dict[type, ModelCache] = {}


def model_cache(model: type) -> ModelCache:
    """The cache of ``model`` (created on first use)."""
    cache = _caches.get(model)
    if cache is None:
        cache = _caches[model] = ModelCache(model, StateManager.max_entries)
    return cache


def in_transaction(model: type) -> bool:
    """Whether the current task's statements for ``model`` run in a transaction (the cache is bypassed)."""
    return context.in_transaction(model._meta.database)  # type: ignore[attr-defined]


def pk_of_filters(model: type, conditions: tuple[Any, ...], filters: dict[str, Any]) -> Any:
    """The primary key value (a tuple for composite keys) when a ``get`` names exactly the primary key
    fields with non-None values and nothing else, else None."""
    if conditions:
        return None
    names = model._meta.primary_keys  # type: ignore[attr-defined]
    if not names or len(filters) != len(names):
        return None
    values = tuple(filters.get(name) for name in names)
    if None in values:
        return None
    return values[0] if len(values) == 1 else values


def cached_get(model: type, pk_value: Any) -> Any:
    """``Model.get``'s cache lookup (no query): a new instance from the live entry for the primary key
    value ``pk_value``, or None (no entry, expired, caching off, or a transaction open on the database)."""
    cache = _caches.get(model)
    if cache is None or not cache.entries or context.in_transaction(cache.meta.database):
        return None
    if type(pk_value) is str or type(pk_value) is int:
        return cache.lookup(pk_value) if len(cache._pk_names) == 1 else None
    try:
        key = cache.key_of_value(pk_value)
    except Exception:  # invalid value: the database path raises the proper error
        return None
    return None if key is None else cache.lookup(key)


async def read_through(model: type, pk_value: Any, fetch: Callable[[], Awaitable[T]]) -> T:
    """``Model.get`` with the cache: a live entry for ``pk_value`` (the primary key value, or None when the
    lookup is not by primary key) is returned without a query; otherwise ``fetch()`` runs and its row is
    cached, unless a write to the model happened meanwhile or a transaction is open on its database."""
    if pk_value is not None:
        hit = cached_get(model, pk_value)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
    return await fetch_and_store(model, fetch)


async def fetch_and_store(model: type, fetch: Callable[[], Awaitable[T]]) -> T:
    """Run ``fetch()`` (a read of one row) and cache its result, unless the model was written meanwhile,
    caching is off for it, or a transaction is open on its database."""
    cache = _caches.get(model)
    if cache is None:
        cache = model_cache(model)
    if cache.ttl <= 0 or context.in_transaction(cache.meta.database):
        return await fetch()
    generation = cache.generation
    instance = await fetch()
    if cache.generation == generation:
        cache.store(instance)
    return instance


# -- invalidation (called by every write path) -----------------------------------------------------------------


def _invalidate(model: type, keys_of: Callable[[ModelCache], list[Any]] | None) -> None:
    """Drop ``keys_of(cache)`` (every entry when ``keys_of`` is None) from ``model``'s cache now, and again
    when the transaction the current task holds on the model's database ends (commit or rollback)."""
    cache = _caches.get(model)
    tx = context.current_transaction(model._meta.database)  # type: ignore[attr-defined]
    if tx is None:
        if cache is None:
            return  # nothing cached and no read in flight
        if keys_of is None:
            cache.clear()
        elif cache.entries:
            cache.drop(keys_of(cache))
        else:
            cache.generation += 1
        return
    if cache is None:
        cache = model_cache(model)
    if keys_of is None:
        action = cache.clear
    else:
        keys = keys_of(cache)

        def action() -> None:
            cache.drop(keys)

    action()
    hooks = getattr(tx, "on_exit", None)
    if hooks is not None:
        hooks.append(action)


def forget_instances(model: type, instances: Iterable[Any], *, deleted: bool = False) -> None:
    """Drop the rows of ``instances`` from ``model``'s cache (after an insert/update/delete of them)."""
    _invalidate(model, lambda cache: [cache.key_of(obj) for obj in instances])
    if deleted:
        forget_dependents(model)


def forget_keys(model: type, values: Iterable[Any], *, deleted: bool = False) -> None:
    """Drop the rows whose primary key values are ``values`` (instances are accepted too)."""

    def keys_of(cache: ModelCache) -> list[Any]:
        keys: list[Any] = []
        for value in values:
            if isinstance(value, model):
                keys.append(cache.key_of(value))
                continue
            try:
                keys.append(cache.key_of_value(value))
            except Exception:
                keys.append(value)
        return keys

    _invalidate(model, keys_of)
    if deleted:
        forget_dependents(model)


def forget_model(model: type, *, deleted: bool = False) -> None:
    """Drop every cached row of ``model`` (after a write whose rows are unknown, e.g. ``filter().update()``)."""
    _invalidate(model, None)
    if deleted:
        forget_dependents(model)


_CASCADING = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})
_CASCADE = frozenset({"CASCADE"})


def forget_dependents(model: type) -> None:
    """After rows of ``model`` were deleted: clear the caches of models whose rows the database changed or
    removed with them: those with a foreign key to ``model`` that cascades (``ON DELETE CASCADE / SET NULL /
    SET DEFAULT``), or to a model whose rows ``ON DELETE CASCADE`` removed in turn (a chain of any length)."""
    for other, cache in list(_caches.items()):
        if not cache.entries and context.current_transaction(cache.meta.database) is None:
            continue
        if _changed_by_delete(cache.meta, model, _CASCADING, set()):
            forget_model(other)


def _changed_by_delete(meta: Any, model: type, rules: frozenset[str], seen: set[type]) -> bool:
    """Whether a foreign key of ``meta`` whose ``on_delete`` is one of ``rules`` leads to ``model``, directly
    or through models whose own foreign keys cascade to it."""
    for fk in meta.foreign_keys.values():
        if getattr(fk, "on_delete", "CASCADE") not in rules:
            continue
        try:
            target = fk.target_model
        except Exception:
            target = None
        if target is None or target is model or getattr(fk, "to_model_name", None) == model.__name__:
            return True
        target_meta = getattr(target, "_meta", None)
        if target not in seen and target_meta is not None:
            seen.add(target)
            if _changed_by_delete(target_meta, model, _CASCADE, seen):
                return True
    return False


# -- public API -------------------------------------------------------------------------------------------------


class StateManager:
    """Manual control of the per-model cache (all methods are class methods; the async ones match matrx-orm).

    ``await StateManager.cache(User, user)``, ``remove``, ``clear_cache``, ``count``; plus ``get`` /
    ``get_or_none`` (read through the cache), ``cache_bulk``, ``remove_bulk``, ``lookup`` (no query) and
    ``set_clock`` for tests.
    """

    #: entries kept per model before the oldest are evicted (applies to caches created afterwards)
    max_entries: int = DEFAULT_MAX_ENTRIES

    @staticmethod
    def _model(model: Any, operation: str) -> type:
        meta = getattr(model, "__dict__", {}).get("_meta") if isinstance(model, type) else None
        if meta is None:
            raise CacheError(
                f"StateManager.{operation}() needs a concrete model class; got {model!r}",
                operation=operation,
            )
        return model  # type: ignore[no-any-return]

    @classmethod
    def _instance(cls, model: type, record: Any, operation: str) -> Any:
        if not isinstance(record, model):
            raise CacheError(
                f"StateManager.{operation}() expects a {model.__name__} instance; got {record!r}",
                model=model,
                operation=operation,
            )
        return record

    @classmethod
    def register_model(cls, model: type) -> None:
        """Create ``model``'s cache now (it is otherwise created on first use)."""
        model_cache(cls._model(model, "register_model"))

    @classmethod
    async def cache(cls, model: type, record: Any) -> bool:
        """Cache ``record`` (a persisted, fully loaded instance); returns whether it was stored."""
        model = cls._model(model, "cache")
        return model_cache(model).store(cls._instance(model, record, "cache"))

    @classmethod
    async def update(cls, model: type, record: Any) -> bool:
        """Replace the cached copy of ``record`` with its current values."""
        return await cls.cache(model, record)

    @classmethod
    async def cache_bulk(cls, model: type, records: Iterable[Any]) -> int:
        """Cache every record; returns how many were stored."""
        model = cls._model(model, "cache_bulk")
        cache = model_cache(model)
        return sum(cache.store(cls._instance(model, r, "cache_bulk")) for r in records)

    @classmethod
    async def remove(cls, model: type, record: Any) -> None:
        """Drop ``record`` (an instance or a primary key value) from the cache."""
        forget_keys(cls._model(model, "remove"), [record])

    @classmethod
    async def remove_bulk(cls, model: type, records: Iterable[Any]) -> None:
        """Drop every record (instances or primary key values) from the cache."""
        forget_keys(cls._model(model, "remove_bulk"), list(records))

    @classmethod
    async def clear_cache(cls, model: type | None = None) -> None:
        """Empty ``model``'s cache, or every model's cache when called without a model."""
        if model is None:
            for cache in list(_caches.values()):
                cache.clear()
            return
        forget_model(cls._model(model, "clear_cache"))

    @classmethod
    async def count(cls, model: type) -> int:
        """Number of live (unexpired) cached rows of ``model``."""
        cache = _caches.get(cls._model(model, "count"))
        return cache.live_count() if cache is not None else 0

    @classmethod
    def lookup(cls, model: type, pk: Any) -> Any:
        """The cached row with primary key ``pk`` (a tuple for composite keys) as a new instance, or None.

        Never queries the database.
        """
        cache = _caches.get(cls._model(model, "lookup"))
        if cache is None or not cache.entries:
            return None
        try:
            key = cache.key_of_value(pk)
        except Exception:
            return None
        return cache.lookup(key)

    @classmethod
    async def get(cls, model: type, use_cache: bool = True, **filters: Any) -> Any:
        """Same as ``await model.get(**filters)`` (reads through the cache)."""
        return await cls._model(model, "get").get(use_cache=use_cache, **filters)  # type: ignore[attr-defined]

    @classmethod
    async def get_or_none(cls, model: type, use_cache: bool = True, **filters: Any) -> Any:
        """Like :meth:`get`, but None when no row matches."""
        try:
            return await cls.get(model, use_cache=use_cache, **filters)
        except DoesNotExist:
            return None

    @classmethod
    async def get_all(cls, model: type, **filters: Any) -> list[Any]:
        """The matching rows from the database (one query); each is cached."""
        model = cls._model(model, "get_all")
        records = await model.filter(**filters).all()  # type: ignore[attr-defined]
        if not in_transaction(model):
            cache = model_cache(model)
            for record in records:
                cache.store(record)
        return records  # type: ignore[no-any-return]

    @classmethod
    def ttl(cls, model: type) -> float:
        """Seconds ``model``'s entries live (``math.inf`` for PERMANENT, 0 when caching is off)."""
        return model_cache(cls._model(model, "ttl")).ttl

    @classmethod
    def set_clock(cls, clock: Callable[[], float] | None) -> None:
        """Use ``clock()`` (seconds, monotonic) for expiry; None restores :func:`time.monotonic`."""
        global _clock
        _clock = clock or time.monotonic

    @classmethod
    def reset(cls) -> None:
        """Forget every model's cache object (settings are read again on next use) and restore the clock."""
        for cache in list(_caches.values()):
            cache.clear()
        _caches.clear()
        cls.set_clock(None)
