"""``ModelMeta``: the metaclass that turns a model class into a table in its project's MetaData.

It collects the fields (inheriting from abstract bases), builds the ``sa.Table`` (constraints and indexes
included), records what it learned in ``cls._meta`` (:class:`~.options.ModelOptions`), registers the model and
attaches its relations (foreign key constraints, junction tables of ``ManyToManyField``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa

from ..exceptions import FieldError, UnknownFieldError
from ..fields import Field
from . import registry
from .indexes import model_indexes
from .many_to_many import attach as attach_many_to_many
from .options import ModelOptions

__all__ = ["ModelMeta", "snake_case"]

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``BlogPost`` → ``blog_post``; ``HTTPLog`` → ``http_log``."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _own_setting(namespace: Mapping[str, Any], inner_meta: Any, attr: str, meta_attr: str) -> Any:
    if attr in namespace:
        return namespace[attr]
    return getattr(inner_meta, meta_attr, None) if inner_meta is not None else None


def _inherited_setting(
    cls: type, namespace: Mapping[str, Any], inner_meta: Any, attr: str, meta_attr: str
) -> Any:
    """The class's own setting (``attr`` or ``Meta.<meta_attr>``), else the nearest base's."""
    own = _own_setting(namespace, inner_meta, attr, meta_attr)
    if own is not None:
        return own
    for base in cls.__mro__[1:]:
        found = _own_setting(base.__dict__, base.__dict__.get("Meta"), attr, meta_attr)
        if found is not None:
            return found
    return None


def _ordering(
    cls: type, namespace: Mapping[str, Any], inner_meta: Any, fields: Mapping[str, Any]
) -> tuple[Any, ...]:
    """The default ordering (``_ordering`` or ``Meta.ordering``, inherited): names checked now."""
    declared = _inherited_setting(cls, namespace, inner_meta, "_ordering", "ordering") or ()
    items = (declared,) if isinstance(declared, str) else tuple(declared)
    aliases = {n[:-3] for n, f in fields.items() if n.endswith("_id") and getattr(f, "is_relation", False)}
    for item in items:
        if not isinstance(item, str):
            continue  # an expression (F("x").desc()): checked when a query compiles it
        name = item.lstrip("-+")
        if name == "?":
            raise FieldError(
                f"_ordering on '{cls.__name__}': random ordering ('?') is not supported",
                model=cls.__name__,
            )
        if name not in fields and name not in aliases:
            raise UnknownFieldError(name=name, choices=fields, model=cls.__name__)
    return items


class ModelMeta(type):
    """Collects fields (inheriting from abstract bases), builds the ``sa.Table`` and registers the model."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> type:
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        if namespace.get("_is_model_base"):
            return cls
        inner_meta = namespace.get("Meta")
        abstract = bool(namespace.get("_abstract") or getattr(inner_meta, "abstract", False))

        inherited: dict[str, Field[Any]] = {}
        inverse_fks: dict[str, dict[str, Any]] = {}
        many_to_many: dict[str, dict[str, Any]] = {}
        for base in reversed(cls.__mro__[1:]):
            inherited.update(base.__dict__.get("_declared_fields", {}))
            inverse_fks.update(base.__dict__.get("_inverse_foreign_keys", None) or {})
            many_to_many.update(base.__dict__.get("_many_to_many", None) or {})
        own = {key: value for key, value in namespace.items() if isinstance(value, Field)}
        declared = {**{k: v for k, v in inherited.items() if k not in own}, **own}
        cls._declared_fields = declared  # type: ignore[attr-defined]
        inverse_fks.update(namespace.get("_inverse_foreign_keys") or {})
        many_to_many.update(namespace.get("_many_to_many") or {})
        cls._inverse_foreign_keys = inverse_fks  # type: ignore[attr-defined]
        cls._many_to_many = many_to_many  # type: ignore[attr-defined]
        cls._abstract = abstract  # type: ignore[attr-defined]
        if abstract:
            cls._meta = None  # type: ignore[attr-defined]
            return cls
        return mcs._build_concrete(cls, namespace, inner_meta, declared, inverse_fks, many_to_many)

    @staticmethod
    def _build_concrete(
        cls: Any,
        namespace: Mapping[str, Any],
        inner_meta: Any,
        declared: dict[str, Field[Any]],
        inverse_fks: dict[str, dict[str, Any]],
        many_to_many: dict[str, dict[str, Any]],
    ) -> type:
        reserved = _reserved_names(cls)
        fields: dict[str, Field[Any]] = {}
        relation_fields: dict[str, Any] = {}
        for field_name, declared_field in declared.items():
            if field_name in reserved:
                raise FieldError(
                    f"Field name '{field_name}' on model '{cls.__name__}' collides with Model.{field_name}; "
                    "rename the attribute and keep the column name with db_column=",
                    model=cls.__name__,
                    details={"field": field_name},
                )
            field = declared_field if field_name in namespace else copy.copy(declared_field)
            field.name = field_name
            field.column_name = getattr(field, "db_column", None) or field_name
            field.model = cls
            setattr(cls, field_name, field)
            if getattr(field, "concrete", True):
                fields[field_name] = field
            else:
                relation_fields[field_name] = field

        table_name = _own_setting(namespace, inner_meta, "_table_name", "table_name") or snake_case(
            cls.__name__
        )
        database = (
            _own_setting(namespace, inner_meta, "_database", "database")
            or getattr(cls, "_database", None)
            or registry.DEFAULT_DATABASE
        )
        db_schema = _own_setting(namespace, inner_meta, "_db_schema", "db_schema") or getattr(
            cls, "_db_schema", None
        )
        explicit_pks = _own_setting(namespace, inner_meta, "_primary_keys", "primary_keys")
        primary_keys = list(explicit_pks or [n for n, f in fields.items() if f.primary_key])
        for pk_name in primary_keys:
            if pk_name not in fields:
                raise UnknownFieldError(name=pk_name, choices=fields, model=cls.__name__)
            pk_field = fields[pk_name]
            pk_field.primary_key = True
            pk_field.null = False

        # ``_is_view``: a read-only model over a view; its table stays out of the project's MetaData (so
        # migrations and create_all never touch it). ``_table_comment``: COMMENT ON TABLE. ``_constraints``:
        # extra ``sa.UniqueConstraint`` / ``sa.CheckConstraint`` objects (named as in the database).
        is_view = bool(_own_setting(namespace, inner_meta, "_is_view", "is_view"))
        if is_view:
            metadata = sa.MetaData(naming_convention=registry.NAMING_CONVENTION)
        else:
            metadata = registry.metadata_for(database)
            registry.replace_table(metadata, table_name, db_schema)
        table = sa.Table(
            table_name,
            metadata,
            *(field.sa_column() for field in fields.values()),
            schema=db_schema,
            comment=_own_setting(namespace, inner_meta, "_table_comment", "table_comment"),
            info={"is_view": True} if is_view else {},
        )
        for constraint in _own_setting(namespace, inner_meta, "_constraints", "constraints") or ():
            if getattr(constraint, "parent", None) is not None:  # already on another model's table
                constraint = constraint._copy(target_table=table)
            table.append_constraint(constraint)
        declared_indexes = _own_setting(namespace, inner_meta, "_indexes", "indexes")
        if declared_indexes is None:  # inherited from an abstract base
            declared_indexes = getattr(cls, "_indexes", ())
        if declared_indexes:
            model_indexes(cls.__name__, table, fields, declared_indexes)
        cls._table_name = table_name
        cls._database = database
        cls._db_schema = db_schema
        cls._primary_keys = primary_keys
        cls._meta = ModelOptions(
            cls,
            table_name=table_name,
            database=database,
            db_schema=db_schema,
            fields=fields,
            relation_fields=relation_fields,
            primary_keys=primary_keys,
            table=table,
            cache_policy=getattr(cls, "_cache_policy", None),
            cache_timeout=getattr(cls, "_cache_timeout", None),
            unfetchable=bool(getattr(cls, "_unfetchable", False)),
            inverse_foreign_keys=inverse_fks,
            many_to_many=many_to_many,
            ordering=_ordering(cls, namespace, inner_meta, fields),
            validate_on_save=bool(
                _inherited_setting(cls, namespace, inner_meta, "_validate_on_save", "validate_on_save")
            ),
        )
        base = next(b for b in cls.__mro__ if b.__dict__.get("_is_model_base"))
        cls._meta.custom_init = cls.__init__ is not base.__init__
        registry.register_model(cls)
        for fk in cls._meta.foreign_keys.values():
            fk.attach(cls)
        attach_many_to_many(cls)
        return cast(type, cls)


_reserved: dict[type, frozenset[str]] = {}


def _reserved_names(cls: type) -> frozenset[str]:
    """The attributes of the model base class (the class marked ``_is_model_base``) a field may not replace."""
    base = next((b for b in cls.__mro__ if b.__dict__.get("_is_model_base")), object)
    names = _reserved.get(base)
    if names is None:
        names = _reserved[base] = frozenset(
            n for n in dir(base) if not n.startswith("__") and n not in _ALLOWED_SHADOWS
        )
    return names


#: Model class attributes a field may legitimately replace.
_ALLOWED_SHADOWS = frozenset({"_database", "_db_schema", "_table_name", "runtime", "table_name"})
