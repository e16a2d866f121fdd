"""Reading one contract's events from the log of record, for audit."""

from __future__ import annotations

from aiokafka.partitioner import murmur2

from events.catalogue import Event
from events.topics import TopicSpec
from services.kafka_log import read_partition_events


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
    partition = partition_of(contract_id, topic.partitions)
    events = await read_partition_events(bootstrap, topic.name, partition, contract_id.encode())
    return [e for e in events if (e.stream_version or 0) > after_version]
