# Long: the writer's one transactional loop, one class; its pure parts are in writemodel/.
"""The writer process: the only producer to the events topic.

For each partition of the submissions topic it owns, it keeps the state of that partition's
contracts, decides each submission with the pure `decide`, and in ONE Kafka transaction
appends the accepted events (to the same partition number of the events topic), publishes the
verdicts, dead-letters what cannot be decoded, and commits its input offsets. A crash anywhere
aborts the whole transaction: nothing half-done is ever visible to read_committed readers.

The same transaction writes the new state of every contract it changed to the same partition
number of the compacted writer-state topic, so state and log never disagree. When a partition
is assigned, after the partition's transactional producer has fenced any previous owner (so an
open transaction of a killed writer is aborted before we read), its states are read from that
topic (one record per contract once compacted), and the events from the offset before which
they reflect every event (about the last transaction's, already reflected, skipped by version)
are folded on top. A partition whose states were never written (a log older than the topic,
or the topic lost) is folded from the events topic, and its states written once. The log is
the only truth. One transactional id per input partition keeps a zombie of another writer
instance from appending after a rebalance.

A state record holds only a contract's newest event ids: older ones are sealed, 64 at a time,
into records of the ids topic (same transaction, same partition number) that the state
references by offset, with a Bloom filter over them (`ids.py`). A takeover reads the state
topic alone. A submission whose id the filter may have seen (a redelivery, or about 1 % of new
ids of long streams) has those chunks fetched by offset (a small cache keeps them) before
`decide`; a chunk gone or not what its state says makes the partition fold the log again,
never answer from a guess.

aiokafka's transactional producer is used rather than Faust's exactly-once mode, whose open
bugs (faust-streaming/faust#323, #517, #177) are duplicates after a rebalance and writes
outside the transaction: exactly what this process exists to prevent.

The loop and the rebalance listener never act on a partition at the same time: a transaction
holds the ownership lock until it has committed or aborted, every await on Kafka in it is
bounded (`writer_kafka_timeout_s`), and a batch fetched before a rebalance (an assignment epoch
ago) is dropped rather than decided with a producer the listener has since replaced: the
consumer reads it again from the committed offset. A writer paused past its session timeout
thus re-takes its partitions (fenced, state re-read) and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import ChainMap, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from events.messages import decode_submission, encode_verdict
from events.serialization import decode_event, encode_event
from events.topics import Topics
from services import kafka_connection, probe, watchdog
from services.gc_policy import FewCollections
from services.kafka_log import OffsetReader, dead_letter, read_partition
from writemodel.decide import decide
from writemodel.state import ContractState, LogFold, evolve
from writemodel.stored import (
    PARTITION_KEY,
    chunk_key,
    decode_chunk,
    decode_complete,
    decode_state,
    encode_chunk,
    encode_complete,
    encode_state,
    peek_state,
)

log = logging.getLogger("ledger.writer")

_KAFKA_MAX_REQUEST_SIZE = 1024 * 1024  # aiokafka's default
_MAX_BATCH_SIZE = 512 * 1024
CHUNK_CACHE = 256
WHOLE_FOLDS = 2
"""Fetched (or just written) id chunks kept per partition, about 4 KB each."""


class StateLost(Exception):
    """A partition's stored state references id chunks that are not there as it says: the
    partition is folded from the log again."""


@dataclass
class OwnedPartition:
    """One input partition this writer owns: its producer and its contracts' state."""

    partition: int
    producer: AIOKafkaProducer
    states: dict[str, ContractState] = field(default_factory=dict)
    events_before: int = 0
    """Every committed event of the partition before this offset is in the state topic."""
    stored: dict[str, bytes] = field(default_factory=dict)
    """The state records read at takeover of the contracts not asked about since: decoded
    (into `states`) when first asked about."""
    chunks: OrderedDict[int, bytes] = field(default_factory=OrderedDict)
    """The bytes of written id chunks read lately, by offset in the ids topic (checked
    against the digests of the states referencing them); the least recently used dropped."""

    def state(self, contract_id: str) -> ContractState | None:
        """The contract's state (None: never signed), its record decoded on first ask;
        StateLost if it cannot be."""
        data = self.stored.pop(contract_id, None)
        if data is not None:
            try:
                self.states[contract_id] = decode_state(data)[0]
            except ValueError as exc:
                raise StateLost(f"the state record of {contract_id}: {exc}") from exc
        return self.states.get(contract_id)

    def keep(self, offset: int, ids: bytes) -> None:
        self.chunks[offset] = ids
        self.chunks.move_to_end(offset)
        while len(self.chunks) > CHUNK_CACHE:
            self.chunks.popitem(last=False)


# The fold allocates an event model per record and keeps growing maps, none of them in cycles:
# CPython's default collections took a fifth of its CPU.
_few_gcs = FewCollections()


class _FoldProgress:
    """A line in the log every few seconds while a partition's log is folded (a first fold of
    millions of events takes minutes), and one at its end."""

    EVERY_S = 5.0

    def __init__(self, partition: int, start: int, contracts: Callable[[], int]) -> None:
        self.partition = partition
        self.start = start
        self.contracts = contracts
        self.started = self.last = time.monotonic()
        self.count = 0

    def tick(self, at: int) -> None:
        self.count += 1
        if self.count % 4096 or time.monotonic() - self.last < self.EVERY_S:
            return
        self.last = time.monotonic()
        log.info(
            "partition %d: folding the log, at offset %d (%d events, %d contracts, %.0f events/s)",
            self.partition, at, at - self.start, self.contracts(), self.rate(at),
        )  # fmt: skip

    def rate(self, at: int) -> float:
        return (at - self.start) / max(time.monotonic() - self.started, 1e-9)

    def done(self, at: int, contracts: int) -> None:
        if at > self.start:
            log.info(
                "partition %d: folded offsets %d to %d into %d contracts in %.2f s "
                "(%.0f events/s)",
                self.partition, self.start, at, contracts, time.monotonic() - self.started,
                self.rate(at),
            )  # fmt: skip


class Writer:
    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        group_id: str,
        kafka_timeout_s: float = 10.0,
        instance_id: str | None = None,
    ) -> None:
        """`instance_id`: static membership of the group (None: dynamic)."""
        self.bootstrap = bootstrap
        self.topics = topics
        self.group_id = group_id
        self.kafka_timeout_s = kafka_timeout_s
        self.owned: dict[int, OwnedPartition] = {}
        # The loop (a whole transaction) and the rebalance listener (taking or releasing a
        # partition) hold this in turn: neither ever uses a producer the other has released.
        self._owning = asyncio.Lock()
        # Bumped by every rebalance: a batch fetched in an older epoch is never decided.
        self.epoch = 0
        # Partitions paused until their position is back at the committed offset.
        self._rewinding: set[TopicPartition] = set()
        # Partitions whose stored state was found lost: folded from the log when next taken.
        self._lost: set[int] = set()
        self._ids = OffsetReader(bootstrap, topics.writer_ids.name)
        # Partitions are taken side by side; the reader is for one caller at a time.
        self._ids_lock = asyncio.Lock()
        # Whole logs folded at once (a first fold): two, so that one's reads wait on Kafka while
        # the other folds, and the states of each partition folded are written while the next
        # is folded (all at once, every partition finished together, then all wrote at once).
        self._whole_folds = asyncio.Semaphore(WHOLE_FOLDS)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **kafka_connection.options(),
            group_id=group_id,
            group_instance_id=instance_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
            max_poll_interval_ms=300_000,
            # aiokafka's default is 40 s; a JoinGroup waits up to the 10 s session on the broker.
            request_timeout_ms=15_000,
        )

    # -- ownership ---------------------------------------------------------------------------

    async def take(self, partition: int) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            **kafka_connection.options(),
            transactional_id=f"{self.group_id}.{self.topics.submissions.name}.{partition}",
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=int(self.kafka_timeout_s * 1000),
            # A contract's state record may be larger than an event.
            max_request_size=max(
                self.topics.writer_state.max_message_bytes or 0, _KAFKA_MAX_REQUEST_SIZE
            ),
            # A first fold writes MBs of states a partition, and the producer has one request
            # in flight at a time: 700 states of 3.6 KB took 0.06 s (0.03 s of CPU) in aiokafka's
            # 16 KiB batches, 0.025 s (0.009 s) in these. Under every topic's max.message.bytes
            # (1 MiB: the ids topic's, the broker's default).
            max_batch_size=_MAX_BATCH_SIZE,
        )
        try:
            # InitProducerId: fences the previous owner, aborts its transaction.
            await asyncio.wait_for(producer.start(), self.kafka_timeout_s)
            states, stored, events_before = await self._load(producer, partition)
        except BaseException:
            await self._stop_producer(producer)
            raise
        self.owned[partition] = OwnedPartition(
            partition, producer, states, events_before, stored=stored
        )

    async def _load(
        self, producer: AIOKafkaProducer, partition: int
    ) -> tuple[dict[str, ContractState], dict[str, bytes], int]:
        """The states of the partition's contracts (decoded, or their records not decoded yet),
        and the events offset before which they reflect every event: from the state topic, with
        the events it does not reflect yet folded on top; from the whole log when its states
        were never written (then written, in one transaction, so the next takeover is quick).
        A record is only peeked at here (its `events_before`, its last id chunk): decoding it
        waits until its contract is asked about, so a takeover's cost is the records' bytes."""
        started = time.monotonic()
        latest: dict[bytes, bytes | None] = {}  # the newest record of each key, decoded last
        if partition not in self._lost:
            async for record in read_partition(
                self.bootstrap, self.topics.writer_state.name, partition
            ):
                if record.key is not None:
                    latest[record.key] = record.value
        records = len(latest)
        states: dict[str, ContractState] = {}
        stored: dict[str, bytes] = {}
        start: int | None = None  # None: no complete states, the whole log is folded
        try:
            complete = latest.pop(PARTITION_KEY, None)
            if None in latest.values():
                # The writer deletes no state: whoever did, what is left is not complete.
                raise ValueError("a contract's state was deleted (a tombstone)")
            if complete is not None:
                start = decode_complete(complete)
                referenced = -1  # the last id chunk offset a state references
                while latest:
                    key, data = latest.popitem()
                    peek = peek_state(data or b"")
                    if key != peek.contract_id.encode():
                        raise ValueError(f"the state of {peek.contract_id} keyed {key!r}")
                    stored[peek.contract_id] = data or b""
                    start = max(start, peek.events_before)
                    if peek.last_chunk_offset is not None:
                        referenced = max(referenced, peek.last_chunk_offset)
                ids_end = 0
                if referenced >= 0:
                    async with self._ids_lock:
                        ids_end = await asyncio.wait_for(
                            self._ids.end(partition), self.kafka_timeout_s
                        )
                if referenced >= ids_end:
                    # The ids topic lost (deleted, recreated): checked once here, and again
                    # chunk by chunk (key, digest) when read.
                    raise ValueError(
                        f"the states reference id chunks up to offset {referenced}, and the "
                        f"ids topic ends at {ids_end}"
                    )
        except ValueError:
            log.warning("partition %d: the stored state is unreadable or lost; folding the log",
                        partition, exc_info=True)  # fmt: skip
            states, stored, start = {}, {}, None
        latest.clear()
        try:
            changed, end = await self._fold_on(states, stored, partition, start or 0)
        except ValueError:
            if start is None:
                raise  # the log itself is corrupt: nothing to fall back on
            log.warning("partition %d: the state topic does not match the log; folding the log",
                        partition, exc_info=True)  # fmt: skip
            states, stored, start = {}, {}, None
            changed, end = await self._fold_on(states, stored, partition, 0)
        if start is None or changed:
            written = await self._write_states(
                producer, partition, changed, end, complete=start is None
            )
            states.update(written)
        self._lost.discard(partition)
        log.info(
            "partition %d: %d contracts from %d state records, %d folded from the log, in %.2f s",
            partition, len(states) + len(stored), records, len(changed), time.monotonic() - started,
        )  # fmt: skip
        return states, stored, end

    async def _fold_on(
        self,
        states: dict[str, ContractState],
        stored: dict[str, bytes],
        partition: int,
        start: int,
    ) -> tuple[dict[str, ContractState], int]:
        """Fold the partition's events from offset `start` into `states` (a contract's record
        in `stored` decoded into it first), skipping those a state reflects already; the states
        changed, and the offset after the last event read."""
        whole = not states and not stored
        async with self._folding_whole(partition) if whole else contextlib.nullcontext():
            changed: dict[str, ContractState] = {}
            # Contracts no state holds yet (all of them in a first fold) are folded in one pass,
            # without a frozen state per event; those with a state are evolved on top of it.
            folding = LogFold()
            end = start
            progress = _FoldProgress(partition, start, lambda: len(folding) + len(changed))
            with _few_gcs():
                async for record in read_partition(
                    self.bootstrap, self.topics.events.name, partition, start
                ):
                    end = record.offset + 1
                    progress.tick(end)
                    if not record.value:
                        continue
                    if whole:  # every contract new: folded from the records' bytes
                        folding.add_record(record.value)
                        continue
                    event = decode_event(record.value)
                    cid = event.contract_id
                    if cid in folding:
                        folding.add(event)
                        continue
                    data = stored.pop(cid, None)
                    if data is not None:
                        states[cid] = decode_state(data)[0]
                    before = states.get(cid)
                    if before is None:
                        folding.add(event)
                        continue
                    version = event.stream_version
                    if version is not None and version <= before.version:
                        continue  # reflected already
                    states[cid] = changed[cid] = evolve(before, event)
                folded = folding.states()
            states.update(folded)
            changed.update(folded)
            progress.done(end, len(changed))
            return changed, end

    @contextlib.asynccontextmanager
    async def _folding_whole(self, partition: int) -> AsyncIterator[None]:
        """While a partition's whole log is folded (a first fold: minutes at millions of
        events): not ready (a takeover's tail, one transaction's events, is not worth saying
        so), and no more than `WHOLE_FOLDS` partitions at a time."""
        with probe.not_ready(f"folding partition {partition} of the events topic"):
            async with self._whole_folds:
                yield

    async def _write_states(
        self,
        producer: AIOKafkaProducer,
        partition: int,
        states: Mapping[str, ContractState],
        events_before: int,
        complete: bool,
    ) -> dict[str, ContractState]:
        """`states` to the state topic (their pending id chunks to the ids topic) in one
        transaction, reflecting every event before `events_before`; with the partition's
        completeness record when `complete`. Returns the states as written."""
        await producer.begin_transaction()
        try:
            written, sends, _ = await self._send_states(producer, partition, states, events_before)
            if complete:
                sends.append(
                    await producer.send(
                        self.topics.writer_state.name,
                        encode_complete(events_before),
                        key=PARTITION_KEY,
                        partition=partition,
                    )
                )
            # A first fold writes every contract of the partition at once: more time for more.
            await asyncio.wait_for(asyncio.gather(*sends), self.kafka_timeout_s + len(sends) / 1000)
            await asyncio.wait_for(producer.commit_transaction(), self.kafka_timeout_s)
        except BaseException:
            await self._abort(producer)
            raise
        return written

    async def _send_states(
        self,
        producer: AIOKafkaProducer,
        partition: int,
        states: Mapping[str, ContractState],
        events_before: int,
    ) -> tuple[
        dict[str, ContractState], list[asyncio.Future[RecordMetadata]], list[tuple[int, bytes]]
    ]:
        """Within the open transaction: each state's pending id chunks to the ids topic (waited
        for: the state references their offsets), then each state to the state topic. Returns
        the states as written (their chunks referenced, not held), the state sends, and the
        chunks written (offset, ids)."""
        ids_topic = self.topics.writer_ids.name
        chunk_sends: dict[str, list[asyncio.Future[RecordMetadata]]] = {}
        for cid, state in states.items():
            first = state.seen.written_chunks
            chunk_sends[cid] = [
                await producer.send(
                    ids_topic,
                    encode_chunk(cid, first + i, ids),
                    key=chunk_key(cid, first + i),
                    partition=partition,
                )
                for i, ids in enumerate(state.seen.pending)
            ]
        pending = [sent for sends in chunk_sends.values() for sent in sends]
        if pending:
            await asyncio.wait_for(
                asyncio.gather(*pending), self.kafka_timeout_s + len(pending) / 1000
            )
        written: dict[str, ContractState] = {}
        sends = []
        chunks: list[tuple[int, bytes]] = []
        for cid, state in states.items():
            offsets = [sent.result().offset for sent in chunk_sends[cid]]
            if offsets:
                chunks.extend(zip(offsets, state.seen.pending, strict=True))
                state = dataclasses.replace(state, seen=state.seen.written(offsets))
            written[cid] = state
            sends.append(
                await producer.send(
                    self.topics.writer_state.name,
                    encode_state(state, events_before),
                    key=cid.encode(),
                    partition=partition,
                )
            )
        return written, sends, chunks

    async def release(self, partition: int) -> None:
        owned = self.owned.pop(partition, None)
        if owned is not None:
            await self._stop_producer(owned.producer)

    async def _stop_producer(self, producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), self.kafka_timeout_s)
        except Exception:
            log.warning("a producer did not stop cleanly; dropped", exc_info=True)

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topics.submissions.name], listener=_Rebalance(self))
        try:
            while not stop.is_set():
                for tp in list(self._rewinding):
                    async with self._owning:
                        await self._rewind(tp)
                epoch = self.epoch
                try:
                    batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
                except KafkaError as exc:  # Kafka away: the consumer re-connects by itself
                    log.warning("no records (%s: %s); again in 1 s", type(exc).__name__, exc)
                    await asyncio.sleep(1.0)
                    continue
                for tp, records in batches.items():
                    if records:
                        await self.process(tp, records, epoch)
        finally:
            async with self._owning:
                for p in list(self.owned):
                    await self.release(p)
            await self._ids.stop()
            await self.consumer.stop()

    async def process(self, tp: TopicPartition, records: list[ConsumerRecord], epoch: int) -> None:
        async with self._owning:
            if epoch != self.epoch or tp not in self.consumer.assignment():
                # Fetched across a rebalance: not decided; whoever owns the partition now reads
                # it again from the committed offset.
                log.info("partition %d: %d records fetched across a rebalance dropped",
                         tp.partition, len(records))  # fmt: skip
                await self._rewind(tp)
                return
            try:
                owned = await self._own_locked(tp.partition)
                with watchdog.current().busy(f"writer transaction on partition {tp.partition}"):
                    updated = await asyncio.wait_for(
                        self._transact(owned, tp, records), 3 * self.kafka_timeout_s
                    )
            except StateLost:
                log.exception("partition %d: its stored state is lost; folding the log",
                              tp.partition)  # fmt: skip
                self._lost.add(tp.partition)
                await self._recover(tp)
                return
            except Exception:
                log.exception("partition %d: transaction failed; rebuilding from the log",
                              tp.partition)  # fmt: skip
                await self._recover(tp)
                return
            owned.states.update(updated)

    async def _own_locked(self, partition: int) -> OwnedPartition:
        if partition not in self.owned:
            await self.take(partition)
        return self.owned[partition]

    async def _transact(
        self, owned: OwnedPartition, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> Mapping[str, ContractState]:
        producer = owned.producer
        # Changes are kept aside until the transaction commits: an abort must leave no trace.
        updated: dict[str, ContractState] = {}
        sends = []
        appended: list[asyncio.Future[RecordMetadata]] = []  # the events sent
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
                state = updated.get(cid) or owned.state(cid)
                fetched: Mapping[int, bytes] = owned.chunks
                if state is not None:
                    fetched = await self._chunks_for(owned, state, submission.event.event_id)
                decision = decide(state, submission, datetime.now(UTC), fetched)
                if decision.append is not None:
                    appended.append(
                        await producer.send(
                            self.topics.events.name,
                            encode_event(decision.append),
                            key=cid.encode(),
                            partition=tp.partition,
                        )
                    )
                    sends.append(appended[-1])
                    updated[cid] = evolve(state, decision.append)
                sends.append(
                    await producer.send(
                        self.topics.verdicts.name, encode_verdict(decision.verdict), key=key
                    )
                )
            # The new state of each contract changed, in the same transaction: the state topic
            # never says more or less than the log.
            updated, sent_states, sealed = await self._send_states(
                producer, tp.partition, updated, owned.events_before
            )
            sends.extend(sent_states)
            # One bound for the whole end of the transaction, not one per step: a rebalance's
            # revocation waits for it (the `_owning` lock), and three steps each bounded alone
            # held it 16 s after a broker restart (issue #21).
            async with asyncio.timeout(self.kafka_timeout_s):
                await asyncio.gather(*sends)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self.group_id
                )
                await producer.commit_transaction()
            for offset, ids in sealed:  # the ids just sealed are the likeliest redelivered
                owned.keep(offset, ids)
            if appended:  # the next transaction's states reflect these events too
                last = max(sent.result().offset for sent in appended)
                owned.events_before = max(owned.events_before, last + 1)
        except BaseException:
            await self._abort(producer)
            raise
        return updated

    async def _chunks_for(
        self, owned: OwnedPartition, state: ContractState, event_id: UUID
    ) -> Mapping[int, bytes]:
        """The id chunks `decide` needs to look `event_id` up in `state`: those cached, and
        those the filter points at, fetched by offset (StateLost if one is not as stated)."""
        wanted = state.seen.wanted(event_id, owned.chunks)
        if not wanted:
            return owned.chunks
        records = await asyncio.wait_for(
            self._ids.read(owned.partition, [ref.offset for ref in wanted]), self.kafka_timeout_s
        )
        fetched: dict[int, bytes] = {}
        for ref in wanted:
            record = records.get(ref.offset)
            try:
                if record is None:
                    raise ValueError(f"no committed record at offset {ref.offset}")
                fetched[ref.offset] = decode_chunk(record.value or b"", state.contract_id, ref)
            except ValueError as exc:
                raise StateLost(
                    f"chunk {ref.index} of contract {state.contract_id}: {exc}"
                ) from exc
        for offset, ids in fetched.items():
            owned.keep(offset, ids)
        return ChainMap(fetched, owned.chunks)

    async def _abort(self, producer: AIOKafkaProducer) -> None:
        if producer._txn_manager is not None and producer._txn_manager.is_in_transaction():
            try:
                await asyncio.wait_for(producer.abort_transaction(), self.kafka_timeout_s)
            except Exception:
                log.exception("abort failed")

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord, exc: Exception
    ) -> asyncio.Future[object]:
        reason = f"{type(exc).__name__}: {exc}"[:4000]
        log.warning(
            "dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        return await dead_letter(producer, self.topics.dead_letters.name, record, reason)

    async def _recover(self, tp: TopicPartition) -> None:
        """After a failed transaction (the ownership lock held): a new producer, the state from
        the log, the position from the committed offset. What fails here (Kafka away) is tried
        again with the next batch: the partition is simply not owned until then."""
        await self.release(tp.partition)
        try:
            await self.take(tp.partition)
        except Exception:
            log.warning("partition %d: not taken back yet (%s); again later", tp.partition,
                        "Kafka unreachable?", exc_info=True)  # fmt: skip
            await asyncio.sleep(1.0)
        await self._rewind(tp)

    async def _rewind(self, tp: TopicPartition) -> None:
        """The partition's position back to its committed offset, if it is still ours."""
        try:
            if tp not in self.consumer.assignment():
                self._rewinding.discard(tp)
                return
            committed = await asyncio.wait_for(self.consumer.committed(tp), self.kafka_timeout_s)
            if tp not in self.consumer.assignment():
                return
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
            self.consumer.resume(tp)
            self._rewinding.discard(tp)
        except Exception:
            # Not one record may be skipped: nothing is read from it until the seek succeeds.
            log.warning("partition %d: cannot seek back to the committed offset yet; paused",
                        tp.partition, exc_info=True)  # fmt: skip
            if tp in self.consumer.assignment():
                self.consumer.pause(tp)
                self._rewinding.add(tp)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("revoked: %s", sorted(tp.partition for tp in revoked))
        async with self.writer._owning:  # after the transaction in flight, if any
            if revoked:
                # A batch fetched before this rebalance is never decided (`process`). With no
                # partition assigned before it (a first join: aiokafka revokes every partition
                # it had), no batch can have been: the first batch, fetched under the new
                # assignment, is decided at once instead of fetched again.
                self.writer.epoch += 1
            self.writer._rewinding.clear()  # a new assignment starts at the committed offsets
            for tp in revoked:
                await self.writer.release(tp.partition)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned: %s", sorted(tp.partition for tp in assigned))
        async with self.writer._owning:
            # Side by side: one partition's reads and writes wait on Kafka while another's
            # log is folded (a first fold of every partition is mostly that).
            await asyncio.gather(*(self._own(tp.partition) for tp in assigned))

    async def _own(self, partition: int) -> None:
        try:
            await self.writer._own_locked(partition)
        except Exception:  # Kafka away: taken when its first batch comes
            log.warning("partition %d: not taken yet", partition, exc_info=True)
