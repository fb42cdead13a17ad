"""Result objects of write operations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UpdateResult(Mapping[str, Any]):
    """What ``update_where`` did: ``rows_affected`` and the ``updated_rows`` (instances).

    Also a read-only mapping, so ``result["rows_affected"]`` keeps working.
    """

    rows_affected: int
    updated_rows: list[Any] = field(default_factory=list)

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
