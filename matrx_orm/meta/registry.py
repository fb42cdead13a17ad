"""Model registry: model classes by name, and one SQLAlchemy MetaData per database project."""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..db.observe import set_table_resolver
from ..exceptions import RelationshipError

if TYPE_CHECKING:
    from ..model import Model

DEFAULT_DATABASE = "default"

#: Constraint names Alembic can diff and drop reliably.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_metadata: dict[str, sa.MetaData] = {}
_models_by_name: dict[str, list[type[Model]]] = defaultdict(list)
_waiting: dict[str, list[Callable[[type[Model]], None]]] = defaultdict(list)


def metadata_for(database: str) -> sa.MetaData:
    """The MetaData holding every table of ``database`` (Alembic's target_metadata)."""
    meta = _metadata.get(database)
    if meta is None:
        meta = _metadata[database] = sa.MetaData(naming_convention=NAMING_CONVENTION)
    return meta


def register_model(model: type[Model]) -> None:
    """Record ``model`` under its class name, replacing an earlier same-named model of its database."""
    opts = model._meta
    same_name = _models_by_name[model.__name__]
    same_name[:] = [m for m in same_name if m._meta.database != opts.database]
    same_name.append(model)
    for callback in _waiting.pop(model.__name__, []):
        callback(model)


def replace_table(meta: sa.MetaData, name: str, schema: str | None) -> None:
    """Drop a table definition left by an earlier class of the same table (re-imports, tests)."""
    key = f"{schema}.{name}" if schema else name
    old = meta.tables.get(key)
    if old is not None:
        meta.remove(old)
        for models in _models_by_name.values():
            models[:] = [m for m in models if m._meta.table is not old]


def when_registered(name: str, callback: Callable[[type[Model]], None]) -> None:
    """Call ``callback(model)`` once a model called ``name`` exists (now, if it already does)."""
    found = _models_by_name.get(name)
    if found:
        callback(found[-1])
    else:
        _waiting[name].append(callback)


def get_model(name: str, database: str | None = None) -> type[Model]:
    """Resolve a model by class name, preferring one of ``database``."""
    candidates = _models_by_name.get(name) or []
    if database is not None:
        for model in reversed(candidates):
            if model._meta.database == database:
                return model
    if candidates:
        return candidates[-1]
    close = difflib.get_close_matches(name, [n for n, m in _models_by_name.items() if m], n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise RelationshipError(f"No model named '{name}' is defined.{hint}", details={"model_name": name})


def table_of(name: str, database: str) -> str | None:
    """The table of model ``name`` in ``database`` (for statement reports), None when there is none."""
    for model in reversed(_models_by_name.get(name) or []):
        if model._meta.database == database:
            return model._meta.table_name
    return None


set_table_resolver(table_of)


def all_models(database: str | None = None) -> list[type[Model]]:
    """Every registered concrete model, optionally only those of ``database``."""
    seen: list[type[Model]] = []
    for models in _models_by_name.values():
        for model in models:
            if database is None or model._meta.database == database:
                seen.append(model)
    return seen


def describe(obj: Any) -> str:
    return obj.__name__ if isinstance(obj, type) else str(obj)


class ModelRegistry:
    """matrx-orm 2.x's ``model_registry``: models by class name.

    Every concrete model registers itself when its class is created, so ``register`` / ``register_all``
    (which generated 2.x code calls) only add models that are not known yet. Two models of the same name in
    different databases are both kept (the generated ``Users`` stub of each database, say).
    """

    @classmethod
    def register(cls, model_class: type[Model]) -> None:
        """Register ``model_class`` (a no-op for a model that registered itself)."""
        if model_class not in _models_by_name.get(model_class.__name__, []):
            register_model(model_class)

    @classmethod
    def register_all(cls, models: list[type[Model]]) -> None:
        for model in models:
            cls.register(model)

    @classmethod
    def get_model(cls, model_name: str) -> type[Model] | None:
        """The model called ``model_name`` (the last one defined), or None."""
        found = _models_by_name.get(model_name)
        return found[-1] if found else None

    @classmethod
    def all_models(cls) -> dict[str, type[Model]]:
        """Every registered model by class name (the last one defined for a name)."""
        return {name: models[-1] for name, models in _models_by_name.items() if models}

    @classmethod
    def clear(cls) -> None:
        """Forget every model name (the models and their tables stay defined)."""
        _models_by_name.clear()


#: the registry object 2.x code imports (``from matrx_orm import model_registry``)
model_registry = ModelRegistry()
