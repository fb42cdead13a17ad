"""``matrx_orm.core.expressions``: matrx-orm 2.x's import path for Q and the query expressions
(re-exports only)."""

from ..sql.expressions import *  # noqa: F403
from ..sql.expressions import __all__ as _expression_names
from ..sql.q import Q

__all__ = [*_expression_names, "Q"]
