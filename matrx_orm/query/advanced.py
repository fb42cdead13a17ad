"""The advanced chain methods of ``QueryBuilder`` (a mixin, so the builder module stays small):
``annotate``, ``aggregate``, ``group_by``, ``distinct``, ``select_for_update``, ``with_cte``, ``from_cte``,
``only``, ``defer``, ``union``, ``intersection``, ``difference`` and ``iterator``.

Every method validates its arguments where it is called (unknown fields, wrong types, bad combinations
raise ``ParameterError``/``UnknownFieldError``/``QueryError`` before any round trip) and returns a new
builder; the SQL is built by ``sql/compiler/select.py``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

from ..db import executor
from ..exceptions import ParameterError
from ..meta.relations import mark_loaded_from
from ..meta.rows import instance_loader, loaded
from ..sql.compiler.select import aggregate_statement, check_expressions
from ..sql.expressions.base import Expression
from ..sql.expressions.coerce import as_expression, is_expression
from ..sql.expressions.cte import CTE
from ..sql.spec import QuerySpec
from .relations.loading import load_related

if TYPE_CHECKING:
    from ..sql.compiler.cache import Compiled

__all__ = ["AdvancedQueryMixin"]


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(f"{what} must be True or False; got {value!r}")
    return value


class AdvancedQueryMixin:
    """Annotations, aggregation, DISTINCT, row locks, CTEs, set operations and streaming."""

    __slots__ = ()

    if TYPE_CHECKING:

        @property
        def _spec(self) -> QuerySpec: ...

        def _with(self, **changes: Any) -> Self: ...

        @property
        def _meta(self) -> Any: ...

        @property
        def _database(self) -> str: ...

        def _field_names(self) -> tuple[str, ...]: ...

        def _loaded_names(self) -> tuple[str, ...]: ...

        def _tuning(self) -> executor.Tuning | None: ...

        def _check_lock_held(self) -> None: ...

        def select(self, *fields: str) -> Self: ...

        def _select(self, names: Sequence[str], kind: str = "rows") -> tuple[Compiled, list[Any]]: ...

    # -- annotations ---------------------------------------------------------------------------------------
    def _annotation_map(self) -> dict[str, Expression]:
        return dict(self._spec.annotations)

    def annotate(self, **expressions: Any) -> Self:
        """Add computed values (functions, aggregates, windows, subqueries) readable by name on each row."""
        if not expressions:
            raise ParameterError("annotate() needs at least one name=expression", model=self._meta.model_name)
        meta = self._meta
        current = self._annotation_map()
        added: list[tuple[str, Expression]] = []
        for name, value in expressions.items():
            if name in meta.fields or name in meta.relation_aliases:
                raise ParameterError(
                    f"annotation '{name}' conflicts with a field of {meta.model_name}", model=meta.model_name
                )
            if name.startswith("_") or "__" in name:
                raise ParameterError(
                    f"annotation names may not start with '_' or contain '__'; got {name!r}",
                    model=meta.model_name,
                )
            if name in current:
                raise ParameterError(f"annotation '{name}' is already defined", model=meta.model_name)
            if not is_expression(value):
                raise ParameterError(
                    f"annotate({name}=...) expects an expression (F, Value, a function, an aggregate, Window, "
                    f"Subquery, ...); got {value!r}",
                    model=meta.model_name,
                )
            expression = as_expression(value)
            expression.check_window_use()
            current[name] = expression
            added.append((name, expression))
        check_expressions(self._spec.model, current, [name for name, _ in added])
        return self._with(annotations=(*self._spec.annotations, *added))

    async def aggregate(self, **expressions: Any) -> dict[str, Any]:
        """One row of aggregates over the matching rows: ``{"total": Decimal(...), "n": 3}``."""
        if not expressions:
            raise ParameterError(
                "aggregate() needs at least one name=Aggregate(...)", model=self._meta.model_name
            )
        for name, value in expressions.items():
            if not isinstance(value, Expression) or not value.contains_aggregate:
                raise ParameterError(
                    f"aggregate({name}=...) expects an aggregate (Sum, Avg, Min, Max, Count, ...); got {value!r}",
                    model=self._meta.model_name,
                )
            value.check_window_use()
        compiled, params = aggregate_statement(self._spec, expressions)
        rows = await executor.fetch(
            self._database,
            compiled.sql,
            params,
            model=self._meta.model_name,
            operation="aggregate",
        )
        return dict(zip(expressions, rows[0], strict=True))

    def group_by(self, *fields: Any) -> Self:
        """GROUP BY these fields (or non-aggregate annotations); aggregate annotations are per group."""
        if not fields:
            raise ParameterError("group_by() needs at least one field", model=self._meta.model_name)
        annotations = self._annotation_map()
        for item in fields:
            if isinstance(item, str):
                if item in annotations:
                    if annotations[item].contains_aggregate:
                        raise ParameterError(
                            f"cannot group by the aggregate '{item}'", model=self._meta.model_name
                        )
                else:
                    self._meta.get_field(item)
            elif not isinstance(item, Expression) or item.contains_aggregate:
                raise ParameterError(
                    f"group_by() takes field names or non-aggregate expressions; got {item!r}",
                    model=self._meta.model_name,
                )
        return self._with(group_by=tuple(fields))

    # -- DISTINCT / locking --------------------------------------------------------------------------------
    def distinct(self, *fields: str) -> Self:
        """``SELECT DISTINCT``; with field names, PostgreSQL's ``DISTINCT ON (fields)`` (order_by must start
        with the same fields)."""
        if not fields:
            return self._with(distinct=True)
        annotations = self._annotation_map()
        for name in fields:
            if not isinstance(name, str):
                raise ParameterError(
                    f"distinct() takes field names; got {name!r}", model=self._meta.model_name
                )
            if name not in annotations:
                self._meta.get_field(name)
        return self._with(distinct_on=tuple(fields))

    def select_for_update(self, nowait: bool = False, skip_locked: bool = False, of: Any = ()) -> Self:
        """Lock the selected rows (``FOR UPDATE [NOWAIT | SKIP LOCKED] [OF ...]``); run it inside
        ``transaction()``. ``of`` takes model classes or ``"self"``."""
        nowait = _bool(nowait, "select_for_update nowait")
        skip_locked = _bool(skip_locked, "select_for_update skip_locked")
        if nowait and skip_locked:
            raise ParameterError(
                "select_for_update() takes nowait=True or skip_locked=True, not both",
                model=self._meta.model_name,
            )
        items = (of,) if isinstance(of, (str, type)) else tuple(of)
        for item in items:
            if item != "self" and getattr(item, "_meta", None) is None:
                raise ParameterError(
                    f"select_for_update(of=...) takes model classes or 'self'; got {item!r}",
                    model=self._meta.model_name,
                )
        return self._with(lock=(nowait, skip_locked, items))

    # -- CTEs ----------------------------------------------------------------------------------------------
    def with_cte(self, *ctes: CTE) -> Self:
        """Attach ``WITH`` queries (``CTE(...)``) to this query."""
        if not ctes:
            raise ParameterError("with_cte() needs at least one CTE", model=self._meta.model_name)
        names = {cte.name for cte in self._spec.ctes}
        for cte in ctes:
            if not isinstance(cte, CTE):
                raise ParameterError(
                    f"with_cte() takes CTE(...) objects; got {cte!r}", model=self._meta.model_name
                )
            if cte.name in names:
                raise ParameterError(
                    f"a CTE named {cte.name!r} is already attached", model=self._meta.model_name
                )
            names.add(cte.name)
        return self._with(ctes=(*self._spec.ctes, *ctes))

    def from_cte(self, cte: CTE) -> Self:
        """Read the rows from ``cte`` (attached if it is not yet) instead of the model's table."""
        if not isinstance(cte, CTE):
            raise ParameterError(f"from_cte() takes a CTE(...); got {cte!r}", model=self._meta.model_name)
        qs = self if any(c is cte for c in self._spec.ctes) else self.with_cte(cte)
        return qs._with(source_cte=cte)

    # -- column selection ----------------------------------------------------------------------------------
    def only(self, *fields: str) -> Self:
        """Load only these fields (the primary key always); the others read as ``None``."""
        if not fields:
            raise ParameterError("only() needs at least one field", model=self._meta.model_name)
        return self.select(*fields)

    def defer(self, *fields: str) -> Self:
        """Load every field except these (the primary key is always loaded)."""
        meta = self._meta
        skipped = {meta.get_field(name).name for name in fields} - set(meta.primary_keys)
        current = self._spec.fields or meta.field_names
        return self._with(fields=tuple(name for name in current if name not in skipped))

    # -- set operations ------------------------------------------------------------------------------------
    def _combine(self, operation: str, others: tuple[Any, ...], all: bool) -> Self:
        _bool(all, f"{operation}(all=...)")
        if not others:
            raise ParameterError(f"{operation}() needs at least one other query", model=self._meta.model_name)
        parts = [self, *others]
        for part in parts:
            if not isinstance(part, type(self)) or part._spec.model is not self._spec.model:
                raise ParameterError(
                    f"{operation}() combines queries of the same model ({self._meta.model_name}); got {part!r}",
                    model=self._meta.model_name,
                )
            spec = part._spec
            if (
                (spec.ordered and spec.order_by)
                or spec.limit is not None
                or spec.offset is not None
                or spec.lock
            ):
                raise ParameterError(
                    f"order, slice or lock the result of {operation}(), not its parts",
                    model=self._meta.model_name,
                )
            if spec.annotations or spec.fields is not None:
                raise ParameterError(
                    f"{operation}() parts select the model's fields; apply only()/annotate() elsewhere",
                    model=self._meta.model_name,
                )
        base = self._spec
        combined = base.combined or ((None, False, base),)
        combined = (*combined, *((operation, all, other._spec) for other in others))
        return type(self)(base.model, QuerySpec(base.model, database=base.database, combined=combined))  # type: ignore[call-arg]

    def union(self, *others: Any, all: bool = False) -> Self:
        """Rows in any of the queries (``UNION``; ``all=True`` keeps duplicates)."""
        return self._combine("union", others, all)

    def intersection(self, *others: Any, all: bool = False) -> Self:
        """Rows in every query (``INTERSECT``)."""
        return self._combine("intersection", others, all)

    def difference(self, *others: Any, all: bool = False) -> Self:
        """Rows of this query that are in none of the others (``EXCEPT``)."""
        return self._combine("difference", others, all)

    # -- streaming -----------------------------------------------------------------------------------------
    def iterator(self, chunk_size: int = 2000) -> AsyncGenerator[Any, None]:
        """Stream the rows as instances through a server-side cursor, ``chunk_size`` rows per round trip.

        Memory stays bounded by ``chunk_size`` whatever the result size. Inside ``transaction()`` the cursor
        uses the transaction's connection; otherwise a connection is held (in its own read transaction)
        until the iteration ends, the loop is left, or ``aclose()`` is awaited.
        """
        return executor.stream(
            self._database,
            chunk_size,
            self._prepared_rows,
            model=self._meta.model_name,
            tuning=self._tuning(),
        )

    def _prepared_rows(self) -> tuple[str, list[Any], executor.OnChunk[Any]]:
        """The stream's statement, parameters and instance loading (see ``executor.stream``)."""
        spec = self._spec
        if spec.lock is not None:
            self._check_lock_held()
        statement, params = self._select(self._field_names(), "rows")
        load = instance_loader(spec.model, self._loaded_names())
        related = bool(spec.select_related or spec.prefetch_related)

        async def chunk(records: list[Any]) -> Iterable[Any]:
            if not related and spec.database is None:
                # built as the loop takes them: a chunk's instances built at once survive the next
                # collections together, and their promotion sets off full ones
                return map(load, records)
            instances = loaded(load, records)
            if spec.database is not None:
                mark_loaded_from(instances, spec.database)
            if related and instances:
                await load_related(instances, records, spec)
            return instances

        return statement.sql, params, chunk
