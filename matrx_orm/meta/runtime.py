"""``instance.runtime``: a free-form container for data a manager attaches to an instance (matrx-orm 2.x's
``RuntimeContainer``): attributes, related objects and the DTO built for the instance."""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["RuntimeContainer"]


class RuntimeContainer:
    """Attributes set on it are kept in ``_data``; ``set_relationship`` keeps related objects (and copies
    them onto the DTO, when one is attached); ``to_dict`` merges both."""

    _data: dict[str, Any]
    _relationships: dict[str, Any]
    dto: Any

    def __init__(self) -> None:
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_relationships", {})
        object.__setattr__(self, "dto", None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        relationships = self.__dict__["_relationships"]
        if name in relationships:
            return relationships[name]
        return self.__dict__["_data"].get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_data", "_relationships", "dto"):
            object.__setattr__(self, name, value)
        elif name in self._relationships:
            self._relationships[name] = value
        else:
            self._data[name] = value

    def set_relationship(self, name: str, value: Any) -> None:
        """Keep a fetched relation (also set on the attached DTO)."""
        self._relationships[name] = value
        if self.dto is not None:
            setattr(self.dto, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The attributes and the relations (instances as their ``to_dict()``)."""
        data = {
            key: str(value) if isinstance(value, uuid.UUID) else value for key, value in self._data.items()
        }
        for key, value in self._relationships.items():
            if isinstance(value, list):
                data[key] = [item.to_dict() if hasattr(item, "to_dict") else str(item) for item in value]
            elif value and hasattr(value, "to_dict"):
                data[key] = value.to_dict()
            else:
                data[key] = str(value) if value else None
        return data
