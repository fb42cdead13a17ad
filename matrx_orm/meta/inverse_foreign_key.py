"""Inverse foreign keys: the rows of another model pointing at this one (``_inverse_foreign_keys``, or a
``ForeignKey(related_name=...)`` on the other side)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from . import registry

if TYPE_CHECKING:
    from ..model import Model

IFK_KEYS = frozenset({"from_model", "from_field", "referenced_field", "related_name", "is_native"})
IFK_REQUIRED = ("from_model", "from_field")


@dataclass(frozen=True, slots=True)
class IFKSpec:
    """Rows of ``source`` whose ``from_field`` holds this model's ``referenced_field``."""

    model: type[Model]
    name: str
    source_name: str
    from_field: str
    referenced_field: str

    @property
    def source(self) -> type[Model]:
        return registry.get_model(self.source_name, self.model._meta.database)

    @property
    def database(self) -> str:
        return self.source._meta.database


def inverse_foreign_key(model: type[Model], name: str) -> IFKSpec | None:
    """The inverse foreign key ``name`` declared in ``_inverse_foreign_keys`` (or by ``related_name``)."""
    config = model._meta.inverse_foreign_keys.get(name)
    if config is None:
        return None
    check_ifk_config(model, name, config)
    source = config["from_model"]
    referenced = config.get("referenced_field")
    if referenced is None:
        pk = model._meta.pk
        if pk is None:
            raise ConfigurationError(
                f"Inverse foreign key '{model.__name__}.{name}' needs 'referenced_field' "
                "(the model has a composite primary key)",
                model=model.__name__,
            )
        referenced = pk.name
    return IFKSpec(
        model,
        name,
        source if isinstance(source, str) else source.__name__,
        config["from_field"],
        model._meta.get_field(referenced).name,
    )


def check_ifk_config(model: type, name: str, config: Any) -> None:
    """Raise ConfigurationError for a malformed ``_inverse_foreign_keys`` entry."""
    where = f"_inverse_foreign_keys['{name}'] on model '{model.__name__}'"
    if not isinstance(config, dict):
        raise ConfigurationError(f"{where} must be a dict; got {config!r}", model=model.__name__)
    missing = [key for key in IFK_REQUIRED if not config.get(key)]
    unknown = sorted(set(config) - IFK_KEYS)
    if missing or unknown:
        problem = f"missing {missing}" if missing else f"unknown keys {unknown}"
        raise ConfigurationError(
            f"{where}: {problem}; expected keys {sorted(IFK_KEYS)}", model=model.__name__
        )
