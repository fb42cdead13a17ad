"""Bounded memo dictionaries for the per-shape caches (compiled SQL, filter keys, row loaders, ...).

Their keys can come from callers' input (JSON key paths in filter keywords, field lists of ``values()``),
so each cache starts over once it holds ``CACHE_LIMIT`` entries instead of growing without bound.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["CACHE_LIMIT", "remember"]

#: entries kept by each memo dictionary before it starts over
CACHE_LIMIT = 4096

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V) -> V:
    """Store ``value`` under ``key``, emptying ``cache`` first when it holds ``CACHE_LIMIT`` entries."""
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value
