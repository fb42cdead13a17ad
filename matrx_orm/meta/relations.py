"""What a model's relations are: foreign keys, inverse foreign keys and many-to-many, resolved by name.

``relation(model, name)`` turns a name into one of three small descriptions (``FKSpec``, ``IFKSpec``,
``M2MSpec``) or raises ``UnknownRelationError`` naming the close matches. Loaded related objects live on the
instance in ``__dict__["_related"]`` (``remember`` / ``recall``), where ``get_related`` finds them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError, UnknownRelationError
from ..models import registry

if TYPE_CHECKING:
    from ..fields import Field
    from ..models.base import Model
    from ..models.foreign_key import ForeignKey
    from .m2m import M2MSpec

RELATED_KEY = "_related"

IFK_KEYS = frozenset({"from_model", "from_field", "referenced_field", "related_name", "is_native"})
IFK_REQUIRED = ("from_model", "from_field")


@dataclass(frozen=True, slots=True)
class FKSpec:
    """A foreign key of ``model``: the field ``field.name``, also reachable as ``alias`` (``author``)."""

    model: type[Model]
    field: ForeignKey

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def alias(self) -> str:
        return self.field.relation_name

    @property
    def target(self) -> type[Model]:
        return self.field.target_model

    @property
    def target_field(self) -> Field[Any]:
        target = self.target
        found = target._meta.fields.get(self.field.to_column)
        if found is None:
            raise ConfigurationError(
                f"ForeignKey '{self.model.__name__}.{self.name}' points at "
                f"'{target.__name__}.{self.field.to_column}', which is not a field of {target.__name__}",
                model=self.model.__name__,
            )
        return found

    @property
    def database(self) -> str:
        """Where the target rows are read: ``to_db`` when given, else the target model's database."""
        return self.field.target_db or self.target._meta.database

    @property
    def cross_database(self) -> bool:
        return self.database != self.model._meta.database


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


def foreign_key(model: type[Model], name: str) -> FKSpec | None:
    """The foreign key called ``name`` (field name ``author_id`` or alias ``author``), else None."""
    meta = model._meta
    field = meta.foreign_keys.get(name) or meta.foreign_keys.get(meta.relation_aliases.get(name, ""))
    if field is None:
        field = next((f for f in meta.foreign_keys.values() if f.relation_name == name), None)
    return FKSpec(model, field) if field is not None else None


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


def relation_names(model: type[Model]) -> list[str]:
    """Every relation name of ``model`` (FK fields and aliases, inverse FKs, many-to-many)."""
    meta = model._meta
    names: list[str] = []
    for fk in meta.foreign_keys.values():
        names.append(fk.name)
        if fk.relation_name != fk.name:
            names.append(fk.relation_name)
    names.extend(meta.inverse_foreign_keys)
    from .m2m import m2m_names

    names.extend(m2m_names(model))
    return names


def relation(model: type[Model], name: str) -> FKSpec | IFKSpec | M2MSpec:
    """The relation called ``name``; ``UnknownRelationError`` (with close matches) when there is none."""
    from .m2m import many_to_many

    if not isinstance(name, str):
        raise UnknownRelationError(name=repr(name), choices=relation_names(model), model=model.__name__)
    found: FKSpec | IFKSpec | M2MSpec | None = foreign_key(model, name)
    if found is None:
        found = inverse_foreign_key(model, name)
    if found is None:
        found = many_to_many(model, name)
    if found is None:
        raise UnknownRelationError(name=name, choices=relation_names(model), model=model.__name__)
    return found


def unknown(model: type[Model], name: str, kind: str) -> UnknownRelationError:
    """The error for ``name`` not being a relation of ``kind`` (foreign key, inverse foreign key, ...)."""
    meta = model._meta
    choices: list[str]
    if kind == "foreign key":
        choices = list(meta.foreign_keys)
    elif kind == "inverse foreign key":
        choices = list(meta.inverse_foreign_keys)
    else:
        from .m2m import m2m_names

        choices = m2m_names(model)
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


def recall(instance: Model, name: str) -> Any:
    """The loaded relation ``name`` of ``instance``, or ``MISSING``."""
    related = instance.__dict__.get(RELATED_KEY)
    return MISSING if related is None else related.get(name, MISSING)


def is_loaded(instance: Model, name: str) -> bool:
    return recall(instance, name) is not MISSING


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
