"""Reading one contract's events: from the audit index (`GET /v1/events`, once the projector
has caught up), or from the index and the log's unindexed tail (a preview, which must see what
the writer has accepted this instant)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.catalogue import Event
from events.serialization import decode_event
from events.topics import TopicSpec, partition_of
from services.kafka_log import read_partition
from services.reads import event_log as indexed


async def contract_events(
    bootstrap: str, db: asyncpg.Pool, schema: str, topic: TopicSpec, contract_id: str
) -> list[Event]:
    """The contract's committed events, in stream order, as the log holds them this instant
    (what a preview must judge against): those the projector has indexed, read from the index
    in O(the contract's events), then the contract's in the rest of its partition, read from
    the log from the projector's position on (none, unless the projector is behind).
    """
    partition = partition_of(contract_id, topic.partitions)
    try:
        async with (
            db.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            # A batch's index rows and its position are written in one transaction: in one
            # snapshot, the rows are exactly the contract's events before that position.
            start = await indexed.projected_offset(conn, schema, partition)
            bodies = await indexed.contract_bodies(conn, schema, contract_id)
    except asyncpg.UndefinedTableError:  # no projection yet: the log alone
        start, bodies = 0, []
    events = [decode_event(b) for b in bodies]
    last = (events[-1].stream_version or 0) if events else 0
    key = contract_id.encode()
    async for record in read_partition(bootstrap, topic.name, partition, start):
        if record.key == key and record.value is not None:
            event = decode_event(record.value)
            if (event.stream_version or 0) > last:
                events.append(event)
    return events


async def caught_up(
    offsets: AIOKafkaConsumer,
    db: asyncpg.Pool,
    schema: str,
    topic: TopicSpec,
    contract_id: str,
    wait_s: float,
) -> bool:
    """Waits (at most `wait_s`) until the projector has applied every event committed to the
    contract's partition before this call; whether it had (False too when Kafka does not say
    where the partition ends: the index is read anyway). `offsets` must read committed: its
    end offset is then the last stable one, which the projector can reach."""
    tp = TopicPartition(topic.name, partition_of(contract_id, topic.partitions))
    deadline = time.monotonic() + max(wait_s, 0.0)
    try:
        end = (await asyncio.wait_for(offsets.end_offsets([tp]), max(wait_s, 0.1)))[tp]
    except Exception:  # Kafka away: what is projected is still worth answering
        return False
    while await indexed.projected_offset(db, schema, tp.partition) < end:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def audit_page(
    offsets: AIOKafkaConsumer,
    db: asyncpg.Pool,
    schema: str,
    topic: TopicSpec,
    contract_id: str,
    after_version: int,
    limit: int,
    wait_s: float,
) -> tuple[indexed.Page | None, bool]:
    """A page of the contract's audit log once the projector has caught up with what was
    committed before this call (at most `wait_s`), and whether it had (`caught_up`)."""
    up_to_date = await caught_up(offsets, db, schema, topic, contract_id, wait_s)
    page = await indexed.contract_page(db, schema, contract_id, after_version, limit)
    return page, up_to_date
