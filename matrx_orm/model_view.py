"""``ModelView``: matrx-orm 2.x's declarative projection a manager applies to each instance it loads."""

from __future__ import annotations

__all__ = ["ModelView"]


class ModelView:
    """Prefetched relations, computed fields and exclusions applied to an instance (completed by the manager
    layer)."""
