"""Query expressions: ``F``, ``Value``, ``Case``/``When``, functions, aggregates, windows, subqueries, CTEs and
vector distances. Each compiles itself through the compiler's scope (see ``base.py`` for the protocol).

``__all__`` is what ``matrx_orm`` exports."""

from .aggregates import Aggregate, ArrayAgg, Avg, Count, Max, Min, StdDev, Sum, Variance
from .base import Expression, F, OuterRef, Value
from .conditional import Case, When
from .cte import CTE
from .functions import (
    Abs,
    Cast,
    Coalesce,
    Concat,
    DateTrunc,
    Extract,
    Func,
    Greatest,
    Least,
    Length,
    Lower,
    Now,
    Round,
    Trim,
    Upper,
)
from .subqueries import Exists, Subquery
from .vector import VECTOR_METRICS, VectorDistance
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
    "DateTrunc",
    "DenseRank",
    "Exists",
    "Expression",
    "Extract",
    "F",
    "FirstValue",
    "Func",
    "Greatest",
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
    "PercentRank",
    "Rank",
    "Round",
    "RowNumber",
    "StdDev",
    "Subquery",
    "Sum",
    "Trim",
    "Upper",
    "VECTOR_METRICS",
    "Value",
    "Variance",
    "VectorDistance",
    "When",
    "Window",
]
