"""``QueryBuilder``: the immutable, chainable query users build from ``Model.filter(...)``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa

from ..exceptions import DoesNotExist, MultipleObjectsReturned, ParameterError, QueryError
from . import compiler, executor
from .advanced import AdvancedQueryMixin, check_order_items, refuse_write
from .hydrate import dict_rows, instance_loader, tuple_rows
from .ordering import reverse_ordering
from .q import Q
from .relation_filters import RelationExists, rewrite_relations, values_path_error
from .results import UpdateResult
from .shapes import ShapeMismatch, check_bound
from .vector import DISTANCE_LABEL, NearestSpec, fetch_tuned, make_nearest

if TYPE_CHECKING:
    from ..models.base import Model

M = TypeVar("M", bound="Model")


@dataclass(frozen=True, slots=True)
class QueryState:
    """Everything a query says, frozen; chain methods return modified copies."""

    model: type
    where: tuple[Q, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None
    offset: int | None = None
    fields: tuple[str, ...] | None = None
    database: str | None = None
    nearest: NearestSpec | None = None  # vector search (query/vector.py)
    # advanced querying (query/advanced.py, query/select.py); ``advanced`` routes the SELECT there
    advanced: bool = False
    annotations: tuple[tuple[str, Any], ...] = ()
    having: tuple[Q, ...] = ()  # conditions naming annotations (HAVING when aggregated)
    group_by: tuple[Any, ...] = ()
    distinct: bool = False
    distinct_on: tuple[str, ...] = ()
    lock: tuple[bool, bool, tuple[Any, ...]] | None = None  # (nowait, skip_locked, of)
    ctes: tuple[Any, ...] = ()
    source_cte: Any = None
    combined: tuple[Any, ...] = ()  # ((operation, all, QueryState), ...) for union/intersection/difference
    # relations (matrx_orm/relations/): LEFT JOINed foreign keys, and paths loaded after the rows
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()


def _state_replacer() -> Callable[[QueryState, dict[str, Any]], QueryState]:
    """``dataclasses.replace`` for QueryState, specialised once for its fields (half the cost; every chain
    method calls it): ``QueryState(changes.get("model", state.model), ...)``; unknown names raise."""
    names = [f.name for f in dataclasses.fields(QueryState)]
    arguments = ", ".join(f"get({name!r}, state.{name})" for name in names)
    source = (
        "def replace(state, changes):\n"
        "    if not changes.keys() <= FIELDS:\n"
        "        raise TypeError(f'unknown QueryState fields {sorted(changes.keys() - FIELDS)}')\n"
        "    get = changes.get\n"
        f"    return QueryState({arguments})\n"
    )
    namespace: dict[str, Any] = {"QueryState": QueryState, "FIELDS": frozenset(names)}
    exec(source, namespace)  # noqa: S102 (generated from the dataclass's own field names)
    return namespace["replace"]  # type: ignore[no-any-return]


_replace_state = _state_replacer()


class QueryBuilder(AdvancedQueryMixin, Generic[M]):
    """Chain ``filter/exclude/order_by/limit/offset/select/using``; await a terminal, or the builder itself."""

    __slots__ = ("_state",)

    def __init__(self, model: type[M], state: QueryState | None = None) -> None:
        self._state = state or QueryState(model._require_meta().model)  # type: ignore[attr-defined]

    # -- chaining ------------------------------------------------------------------------------------------
    def _with(self, **changes: Any) -> QueryBuilder[M]:
        return QueryBuilder(self._state.model, _replace_state(self._state, changes))

    def filter(self, *conditions: Any, **filters: Any) -> QueryBuilder[M]:
        """Add conditions (ANDed with those already present)."""
        if not conditions and not filters:
            return self
        q = Q(*conditions, **filters)
        if self._state.annotations:
            found = self._filter_annotations(q, negate=False)
            if found is not None:
                return found
        return self._with(where=(*self._state.where, self._checked(q)))

    def exclude(self, *conditions: Any, **filters: Any) -> QueryBuilder[M]:
        """Add the negation of the conditions."""
        if not conditions and not filters:
            return self
        q = Q(*conditions, **filters)
        if self._state.annotations:
            found = self._filter_annotations(q, negate=True)
            if found is not None:
                return found
        return self._with(where=(*self._state.where, ~self._checked(q)))

    def _checked(self, q: Q) -> Q:
        """Resolve every field and lookup name now, so a typo fails at the line that made it; filters across
        foreign keys (``author__name=...``) become ``EXISTS`` conditions (query/relation_filters.py)."""
        q = rewrite_relations(self._state.model, q)
        compiler.check_names(self._state.model, q)
        return q

    def order_by(self, *fields: Any) -> QueryBuilder[M]:
        """Order by fields; ``"-field"`` for descending. Replaces an earlier ordering."""
        if check_order_items(self, fields):  # annotations / expressions: the advanced SELECT
            return self._with(order_by=tuple(fields), advanced=True)
        return self._with(order_by=tuple(fields))

    def limit(self, count: int | None) -> QueryBuilder[M]:
        """At most ``count`` rows."""
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ParameterError(
                f"limit expects a non-negative int; got {count!r}", model=self._meta.model_name
            )
        return self._with(limit=count)

    def offset(self, count: int | None) -> QueryBuilder[M]:
        """Skip ``count`` rows."""
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ParameterError(
                f"offset expects a non-negative int; got {count!r}", model=self._meta.model_name
            )
        return self._with(offset=count)

    def __getitem__(self, item: slice) -> QueryBuilder[M]:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise ParameterError(
                "QueryBuilder supports slices like qs[10:30] only", model=self._meta.model_name
            )
        start, stop = item.start or 0, item.stop
        if start < 0 or (stop is not None and stop < 0):
            raise ParameterError("negative slice bounds are not supported", model=self._meta.model_name)
        base = self._state.offset or 0
        limit = None if stop is None else max(stop - start, 0)
        if self._state.limit is not None:
            remaining = max(self._state.limit - start, 0)
            limit = remaining if limit is None else min(limit, remaining)
        return self._with(offset=base + start or None, limit=limit)

    def select(self, *fields: str) -> QueryBuilder[M]:
        """Load only these fields (the primary key is always loaded); the others read as ``None``."""
        meta = self._meta
        names = [meta.get_field(name).name for name in fields]
        for pk in meta.primary_keys:
            if pk not in names:
                names.insert(0, pk)
        return self._with(fields=tuple(names))

    def using(self, database: str) -> QueryBuilder[M]:
        """Run this query on another registered database."""
        return self._with(database=database)

    def select_related(self, *relations: str) -> QueryBuilder[M]:
        """Load these foreign keys (``"author"`` or ``"author_id"``, paths ``"author__publisher"``) in the
        same query with LEFT JOINs; read them with ``instance.get_related("author")``."""
        from ..relations.loading import check_select_related

        names = tuple(dict.fromkeys((*self._state.select_related, *relations)))
        check_select_related(self._state.model, names)
        return self._with(select_related=names)

    def prefetch_related(self, *relations: str) -> QueryBuilder[M]:
        """After the rows, load these relations (FK, inverse FK, many-to-many, paths) with one query per
        relation (``= ANY($1)``) whatever the number of rows; read them with ``get_related``."""
        from ..relations.loading import check_prefetch_related

        check_prefetch_related(self._state.model, relations)
        return self._with(prefetch_related=tuple(dict.fromkeys((*self._state.prefetch_related, *relations))))

    def nearest(
        self,
        column: str,
        vector: Any,
        metric: str = "cosine",
        *,
        null_guard: bool = True,
        ef_search: int | None = None,
        probes: int | None = None,
        iterative_scan: str | None = None,
    ) -> QueryBuilder[M]:
        """Order by vector distance to ``vector`` (``cosine``, ``l2``, ``inner``, ``l1``), nearest first.

        Instances get ``_vector_distance``; ``null_guard`` skips rows whose vector is NULL; ``ef_search`` /
        ``probes`` / ``iterative_scan`` tune the HNSW / IVFFlat scan for this query only. See
        ``docs/vector-search.md``.
        """
        spec = make_nearest(
            self._state.model,
            column,
            vector,
            metric,
            null_guard=null_guard,
            ef_search=ef_search,
            probes=probes,
            iterative_scan=iterative_scan,
        )
        return self._with(nearest=spec)

    # -- helpers -------------------------------------------------------------------------------------------
    @property
    def _meta(self) -> Any:
        return self._state.model._meta  # type: ignore[attr-defined]

    @property
    def _database(self) -> str:
        return self._state.database or self._meta.database

    @property
    def model(self) -> type[M]:
        return self._state.model

    def _field_names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = self._state.fields or self._meta.field_names
        if self._state.annotations:
            names = (*names, *(name for name, _ in self._state.annotations))
        return names

    def _select(self, names: Sequence[str], kind: str = "rows") -> tuple[compiler.Compiled, list[Any]]:
        """Compile (cached by shape) a SELECT of ``names`` for this state; returns (statement, params)."""
        state = self._state
        if state.advanced:
            from .select import compile_select

            return compile_select(self, names, kind)
        try:
            return self._plain_select(names, kind, walk=True)
        except ShapeMismatch:  # the walk and the resolver disagree (a bug): SQLAlchemy's keys, uncached walk
            return self._plain_select(names, kind, walk=False)

    def _plain_select(
        self, names: Sequence[str], kind: str, *, walk: bool
    ) -> tuple[compiler.Compiled, list[Any]]:
        """The SELECT of a state without advanced features. Conditions with expressions (``Exists``,
        ``fk__field=...``, ``id__in=<query>``) are keyed by the shape walk when ``walk``; the first build of a
        shape then checks that the resolver bound the same values (``ShapeMismatch`` otherwise)."""
        state = self._state
        values: list[Any] = []
        where_shape = compiler.gather(state.model, state.where, values, walk=walk)
        where_count = len(values)
        if state.nearest is not None:
            values.append(state.nearest.value)
        if state.limit is not None:
            values.append(state.limit)
        if state.offset is not None:
            values.append(state.offset)
        key = (
            kind,
            state.model,
            tuple(names),
            where_shape,
            state.order_by,
            state.limit is not None,
            state.offset is not None,
            state.nearest.shape if state.nearest is not None else None,
            state.select_related if kind == "rows" else (),
        )

        def build() -> Any:
            meta = self._meta
            bound: list[Any] = []
            where, index = compiler.build_where(state.model, state.where, bound=bound)
            check_bound(bound, values[:where_count], key)
            columns = [meta.columns[name] for name in names]
            stmt = sa.select(*columns).select_from(meta.table)
            if where is not None:
                stmt = stmt.where(where)
            if state.nearest is not None:
                stmt = state.nearest.apply(stmt, state.model, index, with_distance=kind == "rows")
                index += 1
            stmt = stmt.order_by(*compiler.order_clauses(state.model, state.order_by))
            if state.limit is not None:
                stmt = stmt.limit(compiler.bind(index, sa.Integer()))
                index += 1
            if state.offset is not None:
                stmt = stmt.offset(compiler.bind(index, sa.Integer()))
            if kind == "rows" and state.select_related:  # joined columns go last, under their own labels
                from ..relations.loading import join_related

                stmt = join_related(stmt, state)
            if kind == "count":
                stmt = sa.select(sa.func.count()).select_from(stmt.subquery())
            elif kind == "exists":
                stmt = sa.select(sa.exists(stmt))
            return stmt

        statement = compiler.compiled(key, build)
        return statement, statement.params(values)

    async def _fetch(self, names: Sequence[str], operation: str, kind: str = "rows") -> list[Any]:
        statement, params = self._select(names, kind)
        if self._state.nearest is not None and self._state.nearest.settings:
            return await fetch_tuned(
                self._database,
                statement.sql,
                params,
                self._state.nearest.settings,
                model=self._meta.model_name,
                operation=operation,
            )
        return await executor.fetch(
            self._database, statement.sql, params, model=self._meta.model_name, operation=operation
        )

    # -- terminals -----------------------------------------------------------------------------------------
    async def all(self) -> list[M]:
        """Every matching row as a model instance."""
        names = self._field_names()
        records = await self._fetch(names, "all")
        if self._state.nearest is not None:  # the distance column follows the fields
            names = (*names, DISTANCE_LABEL)
        load = instance_loader(self._state.model, names)
        if not (self._state.select_related or self._state.prefetch_related):
            return [load(record) for record in records]
        from ..relations.loading import load_related

        instances = [load(record) for record in records]
        await load_related(instances, records, self._state)
        return instances

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.all().__await__()

    async def get(self, *conditions: Any, use_cache: bool = True, **filters: Any) -> M:
        """The single matching row; DoesNotExist for none, MultipleObjectsReturned for several."""
        qs = self.filter(*conditions, **filters) if conditions or filters else self
        if qs._state.limit is None:
            qs = qs._with(limit=2)
        rows = await qs.all()
        if len(rows) == 1:
            return rows[0]
        details = {"filters": qs._describe_filters()}
        if not rows:
            raise DoesNotExist(
                f"No {self._meta.model_name} matches the given filters",
                model=self._meta.model_name,
                operation="get",
                details=details,
            )
        raise MultipleObjectsReturned(
            f"More than one {self._meta.model_name} matches the given filters",
            model=self._meta.model_name,
            operation="get",
            details=details,
        )

    async def first(self) -> M | None:
        """The first row (by the ordering, else by primary key), or None."""
        qs = self if self._state.order_by else self._with(order_by=tuple(self._meta.primary_keys))
        rows = await qs._with(limit=1).all()
        return rows[0] if rows else None

    async def last(self) -> M | None:
        """The last row (by the ordering, else by primary key), or None.

        Every ordering is reversed (fields, expressions, annotations, NULLS FIRST/LAST, a ``nearest()``
        distance) and one row is fetched. On a slice with a limit, the slice is read and its last row returned.
        """
        state = self._state
        order = state.order_by or tuple(self._meta.primary_keys)
        if state.limit is not None:  # the end of a bounded slice is not the end of the reversed query
            rows = await (self if state.order_by else self._with(order_by=order)).all()
            return rows[-1] if rows else None
        if state.offset is not None and not await self.exists():
            return None  # offset past the end: the slice is empty
        nearest = state.nearest.reversed() if state.nearest is not None else None
        reverse = self._with(order_by=reverse_ordering(order), nearest=nearest, limit=1, offset=None)
        rows = await reverse.all()
        return rows[0] if rows else None

    async def count(self) -> int:
        """Number of matching rows (respecting limit/offset)."""
        rows = await self._fetch(self._meta.primary_keys[:1] or self._meta.field_names[:1], "count", "count")
        return int(rows[0][0])

    async def exists(self) -> bool:
        """Whether any row matches."""
        rows = await self._fetch(
            self._meta.primary_keys[:1] or self._meta.field_names[:1], "exists", "exists"
        )
        return bool(rows[0][0])

    async def values(self, *fields: str) -> list[dict[str, Any]]:
        """Matching rows as dicts of the given fields (all fields when none are named)."""
        names = self._value_names(fields)
        records = await self._fetch(names, "values", "values")
        return dict_rows(self._state.model, names, records)

    async def values_list(self, *fields: str, flat: bool = False) -> list[Any]:
        """Matching rows as tuples; ``flat=True`` with one field gives a flat list."""
        if flat and len(fields) != 1:
            raise ParameterError(
                "values_list(flat=True) needs exactly one field", model=self._meta.model_name
            )
        names = self._value_names(fields)
        records = await self._fetch(names, "values_list", "values")
        return tuple_rows(self._state.model, names, records, flat)

    def _value_names(self, fields: Sequence[str]) -> tuple[str, ...]:
        meta = self._meta
        if not fields:
            return self._field_names()
        annotations = dict(self._state.annotations)
        for name in fields:
            if isinstance(name, str) and "__" in name and name not in annotations and name not in meta.fields:
                raise values_path_error(self._state.model, name)
        return tuple(name if name in annotations else meta.get_field(name).name for name in fields)

    async def update(self, **values: Any) -> int:
        """UPDATE the matching rows; returns how many were updated."""
        from .writes import update_query

        result = await update_query(self, values, returning=False)
        return result.rows_affected

    async def update_returning(self, **values: Any) -> UpdateResult:
        """UPDATE the matching rows and return them (``rows_affected``, ``updated_rows``)."""
        from .writes import update_query

        return await update_query(self, values, returning=True)

    async def delete(self) -> int:
        """DELETE the matching rows; returns how many were deleted."""
        from .writes import delete_query

        return await delete_query(self)

    # -- introspection -------------------------------------------------------------------------------------
    def _check_unsliced(self, operation: str) -> None:
        if self._state.limit is not None or self._state.offset is not None:
            raise QueryError(f"{operation}() cannot be used on a sliced query", model=self._meta.model_name)
        if self._state.nearest is not None:
            raise QueryError(
                f"{operation}() cannot be used on a nearest() query", model=self._meta.model_name
            )
        if self._state.advanced:
            refuse_write(self, operation)

    def _describe_filters(self) -> Any:
        def describe(node: Any) -> Any:
            if isinstance(node, Q):
                inner = [describe(child) for child in node.children]
                merged: dict[str, Any] = {}
                if not node.negated and node.connector == Q.AND and all(isinstance(i, dict) for i in inner):
                    for item in inner:
                        merged.update(item)
                    return merged
                return {"NOT" if node.negated else node.connector: inner}
            if isinstance(node, tuple):
                return {node[0]: node[1]}
            if isinstance(node, RelationExists) and not node.negated:
                return {node.key: node.value}
            return repr(node)

        parts = [describe(q) for q in self._state.where]
        if all(isinstance(p, dict) and "NOT" not in p and "OR" not in p for p in parts):
            merged: dict[str, Any] = {}
            for part in parts:
                merged.update(part)
            return merged
        return parts

    def sql(self) -> str:
        """The SELECT this builder runs (with $n placeholders), for debugging.

        A grouped query shows its groups and annotations (what ``values()`` can read from it).
        """
        names = self._field_names()
        if self._state.group_by:
            from .select import grouped_selection

            names = grouped_selection(self._state) or names
        return self._select(names)[0].sql

    def __repr__(self) -> str:
        return f"<QueryBuilder {self._meta.model_name}: {self.sql()}>"


compiler.RESOLVABLE = (*compiler.RESOLVABLE, QueryBuilder)  # field__in=<QueryBuilder> is a subquery
