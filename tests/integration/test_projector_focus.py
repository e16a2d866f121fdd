"""A projector far behind on several partitions reads two at a time (the most behind first)
until it is nearly caught up there: the contracts a stretch of the log keeps active are then
their share, which a cache too small for every partition's holds, and it reads few back from
PostgreSQL. The tables are those of any other replay."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

from aiokafka import AIOKafkaProducer

from services.db import connection
from services.projector import store
from services.projector.worker import Projector
from simulation.histories import Log, generate
from tests.support.projections import dump, replay
from tests.support.stack import Scratch, Stack

BATCH = 20


async def test_far_behind_it_reads_one_partition_at_a_time_and_reads_back_little(
    ready_stack: Stack, scratch: Scratch
) -> None:
    t = await scratch.topics(name="pf")
    # 60 contracts, their events dealt round-robin: every stretch of the log touches all of
    # them, ten or so a partition.
    log = _dealt(generate(3_000, contracts=120, seed=3, check=True))
    await _produce_in_small_batches(ready_stack.bootstrap, t.events.name, log)
    reference, focused = scratch.schema("pf"), scratch.schema("pf")
    await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, reference)
    async with connection(ready_stack.dsn) as conn:
        await store.ensure_live_schema(conn, focused, t.events.name)
    # Fetches of a record batch (a few dozen events) from every partition, as a long log's
    # 8 MiB fetches are to its millions of events; a cache of 50 contracts: two partitions'
    # share, not six's.
    p = Projector(
        ready_stack.bootstrap, t.events, ready_stack.dsn, live=focused,
        cache_contracts=50, max_batch=BATCH, fetch_bytes=2048,
    )  # fmt: skip
    # Per batch: the partitions it moved, those read, and where every partition was before.
    moves: list[tuple[set[int], tuple[int, ...], dict[int, int]]] = []
    seen: dict[int, int] = {}

    def on_batch(p: Projector) -> None:
        moved = {q for q, at in p.positions.items() if at != seen.get(q, 0)}
        moves.append((moved, p.reading, dict(seen)))
        seen.update(p.positions)

    await p.start()
    try:
        await asyncio.wait_for(p.run(asyncio.Event(), until_caught_up=True, on_batch=on_batch), 120)
    finally:
        await p.stop()
    ends = dict(p.positions)

    assert await dump(ready_stack.dsn, focused) == await dump(ready_stack.dsn, reference)
    assert p.progress.applied == 3_000
    assert len(ends) == 6 and sum(ends.values()) == 3_000
    # Few contracts read back: those of the partitions' tails, read together at the end (and
    # of the first batches, before the consumer knew the log's ends). Reading every partition
    # as it comes, the cache holds a quarter of what each stretch of the log touches: about
    # 950 read back.
    assert p.progress.read_back < 200
    # Once the cache had dropped a contract (a few batches in), while three or more partitions
    # were a batch or more behind, the batches read two partitions alone (but the odd read of
    # every partition, when theirs had not come within its wait), and each partition was read
    # in one run of batches: once left, it waited for the end.
    runs: dict[int, list[int]] = {}
    started = next(k for k, (_, reading, _) in enumerate(moves) if reading)
    assert started <= 10
    alone = 0
    for moved, reading, before in moves[started:]:
        if len([q for q, end in ends.items() if end - before.get(q, 0) >= BATCH]) < 3:
            break
        if not reading:
            continue
        alone += 1
        assert len(reading) == 2 and moved <= set(reading), (moved, reading, before)
        for q in reading:
            runs.setdefault(q, []).append(alone)
    assert alone >= 20 and len(runs) >= 4  # from partition to partition
    for q, ks in runs.items():
        assert ks == list(range(ks[0], ks[-1] + 1)), (q, ks)


def _dealt(log: Log) -> Log:
    streams: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for key, value in log.records:
        streams.setdefault(key, []).append((key, value))
    dealt = [r for rs in itertools.zip_longest(*streams.values()) for r in rs if r is not None]
    return dataclasses.replace(log, records=dealt)


async def _produce_in_small_batches(bootstrap: str, topic: str, log: Log) -> None:
    """Record batches of a few dozen events (a fetch returns at least one whole batch)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=16_384)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key) for key, value in log.records]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
