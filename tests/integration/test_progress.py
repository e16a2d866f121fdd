"""The API's progress listener (services/progress.py) against the real PostgreSQL: a waiting
request is woken by the NOTIFY of the commits that project and judge its event, and again after
the listening connection was lost (PostgreSQL restarted it) and re-established."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services import progress
from services.progress import Progress
from tests.support.stack import Stack, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def watched(
    ready_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Progress, asyncpg.Pool, str, str]]:
    monkeypatch.setattr(progress, "SAFETY_S", 3600.0)  # only a NOTIFY wakes a waiting request
    schema, topic = unique("progress").replace("-", "_"), unique("events")
    pool = await asyncpg.create_pool(ready_stack.dsn, min_size=1, max_size=4)
    # The two facts the listener reads: the projector's contracts table, the risk progress.
    await pool.execute(
        f"""CREATE SCHEMA {schema};
            CREATE TABLE {schema}.contracts (contract_id text PRIMARY KEY, stream_version int)"""
    )
    p = Progress(ready_stack.dsn, pool, schema, topic)
    await p.start()
    try:
        yield p, pool, schema, topic
    finally:
        await p.stop()
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.execute("DELETE FROM risk_progress WHERE events_topic = $1", topic)
        await pool.close()


async def _project(pool: asyncpg.Pool, schema: str, v: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"""INSERT INTO {schema}.contracts VALUES ('C-1', $1)
                ON CONFLICT (contract_id) DO UPDATE SET stream_version = $1""",
            v,
        )
        await progress.notify(conn, "projected", schema)


async def _judge(pool: asyncpg.Pool, topic: str, v: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO risk_progress VALUES ($1, 'C-1', $2) ON CONFLICT
               (events_topic, contract_id) DO UPDATE SET stream_version = $2""",
            topic,
            v,
        )
        await progress.notify(conn, "judged", topic)


async def _connected(p: Progress, old_pid: int | None = None) -> None:
    for _ in range(200):
        if p.connected and p.backend_pid not in (None, old_pid):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the listener did not connect")


async def test_waiting_request_is_woken_by_the_commits_and_after_a_lost_connection(
    watched: tuple[Progress, asyncpg.Pool, str, str],
) -> None:
    p, pool, schema, topic = watched
    await _connected(p)
    for v in (1, 2):
        want = {("C-1", v)}
        waiting = asyncio.create_task(p.reached(want, 20))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing projected yet: it waits
        await _project(pool, schema, v)
        await asyncio.sleep(0.3)
        assert not waiting.done()  # projected, not yet judged
        await _judge(pool, topic, v)
        assert await asyncio.wait_for(waiting, 20) == (want, want)
        if v == 1:  # PostgreSQL drops the listening connection: it is opened again
            old = p.backend_pid
            await pool.execute("SELECT pg_terminate_backend($1)", old)
            await _connected(p, old)

    # Not reached within the wait: answered with what was reached (here nothing).
    assert await p.reached({("C-1", 9)}, 0.3) == (set(), set())
