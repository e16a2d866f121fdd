"""The read models are a function of the log alone: replayed twice, or with every event
delivered twice, they come out identical, row for row."""

from __future__ import annotations

import dataclasses

import asyncpg

from events.topics import topics
from services import kafka_admin
from services.projector import sharded, store
from tests.support.histories import generate, produce
from tests.support.projections import drop, dump, replay
from tests.support.stack import Stack, unique

EVENTS = 5_000


async def test_replays_and_redelivery_give_identical_read_models(ready_stack: Stack) -> None:
    once, twice = topics(unique("rp")), topics(unique("rp"))
    for t in (once, twice):
        await kafka_admin.ensure_topics(ready_stack.bootstrap, t)
    log = generate(EVENTS, contracts=100, seed=7, check=True)
    await produce(ready_stack.bootstrap, once.events.name, once.events.partitions, log, "none")
    doubled = dataclasses.replace(log, records=[r for rec in log.records for r in (rec, rec)])
    await produce(
        ready_stack.bootstrap, twice.events.name, twice.events.partitions, doubled, "none"
    )

    schemas = [unique("rp").replace("-", "_") for _ in range(3)]
    try:
        first = await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[0])
        await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[1])
        dup = await replay(ready_stack.bootstrap, twice.events, ready_stack.dsn, schemas[2])
        a, b, c = [await dump(ready_stack.dsn, s) for s in schemas]
    finally:
        await drop(ready_stack.dsn, *schemas)

    assert first.progress.applied == EVENTS
    assert (dup.progress.applied, dup.progress.skipped) == (EVENTS, EVENTS)
    assert len(a["contracts"]) == 100 and len(a["margin_impacts"]) > 100
    assert a == b
    assert a == c


async def test_a_replay_sharded_over_processes_equals_one_in_a_single_process(
    ready_stack: Stack,
) -> None:
    """What `ledger projections rebuild` does with LEDGER_REBUILD_PROCESSES=3: three processes,
    members of the rebuild's consumer group, sharing the partitions and one schema."""
    prefix = unique("rs")
    t = topics(prefix)
    await kafka_admin.ensure_topics(ready_stack.bootstrap, t)
    log = generate(EVENTS, contracts=100, seed=11, check=True)
    await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, log, "none")
    single, sharded_schema = (unique("rs").replace("-", "_") for _ in range(2))
    settings = ready_stack.settings.model_copy(
        update={"topic_prefix": prefix, "projection_schema": sharded_schema}
    )
    try:
        await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, single)
        conn = await asyncpg.connect(ready_stack.dsn)
        try:
            await store.ensure_live_schema(conn, sharded_schema, t.events.name)
        finally:
            await conn.close()
        result = await sharded.replay(settings, sharded_schema, processes=3)
        one, three = (
            await dump(ready_stack.dsn, single),
            await dump(ready_stack.dsn, sharded_schema),
        )
        positions = await _positions(ready_stack.dsn, sharded_schema)
    finally:
        await drop(ready_stack.dsn, single, sharded_schema)

    assert (result.applied, result.skipped, result.poisoned) == (EVENTS, 0, 0)
    assert sum(positions.values()) == EVENTS and sorted(positions) == list(range(6))
    assert len(one["contracts"]) == 100
    assert one == three


async def _positions(dsn: str, schema: str) -> dict[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
        return {r["partition"]: r["next_offset"] for r in rows}
    finally:
        await conn.close()
