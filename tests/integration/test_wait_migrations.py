"""`ledger wait migrations`: what the API's pods wait on in Kubernetes before they start
(deploy/k8s: the migration Job runs `ledger db migrate`). It waits while a migration of this
version is missing and returns once every one is applied."""

from __future__ import annotations

import os
import subprocess
import sys

from services import db
from services.db import connection
from tests.support.stack import Scratch

LEDGER = [sys.executable, "-m", "services.cli"]


def _ledger(dsn: str, projections: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn, "LEDGER_PROJECTION_SCHEMA": projections}
    return subprocess.run(
        [*LEDGER, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_waits_for_the_migrations_then_returns(scratch: Scratch) -> None:
    tables, projections = scratch.schema("waitmig"), scratch.schema("waitmig_proj")
    async with connection(scratch.stack.dsn) as conn:
        await conn.execute(f'CREATE SCHEMA "{tables}"')
    sep = "&" if "?" in scratch.stack.dsn else "?"
    dsn = f"{scratch.stack.dsn}{sep}search_path={tables}"

    empty = _ledger(dsn, projections, "wait", "migrations", "--timeout", "1")
    assert empty.returncode == 1
    assert "PostgreSQL with this version's migrations did not answer within 1 s" in empty.stderr

    async with connection(dsn) as conn:
        assert await db.pending(conn) == [name for name, _ in db.migration_files()]
        # One applied of them: still waiting for the rest.
        first, sql = db.migration_files()[0]
        await conn.execute(
            "CREATE TABLE schema_migrations (name text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(sql)
        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", first)
        assert first not in await db.pending(conn)
    assert _ledger(dsn, projections, "wait", "migrations", "--timeout", "1").returncode == 1

    migrated = _ledger(dsn, projections, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    done = _ledger(dsn, projections, "wait", "migrations", "--timeout", "10")
    assert done.returncode == 0, done.stderr
    async with connection(dsn) as conn:
        assert await db.pending(conn) == []
