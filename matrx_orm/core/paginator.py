"""``matrx_orm.core.paginator``: matrx-orm 2.x's import path for pagination (re-exports only)."""

from ..query.paginator import EmptyPage, InvalidPage, Page, Paginator

__all__ = ["EmptyPage", "InvalidPage", "Page", "Paginator"]
