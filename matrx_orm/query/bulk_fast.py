"""``bulk_create`` of plain dicts, column at a time: the dicts become one checked list per column, and the
instances are built from those lists after the write.

:func:`plan_columns` answers None whenever the per-instance path is needed for the exact same result or
error: objects that are not all plain dicts of one key layout, a model with its own ``__init__``, a field
with validators or without a column checker, a value that needs converting or is invalid, or a None in a
key or server-default column (such rows are INSERTed without that column, in groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from . import bulk_columns
from .instance_values import DictPlan, now_for, stamped_fields

if TYPE_CHECKING:
    from ..models.base import Model

_DICT = {dict}
_NONE = type(None)


@dataclass(frozen=True, slots=True)
class BulkColumns:
    """Checked values of a batch: ``names`` in model field order, one list per name and side."""

    names: tuple[str, ...]
    python: list[list[Any]]  # as kept on instances
    db: list[list[Any]]  # as sent to the database
    rows: int


def plan_columns(model: type[Model], objects: Sequence[Any], unnest_safe: Any) -> BulkColumns | None:
    """The batch as checked columns, or None when the per-instance path must handle it.

    ``unnest_safe(meta, names)`` tells whether the INSERT fallback of :mod:`.writes` can take the columns;
    the COPY path needs every field sent and a COPY encoder for each (checked by the caller).
    """
    from ..models.base import Model

    if model.__init__ is not Model.__init__ or set(map(type, objects)) != _DICT:
        return None
    layouts = set(map(tuple, objects))
    if len(layouts) != 1:
        return None
    meta = model._require_meta()
    plan = DictPlan.for_layout(model, layouts.pop())
    fields = meta.fields
    if not all(bulk_columns.has_checker(fields[name]) for _, name, _ in plan.given):
        return None
    rows = len(objects)
    raw: dict[str, list[Any]] = {}
    for key, name, _field in plan.given:
        raw[name] = list(map(itemgetter(key), objects))
    for name, field in plan.defaults:
        if not bulk_columns.has_checker(field):
            return None
        raw[name] = [field.get_default() for _ in range(rows)]
    for field in stamped_fields(meta):
        if getattr(field, "auto_now", False) or field.name not in raw:
            raw[field.name] = [now_for(field) for _ in range(rows)]
        else:
            raw[field.name] = [now_for(field) if v is None else v for v in raw[field.name]]
    names = tuple(n for n in meta.field_names if n in raw)
    for name in names:
        field = fields[name]
        if (field.primary_key or field.server_default is not None) and _NONE in set(map(type, raw[name])):
            return None
    if len(names) < len(fields) and not unnest_safe(meta, names):
        return None  # would need RETURNING through the batched path: the per-instance path does that
    python: list[list[Any]] = []
    db: list[list[Any]] = []
    for name in names:
        checked = bulk_columns.check_column(fields[name], raw[name])
        if checked is None:
            return None
        python.append(checked[0])
        db.append(checked[1])
    return BulkColumns(names, python, db, rows)


def build_instances(model: type[Model], columns: BulkColumns) -> list[Any]:
    """Persisted instances holding the batch's python values."""
    names = (*columns.names, "_persisted")
    rows = zip(*columns.python, repeat(True, columns.rows), strict=True)
    values = list(map(dict, map(zip, repeat(names), rows)))
    instances = list(map(object.__new__, repeat(model, columns.rows)))
    for instance, data in zip(instances, values):  # noqa: B905 (same length by construction)
        instance.__dict__ = data
    return instances
