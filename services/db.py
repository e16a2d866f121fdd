"""PostgreSQL: connections and schema migrations.

Migrations are the numbered .sql files of services/migrations, applied in order, each in its
own transaction together with its row in schema_migrations, under an advisory lock so that two
processes migrating at once apply each file exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import asyncpg

_MIGRATION_LOCK = 0x4C454447  # "LEDG": any constant shared by every migrating process


@asynccontextmanager
async def connection(dsn: str, **options: Any) -> AsyncIterator[asyncpg.Connection]:
    """One connection to `dsn` (`options` as asyncpg.connect takes them), closed on the way
    out whatever happens inside."""
    conn = await asyncpg.connect(dsn, **options)
    try:
        yield conn
    finally:
        await conn.close()


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("services") / "migrations"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not yet applied; returns the names applied by this call."""
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def pending(conn: asyncpg.Connection) -> list[str]:
    """The migrations of this version not applied yet (every one, on an empty database)."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return [name for name, _ in migration_files()]
    done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    return [name for name, _ in migration_files() if name not in done]


async def migrate_dsn(dsn: str) -> list[str]:
    async with connection(dsn) as conn:
        return await migrate(conn)
