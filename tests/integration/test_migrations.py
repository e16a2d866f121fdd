"""Schema migrations apply to an empty schema, and applying them again changes nothing."""

from __future__ import annotations

import asyncpg

from services import db
from tests.support.stack import Stack, unique


async def test_migrations_apply_twice_in_a_fresh_schema(ready_stack: Stack) -> None:
    schema = unique("mig").replace("-", "_")
    admin = await asyncpg.connect(ready_stack.dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        conn = await asyncpg.connect(ready_stack.dsn, server_settings={"search_path": schema})
        try:
            first = await db.migrate(conn)
            second = await db.migrate(conn)
            tables = {
                r["table_name"]
                for r in await conn.fetch(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                    schema,
                )
            }
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()

    assert first == [name for name, _ in db.migration_files()]
    assert second == []
    assert {"schema_migrations", "api_tokens"} <= tables
