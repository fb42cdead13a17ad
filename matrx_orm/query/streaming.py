"""What ``iterator()`` returns: the rows of a stream of chunks, one ``async for`` step per row."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from typing import TypeVar

__all__ = ["rows_of"]

T = TypeVar("T")


async def rows_of(start: Callable[[], AsyncGenerator[Iterable[T], None]]) -> AsyncGenerator[T, None]:
    """The items of the chunks (lists, or iterators making them as they are taken) that ``start()`` streams, in order; ``start`` runs at the first step,
    so a bad query raises where the loop begins. Closing this generator (``await rows.aclose()``, or
    ``contextlib.aclosing``) closes the stream's cursor and gives its connection back before it returns; one
    left unfinished is closed by the event loop once nothing refers to it."""
    chunks = start()
    try:
        async for chunk in chunks:
            for row in chunk:
                yield row
    finally:
        await chunks.aclose()
