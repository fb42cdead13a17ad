"""Which tables a migration run looks at: :class:`TableFilter` and the cross-scope FK warning."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..exceptions import ConfigurationError

__all__ = ["INTERNAL_TABLES", "TableFilter", "TableFilterError", "warn_cross_scope_references"]

#: bookkeeping tables a diff never touches
INTERNAL_TABLES = frozenset({"alembic_version", "_matrx_migrations"})


class TableFilterError(ConfigurationError, ValueError):
    """``include`` and ``exclude`` were both given (they are mutually exclusive)."""


def _names(values: Iterable[str] | str | None, label: str) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    names = frozenset(str(v).strip() for v in values)
    if "" in names:
        raise TableFilterError(f"TableFilter({label}=...) contains an empty table name")
    return names


@dataclass(frozen=True, init=False)
class TableFilter:
    """An allowlist (``include``) or a denylist (``exclude``) of table names — never both.

    Names may be bare (``"post"``, matching that table in any schema) or qualified (``"blog.post"``).
    ``TableFilter()`` keeps every table.
    """

    include: frozenset[str] | None = field(default=None)
    exclude: frozenset[str] | None = field(default=None)

    def __init__(
        self, include: Iterable[str] | str | None = None, exclude: Iterable[str] | str | None = None
    ) -> None:
        inc = _names(include, "include")
        exc = _names(exclude, "exclude")
        if inc is not None and exc is not None:
            raise TableFilterError(
                "TableFilter takes include= or exclude=, not both (an allowlist or a denylist of tables)"
            )
        object.__setattr__(self, "include", inc)
        object.__setattr__(self, "exclude", exc)

    @classmethod
    def from_options(
        cls,
        include_tables: Iterable[str] | str | None = None,
        exclude_tables: Iterable[str] | str | None = None,
    ) -> TableFilter:
        """The filter for ``include_tables=`` / ``exclude_tables=`` keyword arguments."""
        if include_tables is not None and exclude_tables is not None:
            raise TableFilterError(
                "include_tables and exclude_tables are mutually exclusive; pass one of them"
            )
        return cls(include=include_tables, exclude=exclude_tables)

    @property
    def is_scoped(self) -> bool:
        """True when the filter leaves some table out."""
        return self.include is not None or bool(self.exclude)

    def allows(self, name: str, schema: str | None = None) -> bool:
        """Whether table ``name`` (in ``schema``; None = the default schema) is in scope."""
        if name in INTERNAL_TABLES:
            return False
        keys = {name} if schema is None else {name, f"{schema}.{name}"}
        if self.include is not None:
            return bool(keys & self.include)
        if self.exclude:
            return not keys & self.exclude
        return True

    def allows_table(self, table: sa.Table) -> bool:
        return self.allows(table.name, table.schema)

    def describe(self) -> str:
        if self.include is not None:
            return "include " + ", ".join(sorted(self.include))
        if self.exclude:
            return "exclude " + ", ".join(sorted(self.exclude))
        return "all tables"


def warn_cross_scope_references(
    tables: Iterable[sa.Table], table_filter: TableFilter
) -> list[tuple[str, str]]:
    """Warn (``UserWarning``) for every FK of an in-scope table that points at an out-of-scope table.

    Returns the ``("table.column", "referenced_table")`` pairs warned about.
    """
    found: list[tuple[str, str]] = []
    if not table_filter.is_scoped:
        return found
    for table in tables:
        if not table_filter.allows_table(table):
            continue
        for fk in sorted(table.foreign_keys, key=lambda f: (f.parent.name, f.target_fullname)):
            target_table, _, _ = fk.target_fullname.rpartition(".")
            target_schema, _, target_name = target_table.rpartition(".")
            if table_filter.allows(target_name, target_schema or None):
                continue
            source = f"{table.name}.{fk.parent.name}"
            found.append((source, target_name))
            warnings.warn(
                f"[MATRX ORM] Cross-scope FK detected: '{source}' references '{target_name}', which is outside "
                "the current migration scope. The FK constraint will be included in the generated SQL, but "
                f"'{target_name}' will not be created or managed by this migration set. Ensure it already "
                "exists in the target database.",
                UserWarning,
                stacklevel=1,
            )
    return found
