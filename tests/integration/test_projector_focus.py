"""A projector far behind on several partitions reads one at a time (the most behind first)
until it is nearly caught up there: the contracts a stretch of the log keeps active are then
one partition's share, which a cache too small for every partition's holds, and it reads
hardly any back from PostgreSQL. The tables are those of any other replay."""

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
    # 8 MiB fetches are to its millions of events; a cache of 30 contracts, a quarter of them.
    p = Projector(
        ready_stack.bootstrap, t.events, ready_stack.dsn, live=focused,
        cache_contracts=30, max_batch=BATCH, fetch_bytes=2048,
    )  # fmt: skip
    moves: list[tuple[set[int], dict[int, int]]] = []  # per batch: moved, where all were
    seen: dict[int, int] = {}

    def on_batch(p: Projector) -> None:
        moved = {q for q, at in p.positions.items() if at != seen.get(q, 0)}
        moves.append((moved, dict(seen)))
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
    # While two or more partitions were a batch or more behind, each batch but the first few
    # (before the consumer knew the log's ends) moved one partition, and a partition once left
    # was never returned to before the end.
    done: set[int] = set()
    current = None
    for moved, before in moves[6:]:
        behind = [q for q, end in ends.items() if end - before.get(q, 0) >= BATCH]
        if len(behind) < 2:
            break
        assert len(moved) == 1, (moved, before)
        (q,) = moved
        assert q not in done
        if q != current and current is not None:
            done.add(current)
        current = q
    assert len(done) >= 3  # the focus moved from partition to partition


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
