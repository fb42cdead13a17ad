"""``matrx_orm.core.fields``: matrx-orm 2.x's import path for the field classes (re-exports only)."""

from ..fields import *  # noqa: F403
from ..fields import __all__ as _field_names
from ..meta.foreign_key import ForeignKey

__all__ = [*_field_names, "ForeignKey"]
