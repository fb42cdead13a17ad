"""Nearest-neighbour search over pgvector columns: ``QueryBuilder.nearest`` and per-query index tuning.

``nearest(column, vector, metric=...)`` validates the column and the query vector when it is called (the
vector goes through the field's ``to_db``: dimensions, finiteness, numpy input) and records a
:class:`NearestSpec` in the query state. The compiler then adds, with pgvector's SQLAlchemy comparators,

* ``WHERE <column> IS NOT NULL`` (the null guard, unless ``null_guard=False``),
* ``<column> <op> $n AS _vector_distance`` to the selected columns (for instances),
* ``ORDER BY _vector_distance`` ahead of any other ordering,

so the statement is the one an HNSW / IVFFlat index serves. The query vector is a bound parameter encoded by
pgvector's binary asyncpg codec; no SQLAlchemy bind processor (the text format) is involved.

Tuning (``ef_search``, ``probes``, ``iterative_scan``) is applied with ``set_config(name, value, true)``
(``SET LOCAL``) in a transaction around that one query, so it never reaches another query on the pooled
connection. Inside the caller's ``transaction()`` the previous values are restored right after the query.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..engine import get_pool
from ..exceptions import ParameterError, map_database_error
from ..transaction import current_transaction
from . import compiler
from .expressions import Expression, F, Resolver

__all__ = [
    "DISTANCE_LABEL",
    "ITERATIVE_SCAN_MODES",
    "METRICS",
    "NearestSpec",
    "VectorDistance",
    "fetch_tuned",
    "make_nearest",
]

#: the attribute (and result column) holding each row's distance
DISTANCE_LABEL = "_vector_distance"

#: metric name -> pgvector SQLAlchemy comparator method (operator)
METRICS: dict[str, str] = {
    "cosine": "cosine_distance",  # <=>
    "l2": "l2_distance",  # <->
    "inner": "max_inner_product",  # <#>  (negative inner product)
    "l1": "l1_distance",  # <+>
}
ITERATIVE_SCAN_MODES = ("off", "relaxed_order", "strict_order")
EF_SEARCH_RANGE = (1, 1000)
PROBES_RANGE = (1, 32768)


@dataclass(frozen=True, slots=True, eq=False)
class NearestSpec:
    """What ``nearest()`` asked for: the field, the metric, the converted query vector and the tuning."""

    field_name: str
    metric: str
    null_guard: bool
    value: Any  # the field's to_db() result: a float32 ndarray (SparseVector for sparsevec)
    settings: tuple[tuple[str, str], ...] = ()
    farthest_first: bool = False  # the distance ordering reversed (``last()``)

    @property
    def shape(self) -> Hashable:
        """What about this search changes the SQL text."""
        return (self.field_name, self.metric, self.null_guard, self.farthest_first)

    def reversed(self) -> NearestSpec:
        """The same search with the distance ordering reversed (farthest first)."""
        return dataclasses.replace(self, farthest_first=not self.farthest_first)

    def _ordered(self, statement: sa.Select[Any], distance: Any, with_distance: bool) -> sa.Select[Any]:
        if with_distance:
            distance = distance.label(DISTANCE_LABEL)
            statement = statement.add_columns(distance)
        return statement.order_by(distance.desc() if self.farthest_first else distance)

    def distance(self, model: type, vector: Any) -> Any:
        """``<column> <op> <vector>`` with pgvector's comparator for the metric."""
        column = model._meta.columns[self.field_name]  # type: ignore[attr-defined]
        return getattr(column.comparator, METRICS[self.metric])(vector)

    def apply(
        self, statement: sa.Select[Any], model: type, index: int, *, with_distance: bool
    ) -> sa.Select[Any]:
        """Add the null guard, the distance column (``with_distance``) and the distance ordering.

        ``index`` is the number of the bound value holding the query vector. Call it before any other
        ``order_by`` so the distance comes first.
        """
        column = model._meta.columns[self.field_name]  # type: ignore[attr-defined]
        distance = self.distance(model, compiler.bind(index, column.type))
        if self.null_guard:
            statement = statement.where(column.is_not(None))
        return self._ordered(statement, distance, with_distance)

    def apply_resolved(
        self, statement: sa.Select[Any], ctx: Resolver, *, with_distance: bool
    ) -> sa.Select[Any]:
        """As :meth:`apply` for the advanced SELECT: the column comes from ``ctx`` (a CTE source too) and
        the query vector is bound through it."""
        column = ctx.column(self.field_name)
        distance = getattr(column.comparator, METRICS[self.metric])(ctx.bind(self.value, column.type))
        if self.null_guard:
            statement = statement.where(column.is_not(None))
        return self._ordered(statement, distance, with_distance)


def _check_metric(metric: Any, model_name: str | None = None) -> str:
    if metric not in METRICS:
        close = difflib.get_close_matches(str(metric), METRICS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ParameterError(
            f"unknown vector metric {metric!r}; expected one of {', '.join(METRICS)}.{hint}", model=model_name
        )
    return str(metric)


def _vector_field(meta: Any, name: str, what: str) -> Any:
    """The vector field ``name`` of a model (UnknownFieldError / ParameterError otherwise)."""
    field = meta.get_field(name)
    if getattr(field, "lookup_family", None) != "vector":
        vectors = [n for n, f in meta.fields.items() if getattr(f, "lookup_family", None) == "vector"]
        raise ParameterError(
            f"{what} needs a vector field; '{field.name}' is a {type(field).__name__}"
            + (
                f" (vector fields: {', '.join(vectors)})" if vectors else " and the model has no vector field"
            ),
            model=meta.model_name,
        )
    return field


def make_nearest(
    model: type,
    column: Any,
    vector: Any,
    metric: str = "cosine",
    *,
    null_guard: bool = True,
    ef_search: int | None = None,
    probes: int | None = None,
    iterative_scan: str | None = None,
) -> NearestSpec:
    """Validate a ``nearest()`` call (before any round trip) and describe it."""
    meta = model._meta  # type: ignore[attr-defined]
    name = getattr(column, "name", column)  # a field object, F or its name
    if not isinstance(name, str):
        raise ParameterError(f"nearest() expects a vector field name; got {column!r}", model=meta.model_name)
    field = _vector_field(meta, name, "nearest()")
    _check_metric(metric, meta.model_name)
    if not isinstance(null_guard, bool):
        raise ParameterError(f"null_guard must be True or False; got {null_guard!r}", model=meta.model_name)
    if vector is None:
        raise ParameterError("nearest() needs a query vector; got None", model=meta.model_name)
    value = field.to_db(vector)
    settings = tuning_settings(ef_search=ef_search, probes=probes, iterative_scan=iterative_scan)
    return NearestSpec(field.name, metric, null_guard, value, settings)


def _int_setting(label: str, value: Any, bounds: tuple[int, int]) -> str:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParameterError(f"{label} must be an int in {low}..{high}; got {value!r}")
    return str(value)


def tuning_settings(
    *, ef_search: int | None = None, probes: int | None = None, iterative_scan: str | None = None
) -> tuple[tuple[str, str], ...]:
    """The pgvector settings (name, value) for one query, validated."""
    settings: list[tuple[str, str]] = []
    if ef_search is not None:
        settings.append(("hnsw.ef_search", _int_setting("ef_search", ef_search, EF_SEARCH_RANGE)))
    if probes is not None:
        settings.append(("ivfflat.probes", _int_setting("probes", probes, PROBES_RANGE)))
    if iterative_scan is not None:
        if iterative_scan not in ITERATIVE_SCAN_MODES:
            raise ParameterError(
                f"iterative_scan must be one of {', '.join(ITERATIVE_SCAN_MODES)}; got {iterative_scan!r}"
            )
        settings.append(("hnsw.iterative_scan", iterative_scan))
        if iterative_scan != "strict_order":  # IVFFlat has no strict ordering
            settings.append(("ivfflat.iterative_scan", iterative_scan))
    return tuple(settings)


# -- running a tuned query ---------------------------------------------------------------------------------------

_PG_SETTINGS = sa.table("pg_settings", sa.column("name"), sa.column("reset_val"), schema="pg_catalog")


def _set_sql(count: int) -> compiler.Compiled:
    """``SELECT set_config($1, $2, true), ...`` for ``count`` settings (names and values bound)."""

    def build() -> Any:
        return sa.select(
            *(
                sa.func.set_config(
                    compiler.bind(2 * i, sa.Text()), compiler.bind(2 * i + 1, sa.Text()), sa.true()
                )
                for i in range(count)
            )
        )

    return compiler.compiled(("vector.set_config", count), build)


def _read_sql(count: int) -> compiler.Compiled:
    """``SELECT current_setting($1, true), ...``: the values to restore inside a caller's transaction."""

    def build() -> Any:
        return sa.select(
            *(sa.func.current_setting(compiler.bind(i, sa.Text()), sa.true()) for i in range(count))
        )

    return compiler.compiled(("vector.current_setting", count), build)


def _restore_sql(count: int) -> compiler.Compiled:
    """Set each setting back to its old value (its session default when it had none)."""

    def build() -> Any:
        parts = []
        for i in range(count):
            name = compiler.bind(2 * i, sa.Text())
            reset = (
                sa.select(_PG_SETTINGS.c.reset_val)
                .where(_PG_SETTINGS.c.name == compiler.bind(2 * i, sa.Text()))
                .scalar_subquery()
            )
            old = sa.func.coalesce(compiler.bind(2 * i + 1, sa.Text()), reset)
            parts.append(sa.func.set_config(name, old, sa.true()))
        return sa.select(*parts)

    return compiler.compiled(("vector.restore_config", count), build)


async def fetch_tuned(
    database: str,
    sql: str,
    params: Sequence[Any],
    settings: Sequence[tuple[str, str]],
    *,
    model: Any = None,
    operation: str = "",
) -> list[Any]:
    """Run a query with pgvector ``settings`` in effect for it alone (``SET LOCAL`` semantics)."""
    names = [name for name, _ in settings]
    set_statement = _set_sql(len(settings))
    set_params = set_statement.params([item for pair in settings for item in pair])
    try:
        tx = current_transaction(database)
        if tx is not None:
            async with tx.lock:
                connection = tx.connection
                read = _read_sql(len(names))
                old = await connection.fetchrow(read.sql, *read.params(names))
                await connection.fetchrow(set_statement.sql, *set_params)
                rows = await connection.fetch(sql, *params)
                restore = _restore_sql(len(names))
                pairs = [item for i, name in enumerate(names) for item in (name, old[i])]
                await connection.fetchrow(restore.sql, *restore.params(pairs))
                return rows  # type: ignore[no-any-return]
        pool = await get_pool(database)
        async with pool.acquire() as connection, connection.transaction():
            await connection.fetchrow(set_statement.sql, *set_params)
            return await connection.fetch(sql, *params)  # type: ignore[no-any-return]
    except Exception as exc:
        raise map_database_error(
            exc,
            model=model,
            operation=operation,
            query=sql,
            params=list(params),
            details={"database": database},
        ) from exc


# -- VectorDistance ----------------------------------------------------------------------------------------------


class VectorDistance(Expression):
    """The distance between a vector field and a query vector, as a query expression.

    ``VectorDistance("embedding", query_vec, metric="cosine")`` works in ``annotate()`` (``distance=...``,
    then ``filter(distance__lt=0.3)`` / ``order_by("distance")``), in ``order_by()`` and, compared with a
    number, directly in ``filter()``: ``filter(VectorDistance("embedding", q) < 0.3)``. The vector is checked
    by the field (dimensions, finite elements) before any round trip; ``inner`` is pgvector's *negative*
    inner product, as with ``nearest()``.
    """

    __slots__ = ("_converted", "metric", "name", "vector")

    def __init__(self, column: str | F, vector: Any, metric: str = "cosine") -> None:
        name = column.name if isinstance(column, F) else column
        if not isinstance(name, str) or not name:
            raise ParameterError(f"VectorDistance() expects a vector field name; got {column!r}")
        if vector is None:
            raise ParameterError("VectorDistance() needs a query vector; got None")
        self.name = name
        self.vector = vector
        self.metric = _check_metric(metric)
        self._converted: tuple[Any, Any] | None = None  # (field, its to_db(vector))

    def resolve(self, ctx: Resolver) -> Any:
        field = _vector_field(ctx.meta, self.name, "VectorDistance()")
        converted = self._converted
        if converted is None or converted[0] is not field:
            converted = self._converted = (field, field.to_db(self.vector))
        column = ctx.column(self.name)
        return getattr(column.comparator, METRICS[self.metric])(ctx.bind(converted[1], column.type))

    def _compare(self, operator: str, threshold: Any) -> DistanceCondition:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ParameterError(f"a vector distance compares with a number; got {threshold!r}")
        return DistanceCondition(self, operator, float(threshold))

    def __lt__(self, threshold: Any) -> DistanceCondition:
        return self._compare("<", threshold)

    def __le__(self, threshold: Any) -> DistanceCondition:
        return self._compare("<=", threshold)

    def __gt__(self, threshold: Any) -> DistanceCondition:
        return self._compare(">", threshold)

    def __ge__(self, threshold: Any) -> DistanceCondition:
        return self._compare(">=", threshold)

    def __repr__(self) -> str:
        return f"VectorDistance({self.name!r}, <vector>, metric={self.metric!r})"


_COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class DistanceCondition(Expression):
    """``VectorDistance(...) < threshold``: a boolean expression for ``filter()`` / ``exclude()``."""

    __slots__ = ("distance", "operator", "threshold")

    def __init__(self, distance: VectorDistance, operator: str, threshold: float) -> None:
        self.distance = distance
        self.operator = operator
        self.threshold = threshold

    def source_expressions(self) -> list[Expression]:
        return [self.distance]

    def resolve(self, ctx: Resolver) -> Any:
        left = self.distance.resolve(ctx)
        return _COMPARISONS[self.operator](left, ctx.bind(self.threshold, sa.Float()))

    def __repr__(self) -> str:
        return f"({self.distance!r} {self.operator} {self.threshold!r})"
