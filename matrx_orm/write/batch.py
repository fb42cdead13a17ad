"""``bulk_create`` of plain dicts, column at a time: the dicts become one checked list per column, and the
instances are built from those lists after the write.

:func:`plan_columns` gives up whenever the per-instance path is needed for the exact same result or
error: objects that are not all plain dicts with the same keys (in any order; no two naming one field), a
model with its own ``__init__``, a field with validators or without a column checker, a value that needs
converting or is invalid, or a None in a key or server-default column (such rows are INSERTed without that
column, in groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..meta.rows import gc_paused, instance_builder
from . import column_checks
from .values import DictPlan, now_for, stamped_fields, unnest_safe

if TYPE_CHECKING:
    from ..model import Model

_DICT = {dict}
_NONE = type(None)


#: default values ``plan_columns`` drew, by field name, one per row: when the per-instance path writes the
#: batch after all, it uses them, so a callable default (a counter, say) is called once per row
Drawn = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class BulkColumns:
    """Checked values of a batch: ``names`` in model field order, one list per name and side."""

    names: tuple[str, ...]
    python: list[list[Any]]  # as kept on instances
    db: list[list[Any]]  # as sent to the database
    rows: int
    drawn: Drawn  # the defaults drawn for these rows


def plan_columns(model: type[Model], objects: Sequence[Any]) -> BulkColumns | Drawn:
    """The batch as checked columns, or (when the per-instance path must handle it) the defaults drawn.

    The columns fit the INSERT over ``unnest`` of :mod:`.bulk`; the COPY path also needs every field sent
    and a COPY encoder for each (checked by the caller).
    """
    with gc_paused():
        return _plan_columns(model, objects)


def _plan_columns(model: type[Model], objects: Sequence[Any]) -> BulkColumns | Drawn:
    drawn: Drawn = {}
    if model._meta.custom_init or set(map(type, objects)) != _DICT:
        return drawn
    layout = tuple(objects[0])
    if set(map(len, objects)) != {len(layout)}:
        return drawn
    meta = model._require_meta()
    plan = DictPlan.for_layout(model, layout)
    fields = meta.fields
    if not plan.known or not all(column_checks.has_checker(fields[name]) for _, name, _ in plan.given):
        return drawn
    if len({name for _, name, _ in plan.given}) < len(plan.given):
        return drawn  # two keys for one field (``parent`` and ``parent_id``): the later one in each dict wins
    try:  # every dict holds the first one's keys, so no others (all are of its size); in any order
        values = {key: list(map(itemgetter(key), objects)) for key in layout}
    except KeyError:
        return drawn
    rows = len(objects)
    raw = {name: values[key] for key, name, _field in plan.given}
    for name, field in plan.defaults:
        raw[name] = drawn[name] = [field.get_default() for _ in range(rows)]
        if not column_checks.has_checker(field):
            return drawn
    for field in stamped_fields(meta):
        given = raw.get(field.name)
        if given is None:
            raw[field.name] = [now_for(field) for _ in range(rows)]
        elif getattr(field, "auto_now", False):
            if column_checks.check_column(field, [v for v in given if v is not None]) is None:
                return drawn  # a value ``to_python`` refuses (before the stamp replaces it)
            raw[field.name] = [now_for(field) for _ in range(rows)]
        else:
            raw[field.name] = [now_for(field) if v is None else v for v in given]
    names = tuple(n for n in meta.field_names if n in raw)
    for name in names:
        field = fields[name]
        if (field.primary_key or field.server_default is not None) and _NONE in set(map(type, raw[name])):
            return drawn
    if len(names) < len(fields) and not unnest_safe(meta, names):
        return drawn  # would need RETURNING through the batched path: the per-instance path does that
    python: list[list[Any]] = []
    db: list[list[Any]] = []
    for name in names:
        checked = column_checks.check_column(fields[name], raw[name])
        if checked is None:
            return drawn
        python.append(checked[0])
        db.append(checked[1])
    return BulkColumns(names, python, db, rows, drawn)


def build_instances(model: type[Model], columns: BulkColumns) -> list[Any]:
    """Persisted instances holding the batch's python values."""
    build = instance_builder(model, columns.names)
    with gc_paused():
        if not columns.names:
            return [build(()) for _ in range(columns.rows)]
        return list(map(build, zip(*columns.python, strict=True)))
