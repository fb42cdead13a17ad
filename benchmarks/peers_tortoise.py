"""Tortoise ORM as a peer contestant of ``run.py`` (only when ``tortoise-orm`` is installed).

Its asyncpg backend with a pool of the same size, configured as Tortoise configures it (asyncpg's default
reset on release: a Tortoise user gets that), and models of the same tables. Gets, filters, ``bulk_create``
and ``filter().update()``: the scenarios whose Tortoise spelling is plain.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from _harness import RunFn
from _setup import TABLE, Context
from scenarios import BulkRows
from tortoise import Tortoise, fields
from tortoise.models import Model

TORTOISE = "tortoise-orm"
DISTRIBUTION = "tortoise-orm"
CONTESTANTS = (TORTOISE,)


class TortoiseBench(Model):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=100)
    group_id = fields.IntField()
    score = fields.IntField()
    flag = fields.BooleanField(default=False)

    class Meta:
        table = TABLE


def credentials(url: str, pool_size: int) -> dict[str, Any]:
    """Tortoise's connection dict for a libpq URL (a unix-socket ``?host=`` directory included)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return {
        "host": query.get("host") or parts.hostname or "localhost",
        "port": parts.port or int(query.get("port", 5432)),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")),
        "minsize": pool_size,
        "maxsize": pool_size,
    }


async def open_peer(ctx: Context) -> None:
    await Tortoise.init(
        config={
            "connections": {
                "default": {
                    "engine": "tortoise.backends.asyncpg",
                    "credentials": credentials(ctx.url, ctx.sizes.pool_size),
                }
            },
            "apps": {"bench": {"models": [__name__], "default_connection": "default"}},
            "use_tz": False,
        }
    )
    await TortoiseBench.all().limit(1)  # connect now, not in the first scenario


async def close_peer(peer: Any) -> None:
    await Tortoise.close_connections()


async def tortoise_get(ctx: Context, ids: list[str]) -> list[Any]:
    get = TortoiseBench.get
    return [await get(id=i) for i in ids]


async def tortoise_concurrent(ctx: Context, batches: list[list[str]]) -> list[Any]:
    get = TortoiseBench.get
    out: list[Any] = []
    for batch in batches:
        out += await asyncio.gather(*(get(id=i) for i in batch))
    return out


async def tortoise_filter(ctx: Context, groups: list[int]) -> list[Any]:
    return [await TortoiseBench.filter(group_id=g) for g in groups]


async def tortoise_bulk(ctx: Context, rows: BulkRows) -> None:
    await TortoiseBench.bulk_create([TortoiseBench(**d) for d in rows.dicts])


async def tortoise_update(ctx: Context, groups: list[int]) -> list[int]:
    return [await TortoiseBench.filter(group_id=g).update(flag=True) for g in groups]


PEERS: dict[str, dict[str, RunFn]] = {
    "get-by-pk": {TORTOISE: tortoise_get},
    "filter-1000": {TORTOISE: tortoise_filter},
    "bulk_create": {TORTOISE: tortoise_bulk},
    "update_where": {TORTOISE: tortoise_update},
    "filter().update": {TORTOISE: tortoise_update},
    "concurrent-gets-200": {TORTOISE: tortoise_concurrent},
}
