"""The read models are a function of the log alone: replayed twice, or with every event
delivered twice, they come out identical, row for row."""

from __future__ import annotations

import dataclasses

from services.db import connection
from services.projector import sharded, store
from simulation.histories import generate, produce
from tests.support.projections import dump, replay
from tests.support.stack import Scratch, Stack

EVENTS = 5_000


async def test_replays_and_redelivery_give_identical_read_models(
    ready_stack: Stack, scratch: Scratch
) -> None:
    once, twice = await scratch.topics(name="rp"), await scratch.topics(name="rp")
    log = generate(EVENTS, contracts=100, seed=7, check=True)
    await produce(ready_stack.bootstrap, once.events.name, once.events.partitions, log, "none")
    doubled = dataclasses.replace(log, records=[r for rec in log.records for r in (rec, rec)])
    await produce(
        ready_stack.bootstrap, twice.events.name, twice.events.partitions, doubled, "none"
    )

    schemas = [scratch.schema("rp") for _ in range(3)]
    first = await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[0])
    await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[1])
    dup = await replay(ready_stack.bootstrap, twice.events, ready_stack.dsn, schemas[2])
    a, b, c = [await dump(ready_stack.dsn, s) for s in schemas]

    assert first.progress.applied == EVENTS
    assert (dup.progress.applied, dup.progress.skipped) == (EVENTS, EVENTS)
    assert len(a["contracts"]) == 100 and len(a["margin_impacts"]) > 100
    assert a == b
    assert a == c


async def test_a_replay_sharded_over_processes_equals_one_in_a_single_process(
    ready_stack: Stack, scratch: Scratch
) -> None:
    """What `ledger projections rebuild` does with LEDGER_REBUILD_PROCESSES=3: three processes,
    two partitions each, writing into one schema."""
    prefix = scratch.prefix("rs")
    t = await scratch.topics(prefix)
    log = generate(EVENTS, contracts=100, seed=11, check=True)
    await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, log, "none")
    single, sharded_schema = scratch.schema("rs"), scratch.schema("rs")
    settings = ready_stack.settings.model_copy(
        update={"topic_prefix": prefix, "projection_schema": sharded_schema}
    )
    await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, single)
    async with connection(ready_stack.dsn) as conn:
        await store.ensure_live_schema(conn, sharded_schema, t.events.name)
    result = await sharded.replay(settings, sharded_schema, processes=3)
    one, three = await dump(ready_stack.dsn, single), await dump(ready_stack.dsn, sharded_schema)
    positions = await _positions(ready_stack.dsn, sharded_schema)

    assert (result.applied, result.skipped, result.poisoned) == (EVENTS, 0, 0)
    assert sum(positions.values()) == EVENTS and sorted(positions) == list(range(6))
    assert len(one["contracts"]) == 100
    assert one == three


async def _positions(dsn: str, schema: str) -> dict[int, int]:
    async with connection(dsn) as conn:
        rows = await conn.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
        return {r["partition"]: r["next_offset"] for r in rows}
