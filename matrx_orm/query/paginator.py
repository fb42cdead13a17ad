"""``Paginator(queryset, per_page)``: pages of a query (``COUNT`` + ``LIMIT/OFFSET``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..exceptions import ParameterError
from .builder import MAX_ROWS, M, QueryBuilder

__all__ = ["EmptyPage", "InvalidPage", "Page", "Paginator"]

T = TypeVar("T")


class InvalidPage(ParameterError):
    """A page number that is not a positive int."""

    default_message = "Invalid page number"


class EmptyPage(InvalidPage):
    """A page number past the last page."""

    default_message = "That page contains no results"


@dataclass
class Page(Generic[T]):
    """One page: its ``items`` and where it sits (iterable, ``len()`` is the number of items)."""

    items: list[T]
    number: int
    per_page: int
    total_count: int
    total_pages: int
    _offset: int = field(default=0, repr=False)

    @property
    def has_next(self) -> bool:
        return self.number < self.total_pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int | None:
        return self.number + 1 if self.has_next else None

    @property
    def previous_number(self) -> int | None:
        return self.number - 1 if self.has_previous else None

    @property
    def start_index(self) -> int:
        """1-based position of the first item (0 on an empty page)."""
        return self._offset + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        """1-based position of the last item (0 on an empty page)."""
        return self._offset + len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


class Paginator(Generic[M]):
    """Split a query into pages of ``per_page`` rows; the query is not run until a page is asked for.

    ``await paginator.page(n)`` runs a COUNT and the page's SELECT; ``async for page in paginator`` counts
    once and yields every page in order. Order the query (``order_by`` or the model's default ordering) so
    pages are stable; a query with no ordering is ordered by primary key. Page 1 of an empty result is an
    empty page; other numbers outside ``1..total_pages`` raise ``EmptyPage``, non-positive or non-int
    numbers ``InvalidPage``.
    """

    def __init__(self, queryset: QueryBuilder[M], per_page: int) -> None:
        if not isinstance(queryset, QueryBuilder):
            raise ParameterError(f"Paginator needs a query (Model.filter(...)); got {queryset!r}")
        spec = queryset._spec
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_ROWS:
            raise ParameterError(
                f"Paginator per_page must be an int from 1 to {MAX_ROWS} (PostgreSQL's bigint); got {per_page!r}"
            )
        if spec.limit is not None or spec.offset is not None:
            raise ParameterError("Paginator needs an unsliced query; it adds LIMIT/OFFSET itself")
        if not spec.order_by and not spec.combined:
            queryset = queryset.order_by(*queryset._meta.primary_keys)
        self.queryset = queryset
        self.per_page = per_page

    async def count(self) -> int:
        """Number of rows over all pages."""
        return int(await self.queryset.count())

    def _pages(self, total: int) -> int:
        return max(1, -(-total // self.per_page))

    async def page(self, number: int) -> Page[M]:
        """Page ``number`` (1-based); ``total_pages`` is ``ceil(total_count / per_page)`` (0 when empty)."""
        self._check_number(number)
        total = await self.count()
        return await self._page(number, total)

    def _check_number(self, number: Any) -> None:
        if isinstance(number, bool) or not isinstance(number, int):
            raise InvalidPage(f"page number must be an int; got {number!r}")
        if number < 1:
            raise InvalidPage(f"page number must be 1 or more; got {number}")

    async def _page(self, number: int, total: int) -> Page[M]:
        pages = self._pages(total)
        if number > pages:
            raise EmptyPage(
                f"page {number} is past the last page ({pages}; {total} rows, {self.per_page} per page)"
            )
        offset = (number - 1) * self.per_page
        items = await self.queryset[offset : offset + self.per_page].all() if total else []
        return Page(items, number, self.per_page, total, -(-total // self.per_page), offset)

    async def __aiter__(self) -> AsyncIterator[Page[M]]:
        total = await self.count()
        for number in range(1, -(-total // self.per_page) + 1):
            yield await self._page(number, total)
