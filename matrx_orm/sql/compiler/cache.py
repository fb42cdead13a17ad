"""Compiled SQL, cached per statement *shape*.

Every statement is a SQLAlchemy Core construct compiled with the asyncpg dialect (``numeric_dollar``
paramstyle). Bound parameters are named ``v0, v1, ...`` in the order their values were gathered, so a cached
statement only needs the values of the next query of the same shape: ``Compiled.order`` maps the
statement's ``$n`` positions to them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg as _asyncpg_dialect

from ...exceptions import QueryError
from ...meta.memo import remember

__all__ = ["DIALECT", "Compiled", "bind", "clear_cache", "compile_statement", "compiled", "plans"]

DIALECT = _asyncpg_dialect.dialect()


@dataclass(frozen=True, slots=True)
class Compiled:
    """SQL text with ``$n`` placeholders, and for each placeholder the index of its value."""

    sql: str
    order: tuple[int, ...]

    def params(self, values: list[Any]) -> list[Any]:
        return [values[i] for i in self.order]


_cache: dict[Hashable, Compiled] = {}

#: a plain query's key -> its compiled statement, or None when queries of that key take the walk (``plain.py``)
plans: dict[Hashable, Compiled | None] = {}


def compiled(key: Hashable, build: Callable[[], Any]) -> Compiled:
    """The compiled statement for ``key``, building and compiling it on the first request."""
    found = _cache.get(key)
    if found is None:
        found = remember(_cache, key, compile_statement(build()))
    return found


#: an INSERT leaving out a key column the model declares no default for: the database may fill it (a default
#: the model does not declare) or refuse it with its own error, which is what the package wants
_UNDECLARED_KEY_DEFAULT = r".*is marked as a member of the primary key .* no explicit value is passed"


def compile_statement(statement: Any) -> Compiled:
    """Compile with the PostgreSQL (asyncpg) dialect; SQLAlchemy's compile errors become ``QueryError``."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _UNDECLARED_KEY_DEFAULT, sa.exc.SAWarning)
            result = statement.compile(dialect=DIALECT)  # a SQLCompiler: positiontup is set (numeric_dollar)
    except sa.exc.SQLAlchemyError as exc:
        raise QueryError(f"cannot compile this query: {exc}") from exc
    names = result.positiontup or []
    try:
        order = tuple(int(name[1:]) for name in names)
    except ValueError as exc:  # a literal slipped in as an anonymous bind: a bug, not user error
        raise QueryError(f"internal error: unnamed bound parameter in {result.string!r}") from exc
    return Compiled(result.string, order)


def bind(index: int, type_: Any = None) -> Any:
    """The bound parameter for value number ``index``."""
    return sa.bindparam(f"v{index}", type_=type_)


def clear_cache() -> None:
    _cache.clear()
    plans.clear()
