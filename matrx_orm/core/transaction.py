"""``matrx_orm.core.transaction``: matrx-orm 2.x's import path for ``transaction()`` (re-exports only)."""

from ..db.transaction import transaction

__all__ = ["transaction"]
