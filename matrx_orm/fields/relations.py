"""ManyToManyField: a declaration (no column); the relations layer builds the junction and the accessors."""

from __future__ import annotations

from typing import Any

from sqlalchemy.types import TypeEngine

from .base import Field


class ManyToManyField(Field[Any]):
    """Declares a many-to-many relation to ``to`` (a model class or name) through a junction table.

    ``db_table`` names the junction table (default: the two table names sorted and joined with ``_``, see
    ``default_junction_table``). Not a column: ``concrete`` is False, so no ``sa.Column`` is built.
    """

    concrete = False
    is_relation = True
    lookup_family = "other"

    def __init__(
        self,
        to: str | type | None = None,
        db_table: str | None = None,
        related_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        to = to if to is not None else kwargs.pop("to_model", None)
        if to is None:
            raise TypeError("ManyToManyField needs the target model: ManyToManyField('Tag') or to=Tag")
        if not isinstance(to, str | type):
            raise TypeError(f"ManyToManyField target must be a model class or name; got {to!r}")
        super().__init__(**kwargs)
        self.to = to
        self.to_model_name: str = to if isinstance(to, str) else to.__name__
        self.db_table = db_table
        self.related_name = related_name

    @staticmethod
    def default_junction_table(source_table: str, target_table: str) -> str:
        """``post`` + ``tag`` -> ``post_tag`` (names sorted so both sides agree)."""
        first, second = sorted((source_table, target_table))
        return f"{first}_{second}"

    def junction_table(self, source_table: str, target_table: str) -> str:
        """The junction table's name: ``db_table`` when given, else the default."""
        return self.db_table or self.default_junction_table(source_table, target_table)

    def sa_type(self) -> TypeEngine[Any]:
        raise TypeError(f"{self!r} is a many-to-many relation, not a column")

    def sa_column(self) -> Any:
        raise TypeError(f"{self!r} is a many-to-many relation, not a column")

    def to_db(self, value: Any) -> Any:
        if value is None:
            return None
        raise TypeError(f"{self!r} is a many-to-many relation; use the relation's add()/set()/remove()")
