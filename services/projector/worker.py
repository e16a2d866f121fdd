"""The margin projector: the events topic into the read models in PostgreSQL.

A plain aiokafka consumer, not a Faust agent: a replay of years of history must run at tens
of thousands of events a second, which a Faust agent does not reach. Its position lives in
PostgreSQL, written in the same transaction as the rows, and is where it seeks to on start:
Kafka's committed offsets are never used (faust-streaming/faust#312, #458). When a write fails
(PostgreSQL restarting, the connection gone) it opens a new connection, with backoff for as long
as PostgreSQL is away, and reloads what was last committed: it never exits for an outage.

It holds a bounded cache of contracts, not the read model: before a batch is applied, the
contracts it touches that are not held are read back from PostgreSQL (a second connection,
`reader`: the first is busy writing the previous batch), and after it the least recently used
beyond `cache_contracts` are dropped. A contract touched by a batch not yet committed is never
dropped, so a contract read back is always read as last committed. Its start therefore reads
the positions only, whatever the length of the history.

Each applied event is also copied to `event_log` (the audit index) in its batch's transaction.

While batch k is written (in PostgreSQL's process, on the other core), batch k+1 is read and
applied in memory. Applying is pure CPU on the event loop's one thread, so it hands the loop
over every few milliseconds: without that, the write's statements (each a round trip) and
Kafka's prefetching would only move between batches, and nothing would overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from events.catalogue import EventBase
from events.serialization import decode_event
from events.topics import TopicSpec
from projections.read_model import ReadModel
from services import kafka_log, watchdog
from services.projector import store

log = logging.getLogger("ledger.projector")


def tune_gc() -> None:
    """The garbage-collection policy of a projector process (call once the model is loaded).

    The cached contracts are many, long-lived and free of reference cycles; their rows die by
    reference counting. CPython's cyclic collector, by default run every 700 net allocations,
    keeps re-scanning them to find nothing, which cost a replay about a fifth of its CPU. What
    is loaded at start is frozen out of the collector's view and the young generation is
    collected every 50,000 allocations: cycles (asyncio's, exceptions') are still collected,
    just less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# Events applied between two hand-overs of the event loop (a few milliseconds of CPU).
YIELD_EVERY = 256


@dataclass
class Progress:
    applied: int = 0
    skipped: int = 0
    poisoned: int = 0
    started: float = 0.0
    write_wait: float = 0.0
    """Seconds spent waiting for a batch's write with nothing else to do (PostgreSQL-bound)."""
    read_back: int = 0
    """Contracts read back from PostgreSQL into the cache (its misses of stored contracts)."""


class _ReadBackFailed(Exception):
    """Reading a batch's contracts back from PostgreSQL failed: reconnect and reload."""


class Projector:
    def __init__(
        self,
        bootstrap: str,
        events: TopicSpec,
        dsn: str,
        live: str,
        schema: str | None = None,
        max_batch: int = 20_000,
        dead_letters: str | None = None,
        partitions: Sequence[int] | None = None,
        cache_contracts: int = 10_000,
    ) -> None:
        """Projects into schema `live`, or into `schema` (a rebuild's) on behalf of `live`;
        every partition of `events`, or only `partitions` (a shard of a sharded replay: a
        contract's events are all in one partition, so shards never touch the same rows);
        keeping at most `cache_contracts` contracts in memory between batches."""
        self.bootstrap = bootstrap
        self.events = events
        self.dsn = dsn
        self.live = live
        self.schema = schema or live
        self.max_batch = max_batch
        self.dead_letters = dead_letters
        self._dlq: AIOKafkaProducer | None = None
        own = range(events.partitions) if partitions is None else sorted(set(partitions))
        self.tps = [TopicPartition(events.name, p) for p in own]
        self.model = ReadModel()
        self.cache_contracts = cache_contracts
        # The held contracts, least recently touched first (an insertion-ordered set).
        self._recent: dict[str, None] = {}
        # The contracts of the last batch applied, whose write may not be committed yet.
        self._in_flight: set[str] = set()
        self.generation = 0
        self.positions: dict[int, int] = {}
        self.progress = Progress()
        self.consumer: AIOKafkaConsumer | None = None
        self.conn: asyncpg.Connection | None = None
        self.reader: asyncpg.Connection | None = None

    async def start(self) -> None:
        self.conn = await asyncpg.connect(self.dsn, timeout=10)
        self.reader = await asyncpg.connect(self.dsn, timeout=10)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await self.consumer.start()
        self.consumer.assign(self.tps)
        await self.reload()

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self._dlq is not None:
            await self._dlq.stop()
        for conn in (self.conn, self.reader):
            if conn is not None:
                await conn.close()

    async def reload(self) -> None:
        """(Re)establishes the state of the partitions owned (`self.tps`): their positions as
        last committed, no contract held (another process may have written any of them since),
        and the consumer seeked to the positions. Reads the positions only: its cost does not
        grow with the history. Call it with no batch write pending (between batches, as `run`
        does): it reads on the writing connection, and a contract read back while a write is
        still under way would be read as it was before."""
        assert self.conn is not None and self.consumer is not None
        self.generation, positions = await store.positions(self.conn, self.schema)
        self.model = ReadModel()
        self._recent, self._in_flight = {}, set()
        # Only this projector's own: writing another shard's position back would move it back.
        own = {tp.partition for tp in self.tps}
        self.positions = {p: at for p, at in positions.items() if p in own}
        for tp in self.tps:
            offset = self.positions.get(tp.partition)
            if offset is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)

    async def end_offsets(self) -> dict[int, int]:
        assert self.consumer is not None
        return await kafka_log.end_offsets(self.consumer, self.tps)

    def lag(self, ends: dict[int, int]) -> int:
        return sum(max(0, end - self.positions.get(p, 0)) for p, end in ends.items())

    async def run(
        self,
        stop: asyncio.Event,
        until_caught_up: bool = False,
        on_batch: Callable[[Projector], None] | None = None,
    ) -> None:
        """Applies batches until `stop` is set, or, with until_caught_up, until it has reached
        the end of the log as it was when it started: under live traffic a lag of zero may never
        come, and whatever arrives later is applied by the live projector after the swap."""
        assert self.consumer is not None and self.conn is not None
        self.progress.started = time.monotonic()
        target = await self.end_offsets() if until_caught_up else {}
        pending: asyncio.Task[None] | None = None
        while not stop.is_set():
            if until_caught_up and all(self.positions.get(p, 0) >= t for p, t in target.items()):
                break
            try:
                batch = await self._next_batch()
            except _ReadBackFailed as exc:
                log.warning("reading contracts back failed (%s); reloading from the last "
                            "committed batch", exc)  # fmt: skip
                if pending is not None:
                    with contextlib.suppress(Exception):  # committed or not: reload tells
                        await pending
                    pending = None
                await self._reconnect_and_reload()
                continue  # what was read is read again from the positions
            if pending is not None:
                ok = await self._finish(pending)
                pending = None
                if not ok:
                    continue  # reloaded: what was just read is read again from the positions
            if batch is not None:
                pending = asyncio.create_task(
                    store.write(self.conn, self.schema, self.live, self.generation, batch)
                )
                if on_batch is not None:
                    on_batch(self)
            elif await self._past_markers():
                batch = store.Batch.of(self.model.take_changes(), self.positions)
                pending = asyncio.create_task(
                    store.write(self.conn, self.schema, self.live, self.generation, batch)
                )
        if pending is not None:
            await self._finish(pending)

    async def _next_batch(self) -> store.Batch | None:
        assert self.consumer is not None
        records = await self.consumer.getmany(timeout_ms=200, max_records=self.max_batch)
        if not records:
            return None
        decode, pause = decode_event, asyncio.sleep
        read = 0
        decoded: list[tuple[TopicPartition, list[ConsumerRecord], list[EventBase | Exception]]]
        decoded = []
        for tp, rs in records.items():
            events: list[EventBase | Exception] = []
            for r in rs:
                read += 1
                if not read % YIELD_EVERY:
                    await pause(0)  # let the previous batch's write and the fetcher move on
                try:
                    events.append(decode(r.value or b""))
                except Exception as exc:  # a poison event must never stop the projector
                    events.append(exc)
            decoded.append((tp, rs, events))
        touched = {e.contract_id for _, _, es in decoded for e in es if isinstance(e, EventBase)}
        await self._hold(touched)

        apply, audit_row = self.model.apply, store.audit_row
        audit: list[tuple[bytes, bytes]] = []
        applied = skipped = 0
        try:
            for tp, rs, events in decoded:
                for r, e in zip(rs, events, strict=True):
                    read += 1
                    if not read % YIELD_EVERY:
                        await pause(0)
                    try:
                        if isinstance(e, Exception):
                            raise e
                        if apply(e):
                            applied += 1
                            audit.append(audit_row(e, r.value or b"", r.partition, r.offset))
                        else:
                            skipped += 1
                    except Exception as exc:  # a poison event must never stop the projector
                        await self._dead_letter(r, exc)
                self.positions[tp.partition] = rs[-1].offset + 1
        finally:
            self.progress.applied += applied
            self.progress.skipped += skipped
        batch = store.Batch.of(self.model.take_changes(), self.positions, audit)
        self._release(touched)
        return batch

    async def _hold(self, contract_ids: set[str]) -> None:
        """Installs the contracts of `contract_ids` not held, as last committed."""
        assert self.reader is not None
        missing = [c for c in contract_ids if c not in self.model.contracts]
        if not missing:
            return
        try:
            states = await store.contract_states(self.reader, self.schema, sorted(missing))
        except Exception as exc:  # PostgreSQL away or restarting: never stop the projector
            raise _ReadBackFailed(f"{type(exc).__name__}: {exc}") from exc
        for state in states:
            self.model.install(state)
            self.progress.read_back += 1

    def _release(self, touched: set[str]) -> None:
        """Marks `touched` most recently used and drops the least recently used contracts
        beyond the cache's size, never one of this batch or of the one before (its write may
        still be under way: read back now, such a contract would be read as it was before)."""
        recent, held = self._recent, self.model.contracts
        for cid in touched:
            if cid in held:
                recent.pop(cid, None)
                recent[cid] = None
        keep = touched | self._in_flight
        self._in_flight = touched
        excess = len(recent) - self.cache_contracts
        if excess <= 0:
            return
        evict = self.model.evict
        for cid in list(itertools.islice(recent, excess)):
            if cid in keep:
                break  # the rest is more recent still
            del recent[cid]
            evict(cid)

    async def _past_markers(self) -> bool:
        """Moves the positions past transaction markers once idle.

        The writer appends in transactions, and each commit marker takes an offset of its own
        that no record is returned for: without this the stored position would stay one short
        of the end forever, and a lag of zero (what a rebuild waits for) would never come.
        """
        assert self.consumer is not None
        moved = False
        for tp in self.tps:
            at = await self.consumer.position(tp)
            if at > self.positions.get(tp.partition, 0):
                self.positions[tp.partition] = at
                moved = True
        return moved

    async def _dead_letter(self, record: ConsumerRecord, exc: Exception) -> None:
        reason = f"projector: {type(exc).__name__}: {exc}"[:4000]
        log.error("dead-lettering event at %d/%d: %s", record.partition, record.offset, reason)
        self.progress.poisoned += 1
        if self.dead_letters is None:
            return
        if self._dlq is None:
            self._dlq = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
            await self._dlq.start()
        await (await kafka_log.dead_letter(self._dlq, self.dead_letters, record, reason))

    async def _finish(self, pending: asyncio.Task[None]) -> bool:
        """Waits for a batch write; on failure reloads what was committed and seeks back."""
        started = time.monotonic()
        try:
            try:
                with watchdog.current().busy("projector batch write"):
                    await pending
            finally:
                self.progress.write_wait += time.monotonic() - started
            return True
        except store.GenerationChanged:
            log.info("the read models were rebuilt and swapped; reloading")
            await self.reload()
            return False
        except Exception as exc:
            log.warning("writing a batch failed (%s: %s); reloading from the last committed batch",
                        type(exc).__name__, exc)  # fmt: skip
        await self._reconnect_and_reload()
        return False

    async def _reconnect_and_reload(self) -> None:
        """A fresh connection (the old one may be closed or stuck mid-protocol) and the last
        committed state, tried with backoff for as long as PostgreSQL is away."""
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                for conn in (self.conn, self.reader):
                    if conn is not None:
                        conn.terminate()
                self.conn = self.reader = None
                self.conn = await asyncpg.connect(self.dsn, timeout=10)
                self.reader = await asyncpg.connect(self.dsn, timeout=10)
                await self.reload()
                log.info("reconnected to PostgreSQL and reloaded the last committed batch")
                return
            except Exception as exc:
                log.warning("PostgreSQL not back yet (%s: %s); again in %.1f s",
                            type(exc).__name__, exc, min(delay * 2, 5.0))  # fmt: skip
                delay = min(delay * 2, 5.0)
