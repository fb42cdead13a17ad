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
from .subqueries import Exists, Subquery
from .vector import VectorDistance
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
    "Upper",
    "Value",
    "Variance",
    "VectorDistance",
    "When",
    "Window",
]
