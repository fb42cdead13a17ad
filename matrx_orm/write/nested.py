"""Nested create: ``Author.create(name="Ann", related={"posts": [{...}], "tags": [tag, 7]})`` writes the row,
its inverse-foreign-key children (their key filled in) and its many-to-many links in one transaction.

Every relation name, child field name and item type is checked before any statement; a child the database
refuses rolls the whole create back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..db.transaction import transaction
from ..exceptions import ParameterError, RelationshipError
from ..meta.foreign_key import FKSpec
from ..meta.inverse_foreign_key import IFKSpec
from ..meta.relations import relation
from . import bulk, validation
from .many_to_many import add_m2m

if TYPE_CHECKING:
    from ..model import Model

__all__ = ["create_with_related"]


@dataclass(frozen=True, slots=True)
class _Children:
    """Rows of an inverse foreign key to create once the parent has its key."""

    spec: IFKSpec
    items: list[Any]

    async def write(self, parent: Model) -> None:
        source = self.spec.source
        key = source._meta.get_field(self.spec.from_field).name
        value = parent.__dict__.get(self.spec.referenced_field)
        rows: list[Any] = [
            {**item, key: value} if isinstance(item, Mapping) else _with_key(item, key, value)
            for item in self.items
        ]
        if source._meta.validate_on_save:
            rows = bulk.as_instances(source, rows)
            for row in rows:
                await validation.full_clean(row)
        await bulk.bulk_insert(source, rows)


def _with_key(instance: Model, key: str, value: Any) -> Model:
    field = instance._meta.fields[key]
    instance.__dict__[key] = field.to_python(value)
    return instance


@dataclass(frozen=True, slots=True)
class _Links:
    """Targets of a many-to-many relation to link (instances or keys)."""

    name: str
    targets: list[Any]

    async def write(self, parent: Model) -> None:
        await add_m2m(parent, self.name, *self.targets)


async def create_with_related(
    instance: Model,
    related: Mapping[str, Iterable[Any]],
    save: Callable[[], Awaitable[Any]],
    load: Callable[[Sequence[str]], Awaitable[None]],
) -> None:
    """In one transaction: ``save()`` the instance, create the children and links ``related`` names, then
    ``load(names)`` those relations onto the instance."""
    plans = [_plan(type(instance), name, items) for name, items in related.items()]
    async with transaction():
        await save()
        for plan in plans:
            await plan.write(instance)
        await load(list(related))


def _plan(model: type[Model], name: str, items: Iterable[Any]) -> _Children | _Links:
    """What to write for the relation ``name`` (checked now: no statement has run yet)."""
    spec = relation(model, name)
    if isinstance(spec, FKSpec):
        raise RelationshipError(
            f"create(related=...) takes inverse foreign keys and many-to-many relations; '{name}' is a "
            f"foreign key: pass {spec.name}=<key or instance> as a field value",
            model=model.__name__,
            operation="create",
        )
    if isinstance(items, Mapping | str | bytes) or not isinstance(items, Iterable):
        raise ParameterError(
            f"create(related={{'{name}': ...}}) takes a list; got {type(items).__name__}",
            model=model.__name__,
            operation="create",
        )
    listed = list(items)
    if isinstance(spec, IFKSpec):
        _check_children(spec, name, listed)
        return _Children(spec, listed)
    if any(item is None or isinstance(item, Mapping) for item in listed):
        raise ParameterError(
            f"create(related={{'{name}': [...]}}) links existing {spec.target_name} rows: pass instances or "
            "keys (create new targets first)",
            model=model.__name__,
            operation="create",
        )
    return _Links(spec.name, listed)


def _check_children(spec: IFKSpec, name: str, items: list[Any]) -> None:
    """Each child is a dict of the source model's fields (or an unsaved instance of it) without the key."""
    source = spec.source
    meta = source._meta
    key = meta.get_field(spec.from_field).name
    for item in items:
        if isinstance(item, source):
            continue
        if not isinstance(item, Mapping):
            raise ParameterError(
                f"create(related={{'{name}': [...]}}) takes dicts or {source.__name__} instances; "
                f"got {type(item).__name__}",
                model=spec.model.__name__,
                operation="create",
            )
        for field_name in item:
            if meta.get_field(field_name).name == key:
                raise ParameterError(
                    f"create(related={{'{name}': [...]}}) fills in {source.__name__}.{key} itself; "
                    f"leave it out of the child",
                    model=spec.model.__name__,
                    operation="create",
                )
