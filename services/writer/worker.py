"""The writer process: the only producer to the events topic.

For each partition of the submissions topic it owns, it keeps the state of that partition's
contracts, decides each submission with the pure `decide`, and in ONE Kafka transaction
appends the accepted events (to the same partition number of the events topic), publishes the
verdicts, dead-letters what cannot be decoded, and commits its input offsets. A crash anywhere
aborts the whole transaction: nothing half-done is ever visible to read_committed readers.

The state is never stored on its own: when a partition is assigned, it is folded from that
partition of the events topic, after the partition's transactional producer has fenced any
previous owner (so an open transaction of a killed writer is aborted before we read). The log
is the only truth. One transactional id per input partition keeps a zombie of another writer
instance from appending after a rebalance.

aiokafka's transactional producer is used rather than Faust's exactly-once mode, whose open
bugs (faust-streaming/faust#323, #517, #177) are duplicates after a rebalance and writes
outside the transaction: exactly what this process exists to prevent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from events.catalogue import Event
from events.messages import decode_submission, encode_verdict
from events.serialization import decode_event, encode_event
from events.topics import Topics
from services.writer.decide import decide
from services.writer.state import ContractState, evolve, fold

log = logging.getLogger("ledger.writer")


@dataclass
class OwnedPartition:
    """One input partition this writer owns: its producer and its contracts' state."""

    partition: int
    producer: AIOKafkaProducer
    states: dict[str, ContractState] = field(default_factory=dict)


async def read_partition_events(bootstrap: str, topic: str, partition: int) -> list[Event]:
    """Every committed event of one partition of the events topic, in order."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        # With read_committed this is the last stable offset: no open transaction hides past it.
        end = (await consumer.end_offsets([tp]))[tp]
        events: list[Event] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
            events.extend(decode_event(r.value) for r in batch.get(tp, []) if r.value)
        return events
    finally:
        await consumer.stop()


class Writer:
    def __init__(self, bootstrap: str, topics: Topics, group_id: str) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_id = group_id
        self.owned: dict[int, OwnedPartition] = {}
        # aiokafka may hand out records of a partition while the rebalance listener is still
        # taking it over, so the loop and the listener both go through `own`, one at a time.
        self._owning = asyncio.Lock()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=300_000,
        )

    # -- ownership ---------------------------------------------------------------------------

    async def own(self, partition: int) -> OwnedPartition:
        async with self._owning:
            if partition not in self.owned:
                await self.take(partition)
            return self.owned[partition]

    async def take(self, partition: int) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            transactional_id=f"{self.group_id}.{self.topics.submissions.name}.{partition}",
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
        )
        await producer.start()  # InitProducerId: fences the previous owner, aborts its txn
        events = await read_partition_events(self.bootstrap, self.topics.events.name, partition)
        self.owned[partition] = OwnedPartition(partition, producer, fold(events))
        log.info(
            "partition %d: %d events folded into %d contracts",
            partition,
            len(events),
            len(self.owned[partition].states),
        )

    async def release(self, partition: int) -> None:
        owned = self.owned.pop(partition, None)
        if owned is not None:
            await owned.producer.stop()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topics.submissions.name], listener=_Rebalance(self))
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    if records:
                        await self.process(tp, records)
        finally:
            for p in list(self.owned):
                await self.release(p)
            await self.consumer.stop()

    async def process(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        owned = await self.own(tp.partition)
        try:
            updated = await self._transact(owned, tp, records)
        except Exception:
            log.exception("partition %d: transaction failed; rebuilding from the log", tp.partition)
            await self._recover(owned, tp)
            return
        owned.states.update(updated)

    async def _transact(
        self, owned: OwnedPartition, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> Mapping[str, ContractState]:
        producer = owned.producer
        # Changes are kept aside until the transaction commits: an abort must leave no trace.
        updated: dict[str, ContractState] = {}
        sends = []
        await producer.begin_transaction()
        try:
            for record in records:
                key = record.key
                try:
                    submission = decode_submission(record.value or b"")
                except Exception as exc:  # a poison message must never stop the writer
                    sends.append(await self._dead_letter(producer, record, exc))
                    continue
                cid = submission.event.contract_id
                state = updated.get(cid) or owned.states.get(cid)
                decision = decide(state, submission, datetime.now(UTC))
                if decision.append is not None:
                    sends.append(
                        await producer.send(
                            self.topics.events.name,
                            encode_event(decision.append),
                            key=cid.encode(),
                            partition=tp.partition,
                        )
                    )
                    updated[cid] = evolve(state, decision.append)
                sends.append(
                    await producer.send(
                        self.topics.verdicts.name, encode_verdict(decision.verdict), key=key
                    )
                )
            await asyncio.gather(*sends)
            await producer.send_offsets_to_transaction({tp: records[-1].offset + 1}, self.group_id)
            await producer.commit_transaction()
        except BaseException:
            if producer._txn_manager is not None and producer._txn_manager.is_in_transaction():
                try:
                    await producer.abort_transaction()
                except Exception:
                    log.exception("abort failed")
            raise
        return updated

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord, exc: Exception
    ) -> asyncio.Future[object]:
        reason = f"{type(exc).__name__}: {exc}"[:4000]
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        headers = [
            ("reason", reason.encode()),
            ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        fut: asyncio.Future[object] = await producer.send(
            self.topics.dead_letters.name, record.value or b"", key=record.key, headers=headers
        )
        return fut

    async def _recover(self, owned: OwnedPartition, tp: TopicPartition) -> None:
        """After a failed transaction: state from the log, position from the committed offset."""
        async with self._owning:
            await self.release(tp.partition)
            await self.take(tp.partition)
        committed = await self.consumer.committed(tp)
        if committed is None:
            await self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, committed)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("revoked: %s", sorted(tp.partition for tp in revoked))
        async with self.writer._owning:
            for tp in revoked:
                await self.writer.release(tp.partition)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned: %s", sorted(tp.partition for tp in assigned))
        for tp in assigned:
            await self.writer.own(tp.partition)
