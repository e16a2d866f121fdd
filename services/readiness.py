"""Waiting for Kafka and PostgreSQL to answer, for scripts that start them."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from services import kafka_connection


async def kafka_answers(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, **kafka_connection.options()
    )
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


async def postgres_answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except Exception:
        return False
    try:
        await conn.fetchval("SELECT 1")
        return True
    finally:
        await conn.close()


async def migrated(dsn: str) -> bool:
    """PostgreSQL answers and has every migration of this version (`ledger db migrate` ran)."""
    from services import db

    try:
        async with db.connection(dsn, timeout=5) as conn:
            return not await db.pending(conn)
    except Exception:
        return False


async def wait_until(check: object, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not answer within {timeout_s:.0f} s")
        await asyncio.sleep(0.5)
