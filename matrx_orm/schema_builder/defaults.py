"""Server defaults as PostgreSQL prints them -> Python values, where the default is a constant.

``parse_default`` returns :data:`NO_VALUE` for defaults that are expressions (``now()``,
``gen_random_uuid()``, ``nextval(...)``); those stay server defaults only.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .info import ColumnType

__all__ = ["NO_VALUE", "parse_default"]


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

_CAST = re.compile(r"^(?P<body>.*?)(?:::(?P<type>[A-Za-z_][\w .\"]*(?:\[\])?(?:\([\d, ]+\))?))+$", re.S)
_QUOTED = re.compile(r"^'((?:[^']|'')*)'$", re.S)
_NUMBER = re.compile(r"^\(?(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\)?$")


def _strip_casts(text: str) -> str:
    text = text.strip()
    while True:
        match = _CAST.match(text)
        if match is None or match.group("body") == text:
            return text
        text = match.group("body").strip()
        if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
            text = text[1:-1].strip()


def _balanced(text: str) -> bool:
    depth = 0
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def _string(text: str) -> str | None:
    match = _QUOTED.match(text)
    return match.group(1).replace("''", "'") if match else None


def _number(text: str, column_type: ColumnType) -> Any:
    raw = text
    quoted = _string(text)
    if quoted is not None:
        raw = quoted.strip()
    match = _NUMBER.match(raw)
    if match is None:
        return NO_VALUE
    literal = match.group(1)
    kind = column_type.kind
    try:
        if kind in ("smallint", "integer", "bigint"):
            value = Decimal(literal)
            return int(value) if value == value.to_integral_value() else NO_VALUE
        if kind == "numeric":
            return Decimal(literal)
        return float(literal)
    except (InvalidOperation, ValueError):
        return NO_VALUE


def _array(text: str, column_type: ColumnType) -> Any:
    quoted = _string(text)
    if quoted is None:
        return NO_VALUE
    inner = quoted.strip()
    if inner == "{}":
        return []
    if not (inner.startswith("{") and inner.endswith("}")):
        return NO_VALUE
    parts = inner[1:-1].split(",")
    if any(p.startswith('"') or "{" in p or "\\" in p for p in parts):
        return NO_VALUE  # quoted or nested elements: leave to the server
    item = column_type.item or ColumnType("text")
    values: list[Any] = []
    for part in parts:
        part = part.strip()
        if part.upper() == "NULL":
            values.append(None)
            continue
        value = parse_default(f"'{part}'", item)
        if value is NO_VALUE:
            return NO_VALUE
        values.append(value)
    return values


def parse_default(default: str | None, column_type: ColumnType) -> Any:
    """The Python value of a constant server default, or :data:`NO_VALUE`."""
    if default is None:
        return NO_VALUE
    text = _strip_casts(default)
    if text.upper() == "NULL":
        return NO_VALUE
    kind = column_type.kind
    if kind == "array":
        return _array(text, column_type)
    if kind == "boolean":
        lowered = (_string(text) or text).strip().lower()
        if lowered in ("true", "t", "yes", "on", "1"):
            return True
        if lowered in ("false", "f", "no", "off", "0"):
            return False
        return NO_VALUE
    if kind in ("smallint", "integer", "bigint", "numeric", "real", "double"):
        return _number(text, column_type)
    if kind in ("json", "jsonb"):
        quoted = _string(text)
        if quoted is None:
            return NO_VALUE
        try:
            return json.loads(quoted)
        except ValueError:
            return NO_VALUE
    if kind in ("text", "varchar", "char", "enum"):
        quoted = _string(text)
        return quoted if quoted is not None else NO_VALUE
    return NO_VALUE
