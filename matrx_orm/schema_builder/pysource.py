"""Python source text for literal values and calls, formatted the way ``ruff format`` leaves them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["Call", "py_literal", "py_str", "render_assignment"]

INDENT = "    "
LINE_LENGTH = 88


def py_str(text: str) -> str:
    """A string literal; double quotes unless the text holds double quotes and no single quotes."""
    if '"' in text and "'" not in text:
        body = json.dumps(text, ensure_ascii=False)[1:-1].replace('\\"', '"')
        return f"'{body}'"
    return json.dumps(text, ensure_ascii=False)


def py_literal(value: Any) -> str:
    """Source for a constant (None, bool, int, float, Decimal, str, list, dict of those)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return f'float("{value}")'
        return repr(value)
    if isinstance(value, Decimal):
        return f"Decimal({py_str(str(value))})"
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    raise TypeError(f"no literal for {value!r}")


class Call:
    """``name(arg, key=value, ...)`` rendered on one line when it fits, else one argument per line."""

    def __init__(self, name: str, args: Sequence[tuple[str | None, str]] = ()) -> None:
        self.name = name
        self.args = list(args)

    def inline(self) -> str:
        parts = [value if key is None else f"{key}={value}" for key, value in self.args]
        return f"{self.name}({', '.join(parts)})"

    def render(self, indent: str, prefix: str) -> str:
        """``{indent}{prefix}{call}``, split over lines when longer than the line length."""
        one_line = f"{indent}{prefix}{self.inline()}"
        if len(one_line) <= LINE_LENGTH or not self.args:
            return one_line
        inner = indent + INDENT
        lines = [f"{indent}{prefix}{self.name}("]
        for key, value in self.args:
            lines.append(f"{inner}{value if key is None else f'{key}={value}'},")
        lines.append(f"{indent})")
        return "\n".join(lines)


def render_assignment(indent: str, name: str, value: Any) -> str:
    """``name = <value>`` for nested dicts/lists of literals, expanded one item per line when too long."""
    one_line = f"{indent}{name} = {py_literal(value)}"
    if len(one_line) <= LINE_LENGTH:
        return one_line
    return f"{indent}{name} = " + _expanded(value, indent)


def _expanded(value: Any, indent: str) -> str:
    inner = indent + INDENT
    if isinstance(value, Mapping):
        lines = ["{"]
        for key, item in value.items():
            head = f"{inner}{py_literal(key)}: "
            text = py_literal(item)
            if len(head + text) + 1 > LINE_LENGTH and isinstance(item, Mapping | list):
                text = _expanded(item, inner)
            lines.append(f"{head}{text},")
        lines.append(f"{indent}}}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = ["["]
        for item in value:
            text = py_literal(item)
            if len(inner + text) + 1 > LINE_LENGTH and isinstance(item, Mapping | list):
                text = _expanded(item, inner)
            lines.append(f"{inner}{text},")
        lines.append(f"{indent}]")
        return "\n".join(lines)
    return py_literal(value)
