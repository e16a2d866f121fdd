"""The Kafka log read and written off the hot paths, once for every process: end offsets, one
partition's committed events, committed records read by offset, and the dead-letter record of
what cannot be processed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from events.catalogue import Event
from events.serialization import decode_event
from events.topics import TopicSpec, partition_of
from services import kafka_connection

WHOLE_LOG_READS: Final[dict[str, Any]] = {
    "enable_auto_commit": False,
    "isolation_level": "read_committed",
    "auto_offset_reset": "earliest",
    # Whole partitions are read: large fetches, fewer round trips (a writer's first fold and a
    # projector's replay read millions of events).
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_bytes": 64 * 1024 * 1024,
}
"""The options of a consumer reading a log through (a projector; one partition's fold):
committed records only, from the earliest kept, in large fetches, its offsets committed by
no one but itself."""


def partitions_of(topic: TopicSpec) -> list[TopicPartition]:
    return [TopicPartition(topic.name, p) for p in range(topic.partitions)]


async def end_offsets(
    consumer: AIOKafkaConsumer, topic: TopicSpec | Sequence[TopicPartition]
) -> dict[int, int]:
    """The end offset of each partition (of the whole topic, or of the partitions given), by
    partition number. With read_committed it is the last stable offset."""
    tps = partitions_of(topic) if isinstance(topic, TopicSpec) else list(topic)
    ends = await consumer.end_offsets(tps)
    return {tp.partition: offset for tp, offset in ends.items()}


async def log_ends(bootstrap: str, topic: TopicSpec) -> dict[int, int]:
    """The end offset of each partition of `topic` now (records and transaction markers)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kafka_connection.options())
    await consumer.start()
    try:
        return await end_offsets(consumer, topic)
    finally:
        await consumer.stop()


async def read_partition(
    bootstrap: str, topic: str, partition: int, start: int = 0
) -> AsyncIterator[ConsumerRecord]:
    """The committed records of one partition from offset `start` (or the earliest kept) to its
    end as it is when called, one by one: never held at once."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        **kafka_connection.options(),
        # Smaller fetches than a projector's: a writer reads all its partitions side by side,
        # each fetch held until read (8 MiB ones took its peak RSS from 113 MiB to 136 MiB at
        # 200,000 events, for no gain in CPU).
        **{**WHOLE_LOG_READS, "max_partition_fetch_bytes": 4 * 1024 * 1024},
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        # With read_committed this is the last stable offset: no open transaction hides past it.
        # (Asked before seeking: asked after a seek to the beginning, it waits half a second.)
        end = (await end_offsets(consumer, [tp]))[partition]
        if start > 0:
            consumer.seek(tp, start)
        else:
            await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end:
            # Short waits: a fetch past the records to a transaction marker brings nothing, and
            # the position moves past the marker without waking getmany before its timeout.
            # A few thousand records at a time: ConsumerRecords made as they are read.
            batch = await consumer.getmany(tp, timeout_ms=50, max_records=2_000)
            for record in batch.get(tp, []):
                if record.offset < end:
                    yield record
    finally:
        await consumer.stop()


class OffsetReader:
    """Committed records of one topic read by their offsets, through one consumer kept open
    (no group, nothing committed): for the rare reads of records a process remembers by offset.
    Not safe for concurrent use; `stop` when done."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer: AIOKafkaConsumer | None = None

    async def _started(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                **kafka_connection.options(),
                enable_auto_commit=False,
                isolation_level="read_committed",
                # An offset no longer kept (compacted, the topic recreated) moves to the
                # earliest: the record wanted is then simply not found.
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self.consumer = consumer
        return self.consumer

    async def end(self, partition: int) -> int:
        """The partition's last stable offset: every committed record is before it."""
        consumer = await self._started()
        return (await end_offsets(consumer, [TopicPartition(self.topic, partition)]))[partition]

    async def read(self, partition: int, offsets: Iterable[int]) -> dict[int, ConsumerRecord]:
        """The committed records at `offsets` of `partition`, by offset; an offset holding none
        (past the end, no longer kept, an aborted or a control record) is left out."""
        consumer = await self._started()
        tp = TopicPartition(self.topic, partition)
        if consumer.assignment() != {tp}:
            consumer.assign([tp])
            # Fetched only while read: an assigned partition is otherwise fetched ahead in the
            # background, records nobody asked for.
            consumer.pause(tp)
        wanted = set(offsets)
        end = (await end_offsets(consumer, [tp]))[partition]
        found: dict[int, ConsumerRecord] = {}
        try:
            for offset in sorted(wanted):
                if offset in found or offset >= end:
                    continue
                consumer.seek(tp, offset)
                consumer.resume(tp)
                while await consumer.position(tp) <= offset:
                    batch = await consumer.getmany(tp, timeout_ms=50, max_records=64)
                    for record in batch.get(tp, []):
                        if record.offset in wanted:
                            found.setdefault(record.offset, record)
                consumer.pause(tp)
        finally:
            if tp in consumer.assignment():
                consumer.pause(tp)
        return found

    async def stop(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()


async def read_partition_events(
    bootstrap: str, topic: str, partition: int, key: bytes | None = None
) -> list[Event]:
    """Every committed event of one partition of an events topic, in order (only those keyed
    `key`, when given)."""
    return [
        decode_event(r.value)
        async for r in read_partition(bootstrap, topic, partition)
        if r.value and (key is None or r.key == key)
    ]


async def dead_letter(
    producer: AIOKafkaProducer, topic: str, record: ConsumerRecord, reason: str
) -> asyncio.Future[object]:
    """Send `record` as it came to the dead-letter `topic`, with why (`reason`) and where from
    (`source`: topic/partition/offset) in its headers; the future resolves once written."""
    headers = [
        ("reason", reason.encode()),
        ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ]
    sent: asyncio.Future[object] = await producer.send(
        topic, record.value or b"", key=record.key, headers=headers
    )
    return sent


async def send_keyed(
    producer: AIOKafkaProducer, topic: str, records: Iterable[tuple[bytes, bytes]]
) -> None:
    """(key, value) records onto `topic`, each on the partition `producer.send(key=...)` would
    pick (Kafka's default partitioner), in their order within a partition; returns once all
    are on. Appended to a batch per partition, a batch sent when full and the rest at the end:
    a `send` costs ~15 µs of Python a record, which a bulk pass's tens of thousands of alerts
    (or a benchmark's millions of events) feel."""
    partitions = len(await producer.partitions_for(topic))
    where: dict[bytes, int] = {}  # a key's partition, hashed once
    batches: dict[int, Any] = {}
    sent = []
    for key, value in records:
        p = where.get(key)
        if p is None:
            p = where[key] = partition_of(key.decode(), partitions)
        batch = batches.get(p)
        if batch is None:
            batch = batches[p] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            sent.append(await producer.send_batch(batch, topic, partition=p))
            batch = batches[p] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value)} bytes exceeds a batch of {topic}")
    for p, batch in batches.items():
        sent.append(await producer.send_batch(batch, topic, partition=p))
    await asyncio.gather(*sent)
