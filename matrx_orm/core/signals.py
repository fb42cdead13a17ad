"""``from matrx_orm.core.signals import post_save``: matrx-orm's import path for :mod:`matrx_orm.signals`."""

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
