"""``ForeignKey``: a column holding another model's key, resolved lazily by model name; ``FKSpec`` describes
one as a relation (``select_related``, ``fetch_fk``, filters across it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import sqlalchemy as sa
from typing_extensions import TypeVar

from ..exceptions import ConfigurationError, ORMException, ValidationError
from ..fields import Field
from . import registry

if TYPE_CHECKING:
    from ..model import Model


@dataclass(frozen=True)
class ForeignKeyReference:
    """A foreign key's target as plain data (``ForeignKey.to_db`` is the value converter, so the target
    database lives here and in ``ForeignKey.target_db``)."""

    from_model: str
    from_field: str
    to_model: str
    to_column: str
    to_schema: str | None
    to_db: str | None
    on_delete: str
    related_name: str | None


ON_DELETE_ACTIONS = {"CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION"}

#: what reading the key gives: ``Any`` unless declared (``author_id: ForeignKey[str] = ForeignKey(...)``)
_KeyR = TypeVar("_KeyR", default=Any)


class ForeignKey(Field[Any, _KeyR]):
    """Stores the key of a row of ``to_model`` (a class or a model name, resolved when defined).

    Typing: the key's type is the target column's, which checkers cannot see; reads are ``Any`` (``Any |
    None`` when nullable) unless the attribute is declared with it: ``author_id: ForeignKey[str] =
    ForeignKey(Author, null=False)``, ``editor_id: ForeignKey[str | None] = ForeignKey(Author)``. Declaring a
    nullable key as ``ForeignKey[str]`` is an error.
    """

    is_relation = True
    lookup_family = "other"

    @overload
    def __init__(
        self: ForeignKey[Any],
        to_model: str | type[Model] | None = None,
        to_column: str = "id",
        *,
        to_schema: str | None = None,
        to_db: str | None = None,
        on_delete: str = "CASCADE",
        related_name: str | None = None,
        primary_key: Literal[True],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: ForeignKey[Any],
        to_model: str | type[Model] | None = None,
        to_column: str = "id",
        *,
        to_schema: str | None = None,
        to_db: str | None = None,
        on_delete: str = "CASCADE",
        related_name: str | None = None,
        null: Literal[False],
        nullable: None = None,
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: ForeignKey[Any],
        to_model: str | type[Model] | None = None,
        to_column: str = "id",
        *,
        to_schema: str | None = None,
        to_db: str | None = None,
        on_delete: str = "CASCADE",
        related_name: str | None = None,
        nullable: Literal[False],
        **kwargs: Any,
    ) -> None: ...
    @overload
    def __init__(
        self: ForeignKey[Any | None],
        to_model: str | type[Model] | None = None,
        to_column: str = "id",
        *,
        to_schema: str | None = None,
        to_db: str | None = None,
        on_delete: str = "CASCADE",
        related_name: str | None = None,
        **kwargs: Any,
    ) -> None: ...
    def __init__(
        self,
        to_model: str | type[Model] | None = None,
        to_column: str = "id",
        *,
        to_schema: str | None = None,
        to_db: str | None = None,
        on_delete: str = "CASCADE",
        related_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        target = kwargs.pop("to", None)
        to_model = to_model if to_model is not None else target
        if to_model is None:
            raise TypeError("ForeignKey needs the target model: ForeignKey('User', 'id') or to_model=User")
        action = on_delete.upper().replace("_", " ")
        if action not in ON_DELETE_ACTIONS:
            raise TypeError(f"on_delete must be one of {sorted(ON_DELETE_ACTIONS)}; got {on_delete!r}")
        super().__init__(**kwargs)
        self.to_model_ref = to_model
        self.to_model_name = to_model if isinstance(to_model, str) else to_model.__name__
        self.to_column = to_column
        self.to_schema = to_schema
        self.target_db = to_db
        self.on_delete = action
        self.related_name = related_name
        self._target: type[Model] | None = None

    # -- resolution --------------------------------------------------------------------------------------
    @property
    def target_model(self) -> type[Model]:
        """The referenced model class (resolved through the registry on first use)."""
        if self._target is None:
            self._target = self._resolved_target()
        return self._target

    def _resolved_target(self) -> type[Model]:
        """The model this key refers to, looked up now: of the key's own database (or ``to_db``'s) when
        several databases have a model of that name."""
        if isinstance(self.to_model_ref, type):
            return self.to_model_ref
        own_db = self.model._meta.database if self.model is not None else None
        return registry.get_model(self.to_model_name, self.target_db or own_db)

    @property
    def reference(self) -> ForeignKeyReference:
        """What this key points at, as plain data (``to_db`` / ``to_schema`` included)."""
        return ForeignKeyReference(
            from_model=registry.describe(self.model),
            from_field=self.name,
            to_model=self.to_model_name,
            to_column=self.to_column,
            to_schema=self.to_schema,
            to_db=self.target_db,
            on_delete=self.on_delete,
            related_name=self.related_name,
        )

    @property
    def target_field(self) -> Field[Any] | None:
        target = self._target
        if target is None:
            return None
        return target._meta.fields.get(self.to_column)

    @property
    def relation_name(self) -> str:
        """``author_id`` → ``author``: the name used by select_related and get_related."""
        return self.name[:-3] if self.name.endswith("_id") else self.name

    def attach(self, model: type[Model]) -> None:
        """Called by the metaclass: fix the column type and add the constraint once the target exists."""
        if isinstance(self.to_model_ref, type):
            self._bind(model, self.to_model_ref)
        else:
            registry.when_registered(self.to_model_name, lambda target: self._bind(model, target))

    def _bind(self, model: type[Model], target: type[Model]) -> None:
        if self._target is None:
            self._target = target
        opts = getattr(target, "_meta", None)
        target_field = opts.fields.get(self.to_column) if opts is not None else None
        if target_field is None:
            return
        if self.related_name and opts is not None:  # the reverse side: target.fetch_ifk(related_name)
            opts.inverse_foreign_keys.setdefault(
                self.related_name,
                {
                    "from_model": model.__name__,
                    "from_field": self.name,
                    "referenced_field": target_field.name,
                },
            )
        column = model._meta.table.c[self.column_name]
        column.type = target_field.sa_type()
        if opts is None or opts.database != model._meta.database:
            return  # cross-database: no constraint is possible
        target_col = opts.table.c[target_field.column_name]
        model._meta.table.append_constraint(
            sa.ForeignKeyConstraint([column], [target_col], ondelete=self.on_delete)
        )

    # -- values --------------------------------------------------------------------------------------------
    def sa_type(self) -> Any:
        target_field = self.target_field
        return target_field.sa_type() if target_field is not None else sa.Uuid(as_uuid=False)

    def to_python(self, value: Any) -> Any:
        value = self._key_of(value)
        target_field = self.target_field
        if target_field is None or value is None:
            return value
        return self._delegate(target_field.to_python, value)

    def validate(self, value: Any) -> None:
        """The target field's checks (length, range, its validators), then this key's own validators."""
        target_field = self.target_field
        if target_field is not None:
            self._delegate(target_field.validate, value)
        super().validate(value)

    def db_value(self, value: Any) -> Any:
        target_field = self.target_field
        return target_field.db_value(value) if target_field is not None else value

    def _key_of(self, value: Any) -> Any:
        """``value`` itself, or for a model instance the value it holds in the referenced column; an instance
        of another model than the target is a ValidationError (its key would point at the wrong rows)."""
        meta = getattr(type(value), "_meta", None)
        if meta is None or getattr(meta, "pk", None) is None:
            return value
        try:  # looked up, not ``target_model``: a key bound early may hold another database's model
            target = self._resolved_target()
        except ORMException:  # the target is not registered yet: the instance's primary key
            return value.__dict__.get(meta.pk.name)
        if not same_rows(type(value), target):
            reason = f"refers to {target.__name__}; got a {type(value).__name__} instance"
            self.fail(value, reason, message=f"{self._key_label()} {reason}")
        return value.__dict__.get(self.to_column if self.to_column in meta.fields else meta.pk.name)

    def _delegate(self, convert: Any, value: Any) -> Any:
        try:
            return convert(value)
        except ValidationError as exc:
            raise ValidationError(
                f"Invalid value {value!r} for {self._key_label()}: {exc.message}",
                model=self.model,
                field=self.name,
                value=value,
            ) from None

    def _key_label(self) -> str:
        return f"foreign key '{self.name}' on model '{registry.describe(self.model)}'"


def same_rows(model: type, target: type) -> bool:
    """Whether instances of ``model`` are rows of ``target``: a model of the same table in the same database
    (the target itself, a subclass sharing its table, a class defined again as a notebook cell run twice
    makes). A subclass with a table of its own holds other rows."""
    if model is target:
        return True
    mine, theirs = model._meta, target._meta  # type: ignore[attr-defined]
    return bool(mine.database == theirs.database and mine.table.fullname == theirs.table.fullname)


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


def foreign_key(model: type[Model], name: str) -> FKSpec | None:
    """The foreign key called ``name`` (field name ``author_id`` or alias ``author``), else None."""
    meta = model._meta
    field = meta.foreign_keys.get(name) or meta.foreign_keys.get(meta.relation_aliases.get(name, ""))
    if field is None:
        field = next((f for f in meta.foreign_keys.values() if f.relation_name == name), None)
    return FKSpec(model, field) if field is not None else None
