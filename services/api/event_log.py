"""Reading one contract's events: from the audit index (`GET /v1/events`), or from the log of
record itself (a preview, which must see what the writer has accepted this instant)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.catalogue import Event
from events.topics import TopicSpec, partition_of
from services.api.read import event_log as indexed
from services.kafka_log import read_partition_events


async def contract_events(
    bootstrap: str, topic: TopicSpec, contract_id: str, after_version: int = 0
) -> list[Event]:
    """The contract's committed events with stream_version > after_version, in order.

    Scans the contract's partition from its start: O(the partition). Audit reads the index
    instead (`caught_up` + `read.event_log`).
    """
    partition = partition_of(contract_id, topic.partitions)
    events = await read_partition_events(bootstrap, topic.name, partition, contract_id.encode())
    return [e for e in events if (e.stream_version or 0) > after_version]


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
