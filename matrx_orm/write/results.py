"""Result objects of write operations."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any


class UpdateResult(Mapping[str, Any]):
    """What ``update_where`` did: ``rows_affected`` and the ``updated_rows`` (instances).

    Also a read-only mapping, so ``result["rows_affected"]`` keeps working. The returned rows are turned
    into instances the first time ``updated_rows`` is read, so a caller that only wants the count does not
    pay for building them.
    """

    __slots__ = ("_load", "_records", "_rows", "rows_affected")

    def __init__(
        self,
        rows_affected: int,
        updated_rows: Sequence[Any] | None = None,
        *,
        records: Sequence[Any] | None = None,
        load: Callable[[Any], Any] | None = None,
    ) -> None:
        self.rows_affected = rows_affected
        self._rows: list[Any] | None = list(updated_rows) if updated_rows is not None else None
        self._records = records if records is not None and load is not None else None
        self._load = load
        if self._rows is None and self._records is None:
            self._rows = []

    @property
    def updated_rows(self) -> list[Any]:
        """The updated rows as model instances, in the order the database returned them."""
        if self._rows is None:
            self._rows = list(map(self._load, self._records))  # type: ignore[arg-type]
            self._records = None
        return self._rows

    def __getitem__(self, key: str) -> Any:
        if key in ("rows_affected", "updated_rows"):
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("rows_affected", "updated_rows"))

    def __len__(self) -> int:
        return 2

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking mapping, compared by value

    def __repr__(self) -> str:
        return f"UpdateResult(rows_affected={self.rows_affected!r}, updated_rows={self.updated_rows!r})"
