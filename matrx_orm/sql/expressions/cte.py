"""Common table expressions: ``CTE(name, raw_sql | QueryBuilder, recursive=False)``.

``qs.with_cte(cte, ...)`` attaches ``WITH name AS (...)`` to the query. The query can then use it:

* ``qs.from_cte(cte)`` reads the rows from the CTE instead of the model's table (the CTE must return the
  model's columns; extra columns are reachable with ``cte.col("depth")`` in ``annotate``/``filter``);
* ``field__in=cte.values("id")`` is ``field IN (SELECT id FROM name)``.

Raw SQL is inserted as written (it is the caller's SQL, like ``Model.raw``), with two guarantees: the name
must be a plain identifier, and the text takes no parameters (``:name`` is not a placeholder, ``$1`` is
rejected) — build CTEs that need values from a QueryBuilder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import CTE as SA_CTE

from ...exceptions import ParameterError, UnknownFieldError
from ..spec import Queryable, QuerySpec
from .base import Expression, Fragment, node

if TYPE_CHECKING:
    from ..compiler.select import Scope

__all__ = ["CTE"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DOLLAR_PARAM = re.compile(r"\$\d")


def check_identifier(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ParameterError(
            f"{what} must be an identifier (letters, digits and _, not starting with a digit, at most 63 "
            f"characters); got {name!r}"
        )
    return name


class _RecursiveTextCTE(SA_CTE):
    """A recursive CTE over raw SQL whose columns are not declared: rendered ``WITH RECURSIVE name AS (...)``
    (SQLAlchemy would otherwise render an empty column list ``name()``)."""

    inherit_cache = True


@compiles(_RecursiveTextCTE)
def _render_recursive_text_cte(element: _RecursiveTextCTE, compiler: Any, **kw: Any) -> str:
    element.recursive = False  # no column list ...
    try:
        return compiler.visit_cte(element, **kw)  # type: ignore[no-any-return]
    finally:
        element.recursive = True  # ... but the WITH clause still says RECURSIVE


class CTE:
    """A named ``WITH`` query: raw SQL text or a QueryBuilder; ``recursive=True`` for ``WITH RECURSIVE``.

    ``columns`` names the columns of a raw-SQL CTE (optional; needed only to reach them through
    ``cte.col(...)`` before the CTE is used as the query's source).
    """

    def __init__(
        self, name: str, query: Any, recursive: bool = False, columns: Iterable[str] | None = None
    ) -> None:
        self.name = check_identifier(name, "CTE name")
        if not isinstance(recursive, bool):
            raise ParameterError(f"CTE recursive must be True or False; got {recursive!r}")
        self.recursive = recursive
        self.columns = tuple(check_identifier(c, "CTE column") for c in (columns or ()))
        if isinstance(query, Queryable):
            self.spec: QuerySpec | None = query._spec
            self.sql: str | None = None
        elif isinstance(query, str):
            if not query.strip():
                raise ParameterError(f"CTE {name!r} has empty SQL")
            if _DOLLAR_PARAM.search(query):
                raise ParameterError(
                    f"CTE {name!r}: raw SQL takes no $n parameters; build it from a QueryBuilder to use values"
                )
            self.spec = None
            self.sql = query
        else:
            raise ParameterError(f"CTE {name!r} needs raw SQL (str) or a QueryBuilder; got {query!r}")

    def compile(self, scope: Scope) -> Fragment:
        """The fragment of the SQLAlchemy CTE (values of a query CTE bound through ``scope``)."""
        name, recursive = self.name, self.recursive
        if self.spec is not None:
            statement = scope.subquery(self.spec, self.spec.selected_names(), correlated=False)
            return node(
                ("cte", name, recursive), lambda built: built.cte(name, recursive=recursive), statement
            )
        assert self.sql is not None
        sql, columns = self.sql, self.columns
        key = ("cte-sql", name, recursive, sql, columns)
        return Fragment(key, lambda: _text_cte(name, sql, columns, recursive))

    def col(self, name: str) -> CTEColumn:
        """The column ``name`` of this CTE, for ``annotate``/``filter`` on a query reading ``from_cte(self)``."""
        return CTEColumn(self, check_identifier(name, "CTE column"))

    def values(self, column: str) -> CTESelect:
        """``SELECT column FROM name``, for ``field__in=cte.values("id")``."""
        return CTESelect(self, check_identifier(column, "CTE column"))

    def __repr__(self) -> str:
        kind = "QueryBuilder" if self.spec is not None else "SQL"
        return f"CTE({self.name!r}, {kind}{', recursive' if self.recursive else ''})"


def _text_cte(name: str, sql: str, columns: tuple[str, ...], recursive: bool) -> Any:
    escaped = sql.replace(":", r"\:")  # colons are literal text, never bind parameters
    textual = sa.text(escaped).columns(*(sa.column(c) for c in columns))
    if recursive and not columns:
        return _RecursiveTextCTE._construct(textual, name=name, recursive=True)
    return textual.cte(name, recursive=recursive)


class CTEColumn(Expression):
    """A column of a CTE the query reads from (``from_cte``)."""

    def __init__(self, cte: CTE, name: str) -> None:
        self.cte = cte
        self.name = name

    def compile(self, scope: Scope) -> Fragment:
        found = scope.find_source(self.cte.name)
        if found is None:
            if scope.lenient:  # checked before the query reading the CTE exists
                name = self.name
                return Fragment(("pending", name), lambda: sa.column(name))
            raise UnknownFieldError(
                name=f"{self.cte.name}.{self.name}",
                choices=[],
                model=scope.meta.model_name,
                details={"hint": f"the query must read from the CTE: .from_cte({self.cte.name!r})"},
            )
        return found.column(self.name)

    def __repr__(self) -> str:
        return f"{self.cte.name}.{self.name}"


class CTESelect(Expression):
    """``SELECT column FROM cte`` for ``field__in=cte.values(column)`` (the query must ``with_cte`` it)."""

    def __init__(self, cte: CTE, column: str) -> None:
        self.cte = cte
        self.column = column

    def select(self, scope: Scope) -> Fragment:
        """``SELECT column FROM cte`` (for ``IN``)."""
        name, column = self.cte.name, self.column
        return Fragment(("cte-select", name, column), lambda: _select_column(name, column))

    def compile(self, scope: Scope) -> Fragment:
        return node("subquery", sa.Select.scalar_subquery, self.select(scope))


def _select_column(table: str, column: str) -> Any:
    return sa.select(sa.table(table, sa.column(column)).c[column])
