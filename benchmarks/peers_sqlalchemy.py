"""SQLAlchemy 2 as two peer contestants of ``run.py``, on the same tables, server and rows.

* ``sqlalchemy core``: an ``AsyncEngine`` with the asyncpg driver, ``isolation_level="AUTOCOMMIT"`` (no
  BEGIN/COMMIT around single statements, as matrx-orm and raw asyncpg), a pool of the same size
  (``max_overflow=0``); one ``engine.connect()`` per operation, statements built per call from the ``Table``.
* ``sqlalchemy orm``: ``AsyncSession`` on that engine and a declarative model of the same table; one session
  per operation (as a request handler opens one), ``session.get`` for gets, ORM ``insert()`` with a list of
  dicts for bulk inserts (SQLAlchemy's bulk path, not ``add_all``), column selects through the session.

Rows come back the way each API hands them out: ``Row`` objects, ``RowMapping`` dicts or model instances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from _harness import RunFn
from _setup import TABLE, TAG_TABLE, Context
from scenarios import BulkRows, group_window, tag_label
from sqlalchemy import Boolean, ForeignKey, Integer, String, Table, Uuid, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CORE = "sqlalchemy core"
ORM = "sqlalchemy orm"
DISTRIBUTION = "SQLAlchemy"
CONTESTANTS = (CORE, ORM)


class Base(DeclarativeBase):
    pass


class BenchRow(Base):
    """The ``bench`` table (ids as strings, as matrx-orm's UUIDField hands them out)."""

    __tablename__ = TABLE
    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    group_id: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[int] = mapped_column(Integer)
    flag: Mapped[bool] = mapped_column(Boolean, default=False)


class TagRow(Base):
    __tablename__ = TAG_TABLE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bench_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), ForeignKey(f"{TABLE}.id"))
    label: Mapped[str] = mapped_column(String(20))


BENCH: Table = BenchRow.__table__  # type: ignore[assignment]
TAG: Table = TagRow.__table__  # type: ignore[assignment]


@dataclass
class SqlAlchemyPeer:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` -> ``postgresql+asyncpg://...`` (a ``?host=`` socket directory is kept)."""
    return urlunsplit(("postgresql+asyncpg", *urlsplit(url)[1:]))


async def open_peer(ctx: Context) -> SqlAlchemyPeer:
    engine = create_async_engine(
        sqlalchemy_url(ctx.url),
        pool_size=ctx.sizes.pool_size,
        max_overflow=0,
        isolation_level="AUTOCOMMIT",
    )
    async with engine.connect() as conn:  # fail here, not in every scenario, if the driver cannot connect
        await conn.execute(select(1))
    return SqlAlchemyPeer(engine, async_sessionmaker(engine, expire_on_commit=False))


async def close_peer(peer: SqlAlchemyPeer) -> None:
    await peer.engine.dispose()


def _peer(ctx: Context) -> SqlAlchemyPeer:
    return ctx.peers["sqlalchemy"]


async def _core_rows(ctx: Context, statement: Any) -> Sequence[Any]:
    async with _peer(ctx).engine.connect() as conn:
        return (await conn.execute(statement)).mappings().all()


async def _orm_rows(ctx: Context, statement: Any) -> Sequence[Any]:
    async with _peer(ctx).sessions() as session:
        return (await session.execute(statement)).mappings().all()


# -- gets ----------------------------------------------------------------------------------------------------


async def _core_get_one(ctx: Context, i: str) -> Any:
    async with _peer(ctx).engine.connect() as conn:
        return (await conn.execute(select(BENCH).where(BENCH.c.id == i))).first()


async def _orm_get_one(ctx: Context, i: str) -> Any:
    async with _peer(ctx).sessions() as session:
        return await session.get(BenchRow, i)


async def core_get(ctx: Context, ids: list[str]) -> list[Any]:
    return [await _core_get_one(ctx, i) for i in ids]


async def orm_get(ctx: Context, ids: list[str]) -> list[Any]:
    return [await _orm_get_one(ctx, i) for i in ids]


def _concurrent(get_one: Callable[[Context, str], Awaitable[Any]]) -> RunFn:
    """``asyncio.gather`` of ``get_one`` over each batch of ids, batch after batch."""

    async def run(ctx: Context, batches: list[list[str]]) -> list[Any]:
        out: list[Any] = []
        for batch in batches:
            out += await asyncio.gather(*(get_one(ctx, i) for i in batch))
        return out

    return run


# -- filter, bulk insert, updates --------------------------------------------------------------------------------


async def core_filter(ctx: Context, groups: list[int]) -> list[Any]:
    out = []
    for g in groups:
        async with _peer(ctx).engine.connect() as conn:
            out.append((await conn.execute(select(BENCH).where(BENCH.c.group_id == g))).all())
    return out


async def orm_filter(ctx: Context, groups: list[int]) -> list[Any]:
    out = []
    for g in groups:
        async with _peer(ctx).sessions() as session:
            out.append((await session.scalars(select(BenchRow).where(BenchRow.group_id == g))).all())
    return out


async def core_bulk(ctx: Context, rows: BulkRows) -> None:
    async with _peer(ctx).engine.connect() as conn:
        await conn.execute(insert(BENCH), rows.dicts)


async def orm_bulk(ctx: Context, rows: BulkRows) -> None:
    async with _peer(ctx).sessions() as session:
        await session.execute(insert(BenchRow), rows.dicts)
        await session.commit()


async def core_update(ctx: Context, groups: list[int]) -> list[int]:
    out = []
    for g in groups:
        async with _peer(ctx).engine.connect() as conn:
            result = await conn.execute(update(BENCH).where(BENCH.c.group_id == g).values(flag=True))
            out.append(result.rowcount)
    return out


async def orm_update(ctx: Context, groups: list[int]) -> list[int]:
    out = []
    for g in groups:
        async with _peer(ctx).sessions() as session:
            result = await session.execute(update(BenchRow).where(BenchRow.group_id == g).values(flag=True))
            await session.commit()
            out.append(result.rowcount)  # type: ignore[attr-defined]
    return out


async def core_update_returning(ctx: Context, groups: list[int]) -> list[Any]:
    statement = update(BENCH).values(flag=True).returning(*BENCH.c)
    return [await _core_rows(ctx, statement.where(BENCH.c.group_id == g)) for g in groups]


async def orm_update_returning(ctx: Context, groups: list[int]) -> list[Any]:
    out = []
    for g in groups:
        async with _peer(ctx).sessions() as session:
            statement = update(BenchRow).where(BenchRow.group_id == g).values(flag=True).returning(BenchRow)
            out.append((await session.scalars(statement)).all())
            await session.commit()
    return out


# -- queries returning columns: the same statement builder for both, on Table columns or model attributes ------


def _aggregate(b: Any, t: Any, g: int, ctx: Context) -> Any:
    return select(func.sum(b.score).label("total"), func.count(b.id).label("n")).where(b.group_id == g)


def _grouped(b: Any, t: Any, g: int, ctx: Context) -> Any:
    low, high = group_window(ctx, g)
    return (
        select(b.group_id, func.count(b.id).label("n"), func.sum(b.score).label("total"))
        .where(b.group_id >= low, b.group_id < high)
        .group_by(b.group_id)
        .order_by(b.group_id)
    )


def _lower(b: Any, t: Any, g: int, ctx: Context) -> Any:
    return select(b.id, func.lower(b.name).label("lower")).where(b.group_id == g)


def _window(b: Any, t: Any, g: int, ctx: Context) -> Any:
    rank = func.row_number().over(order_by=b.score.desc()).label("rank")
    return select(b.id, rank).where(b.group_id == g, b.score >= 990_000)


def _relation(b: Any, t: Any, g: int, ctx: Context) -> Any:
    return select(t.id, t.label).where(exists().where(b.id == t.bench_id, b.group_id == g))


def _exists(b: Any, t: Any, g: int, ctx: Context) -> Any:
    return select(b.id, b.name).where(
        b.group_id == g, exists().where(t.bench_id == b.id, t.label == tag_label(g))
    )


def _in(b: Any, t: Any, g: int, ctx: Context) -> Any:
    return select(b.id, b.name).where(
        b.group_id == g, b.id.in_(select(t.bench_id).where(t.label == tag_label(g)))
    )


def _per_group(build: Callable[[Any, Any, int, Context], Any], *, one: bool = False) -> dict[str, RunFn]:
    """Core and ORM contestants running ``build(bench, tag, group, ctx)`` once per group, as mappings."""

    async def core(ctx: Context, groups: list[int]) -> list[Any]:
        rows = [await _core_rows(ctx, build(BENCH.c, TAG.c, g, ctx)) for g in groups]
        return [r[0] for r in rows] if one else rows

    async def orm(ctx: Context, groups: list[int]) -> list[Any]:
        rows = [await _orm_rows(ctx, build(BenchRow, TagRow, g, ctx)) for g in groups]
        return [r[0] for r in rows] if one else rows

    return {CORE: core, ORM: orm}


PEERS: dict[str, dict[str, RunFn]] = {
    "get-by-pk": {CORE: core_get, ORM: orm_get},
    "filter-1000": {CORE: core_filter, ORM: orm_filter},
    "bulk_create": {CORE: core_bulk, ORM: orm_bulk},
    "update_where": {CORE: core_update, ORM: orm_update},
    "update_where-vs-returning": {CORE: core_update_returning, ORM: orm_update_returning},
    "filter().update": {CORE: core_update, ORM: orm_update},
    "concurrent-gets-200": {CORE: _concurrent(_core_get_one), ORM: _concurrent(_orm_get_one)},
    "aggregate-group": _per_group(_aggregate, one=True),
    "grouped-values": _per_group(_grouped),
    "annotate-lower-1000": _per_group(_lower),
    "window-rank": _per_group(_window),
    "relation-filter": _per_group(_relation),
    "exists-subquery": _per_group(_exists),
    "in-subquery": _per_group(_in),
}
