"""The results of loading every relation of an instance: mappings by relation name (``fetch_fks``,
``fetch_ifks``, ``fetch_m2ms``) and all three together (``fetch_all_related``), with matrx-orm 2.x's names."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AggregateResult",
    "AllRelatedResults",
    "ForeignKeyResults",
    "InverseForeignKeyResults",
    "ManyToManyResults",
]

#: what ``aggregate()`` returns: aggregate name -> value
AggregateResult = dict[str, Any]


class _ByRelation(dict[str, Any]):
    """Loaded relations by name; ``data`` is the plain dict (2.x's attribute)."""

    @property
    def data(self) -> dict[str, Any]:
        return dict(self)


class ForeignKeyResults(_ByRelation):
    """``fetch_fks()``: foreign key name -> the related instance, or None."""


class InverseForeignKeyResults(_ByRelation):
    """``fetch_ifks()``: inverse foreign key name -> the related instances."""


class ManyToManyResults(_ByRelation):
    """``fetch_m2ms()``: many-to-many relation name -> the related instances."""


class AllRelatedResults(dict[str, Any]):
    """``fetch_all_related()``: a mapping with keys ``foreign_keys``, ``inverse_foreign_keys`` and
    ``many_to_many`` (also readable as attributes)."""

    @property
    def foreign_keys(self) -> ForeignKeyResults:
        return self.get("foreign_keys") or ForeignKeyResults()

    @property
    def inverse_foreign_keys(self) -> InverseForeignKeyResults:
        return self.get("inverse_foreign_keys") or InverseForeignKeyResults()

    @property
    def many_to_many(self) -> ManyToManyResults:
        return self.get("many_to_many") or ManyToManyResults()

    @classmethod
    def empty(cls) -> AllRelatedResults:
        """No relation loaded."""
        return cls(
            foreign_keys=ForeignKeyResults(),
            inverse_foreign_keys=InverseForeignKeyResults(),
            many_to_many=ManyToManyResults(),
        )

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The three groups with related instances as their ``to_dict()``."""
        return {group: {name: _as_data(value) for name, value in self[group].items()} for group in self}


def _as_data(value: Any) -> Any:
    if isinstance(value, list):
        return [item.to_dict() for item in value]
    return None if value is None else value.to_dict()
