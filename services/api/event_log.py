"""Reading one contract's events from the log of record, for audit."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from events.catalogue import Event
from events.serialization import decode_event
from events.topics import TopicSpec


def partition_of(contract_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives this contract's key."""
    return int(murmur2(contract_id.encode()) & 0x7FFFFFFF) % partitions


async def contract_events(
    bootstrap: str, topic: TopicSpec, contract_id: str, after_version: int = 0
) -> list[Event]:
    """The contract's committed events with stream_version > after_version, in order.

    Scans the contract's partition from its start: fine for audit; the projections issue
    gives the read side a PostgreSQL copy for anything hot.
    """
    tp = TopicPartition(topic.name, partition_of(contract_id, topic.partitions))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        key = contract_id.encode()
        found: list[Event] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
            for r in batch.get(tp, []):
                if r.key == key and r.value:
                    event = decode_event(r.value)
                    if (event.stream_version or 0) > after_version:
                        found.append(event)
        return found
    finally:
        await consumer.stop()
