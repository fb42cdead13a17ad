"""``ModelView``: matrx-orm 2.x's declarative projection a manager applies to each instance it loads.

A view lists relations to load with every row (``prefetch``), columns to leave out of ``to_dict()``
(``exclude``) and foreign keys whose loaded row replaces the key column (``inline_fk``); each public async
method ``async def name(self, model)`` is a computed field. ``await View.apply(instance)`` runs all of it on
the instance, and ``Model.to_dict()`` / ``to_flat_dict()`` then give the view's shape.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .meta.foreign_key import FKSpec
from .meta.relations import is_loaded

if TYPE_CHECKING:
    from .model import Model

__all__ = ["ModelView", "ModelViewMeta"]

ComputedField = Callable[[Any, Any], Awaitable[Any]]

#: class attributes of a view that are configuration, never computed fields
_SETTINGS = frozenset({"prefetch", "exclude", "inline_fk", "apply"})


class ModelViewMeta(type):
    """Collects a view's computed fields (public coroutine functions, inherited ones included) into
    ``_computed_methods`` when the class is created."""

    _computed_methods: dict[str, ComputedField]

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> ModelViewMeta:
        computed: dict[str, ComputedField] = {}
        for base in reversed(bases):
            computed.update(getattr(base, "_computed_methods", {}))
        for attr, value in namespace.items():
            if not attr.startswith("_") and attr not in _SETTINGS and inspect.iscoroutinefunction(value):
                computed[attr] = value
        namespace["_computed_methods"] = computed
        return super().__new__(mcs, name, bases, namespace)


class ModelView(metaclass=ModelViewMeta):
    """Base class of views (see the module docstring)."""

    prefetch: ClassVar[list[str]] = []
    exclude: ClassVar[list[str]] = []
    inline_fk: ClassVar[dict[str, str]] = {}

    @classmethod
    async def apply(cls, model: Model) -> Model:
        """Apply the view to ``model`` in place and return it: load the ``prefetch`` relations (a failing one
        warns and is skipped), run the computed fields concurrently (a failing one warns and gives None),
        inline the loaded ``inline_fk`` relations and record what ``to_dict()`` leaves out."""
        await cls._prefetch(model)
        view_data: dict[str, Any] = model.__dict__.setdefault("_view_data", {})
        view_data.update(await cls._computed(model))
        inlined: dict[str, str] = model.__dict__.setdefault("_view_inlined_fks", {})
        for field_name, output_name, related in cls._inlined(model):
            view_data[output_name] = related
            inlined[field_name] = output_name
        excluded: set[str] = model.__dict__.setdefault("_view_excluded", set())
        excluded.update(cls.exclude)
        model.__dict__["_applied_view"] = cls
        return model

    @classmethod
    async def _prefetch(cls, model: Model) -> None:
        async def load(name: str) -> None:
            try:
                await model.fetch_one_relation(name)
            except Exception as exc:  # a view never aborts the load: report it and go on
                _warn(cls, f"Prefetch of relation '{name}' failed:", exc, "Skipped")

        await asyncio.gather(*(load(name) for name in cls.prefetch))

    @classmethod
    async def _computed(cls, model: Model) -> dict[str, Any]:
        methods = cls._computed_methods
        if not methods:
            return {}
        view = cls()
        results = await asyncio.gather(
            *(method(view, model) for method in methods.values()), return_exceptions=True
        )
        values: dict[str, Any] = {}
        for name, result in zip(methods, results, strict=True):
            if isinstance(result, Exception):
                _warn(cls, f"Computed field '{name}' raised", result, "Stored as None")
                result = None
            elif isinstance(result, BaseException):  # cancellation and the like are not field errors
                raise result
            values[name] = result
        return values

    @classmethod
    def _inlined(cls, model: Model) -> list[tuple[str, str, Any]]:
        """``(fk field name, output name, related instance)`` for each ``inline_fk`` entry whose relation is
        loaded on ``model`` and points at a row (a key never fetched, or NULL, keeps its column)."""
        found = []
        for name, output_name in cls.inline_fk.items():
            spec = model.get_relation(name)
            key = spec.alias if isinstance(spec, FKSpec) else spec.name
            related = model.get_related(name) if is_loaded(model, key) else None
            if related is not None:
                found.append((spec.name, output_name, related))
        return found


def _warn(view: type[ModelView], what: str, exc: BaseException, outcome: str) -> None:
    warnings.warn(
        f"[ModelView:{view.__name__}] {what} {type(exc).__name__}: {exc}. {outcome}.",
        RuntimeWarning,
        stacklevel=4,
    )
