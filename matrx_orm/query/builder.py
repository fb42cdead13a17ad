"""``QueryBuilder``: the immutable, chainable query users build from ``Model.filter(...)``.

It holds a frozen :class:`~matrx_orm.sql.spec.QuerySpec`; chain methods check their arguments and return a
builder over a modified copy. Terminals hand the spec to the compiler (``sql/compiler/select.py``), run the
statement through the executor (``db/executor.py``) and turn the rows into instances (``meta/rows.py``).
"""

from __future__ import annotations

import functools
import operator
import sys
import warnings
from collections.abc import AsyncGenerator, Awaitable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .. import state
from ..db import executor
from ..db.context import in_transaction
from ..db.routing import PrimaryName
from ..db.sync import run_sync
from ..db.transaction import run_discarded
from ..exceptions import DoesNotExist, MultipleObjectsReturned, ParameterError, QueryError, UnusedQueryWarning
from ..meta.relations import mark_loaded_from
from ..meta.rows import dict_rows, instance_loader, loaded, tuple_rows
from ..sql.compiler.cache import Compiled
from ..sql.compiler.filters import no_window, values_path_error
from ..sql.compiler.select import (
    check_condition,
    check_order,
    compile_select,
    grouped_selection,
    select_statement,
)
from ..sql.compiler.settings import current_settings, set_local
from ..sql.expressions.base import Expression, order_expression
from ..sql.nearest import DISTANCE_LABEL, make_nearest
from ..sql.q import Q, describe
from ..sql.spec import Queryable, QuerySpec, replace
from ..write.by_query import delete_query, update_query
from ..write.results import UpdateResult
from .advanced import AdvancedQueryMixin
from .relations.loading import load_related
from .relations.prefetch import check_paths as check_prefetch_paths
from .relations.select_related import check_paths as check_select_paths
from .values import ValuesQuery

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ..model import Model

M = TypeVar("M", bound="Model")

__all__ = ["QueryBuilder"]


_PACKAGE = str(Path(__file__).resolve().parents[1])
#: the largest LIMIT or OFFSET (PostgreSQL's bigint)
MAX_ROWS = 2**63 - 1


def _instance_columns(spec: QuerySpec, names: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of an instance row selecting ``names``: those, then the ``nearest()`` distance."""
    return (*names, DISTANCE_LABEL) if spec.nearest is not None else names


def _caller() -> tuple[str, int] | None:
    """Where user code made the call that creates a builder: the first frame outside this package."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    return None if frame is None else (frame.f_code.co_filename, frame.f_lineno)


class QueryBuilder(AdvancedQueryMixin, Queryable, Generic[M]):
    """Chain ``filter/exclude/order_by/limit/offset/select/using``; await a terminal, or the builder itself.

    Builders are immutable: every chain method returns a new one. A builder that is made and never used
    (``qs.filter(...)`` on a line of its own, which changed ``qs`` in matrx-orm 2.x) emits an
    :class:`~matrx_orm.exceptions.UnusedQueryWarning` pointing at that line.
    """

    __slots__ = ("_origin", "_query")

    if TYPE_CHECKING:  # the mixin streams untyped rows; here they are this builder's model

        def iterator(self, chunk_size: int = 2000) -> AsyncGenerator[M, None]:
            """Stream the rows as instances through a server-side cursor (see the mixin)."""
            ...

    def __init__(self, model: type[M], spec: QuerySpec | None = None) -> None:
        self._query = spec or QuerySpec(model._require_meta().model)
        self._origin = _caller()

    @classmethod
    def _filtered(cls, model: type[M], q: Q, *, negate: bool) -> QueryBuilder[M]:
        """``Model.filter(...)`` / ``exclude(...)``: a builder over ``model``'s rows matching ``q`` (or not),
        made in one step rather than as a filter of a fresh builder."""
        spec = QuerySpec(model._require_meta().model)
        check_condition(spec.model, q)  # a fresh spec has no annotations: the condition goes to WHERE
        spec.where = (~q if negate else q,)  # set before anything holds the spec
        return cls(spec.model, spec)

    @classmethod
    def _of(cls, model: type[M]) -> QueryBuilder[M]:
        """A builder over every row of ``model`` that the package goes on to use at once (see
        :meth:`_used`)."""
        return cls._used(QuerySpec(model._require_meta().model))

    @classmethod
    def _used(cls, spec: QuerySpec) -> QueryBuilder[Any]:
        """A builder over ``spec`` that the package goes on to use at once: it records no origin (finding
        the user's line walks the stack), so it never warns."""
        builder: QueryBuilder[Any] = object.__new__(cls)
        builder._query = spec
        builder._origin = None
        return builder

    @property
    def _spec(self) -> QuerySpec:
        self._origin = None  # read: the builder is used
        return self._query

    def __del__(self) -> None:
        origin = getattr(self, "_origin", None)  # unset when __init__ failed (an abstract model)
        if origin is not None:
            try:  # noqa: SIM105 (contextlib may already be gone when the interpreter shuts down)
                warnings.warn_explicit(
                    f"a {self._query.model.__name__} query was built here and never used: builders are "
                    "immutable, so a chain method on a line of its own changes nothing; assign its result "
                    "(qs = qs.filter(...))",
                    UnusedQueryWarning,
                    origin[0],
                    origin[1],
                )
            except Exception:  # noqa: BLE001, S110 (interpreter shutdown: the warnings machinery is gone)
                pass

    # -- chaining ------------------------------------------------------------------------------------------
    def _with(self, **changes: Any) -> QueryBuilder[M]:
        """A chain method's result: a builder over a changed copy of the spec (it warns when left unused)."""
        spec = self._spec
        return QueryBuilder(spec.model, replace(spec, changes))

    def _then(self, **changes: Any) -> QueryBuilder[M]:
        """Like :meth:`_with`, for a builder the package itself goes on to run."""
        return QueryBuilder._used(replace(self._spec, changes))

    def filter(self, *conditions: Any, **filters: Any) -> QueryBuilder[M]:
        """Add conditions (ANDed with those already present)."""
        if not conditions and not filters:
            return self
        return QueryBuilder(self._query.model, self._conditioned(Q(*conditions, **filters), negate=False))

    def exclude(self, *conditions: Any, **filters: Any) -> QueryBuilder[M]:
        """Add the negation of the conditions."""
        if not conditions and not filters:
            return self
        return QueryBuilder(self._query.model, self._conditioned(Q(*conditions, **filters), negate=True))

    def _narrowed(self, *conditions: Any, **filters: Any) -> QueryBuilder[M]:
        """Like :meth:`filter`, for a builder the package itself goes on to run (a subclass's own
        ``filter()``, which may add conditions, is called as it is)."""
        if type(self).filter is not QueryBuilder.filter:
            return self.filter(*conditions, **filters)
        if not conditions and not filters:
            return self
        return QueryBuilder._used(self._conditioned(Q(*conditions, **filters), negate=False))

    def _conditioned(self, q: Q, *, negate: bool) -> QuerySpec:
        """The spec with ``q`` added, every name in it checked now (a typo fails at the line that made it):
        in WHERE, or with the conditions on annotations (HAVING when they name an aggregate)."""
        spec = self._spec
        annotations = dict(spec.annotations)
        used = check_condition(spec.model, q, annotations)
        condition = ~q if negate else q
        if not used:
            return replace(spec, {"where": (*spec.where, condition)})
        for name in used:
            no_window(annotations[name], name, self._meta.model_name)
        return replace(spec, {"having": (*spec.having, condition)})

    def order_by(self, *fields: Any) -> QueryBuilder[M]:
        """Order by fields; ``"-field"`` for descending. Replaces an earlier ordering."""
        annotations = dict(self._spec.annotations)
        expressions = []
        for item in fields:
            if isinstance(item, str):
                name = item.lstrip("-+")
                if name not in annotations:
                    self._meta.get_field(name)
            else:
                expressions.append(item)
        if expressions:
            check_order(self._spec.model, expressions, annotations)
        return self._with(order_by=tuple(fields))

    def having(self, *conditions: Any, **filters: Any) -> QueryBuilder[M]:
        """Conditions on annotations (``HAVING`` when they name an aggregate): ``annotate(n=Count("id"))
        .having(n__gt=2)``. ``filter()`` takes them too; ``having()`` refuses conditions on fields."""
        if not conditions and not filters:
            return self
        q = Q(*conditions, **filters)
        spec = self._spec
        if not check_condition(spec.model, q, dict(spec.annotations)):
            raise ParameterError(
                f"having() takes conditions on annotations; got {q!r} (use filter() for fields)",
                model=self._meta.model_name,
            )
        return QueryBuilder(spec.model, self._conditioned(q, negate=False))

    def join(self, model: Any, on: str = "", join_type: str = "INNER") -> QueryBuilder[M]:
        """Accepted for matrx-orm 2.x code and ignored, as 2.x ignored it: joined rows come from
        ``select_related()``, and filters follow foreign keys (``author__name="x"``)."""
        warnings.warn(
            "QueryBuilder.join() has no effect (as in matrx-orm 2.x); use select_related() to load related "
            "rows, or a filter across the foreign key (author__name=...)",
            UserWarning,
            stacklevel=2,
        )
        return self._with()

    def reverse(self) -> QueryBuilder[M]:
        """The same query with its ordering reversed (no ordering: unchanged)."""
        return self._with(order_by=_reversed(self._spec.order_by))

    def limit(self, count: int | None) -> QueryBuilder[M]:
        """At most ``count`` rows."""
        return self._with(limit=self._count(count, "limit"))

    def offset(self, count: int | None) -> QueryBuilder[M]:
        """Skip ``count`` rows."""
        return self._with(offset=self._count(count, "offset"))

    def _count(self, count: int | None, what: str) -> int | None:
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_ROWS
        ):
            raise ParameterError(
                f"{what} expects an int from 0 to {MAX_ROWS} (PostgreSQL's bigint); got {count!r}",
                model=self._meta.model_name,
            )
        return count

    def _slice_bound(self, bound: Any) -> Any:
        """A slice bound as an int (anything with ``__index__``, as Python's own slicing takes: NumPy ints
        too; a bool is refused as a likely mistake)."""
        if bound is None:
            return None
        if isinstance(bound, bool) or not hasattr(type(bound), "__index__"):
            raise ParameterError(f"slice bounds must be ints; got {bound!r}", model=self._meta.model_name)
        return operator.index(bound)

    def __getitem__(self, item: slice) -> QueryBuilder[M]:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise ParameterError(
                "QueryBuilder supports slices like qs[10:30] only", model=self._meta.model_name
            )
        start, stop = (self._slice_bound(bound) for bound in (item.start or 0, item.stop))
        if start < 0 or (stop is not None and stop < 0):
            raise ParameterError("negative slice bounds are not supported", model=self._meta.model_name)
        if stop is not None and stop > MAX_ROWS:
            raise ParameterError(
                f"a slice ends at row {MAX_ROWS} (PostgreSQL's bigint) at most; got {stop}",
                model=self._meta.model_name,
            )
        base = self._spec.offset or 0
        if base + start > MAX_ROWS:
            raise ParameterError(
                f"a slice starts at row {MAX_ROWS} (PostgreSQL's bigint) at most; got {start}"
                + (f" after an offset of {base}" if base else ""),
                model=self._meta.model_name,
            )
        limit = None if stop is None else max(stop - start, 0)
        if self._spec.limit is not None:
            remaining = max(self._spec.limit - start, 0)
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

    def using_primary(self) -> QueryBuilder[M]:
        """Read from the project's primary even when it has read replicas (see ``docs/scaling.md``)."""
        return self._with(database=PrimaryName(self._database))

    def select_related(self, *relations: str) -> QueryBuilder[M]:
        """Load these foreign keys (``"author"`` or ``"author_id"``, paths ``"author__publisher"``) in the
        same query with LEFT JOINs; read them with ``instance.get_related("author")``."""
        names = tuple(dict.fromkeys((*self._spec.select_related, *relations)))
        check_select_paths(self._spec.model, names)
        return self._with(select_related=names)

    def prefetch_related(self, *relations: str) -> QueryBuilder[M]:
        """After the rows, load these relations (FK, inverse FK, many-to-many, paths) with one query per
        relation (``= ANY($1)``) whatever the number of rows; read them with ``get_related``."""
        check_prefetch_paths(self._spec.model, relations)
        return self._with(prefetch_related=tuple(dict.fromkeys((*self._spec.prefetch_related, *relations))))

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
            self._spec.model,
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
        return self._spec.meta

    @property
    def _database(self) -> str:
        return self._spec.database or self._meta.database

    @property
    def model(self) -> type[M]:
        return self._spec.model

    def _field_names(self) -> tuple[str, ...]:
        return self._spec.selected_names()

    def _select(self, names: Sequence[str], kind: str = "rows") -> tuple[Compiled, list[Any]]:
        """The compiled SELECT of ``names`` (cached by shape) and its parameters."""
        return compile_select(self._spec, names, kind)

    def _fetch(self, names: Sequence[str], operation: str, kind: str = "values") -> Awaitable[list[Any]]:
        """The records of the SELECT of ``names`` (awaitable; a bad query raises at the call)."""
        spec = self._spec
        meta = spec.model._meta  # type: ignore[attr-defined]
        database = spec.database or meta.database
        model_name = meta.model_name
        if spec.lock is not None:
            self._check_lock_held()
        statement, params = compile_select(spec, names, kind)
        if spec.nearest is not None and (tuning := self._tuning()) is not None:

            async def tuned() -> list[Any]:
                await executor.fetch(
                    database, tuning.apply.sql, tuning.bound(tuning.values), operation=operation
                )
                return await executor.fetch(
                    database, statement.sql, params, model=model_name, operation=operation
                )

            return run_discarded(database, tuned)  # the settings end with the query
        return executor.fetch(database, statement.sql, params, model=model_name, operation=operation)

    def _check_lock_held(self) -> None:
        """``select_for_update()`` reads only inside a transaction, which keeps the locks."""
        if not in_transaction(self._database):
            raise QueryError(
                "select_for_update() must run inside transaction(): outside one the lock is released at once",
                model=self._meta.model_name,
                operation="select_for_update",
            )

    def _tuning(self) -> executor.Tuning | None:
        """The session settings of ``nearest()``'s index tuning, when it asks for any."""
        nearest = self._spec.nearest
        if nearest is None or not nearest.settings:
            return None
        count = len(nearest.settings)
        names, values = zip(*nearest.settings, strict=True)
        return executor.Tuning(names, values, current_settings(count), set_local(count))

    def _loaded_names(self) -> tuple[str, ...]:
        """The columns of an instance row: the selected names, then the ``nearest()`` distance."""
        spec = self._spec
        return _instance_columns(spec, spec.selected_names())

    def statement(self) -> sa.Select[Any]:
        """The SQLAlchemy ``Select`` this query runs for its rows, with its values bound: run it with
        SQLAlchemy (``await connection.execute(qs.statement())``; ``Model.from_row`` makes instances of the
        rows) or compose it in Core. ``nearest()``'s session settings are not part of it."""
        return select_statement(self._spec, self._field_names(), "rows")

    # -- terminals -----------------------------------------------------------------------------------------
    async def all(self) -> list[M]:
        """Every matching row as a model instance."""
        spec = self._spec
        names = spec.selected_names()
        records = await self._fetch(names, "all", "rows")
        instances = loaded(instance_loader(spec.model, _instance_columns(spec, names)), records)
        if spec.database is not None:  # using(): the rows' relations are read there too
            mark_loaded_from(instances, spec.database)
        if spec.select_related or spec.prefetch_related:
            await load_related(instances, records, spec)
        return instances

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.all().__await__()

    async def get(self, *conditions: Any, use_cache: bool = True, **filters: Any) -> M:
        """The single matching row; DoesNotExist for none, MultipleObjectsReturned for several.

        With ``use_cache`` a query naming exactly the primary key on an otherwise unfiltered builder is
        answered from the row cache when it holds the row, and the row read is cached (see
        ``docs/cache-managers-signals.md``).
        """
        conditions, filters = pk_shortcut(self._spec.model, conditions, filters)
        if not use_cache or self._database != self._meta.database:
            return await self._narrowed(*conditions, **filters)._get()
        model = self._spec.model
        pk_value = state.pk_of_filters(model, conditions, filters) if self._unrestricted() else None
        # a cache hit builds no query
        return await state.read_through(
            model, pk_value, lambda: self._narrowed(*conditions, **filters)._get()
        )

    async def get_or_none(self, *conditions: Any, use_cache: bool = True, **filters: Any) -> M | None:
        """Like :meth:`get`, but None when nothing matches (several matches still raise)."""
        try:
            return await self.get(*conditions, use_cache=use_cache, **filters)
        except DoesNotExist:
            return None

    def _unrestricted(self) -> bool:
        """Whether this builder reads every row of the model's table as is (no filter or other clause)."""
        return self._spec == QuerySpec(self._spec.model)

    async def _get(self) -> M:
        spec = self._spec
        if spec.limit is not None:
            qs = self
        else:  # one row expected: a default ordering would only add a sort
            qs = self._then(limit=2) if spec.ordered else self._then(limit=2, order_by=())
        rows = await qs.all()
        if len(rows) == 1:
            return rows[0]
        details = {"filters": describe(qs._spec.where)}
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
        spec = self._spec
        qs = self if spec.order_by else self._then(order_by=tuple(self._meta.primary_keys))
        rows = await qs._then(limit=1 if spec.limit is None else min(spec.limit, 1)).all()  # [:0] stays empty
        return rows[0] if rows else None

    async def last(self) -> M | None:
        """The last row (by the ordering, else by primary key), or None.

        Every ordering is reversed (fields, expressions, annotations, NULLS FIRST/LAST, a ``nearest()``
        distance) and one row is fetched. On a slice with a limit, the slice is read and its last row returned.
        """
        spec = self._spec
        order = spec.order_by or tuple(self._meta.primary_keys)
        if spec.limit is not None:  # the end of a bounded slice is not the end of the reversed query
            rows = await (self if spec.order_by else self._then(order_by=order)).all()
            return rows[-1] if rows else None
        if spec.offset is not None and not await self.exists():
            return None  # offset past the end: the slice is empty
        nearest = spec.nearest.reversed() if spec.nearest is not None else None
        reverse = self._then(order_by=_reversed(order), nearest=nearest, limit=1, offset=None)
        rows = await reverse.all()
        return rows[0] if rows else None

    async def count(self) -> int:
        """Number of matching rows (respecting limit/offset)."""
        rows = await self._fetch(self._key_names(), "count", "count")
        return int(rows[0][0])

    async def exists(self) -> bool:
        """Whether any row matches."""
        rows = await self._fetch(self._key_names(), "exists", "exists")
        return bool(rows[0][0])

    def _key_names(self) -> tuple[str, ...]:
        meta = self._meta
        return tuple(meta.primary_keys[:1] or meta.field_names[:1])

    def values(self, *fields: str) -> ValuesQuery[dict[str, Any]]:
        """Matching rows as dicts of the given fields (all fields when none are named): await it for a list,
        or stream with ``.iterator()``."""
        names = self._value_names(fields)
        model = self._spec.model
        return ValuesQuery(self, names, "values", functools.partial(dict_rows, model, names))

    def values_list(self, *fields: str, flat: bool = False) -> ValuesQuery[Any]:
        """Matching rows as tuples; ``flat=True`` with one field gives a flat list. Await it for a list, or
        stream with ``.iterator()``."""
        if flat and len(fields) != 1:
            raise ParameterError(
                "values_list(flat=True) needs exactly one field", model=self._meta.model_name
            )
        names = self._value_names(fields)
        model = self._spec.model
        convert = functools.partial(tuple_rows, model, names, flat=flat)
        return ValuesQuery(self, names, "values_list", convert)

    def values_sync(self, *fields: str) -> list[dict[str, Any]]:
        """:meth:`values` for synchronous code."""
        return run_sync(lambda: self.values(*fields).all(), "values_sync")

    def values_list_sync(self, *fields: str, flat: bool = False) -> list[Any]:
        """:meth:`values_list` for synchronous code."""
        return run_sync(lambda: self.values_list(*fields, flat=flat).all(), "values_list_sync")

    def _value_names(self, fields: Sequence[str]) -> tuple[str, ...]:
        meta = self._meta
        if not fields:
            return self._field_names()
        annotations = dict(self._spec.annotations)
        for name in fields:
            if isinstance(name, str) and "__" in name and name not in annotations and name not in meta.fields:
                raise values_path_error(self._spec.model, name)
        return tuple(name if name in annotations else meta.get_field(name).name for name in fields)

    async def update(self, **values: Any) -> int:
        """UPDATE the matching rows; returns how many were updated."""
        self._check_writable_query("update")
        result = await update_query(self._spec, self._database, values, returning=False)
        return result.rows_affected

    async def update_returning(self, **values: Any) -> UpdateResult:
        """UPDATE the matching rows and return them (``rows_affected``, ``updated_rows``)."""
        self._check_writable_query("update")
        return await update_query(self._spec, self._database, values, returning=True)

    async def delete(self) -> int:
        """DELETE the matching rows; returns how many were deleted."""
        self._check_writable_query("delete")
        return await delete_query(self._spec, self._database)

    # -- introspection -------------------------------------------------------------------------------------
    def _check_writable_query(self, operation: str) -> None:
        """update()/delete() apply the filters only: refuse queries whose rows they could not honour."""
        spec = self._spec
        model_name = self._meta.model_name
        if spec.limit is not None or spec.offset is not None:
            raise QueryError(f"{operation}() cannot be used on a sliced query", model=model_name)
        if spec.nearest is not None:
            raise QueryError(f"{operation}() cannot be used on a nearest() query", model=model_name)
        if spec.distinct_on:  # its rows are one per group: the statement would write every matching row
            raise QueryError(f"{operation}() cannot be used on a distinct(fields) query", model=model_name)
        if spec.having or spec.combined or spec.source_cte is not None or spec.ctes:
            raise QueryError(
                f"{operation}() cannot be used on a query with annotation filters, CTEs or union()",
                model=model_name,
                operation=operation,
            )

    def sql(self) -> str:
        """The SELECT this builder runs (with $n placeholders), for debugging.

        A grouped query shows its groups and annotations (what ``values()`` can read from it).
        """
        names = grouped_selection(self._spec) or self._field_names()
        return self._select(names, "rows")[0].sql

    def __repr__(self) -> str:
        return f"<QueryBuilder {self._meta.model_name}: {self.sql()}>"


def _reversed(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """Every ``order_by`` item reversed (``"name"`` ↔ ``"-name"``; expressions flip direction and an
    explicit NULL placement), in the same order of precedence."""
    return tuple(
        (item[1:] if item.startswith("-") else f"-{item.lstrip('+')}")
        if isinstance(item, str)
        else order_expression(item).reversed()
        for item in items
    )


def pk_shortcut(
    model: type[Any], conditions: tuple[Any, ...], filters: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``Model.get(5)``: a single positional argument that is not a condition is the primary key value."""
    if len(conditions) == 1 and not isinstance(conditions[0], Q | Expression):
        meta = model._require_meta()
        if meta.pk is None:
            raise QueryError(
                f"'{model.__name__}' has no single primary key to look up by", model=model.__name__
            )
        return (), {meta.pk.name: conditions[0], **filters}
    return conditions, filters
