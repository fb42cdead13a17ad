"""Python and TypeScript names for database identifiers, with collisions aliased deterministically."""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable

import inflect

from ..model import Model

__all__ = [
    "NameTable",
    "attribute_name",
    "camel_case",
    "class_name",
    "enum_member_name",
    "model_reserved_names",
    "module_name",
    "pascal_case",
    "plural",
]

_WORD = re.compile(r"[A-Za-z0-9]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: capitalised builtins a generated class would shadow (``Exception``, ``Warning``, ``ValueError``...)
_BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def _words(text: str) -> list[str]:
    return [w for part in _WORD.findall(text) for w in _CAMEL_BOUNDARY.sub(" ", part).split()]


def pascal_case(text: str) -> str:
    """``customer_order`` -> ``CustomerOrder``; ``userProfile`` -> ``UserProfile``."""
    return "".join(w[:1].upper() + w[1:] for w in _words(text))


def camel_case(text: str) -> str:
    """``customer_order`` -> ``customerOrder`` (TypeScript entity and field names)."""
    pascal = pascal_case(text)
    return pascal[:1].lower() + pascal[1:]


def _snake(text: str) -> str:
    return "_".join(w.lower() for w in _words(text))


_INFLECT = inflect.engine()
#: endings inflect reads as plurals of a made-up word (``analysis`` of "analysi"): singular Greek/Latin nouns
_SINGULAR_ENDINGS = ("sis", "xis")


def plural(name: str) -> str:
    """The plural of a snake_case name, by its last word (the ``inflect`` library's English rules).

    ``category`` -> ``categories``, ``person`` -> ``people``, ``order_status`` -> ``order_statuses``,
    ``analysis`` -> ``analyses``; a last word inflect reads as a plural already stays (``users``, ``data``,
    ``news``, ``series``; also ``bus``, ``alias``, ``campus``, which it cannot tell from plurals).
    """
    head, sep, last = name.rpartition("_")
    if not last or not last.isalpha():
        return f"{name}s"
    singular = _INFLECT.singular_noun(last)
    already = bool(singular) and _INFLECT.plural_noun(str(singular)) == last
    if already and not last.endswith(_SINGULAR_ENDINGS):
        return name
    return f"{head}{sep}{_INFLECT.plural_noun(last)}"


def model_reserved_names() -> frozenset[str]:
    """Attributes of ``Model`` a field may not use (``save``, ``filter``, ``pk``, ``objects``...)."""
    allowed = {"_database", "_db_schema", "_table_name"}
    return frozenset(n for n in dir(Model) if not n.startswith("__") and n not in allowed)


def class_name(table: str, taken: Iterable[str] = ()) -> str:
    """A class name for ``table``: PascalCase, never a keyword, a builtin or one of ``taken``."""
    name = pascal_case(table) or "Table"
    if name[0].isdigit():
        name = f"T{name}"
    if keyword.iskeyword(name) or name in _BUILTIN_NAMES or name in set(taken):
        name = f"{name}Table"
    return name


def module_name(class_name_: str) -> str:
    """A module (file) name for a class: ``CustomerOrder`` -> ``customer_order``."""
    name = _snake(class_name_) or "table"
    if name[0].isdigit():
        name = f"t_{name}"
    if keyword.iskeyword(name) or name in ("generated", "models", "__init__"):
        name = f"{name}_"
    return name


def attribute_name(column: str, reserved: Iterable[str] = ()) -> str:
    """An attribute name for ``column``: the column itself when it is a usable identifier, else an alias.

    Keywords get a trailing underscore (``class`` -> ``class_``), names the model uses itself (``save``,
    ``filter``, ``pk``) or names in ``reserved`` too; other text becomes snake_case (``Mixed Case`` ->
    ``mixed_case``, ``2fa`` -> ``col_2fa``). Builtin names such as ``id`` or ``type`` are kept: a class
    attribute does not shadow the builtin outside the class body, and generated class bodies never use one.
    """
    reserved = set(reserved)
    usable = bool(_IDENTIFIER.match(column)) and not column.startswith("_")
    name = column if usable else (_snake(column) or "col")
    if name[0].isdigit():
        name = f"col_{name}"
    while name in reserved or keyword.iskeyword(name):
        name = f"{name}_"
    return name


def enum_member_name(label: str) -> str:
    """``in-progress`` -> ``IN_PROGRESS``; ``2x`` -> ``V_2X``; empty -> ``EMPTY``."""
    name = "_".join(w.upper() for w in _WORD.findall(label))
    if not name:
        return "EMPTY"
    if name[0].isdigit():
        name = f"V_{name}"
    if keyword.iskeyword(name):
        name = f"{name}_"
    return name


class NameTable:
    """Hands out unique names in one namespace (a module, a class body, a dict of relations)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(taken)

    def claim(self, name: str, separator: str = "_") -> str:
        """``name`` if free, else ``name{separator}2``, ``name{separator}3``, ..."""
        candidate = name
        counter = 2
        while candidate in self.taken:
            candidate = f"{name}{separator}{counter}"
            counter += 1
        self.taken.add(candidate)
        return candidate
