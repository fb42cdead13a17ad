"""JSON on its way to a ``json``/``jsonb`` parameter, serialized once, whatever the connection's codecs.

A JSON field's ``db_value`` is a :class:`JsonText`: the value serialized with ``json.dumps``. The codecs of
the ORM's own pools send it as is (anything else they serialize, as before), and so does the ``json``/``jsonb``
codec SQLAlchemy's asyncpg dialect installs on its connections (it expects JSON text). So a statement the ORM
built runs the same on both, and a python ``str`` stays a JSON string on both.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

__all__ = ["JsonText", "json_default", "json_text"]


class JsonText(str):
    """Serialized JSON (``'{"a": 1}'``, ``'"a string"'``): sent to a ``json``/``jsonb`` parameter as is."""

    __slots__ = ()


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default``: UUIDs as strings, dates and times in ISO format."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: what ``json.dumps(value, allow_nan=False[, default=json_default])`` builds on every call, built once
_STRICT = json.JSONEncoder(allow_nan=False)
_LENIENT = json.JSONEncoder(allow_nan=False, default=json_default)


def json_text(value: Any, *, lenient: bool = False) -> JsonText:
    """``value`` serialized (NaN and infinity refused). ``lenient`` also takes UUIDs, dates and times (as
    :func:`json_default` writes them); otherwise they raise ``TypeError`` like any non-JSON value."""
    if value.__class__ is JsonText:
        return value
    return JsonText((_LENIENT if lenient else _STRICT).encode(value))
