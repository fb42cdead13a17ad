"""What ``values()`` and ``values_list()`` return: await it for every row at once, or stream the rows with
``iterator()`` (a server-side cursor, memory bounded by ``chunk_size``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..db import executor
from ..meta.rows import paused_for

if TYPE_CHECKING:
    from .builder import QueryBuilder

__all__ = ["ValuesQuery"]

R = TypeVar("R")


class ValuesQuery(Generic[R]):
    """Rows of chosen columns: ``await qs.values("id", "name")`` gives them all;
    ``async for row in qs.values("id").iterator(chunk_size=5000)`` streams them."""

    __slots__ = ("_builder", "_convert", "_names", "_operation")

    def __init__(
        self,
        builder: QueryBuilder[Any],
        names: tuple[str, ...],
        operation: str,
        convert: Callable[[Sequence[Any]], Iterable[R]],
    ) -> None:
        self._builder = builder
        self._names = names
        self._operation = operation
        self._convert = convert

    async def all(self) -> list[R]:
        """Every row."""
        records = await self._builder._fetch(self._names, self._operation)
        with paused_for(len(records)):
            return list(self._convert(records))

    def __await__(self) -> Generator[Any, None, list[R]]:
        return self.all().__await__()

    def iterator(self, chunk_size: int = 2000) -> AsyncGenerator[R, None]:
        """Stream the rows through a server-side cursor, ``chunk_size`` per round trip (as
        ``QueryBuilder.iterator()`` does for instances)."""
        builder = self._builder
        return executor.stream(
            builder._database,
            chunk_size,
            self._prepared,
            model=builder._meta.model_name,
            operation=f"{self._operation}.iterator",
            tuning=builder._tuning(),
        )

    def _prepared(self) -> tuple[str, list[Any], executor.OnChunk[R]]:
        """The stream's statement, parameters and conversion (see ``executor.stream``)."""
        builder = self._builder
        if builder._spec.lock is not None:
            builder._check_lock_held()
        statement, params = builder._select(self._names, "values")
        convert = self._convert

        async def chunk(records: list[Any]) -> Iterable[R]:
            return convert(records)  # rows made as the loop takes them

        return statement.sql, params, chunk
