"""The relation methods every ``Model`` instance has (``fetch_fk``, ``add_m2m``, ``get_related``, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...exceptions import ORMException
from ...meta.ddl import create_all
from ...meta.foreign_key import FKSpec
from ...meta.inverse_foreign_key import IFKSpec
from ...meta.many_to_many import m2m_names
from ...meta.relations import MISSING, fk_spec, recall, relation, relation_database, remember
from ...write import many_to_many as m2m_writes
from . import fanout, fk, inverse
from . import many_to_many as m2m
from .results import AllRelatedResults, ForeignKeyResults, InverseForeignKeyResults, ManyToManyResults

if TYPE_CHECKING:
    from ...model import Model


class RelationMethods:
    """Mixed into ``Model``: foreign keys, inverse foreign keys and many-to-many on an instance."""

    __slots__ = ()

    # -- foreign keys ------------------------------------------------------------------------------------
    async def fetch_fk(self, field_name: str) -> Model | None:
        """The row the foreign key ``field_name`` points at, or ``None`` (``_unfetchable``: warns, None)."""
        return await fk.fetch_fk(self, field_name)  # type: ignore[arg-type]

    async def fetch_fks(self) -> ForeignKeyResults:
        """Every foreign key by field name; one failing key logs a warning and gives ``None``."""
        return await fk.fetch_fks(self)  # type: ignore[arg-type]

    async def filter_fk(self, field_name: str, **filters: Any) -> list[Model]:
        """Rows of the target model matching this key and ``filters``."""
        spec = fk_spec(self, field_name)  # type: ignore[arg-type]
        value = self.__dict__.get(spec.name)
        if value is None:
            return []
        query = spec.target.objects().using(relation_database([self], spec.database))  # type: ignore[list-item]
        return await query.filter(**{spec.target_field.name: value}).filter(**filters).all()

    # -- inverse foreign keys --------------------------------------------------------------------------------
    async def fetch_ifk(self, field_name: str) -> list[Model]:
        """Rows of another model pointing at this one (``_inverse_foreign_keys[field_name]``)."""
        return await inverse.fetch_ifk(self, field_name)  # type: ignore[arg-type]

    async def fetch_ifks(self) -> InverseForeignKeyResults:
        """Every inverse foreign key by name; one failing relation logs a warning and gives ``[]``."""
        return await inverse.fetch_ifks(self)  # type: ignore[arg-type]

    async def filter_ifk(self, field_name: str, **filters: Any) -> list[Model]:
        """Rows of the inverse relation that also match ``filters``."""
        return await inverse.fetch_ifk(self, field_name, **filters)  # type: ignore[arg-type]

    # -- many-to-many ----------------------------------------------------------------------------------------
    async def fetch_m2m(self, relation_name: str) -> list[Model]:
        """The related targets of a many-to-many relation."""
        return await m2m.fetch_m2m(self, relation_name)  # type: ignore[arg-type]

    async def fetch_m2ms(self) -> ManyToManyResults:
        """Every many-to-many relation by name; one failing relation logs a warning and gives ``[]``."""
        return await m2m.fetch_m2ms(self)  # type: ignore[arg-type]

    async def add_m2m(self, relation_name: str, *target_ids: Any) -> int:
        """Link targets (keys or instances); idempotent. Returns the number of new links."""
        return await m2m_writes.add_m2m(self, relation_name, *target_ids)  # type: ignore[arg-type]

    async def remove_m2m(self, relation_name: str, *target_ids: Any) -> int:
        """Unlink targets; returns the number of links removed."""
        return await m2m_writes.remove_m2m(self, relation_name, *target_ids)  # type: ignore[arg-type]

    async def set_m2m(self, relation_name: str, target_ids: Iterable[Any]) -> None:
        """Make ``target_ids`` exactly the linked targets (atomically)."""
        await m2m_writes.set_m2m(self, relation_name, target_ids)  # type: ignore[arg-type]

    async def clear_m2m(self, relation_name: str) -> int:
        """Unlink every target; returns the number of links removed."""
        return await m2m_writes.clear_m2m(self, relation_name)  # type: ignore[arg-type]

    @classmethod
    async def ensure_m2m_tables(cls) -> None:
        """CREATE the junction tables of this model's ManyToManyFields that do not exist yet."""
        model: Any = cls
        await create_all(model._meta.database, models=[model])

    # -- everything -----------------------------------------------------------------------------------------
    async def fetch_all_related(self) -> AllRelatedResults:
        """``{"foreign_keys": ..., "inverse_foreign_keys": ..., "many_to_many": ...}`` (each resilient)."""
        model: Any = type(self)
        databases = {model._meta.database}
        for name in model._meta.foreign_keys:
            databases.update(fk._databases(FKSpec(model, model._meta.foreign_keys[name])))
        for name in model._meta.inverse_foreign_keys:
            databases.update(inverse._databases(model, name))
        for name in m2m_names(model):
            databases.update(m2m._databases(model, name))
        groups = await fanout.run_jobs(
            [
                fanout.Job("foreign_keys", tuple(databases), self.fetch_fks),
                fanout.Job("inverse_foreign_keys", tuple(databases), self.fetch_ifks),
                fanout.Job("many_to_many", tuple(databases), self.fetch_m2ms),
            ]
        )
        return AllRelatedResults(groups)

    async def fetch_one_relation(self, field_name: str) -> Model | list[Model] | None:
        """Fetch the relation ``field_name``, whatever its kind."""
        spec = relation(type(self), field_name)  # type: ignore[arg-type]
        if isinstance(spec, FKSpec):
            return await self.fetch_fk(spec.name)
        if isinstance(spec, IFKSpec):
            return await self.fetch_ifk(spec.name)
        return await self.fetch_m2m(spec.name)

    async def filter_one_relation(self, field_name: str, **filters: Any) -> list[Model]:
        """Rows of the relation ``field_name`` matching ``filters``."""
        spec = relation(type(self), field_name)  # type: ignore[arg-type]
        if isinstance(spec, FKSpec):
            return await self.filter_fk(spec.name, **filters)
        if isinstance(spec, IFKSpec):
            return await self.filter_ifk(spec.name, **filters)
        rows = await self.fetch_m2m(spec.name)
        if not filters:
            return rows
        keys = [row.pk for row in rows]
        target = spec.target
        pk = target._meta.primary_keys[0]
        query = target.objects().filter(**{f"{pk}__in": keys}).filter(**filters)
        return await query.order_by(*target._meta.ordering_or_pk).all()

    # -- loaded relations --------------------------------------------------------------------------------------
    def get_related(self, field_name: str) -> Any:
        """The loaded relation (by select_related, prefetch_related or a fetch_*): an instance or ``None``
        for a foreign key, a list for the others. Unknown names raise ``UnknownRelationError``."""
        spec = relation(type(self), field_name)  # type: ignore[arg-type]
        value = self._loaded(spec)
        if value is not MISSING:
            return value
        return None if isinstance(spec, FKSpec) else []

    def _loaded(self, spec: Any) -> Any:
        """The loaded relation of ``spec``, or ``MISSING``; a foreign key's loaded row counts only while the
        key still refers to it (after ``author_id`` changed, the row loaded for the old key is not the
        relation)."""
        if not isinstance(spec, FKSpec):
            return recall(self, spec.name)  # type: ignore[arg-type]
        value = recall(self, spec.alias)  # type: ignore[arg-type]
        key = self.__dict__.get(spec.field.name, MISSING)  # MISSING: not read (only() / defer())
        if value is MISSING or value is None or key is MISSING:
            return value
        loaded_key = value.__dict__.get(spec.field.to_column)
        if key == loaded_key:
            return value
        try:  # the same key written another way (a UUID object for its text, "7" for 7)
            same = spec.field.to_python(key) == spec.field.to_python(loaded_key)
        except ORMException:
            same = False
        return value if same else MISSING

    def set_related(
        self, field_name: str, value: Any, is_inverse: bool = False, is_m2m: bool = False
    ) -> None:
        """Store an already-loaded relation on this instance (what ``get_related`` returns)."""
        spec = relation(type(self), field_name)  # type: ignore[arg-type]
        remember(self, spec.alias if isinstance(spec, FKSpec) else spec.name, value)  # type: ignore[arg-type]

    def has_related(self, field_name: str) -> bool:
        """Whether the relation is loaded and not empty."""
        value = self._loaded(relation(type(self), field_name))  # type: ignore[arg-type]
        return value is not MISSING and bool(value)
