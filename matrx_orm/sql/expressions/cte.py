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
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE as SA_CTE

from ..exceptions import ParameterError, UnknownFieldError
from .expressions import Expression, PendingOuter, Resolver, source_column

if TYPE_CHECKING:
    from .builder import QueryBuilder

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
        from .builder import QueryBuilder

        self.name = check_identifier(name, "CTE name")
        if not isinstance(recursive, bool):
            raise ParameterError(f"CTE recursive must be True or False; got {recursive!r}")
        self.recursive = recursive
        self.columns = tuple(check_identifier(c, "CTE column") for c in (columns or ()))
        if isinstance(query, QueryBuilder):
            self.queryset: QueryBuilder[Any] | None = query
            self.sql: str | None = None
        elif isinstance(query, str):
            if not query.strip():
                raise ParameterError(f"CTE {name!r} has empty SQL")
            if _DOLLAR_PARAM.search(query):
                raise ParameterError(
                    f"CTE {name!r}: raw SQL takes no $n parameters; build it from a QueryBuilder to use values"
                )
            self.queryset = None
            self.sql = query
        else:
            raise ParameterError(f"CTE {name!r} needs raw SQL (str) or a QueryBuilder; got {query!r}")

    def resolve_cte(self, ctx: Resolver) -> Any:
        """The SQLAlchemy CTE object (values of a QueryBuilder CTE bound through ``ctx``)."""
        if self.queryset is not None:
            from .select import select_statement

            qs = self.queryset
            inner = Resolver(qs._state.model, ctx.values, offset=ctx.offset)
            statement = select_statement(qs._state, inner, qs._field_names())
            return statement.cte(self.name, recursive=self.recursive)
        assert self.sql is not None
        escaped = self.sql.replace(":", r"\:")  # colons are literal text, never bind parameters
        textual = sa.text(escaped).columns(*(sa.column(c) for c in self.columns))
        if self.recursive and not self.columns:
            return _RecursiveTextCTE._construct(textual, name=self.name, recursive=True)
        return textual.cte(self.name, recursive=self.recursive)

    def col(self, name: str) -> CTEColumn:
        """The column ``name`` of this CTE, for ``annotate``/``filter`` on a query reading ``from_cte(self)``."""
        return CTEColumn(self, check_identifier(name, "CTE column"))

    def values(self, column: str) -> CTESelect:
        """``SELECT column FROM name``, for ``field__in=cte.values("id")``."""
        return CTESelect(self, check_identifier(column, "CTE column"))

    def __repr__(self) -> str:
        kind = "QueryBuilder" if self.queryset is not None else "SQL"
        return f"CTE({self.name!r}, {kind}{', recursive' if self.recursive else ''})"


cte_column = source_column


class CTEColumn(Expression):
    """A column of a CTE the query reads from (``from_cte``)."""

    def __init__(self, cte: CTE, name: str) -> None:
        self.cte = cte
        self.name = name

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        source = ctx.source
        while source is None or getattr(source, "name", None) != self.cte.name:
            if isinstance(ctx, PendingOuter):  # checked before the query exists
                return ctx.column(self.name)
            if ctx.outer is None:
                raise UnknownFieldError(
                    name=f"{self.cte.name}.{self.name}",
                    choices=[],
                    model=ctx.meta.model_name,
                    details={"hint": f"the query must read from the CTE: .from_cte({self.cte.name!r})"},
                )
            ctx = ctx.outer
            source = ctx.source
        return cte_column(source, self.name)

    def __repr__(self) -> str:
        return f"{self.cte.name}.{self.name}"


class CTESelect(Expression):
    """``SELECT column FROM cte`` for ``field__in=cte.values(column)`` (the query must ``with_cte`` it)."""

    def __init__(self, cte: CTE, column: str) -> None:
        self.cte = cte
        self.column = column

    def select_statement(self, ctx: Resolver) -> Any:
        table = sa.table(self.cte.name, sa.column(self.column))
        return sa.select(table.c[self.column])

    def resolve(self, ctx: Resolver) -> ColumnElement[Any]:
        return self.select_statement(ctx).scalar_subquery()  # type: ignore[no-any-return]
