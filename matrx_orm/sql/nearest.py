"""Nearest-neighbour search over pgvector columns: ``QueryBuilder.nearest`` and per-query index tuning.

``nearest(column, vector, metric=...)`` validates the column and the query vector when it is called (the
vector goes through the field's ``to_db``: dimensions, finiteness, numpy input) and records a
:class:`NearestSpec` in the query state. The compiler then adds, with pgvector's SQLAlchemy comparators,

* ``WHERE <column> IS NOT NULL`` (the null guard, unless ``null_guard=False``),
* ``<column> <op> $n AS _vector_distance`` to the selected columns (for instances),
* ``ORDER BY _vector_distance`` ahead of any other ordering,

so the statement is the one an HNSW / IVFFlat index serves. The query vector is a bound parameter encoded by
pgvector's binary asyncpg codec; no SQLAlchemy bind processor (the text format) is involved.

Tuning (``ef_search``, ``probes``, ``iterative_scan``) is validated here; the query layer applies it with
``set_config(name, value, true)`` around that one query (see ``query/builder.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from ..exceptions import ParameterError
from .expressions.vector import check_metric, vector_field

__all__ = ["DISTANCE_LABEL", "ITERATIVE_SCAN_MODES", "NearestSpec", "make_nearest", "tuning_settings"]

#: the attribute (and result column) holding each row's distance
DISTANCE_LABEL = "_vector_distance"

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
    field = vector_field(meta, name, "nearest()")
    check_metric(metric, meta.model_name)
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
