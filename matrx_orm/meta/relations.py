"""A model's relations by name, whatever their kind, and the related objects loaded on an instance.

``relation(model, name)`` turns a name into one of three small descriptions (``FKSpec``, ``IFKSpec``,
``M2MSpec``) or raises ``UnknownRelationError`` naming the close matches; ``fk_spec`` / ``ifk_spec`` /
``m2m_spec`` ask for one kind. Loaded related objects live on the instance in ``__dict__["_related"]``
(``remember`` / ``recall``), where ``get_related`` finds them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import UnknownRelationError
from .foreign_key import FKSpec, foreign_key
from .inverse_foreign_key import IFKSpec, inverse_foreign_key
from .many_to_many import M2MSpec, m2m_names, many_to_many

if TYPE_CHECKING:
    from ..model import Model

__all__ = [
    "LOADED_FROM",
    "MISSING",
    "RELATED_KEY",
    "Relation",
    "fk_spec",
    "ifk_spec",
    "is_loaded",
    "m2m_spec",
    "recall",
    "relation",
    "mark_loaded_from",
    "relation_database",
    "relation_names",
    "remember",
    "skipped_unfetchable",
]

RELATED_KEY = "_related"

Relation = FKSpec | IFKSpec | M2MSpec


def relation_names(model: type[Model]) -> list[str]:
    """Every relation name of ``model`` (FK fields and aliases, inverse FKs, many-to-many)."""
    meta = model._meta
    names: list[str] = []
    for fk in meta.foreign_keys.values():
        names.append(fk.name)
        if fk.relation_name != fk.name:
            names.append(fk.relation_name)
    names.extend(meta.inverse_foreign_keys)
    names.extend(m2m_names(model))
    return names


def relation(model: type[Model], name: str) -> Relation:
    """The relation called ``name``; ``UnknownRelationError`` (with close matches) when there is none."""
    if not isinstance(name, str):
        raise UnknownRelationError(name=repr(name), choices=relation_names(model), model=model.__name__)
    found: Relation | None = foreign_key(model, name)
    if found is None:
        found = inverse_foreign_key(model, name)
    if found is None:
        found = many_to_many(model, name)
    if found is None:
        raise UnknownRelationError(name=name, choices=relation_names(model), model=model.__name__)
    return found


def _model_of(instance_or_model: Model | type[Model]) -> type[Model]:
    return instance_or_model if isinstance(instance_or_model, type) else type(instance_or_model)


def fk_spec(instance_or_model: Model | type[Model], name: str) -> FKSpec:
    """The foreign key ``name`` (``UnknownRelationError`` when there is none)."""
    model = _model_of(instance_or_model)
    spec = foreign_key(model, name)
    if spec is None:
        raise _unknown(model, name, "foreign key", list(model._meta.foreign_keys))
    return spec


def ifk_spec(instance_or_model: Model | type[Model], name: str) -> IFKSpec:
    """The inverse foreign key ``name`` (``UnknownRelationError`` when there is none)."""
    model = _model_of(instance_or_model)
    spec = inverse_foreign_key(model, name)
    if spec is None:
        raise _unknown(model, name, "inverse foreign key", list(model._meta.inverse_foreign_keys))
    return spec


def m2m_spec(instance_or_model: Model | type[Model], name: str) -> M2MSpec:
    """The many-to-many relation ``name`` (``UnknownRelationError`` when there is none)."""
    model = _model_of(instance_or_model)
    spec = many_to_many(model, name)
    if spec is None:
        raise _unknown(model, name, "many-to-many relation", m2m_names(model))
    return spec


def _unknown(model: type[Model], name: str, kind: str, choices: list[str]) -> UnknownRelationError:
    """The error for ``name`` not being a relation of ``kind`` (foreign key, inverse foreign key, ...)."""
    error = UnknownRelationError(name=name, choices=choices, model=model.__name__)
    error.message = f"No {kind} " + error.message.removeprefix("Unknown relation ")
    error.args = (error.message,)
    return error


# -- loaded related objects on an instance -------------------------------------------------------------------


def remember(instance: Model, name: str, value: Any) -> None:
    """Keep ``value`` as the loaded relation ``name`` of ``instance``."""
    data = instance.__dict__
    related = data.get(RELATED_KEY)
    if related is None:
        related = data[RELATED_KEY] = {}
    related[name] = value


MISSING: Any = object()


#: ``instance.__dict__`` key: the project a row was read from with ``using()``
LOADED_FROM = "_loaded_from"


def mark_loaded_from(instances: Sequence[Model], database: str) -> None:
    """Record that ``instances`` were read from ``database`` (their relations are loaded there too)."""
    for instance in instances:
        instance.__dict__[LOADED_FROM] = database


def relation_database(instances: Sequence[Model], database: str) -> str:
    """Where to load a relation of ``instances`` that lives in ``database``: the project they were read from
    with ``using()`` when the relation is in their model's own database, else ``database``."""
    if not instances:
        return database
    source = instances[0].__dict__.get(LOADED_FROM)
    if source is None or database != type(instances[0])._meta.database:
        return database
    return str(source)


def recall(instance: Model, name: str) -> Any:
    """The loaded relation ``name`` of ``instance``, or ``MISSING``."""
    related = instance.__dict__.get(RELATED_KEY)
    return MISSING if related is None else related.get(name, MISSING)


def is_loaded(instance: Model, name: str) -> bool:
    return recall(instance, name) is not MISSING


def forget_loaded(instance: Model, name: str) -> None:
    """Drop the loaded relation ``name`` of ``instance`` (after a write changed it)."""
    related = instance.__dict__.get(RELATED_KEY)
    if related is not None:
        related.pop(name, None)


# -- unfetchable models ----------------------------------------------------------------------------------------


def skipped_unfetchable(target: type[Model], method: str, name: str, *, stacklevel: int = 3) -> bool:
    """Warn once and return True when ``target`` is marked ``_unfetchable`` (it is never queried)."""
    if not target._meta.unfetchable:
        return False
    warnings.warn(
        f"{method}('{name}') skipped: {target.__name__} is marked _unfetchable = True and is never queried. "
        "For a table in another schema of the same database (e.g. auth.users) remove _unfetchable and set "
        "_db_schema on the model; for a table in another registered database add to_db='<project>' to the "
        "ForeignKey.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return True
