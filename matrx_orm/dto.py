"""``BaseDTO``: matrx-orm 2.x's data-transfer objects, built by a manager for each instance it loads.

Subclasses are usually ``@dataclass`` classes with an ``id: str`` field (what 2.x code generation writes).
``from_model`` builds one for an instance, attaches it as ``instance.runtime.dto`` and runs the
``_initialize_dto`` hook; attribute reads the DTO cannot answer go through to the instance.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from .model import Model

__all__ = ["BaseDTO"]


class BaseDTO:
    """A DTO built from one model instance (see the module docstring)."""

    id: str
    #: the instance the DTO was built from (``from_model``)
    _model: Model | None = None
    #: set by the generated ``_initialize_dto`` once it has run
    initialized: bool = False

    def __init__(self, id: str = "", **values: Any) -> None:
        self.id = id
        for name, value in values.items():
            setattr(self, name, value)

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    async def from_model(cls, model: Model) -> Self:
        """The DTO of ``model``: ``id`` is its primary key as text, the instance is kept (``_model``) and
        attached as ``model.runtime.dto``, then ``_initialize_dto(model)`` runs."""
        instance = cls(id=_key_text(model), **_required_placeholders(cls))
        instance._model = model
        model.runtime.dto = instance
        await instance._initialize_dto(model)
        return instance

    async def _initialize_dto(self, model: Model) -> None:
        """Hook: fill the DTO from ``model`` (no-op)."""

    def __getattr__(self, name: str) -> Any:
        """Reads an attribute the DTO does not have from the model it was built from."""
        model = self._model
        if model is not None and not name.startswith("__") and hasattr(model, name):
            return getattr(model, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    # -- relations (recorded on the model's runtime, and so on this DTO) ------------------------------------
    async def fetch_fk(self, field_name: str) -> Any:
        """The model's ``fetch_fk``, recorded as a runtime relationship."""
        return await self._relation("fetch_fk", field_name)

    async def fetch_ifk(self, field_name: str) -> Any:
        """The model's ``fetch_ifk``, recorded as a runtime relationship."""
        return await self._relation("fetch_ifk", field_name)

    async def fetch_one_relation(self, field_name: str) -> Any:
        """The model's ``fetch_one_relation``, recorded as a runtime relationship."""
        return await self._relation("fetch_one_relation", field_name)

    async def filter_fk(self, field_name: str, **filters: Any) -> Any:
        """The model's ``filter_fk``, recorded as a runtime relationship."""
        return await self._relation("filter_fk", field_name, **filters)

    async def filter_ifk(self, field_name: str, **filters: Any) -> Any:
        """The model's ``filter_ifk``, recorded as a runtime relationship."""
        return await self._relation("filter_ifk", field_name, **filters)

    async def _relation(self, method: str, field_name: str, **filters: Any) -> Any:
        model = self._model
        if model is None:
            raise AttributeError(f"{type(self).__name__} has no model attached (build it with from_model)")
        result = await getattr(model, method)(field_name, **filters)
        model.runtime.set_relationship(field_name, result)
        return result

    # -- output -------------------------------------------------------------------------------------------
    def to_dict(self, visited: set[int] | None = None) -> dict[str, Any]:
        """The DTO's fields that hold a value, serialised (enums by value, UUIDs and other objects as text,
        nested DTOs and objects with ``to_dict`` through it); a DTO reached again is marked as circular."""
        seen = set() if visited is None else visited
        if id(self) in seen:
            return {"__circular__": f"<Circular reference to {type(self).__name__}>"}
        seen = seen | {id(self)}
        data: dict[str, Any] = {}
        for name in self._field_names():
            value = getattr(self, name, None)
            if value is not None:
                data[name] = _serialize(value, seen)
        return data

    def _field_names(self) -> list[str]:
        """The dataclass fields, or (plain subclasses) ``id`` and the subclasses' public annotations."""
        if dataclasses.is_dataclass(self):
            return [field.name for field in dataclasses.fields(self)]
        names = ["id"]
        for klass in reversed(type(self).__mro__):
            if issubclass(klass, BaseDTO) and klass is not BaseDTO:
                names += [n for n in klass.__dict__.get("__annotations__", {}) if not n.startswith("_")]
        return list(dict.fromkeys(names))

    def print_keys(self) -> None:
        """Print the DTO's field names and their declared types."""
        print(f"\n{type(self).__name__} Keys:")
        hints = {**getattr(type(self), "__annotations__", {})}
        for name in self._field_names():
            print(f"-> {name}: {hints.get(name, 'Any')}")
        print()

    def __repr__(self) -> str:
        return str(self.to_dict())


def _key_text(model: Model) -> str:
    """The primary key as text: the value for a single key, the values joined by ``_`` for a composite one."""
    keys = model._meta.primary_keys
    if len(keys) == 1:
        return str(model.__dict__.get(keys[0]))
    return model.get_cache_key()


def _required_placeholders(cls: type[BaseDTO]) -> dict[str, Any]:
    """``None`` for every dataclass field besides ``id`` that has no default (``_initialize_dto`` fills
    them), so a DTO with more required fields can still be built from ``id`` alone."""
    if not dataclasses.is_dataclass(cls):
        return {}
    return {
        field.name: None
        for field in dataclasses.fields(cls)
        if field.init
        and field.name != "id"
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    }


def _serialize(value: Any, seen: set[int]) -> Any:
    """One value as ``BaseDTO.to_dict`` gives it (``seen``: the DTOs and containers on the current path)."""
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseDTO):
        return value.to_dict(seen)  # marks a DTO already on the path as {"__circular__": ...}
    if id(value) in seen:
        return f"<Circular reference to {type(value).__name__}>"
    inner = seen | {id(value)}
    if isinstance(value, list | tuple | set | frozenset):
        return [_serialize(item, inner) for item in value]
    if isinstance(value, dict):
        return {key: _serialize(item, inner) for key, item in value.items()}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(value)
