"""``matrx_orm.core.signals``: matrx-orm 2.x's import path for the lifecycle signals (re-exports only)."""

from ..signals import (
    Signal,
    post_create,
    post_delete,
    post_save,
    pre_create,
    pre_delete,
    pre_save,
)

__all__ = ["Signal", "post_create", "post_delete", "post_save", "pre_create", "pre_delete", "pre_save"]
