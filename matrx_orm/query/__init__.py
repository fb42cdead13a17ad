"""What users chain and await: ``QueryBuilder`` (filters, ordering, slicing, annotations, set operations,
streaming), relation loading, ``Paginator`` and raw SQL.

It may import ``write`` (``update()``/``delete()`` on a query), ``sql`` (specs and the compiler), ``meta``,
``state``, ``db`` and the ground floor; never ``model`` or ``manager``.
"""

from .builder import QueryBuilder
from .paginator import EmptyPage, InvalidPage, Page, Paginator

__all__ = ["EmptyPage", "InvalidPage", "Page", "Paginator", "QueryBuilder"]
