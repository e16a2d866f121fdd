"""Schema migrations apply to an empty schema, and applying them again changes nothing."""

from __future__ import annotations

from services import db
from services.db import connection
from tests.support.stack import Stack, unique


async def test_migrations_apply_twice_in_a_fresh_schema(ready_stack: Stack) -> None:
    schema = unique("mig").replace("-", "_")
    async with connection(ready_stack.dsn) as admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            async with connection(ready_stack.dsn, server_settings={"search_path": schema}) as conn:
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
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    assert first == [name for name, _ in db.migration_files()]
    assert second == []
    assert {"schema_migrations", "api_tokens"} <= tables
