"""The read models are a function of the log alone: replayed again (interleaved, through a tiny
cache of contracts, or of rows), or with every event delivered twice, they come out identical,
row for row."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

from services.db import connection
from services.projector import sharded, store
from services.projector.worker import Projector
from simulation.histories import Log, generate, produce
from tests.support.projections import dump, replay
from tests.support.stack import Scratch, Stack

# Enough that a cache of 3 contracts (or 30 rows) reads contracts back well over the 1,000 times
# asserted below (each of the 100 contracts many times): 1,500 times with 2,500 events, so about
# 2,100 with these, twice the bound.
EVENTS = 3_500


async def test_replays_and_redelivery_give_identical_read_models(
    ready_stack: Stack, scratch: Scratch
) -> None:
    once, twice, mixed = [await scratch.topics(name="rp") for _ in range(3)]
    log = generate(EVENTS, contracts=100, seed=7, check=True)
    await produce(ready_stack.bootstrap, once.events.name, once.events.partitions, log, "none")
    doubled = dataclasses.replace(log, records=[r for rec in log.records for r in (rec, rec)])
    await produce(
        ready_stack.bootstrap, twice.events.name, twice.events.partitions, doubled, "none"
    )
    await produce(
        ready_stack.bootstrap, mixed.events.name, mixed.events.partitions, _dealt(log), "none"
    )

    schemas = [scratch.schema("rp") for _ in range(4)]
    first = await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[0])
    # With a cache of 3 contracts and batches of 5 events: contracts are evicted and read
    # back from their stored rows all the time, and must go on as if always held.
    tiny = await replay(
        ready_stack.bootstrap, mixed.events, ready_stack.dsn, schemas[1],
        cache_contracts=3, max_batch=5,
    )  # fmt: skip
    dup = await replay(ready_stack.bootstrap, twice.events, ready_stack.dsn, schemas[2])
    # Bounded by rows instead (a contract's rate history grows with its history): a budget of
    # 30 rows holds only a few of the contracts, however many the cache's count would allow.
    weighed = await replay(
        ready_stack.bootstrap, mixed.events, ready_stack.dsn, schemas[3],
        cache_rows=30, max_batch=5,
    )  # fmt: skip
    a, b, c, d = [await dump(ready_stack.dsn, s) for s in schemas]

    assert first.progress.applied == EVENTS
    assert first.progress.read_back == 0  # 100 contracts: all held
    assert tiny.progress.applied == EVENTS
    assert tiny.progress.read_back > 1_000  # contracts read back many times each
    assert (dup.progress.applied, dup.progress.skipped) == (EVENTS, EVENTS)
    assert len(a["contracts"]) == 100 and len(a["margin_impacts"]) > 100
    assert weighed.progress.applied == EVENTS
    assert weighed.progress.read_back > 1_000
    held = weighed.model.contracts
    assert len(held) < 30
    assert sum(weighed.model.rows_of(cid) for cid in held) <= 30 + max(
        weighed.model.rows_of(cid) for cid in held
    ) * (2 * 5)  # the budget, overrun only by the contracts of the last two batches
    assert a == b
    assert a == c
    assert a == d


def _dealt(log: Log) -> Log:
    """The contracts' events dealt round-robin, each contract's in its order: the same read
    models, but every few batches touch every contract, which a tiny cache cannot all hold."""
    streams: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for key, value in log.records:
        streams.setdefault(key, []).append((key, value))
    dealt = [r for rs in itertools.zip_longest(*streams.values()) for r in rs if r is not None]
    return dataclasses.replace(log, records=dealt)


async def test_a_connection_lost_while_reading_contracts_back_is_ridden_out(
    ready_stack: Stack, scratch: Scratch
) -> None:
    t = await scratch.topics(name="rb")
    log = _dealt(generate(1_000, contracts=40, seed=5, check=True))
    await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, log, "none")
    schemas = [scratch.schema("rb") for _ in range(2)]
    await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, schemas[0])
    async with connection(ready_stack.dsn) as conn:
        await store.ensure_live_schema(conn, schemas[1], t.events.name)
    p = Projector(
        ready_stack.bootstrap, t.events, ready_stack.dsn, live=schemas[1],
        cache_contracts=3, max_batch=5,
    )  # fmt: skip
    await p.start()
    try:
        run = asyncio.create_task(p.run(asyncio.Event(), until_caught_up=True))
        while p.progress.applied < 300 and not run.done():
            await asyncio.sleep(0.005)
        assert p.reader is not None
        assert not run.done()
        p.reader.terminate()  # as PostgreSQL restarting would, mid-replay
        lost = p.reader
        await asyncio.wait_for(run, 120)
        assert p.reader is not lost  # it reconnected, and went on
    finally:
        await p.stop()
    a, b = [await dump(ready_stack.dsn, s) for s in schemas]
    assert len(a["contracts"]) == 40
    assert a == b  # nothing lost or doubled by the reload


async def test_a_replay_sharded_over_processes_equals_one_in_a_single_process(
    ready_stack: Stack, scratch: Scratch
) -> None:
    """What `ledger projections rebuild` does with LEDGER_REBUILD_PROCESSES=3: three processes,
    members of the rebuild's consumer group, sharing the partitions and one schema."""
    prefix, t = await scratch.topics_with_log("rs", EVENTS, contracts=100, seed=11)
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
