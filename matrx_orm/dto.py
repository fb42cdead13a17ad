"""``BaseDTO``: matrx-orm 2.x's data-transfer objects built by a manager for each instance it loads."""

from __future__ import annotations

__all__ = ["BaseDTO"]


class BaseDTO:
    """Base of the ``@dataclass`` DTOs that 2.x code generation writes (completed by the manager layer)."""
