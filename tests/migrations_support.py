"""Helpers for the migration tests: a fresh database per test, registered under a unique project name."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from _pgserver import with_database


@dataclass
class FreshDB:
    """A database made for one test: ``name`` is both the database and the registered project name."""

    name: str
    url: str

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def advisory_locks(self, *, waiting: bool = False) -> int:
        """Advisory locks held (or, with ``waiting``, waited for) in this database: ``pg_locks`` lists the
        whole server's, and other test runs may share the server."""
        return int(
            await self.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted <> $1 "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                waiting,
            )
        )

    async def tables(self, schema: str = "public") -> set[str]:
        rows = await self.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
        return {row["tablename"] for row in rows}

    async def columns(self, table: str, schema: str = "public") -> dict[str, str]:
        rows = await self.fetch(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod) AS type "
            "FROM information_schema.columns c JOIN pg_attribute a "
            "ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass "
            "AND a.attname = c.column_name WHERE c.table_schema = $1 AND c.table_name = $2",
            schema,
            table,
        )
        return {row["column_name"]: row["type"] for row in rows}


async def create_fresh(pg_url: str, *, register: bool = True) -> FreshDB:
    name = f"mig_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    fresh = FreshDB(name=name, url=with_database(pg_url, name))
    if register:
        from matrx_orm import DatabaseProjectConfig, register_database

        register_database(DatabaseProjectConfig(name=name, url=fresh.url))
    return fresh


async def drop_fresh(pg_url: str, fresh: FreshDB) -> None:
    from matrx_orm import dispose_all, unregister_database
    from matrx_orm.config import get_all_database_project_names

    await dispose_all()
    if fresh.name in get_all_database_project_names():
        unregister_database(fresh.name)
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{fresh.name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def fresh_db(pg_url: str) -> AsyncIterator[FreshDB]:
    fresh = await create_fresh(pg_url)
    try:
        yield fresh
    finally:
        await drop_fresh(pg_url, fresh)
