"""Every public name of advanced querying, in one place (re-exported by ``matrx_orm``)."""

from __future__ import annotations

from . import json_lookups  # noqa: F401  (registers the JSONB lookups)
from .aggregates import Aggregate, ArrayAgg, Avg, Count, Max, Min, StdDev, Sum, Variance
from .cte import CTE
from .expressions import Case, Expression, F, OuterRef, Value, When
from .functions import (
    Abs,
    Cast,
    Coalesce,
    Concat,
    Extract,
    Func,
    Greatest,
    Least,
    Length,
    Lower,
    Now,
    Round,
    Upper,
)
from .paginator import EmptyPage, InvalidPage, Page, Paginator
from .subqueries import Exists, Subquery
from .windows import (
    CumeDist,
    DenseRank,
    FirstValue,
    Lag,
    LastValue,
    Lead,
    NthValue,
    Ntile,
    PercentRank,
    Rank,
    RowNumber,
    Window,
)

__all__ = [
    "CTE",
    "Abs",
    "Aggregate",
    "ArrayAgg",
    "Avg",
    "Case",
    "Cast",
    "Coalesce",
    "Concat",
    "Count",
    "CumeDist",
    "DenseRank",
    "EmptyPage",
    "Exists",
    "Expression",
    "Extract",
    "F",
    "FirstValue",
    "Func",
    "Greatest",
    "InvalidPage",
    "Lag",
    "LastValue",
    "Lead",
    "Least",
    "Length",
    "Lower",
    "Max",
    "Min",
    "Now",
    "NthValue",
    "Ntile",
    "OuterRef",
    "Page",
    "Paginator",
    "PercentRank",
    "Rank",
    "Round",
    "RowNumber",
    "StdDev",
    "Subquery",
    "Sum",
    "Upper",
    "Value",
    "Variance",
    "When",
    "Window",
]
