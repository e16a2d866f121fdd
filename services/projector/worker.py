# Long: the projector's consume-apply-write loop with its cache and backoff, one class.
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

Given a consumer group, projectors on any number of machines share the topic's partitions: each
applies and writes only the partitions it owns. On a rebalance it finishes the batch in flight
(the loop and the rebalance listener take turns under one lock, so a batch is never half built
when partitions move), and after every assignment `reload()`s the state of what it owns and
seeks there. Each batch's transaction advances a partition's position only from where the batch
started (`store.PositionMoved` otherwise): a projector that lost a partition without knowing it
yet (paused past its session) writes nothing more for it, and reloads. aiokafka (0.14) offers
only the eager rebalance protocol (no cooperative-sticky assignor, aio-libs/aiokafka#1126, and
no KIP-848 group protocol): every rebalance revokes every partition for a moment; the sticky
assignor at least gives each member back the partitions it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.errors import KafkaError

from events.catalogue import EventBase
from events.serialization import (
    RatesChange,
    StreamHead,
    decode_event,
    event_id_text,
    head_types,
    read_rates_adjusted,
    read_stream_head,
)
from events.topics import TopicSpec
from projections.read_model import STREAM_ONLY, ReadModel
from services import kafka_connection, kafka_log, watchdog
from services.projector import store

log = logging.getLogger("ledger.projector")


# Net allocations of tracked objects between two collections of the young generation, live
# (`tune_gc`) and while a backlog is applied (`gc_for_backlog`).
YOUNG_GC_THRESHOLD = 50_000
BACKLOG_GC_THRESHOLD = 500_000
_tuned = False  # whether this process's collector is the projector's (`tune_gc`)


def tune_gc() -> None:
    """The garbage-collection policy of a projector process (call once the model is loaded).

    The cached contracts are many, long-lived and free of reference cycles; their rows die by
    reference counting. CPython's cyclic collector, by default run every 700 net allocations,
    keeps re-scanning them to find nothing, which cost a replay about a fifth of its CPU. What
    is loaded at start is frozen out of the collector's view and the young generation is
    collected every 50,000 allocations (500,000 during a backlog: `gc_for_backlog`): cycles
    (asyncio's, exceptions') are still collected, just less often.
    """
    global _tuned
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, 20, 20)
    _tuned = True


def gc_for_backlog(backlog: bool) -> None:
    """The young generation's threshold for a batch: higher while full batches come.

    A batch holds its events, rows and COPY text (several tracked objects an event) until it is
    written, while the next is applied: at the live threshold the young generation fills with
    them every few thousand events, and each collection scans them all to find nothing (their
    rows die by reference counting), about a tenth of a catch-up's CPU. The count is of net
    allocations, so at the backlog's threshold a collection comes about when the cache has grown
    by that many objects, and what cyclic garbage the shell makes meanwhile (asyncio's,
    exceptions') is still collected, later: at most that many objects. Live, the threshold is
    back to the lower one, so a projector that is caught up holds little garbage. Only in a
    process whose collector `tune_gc` set (a test's process keeps its own)."""
    threshold = BACKLOG_GC_THRESHOLD if backlog else YOUNG_GC_THRESHOLD
    if _tuned and gc.get_threshold()[0] != threshold:
        gc.set_threshold(threshold, *gc.get_threshold()[1:])


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


class Helpers(Protocol):
    """Processes that apply a long backlog of some partitions beside this projector
    (`sharded.CatchUp`)."""

    def worth_it(self, lag: int, partitions: int) -> bool: ...

    async def run(self, partitions: Sequence[int], stopping: Callable[[], bool]) -> None: ...


# An event as read: decoded, or its head alone (a `STREAM_ONLY` type's), or what the read model
# applies of a RatesAdjusted, or why it cannot be.
_Read = EventBase | StreamHead | RatesChange | Exception
_STREAM_ONLY = head_types(STREAM_ONLY)


# Partitions a projector far behind on more reads at a time: two, so that while one waits for
# its next fetch (the consumer holds one fetch of a partition at a time), the other's is read.
FOCUS_WIDTH = 2


def focus(
    lags: dict[int, int], current: tuple[int, ...], batch: int, width: int = FOCUS_WIDTH
) -> tuple[int, ...]:
    """The partitions a projector far behind on several reads alone until it is nearly
    caught up on them, or none: read every partition as it comes.

    The projector holds a bounded cache of contracts. Reading every partition of a long
    backlog in turn, a batch touches the contracts active at that point of the log in all
    of them: on a log of millions of events more than the cache holds, so nearly every
    event's contract was dropped since its last event and is read back from PostgreSQL
    (the cost of a first run grew with the history). A contract's events are all in one
    partition: reading `width` partitions at a time, the active contracts are their share,
    which the cache holds (asked once the cache has dropped a contract: before, every
    partition's fetch at hand is read). `lags`: events behind per partition; `current`: the
    partitions read so far; `batch`: events per batch. Those of `current` still a batch or
    more behind are kept, and completed with the most behind (lowest number first), while
    more than `width` partitions are a batch or more behind; else none.
    """
    behind = [p for _, p in sorted((-lag, p) for p, lag in lags.items() if lag >= batch)]
    if len(behind) <= width:
        return ()
    kept = [p for p in current if p in behind]
    return tuple(sorted(kept + [p for p in behind if p not in kept][: width - len(kept)]))


# Seconds between two progress lines of a catch-up.
PROGRESS_EVERY_S = 5.0


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
        cache_rows: int = 1_000_000,
        group_id: str | None = None,
        instance_id: str | None = None,
        catch_up: Helpers | None = None,
        fetch_bytes: int | None = None,
    ) -> None:
        """Projects into schema `live`, or into `schema` (a rebuild's) on behalf of `live`;
        every partition of `events`, or only `partitions`, or, given `group_id`, those the
        consumer group assigns it (a contract's events are all in one partition, so projectors
        owning different partitions never touch the same rows). `instance_id`: static
        membership of the group. At most `cache_contracts` contracts, and at most `cache_rows`
        of their rows (their rate history above all), are kept in memory between batches.
        `catch_up`: after an assignment that leaves it far behind, the processes that apply the
        backlog of its partitions while it waits (holding them in the group), as a rebuild.
        `fetch_bytes`: the most fetched of a partition at a time (None: WHOLE_LOG_READS')."""
        self.bootstrap = bootstrap
        self.events = events
        self.dsn = dsn
        self.live = live
        self.schema = schema or live
        self.max_batch = max_batch
        self.dead_letters = dead_letters
        self._dlq: AIOKafkaProducer | None = None
        self.group_id = group_id
        self.instance_id = instance_id or None
        own = range(events.partitions) if partitions is None else sorted(set(partitions))
        # In a group: none until the group assigns some.
        self.tps = [] if group_id else [TopicPartition(events.name, p) for p in own]
        # The partitions whose records are applied: those of `tps` once reloaded and sought.
        self._owned: set[int] = set()
        # The loop (reading, applying, handing a batch to its write) and the rebalance listener
        # take turns: partitions never move while a batch is being built.
        self._owning = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None
        # What is in memory may be ahead of what was committed: reload before going on.
        self._stale = False
        # Bumped by every rebalance: records fetched in an older epoch are never applied.
        self.epoch = 0
        self._stop = asyncio.Event()  # run's: ends a reconnection's retries too
        self.model = ReadModel()
        self.cache_contracts = cache_contracts
        self.cache_rows = cache_rows
        # The rows held of each contract held, as last counted (after its last batch), and
        # their sum.
        self._weights: dict[str, int] = {}
        self._rows = 0
        # The held contracts, least recently touched first (an insertion-ordered set).
        self._recent: dict[str, None] = {}
        # The contracts of the last batch applied, whose write may not be committed yet.
        self._in_flight: set[str] = set()
        self.generation = 0
        self.positions: dict[int, int] = {}
        # The positions as the batches handed to their writes leave them: where the next starts.
        self._base: dict[int, int] = {}
        self.progress = Progress()
        self.catch_up = catch_up
        self.fetch_bytes = fetch_bytes
        # Set by an assignment: see whether the backlog is worth the catch-up's processes.
        self._catch_up_due = False
        # The partitions read alone while far behind on more (`focus`).
        self._focus: tuple[int, ...] = ()
        self.reading: tuple[int, ...] = ()
        """The partitions the last batch was read from alone (none: every one)."""
        # Whether the cache ever dropped a contract: until then, reading every partition as
        # it comes costs no read-back, and keeps a fetch of each at hand (no wait for one).
        self._cache_full = False
        self._unfocused = False
        self._helping: asyncio.Task[None] | None = None
        self._helpers_stop = False
        self.consumer: AIOKafkaConsumer | None = None
        self.conn: asyncpg.Connection | None = None
        self.reader: asyncpg.Connection | None = None

    async def start(self) -> None:
        self.conn = await asyncpg.connect(self.dsn, timeout=10)
        self.reader = await asyncpg.connect(self.dsn, timeout=10)
        group: dict[str, object] = {}
        if self.group_id:
            group = dict(
                group_id=self.group_id,
                group_instance_id=self.instance_id,
                partition_assignment_strategy=(StickyPartitionAssignor,),
                session_timeout_ms=10_000,
                heartbeat_interval_ms=1_000,
                max_poll_interval_ms=300_000,
            )
        reads = dict(kafka_log.WHOLE_LOG_READS)
        if self.fetch_bytes:
            reads["max_partition_fetch_bytes"] = self.fetch_bytes
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            **kafka_connection.options(),
            **reads,
            **group,
        )
        await self.consumer.start()
        if self.group_id:
            # Partitions come with the group's assignment: the listener reloads them.
            self.consumer.subscribe([self.events.name], listener=_Rebalance(self))
        else:
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
        and the consumer sought to the positions. Reads the positions only: its cost does not
        grow with the history. Called on start and after every assignment by the group, with no
        batch write pending (it reads on the writing connection, and a contract read back while
        a write is still under way would be read as it was before)."""
        assert self.conn is not None and self.consumer is not None
        self._owned = set()
        self.generation, positions = await store.positions(self.conn, self.schema)
        self.model = ReadModel()
        self._cache_full = False
        self._recent, self._in_flight = {}, set()
        self._weights, self._rows = {}, 0
        # Only this projector's own: another's position is not this one's to write.
        own = {tp.partition for tp in self.tps}
        self.positions = {p: at for p, at in positions.items() if p in own}
        self._base = dict(self.positions)
        self._owned = own
        self._stale = False
        # Offset 0 rather than seek_to_beginning, which waits for the fetcher (in the rebalance
        # listener, that may be waiting for the assignment): were the log's start ever past 0,
        # the reset policy (earliest) would take the consumer there.
        self._rewind()
        self.epoch += 1  # what was fetched before these seeks is never applied

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
        self._stop = stop
        reported = time.monotonic()
        while not stop.is_set():
            if self._stale:
                await self._reconnect_and_reload()
            if self._catch_up_due:
                self._catch_up_due = False
                await self._catch_up_with_helpers()
            if until_caught_up and all(self.positions.get(p, 0) >= t for p, t in target.items()):
                break
            # Kafka is awaited outside the lock: during a rebalance the consumer waits for the
            # new assignment, which waits for the listener, which waits for the lock.
            epoch = self.epoch
            reading = self._focus_on()
            try:
                records = await self.consumer.getmany(
                    *reading, timeout_ms=200, max_records=self.max_batch
                )
            except KafkaError as exc:  # Kafka away: the consumer re-connects by itself
                log.warning("no records (%s: %s); again in 1 s", type(exc).__name__, exc)
                await asyncio.sleep(1.0)
                continue
            if reading and not records:
                # Nothing of them for now (their ends are markers, or aborted records): the next
                # read is of every partition, whatever the lags say.
                self._unfocused = True
                continue
            backlog = sum(map(len, records.values())) >= self.max_batch
            gc_for_backlog(backlog)
            marks = None if records else await self._marker_positions()
            async with self._owning:
                if epoch != self.epoch:
                    # Fetched across a reload: dropped, and read again from the positions (the
                    # consumer may have moved past them since the reload's seek).
                    self._rewind()
                    continue
                try:
                    batch = await self._apply(records)
                except _ReadBackFailed as exc:
                    log.warning("reading contracts back failed (%s); reloading from the last "
                                "committed batch", exc)  # fmt: skip
                    with contextlib.suppress(Exception):  # committed or not: reload tells
                        await self._settle(reload=False)
                    self._stale = True  # reconnect, reload, read again from the positions
                    continue
                if not await self._settle():
                    continue  # reloaded: what was just read is read again from the positions
                if batch is None and marks and self._past_markers(marks):
                    batch = store.Batch.of(
                        self.model.take_changes(), self.positions, starts=self._base
                    )
                if batch is not None:
                    self._pending = asyncio.create_task(
                        store.write(self.conn, self.schema, self.live, self.generation, batch)
                    )
                    self._base = dict(self.positions)
                    if on_batch is not None:
                        on_batch(self)
                    if backlog and time.monotonic() - reported >= PROGRESS_EVERY_S:
                        reported = time.monotonic()
                        self._log_progress()
        async with self._owning:
            await self._settle()

    def _log_progress(self) -> None:
        """A line every few seconds while batches come: what a long catch-up has done."""
        p = self.progress
        seconds = max(time.monotonic() - p.started, 1e-9)
        log.info("applied %d events in %.0f s (%.0f events/s; %.1f s waiting for PostgreSQL), "
                 "%d contracts read back%s", p.applied, seconds, p.applied / seconds,
                 p.write_wait, p.read_back,
                 f", reading partitions {self.reading}" if self.reading else "")  # fmt: skip

    def _focus_on(self) -> list[TopicPartition]:
        """The partitions to read from during a backlog (`focus`), or none: every one."""
        assert self.consumer is not None
        if self._unfocused or not self._cache_full:
            self._unfocused = False
            self.reading = ()
            return []
        lags: dict[int, int] = {}
        for tp in self.tps:
            if tp.partition not in self._owned:
                continue
            try:
                end = self.consumer.highwater(tp)
            except Exception:  # revoked meanwhile: the next assignment reloads
                self.reading = ()
                return []
            if end is not None:
                lags[tp.partition] = end - self.positions.get(tp.partition, 0)
        self._focus = self.reading = focus(lags, self._focus, self.max_batch)
        return [tp for tp in self.tps if tp.partition in self._focus]

    async def _catch_up_with_helpers(self) -> None:
        """When the partitions just assigned are behind by `catch_up`'s lag or more: pauses
        them, and polls (the group counts a member that stops polling as gone) while its
        processes apply the backlog to the live tables up to the log's end, then reloads the
        positions they reached and carries on from there. Their batches are fenced by the
        positions as this projector's are: a rebalance meanwhile stops them (after the batch in
        hand) before the partitions go. Should they fail, this projector applies the rest."""
        assert self.catch_up is not None and self.consumer is not None
        async with self._owning:
            epoch, owned = self.epoch, sorted(self._owned)
            tps = [tp for tp in self.tps if tp.partition in self._owned]
            try:
                ends = await kafka_log.end_offsets(self.consumer, tps)
            except KafkaError:
                return  # Kafka away: the backlog is applied here
            starts = {p: self.positions.get(p, 0) for p in owned}
            lag = sum(max(0, end - starts[p]) for p, end in ends.items())
            if not tps or not self.catch_up.worth_it(lag, len(owned)):
                return
            self.consumer.pause(*tps)
        log.info("behind by %d events on partitions %s: catching up with helper processes",
                 lag, owned)  # fmt: skip
        started = last = time.monotonic()
        self._helpers_stop = False
        helping = asyncio.create_task(
            self.catch_up.run(owned, lambda: self._stop.is_set() or self._helpers_stop)
        )
        self._helping = helping
        try:
            while not helping.done():
                with contextlib.suppress(KafkaError):
                    # Paused: nothing comes (after a rebalance, records may: they are dropped,
                    # and read again from the positions once the helpers are done).
                    await self.consumer.getmany(timeout_ms=100)
                if time.monotonic() - last >= PROGRESS_EVERY_S:
                    last = time.monotonic()
                    await self._log_catch_up(starts, lag, started)
            await helping
            if self._helpers_stop or self._stop.is_set():
                log.info("the catch-up's processes stopped after %.1f s (a rebalance, or a stop)",
                         time.monotonic() - started)  # fmt: skip
            else:
                log.info("caught up with %d events in %.1f s by helper processes",
                         lag, time.monotonic() - started)  # fmt: skip
        except Exception as exc:
            log.warning("the catch-up's processes failed (%s); applying the backlog here", exc)
        finally:
            self._helping = None
        async with self._owning:
            assigned = self.consumer.assignment()
            self.consumer.resume(*[tp for tp in tps if tp in assigned])
            if self.epoch == epoch:
                try:
                    await self.reload()
                except Exception:
                    self._stale = True
            else:
                # The assignment since has reloaded; but a partition assigned anew is not
                # paused, and what the polls above fetched of it was dropped: read it again.
                self._rewind()
                self.epoch += 1

    async def _log_catch_up(self, starts: dict[int, int], lag: int, started: float) -> None:
        assert self.reader is not None
        try:
            _, at = await store.positions(self.reader, self.schema)
        except Exception:
            return
        done = sum(max(0, at.get(p, 0) - start) for p, start in starts.items())
        rate = done / max(time.monotonic() - started, 1e-9)
        log.info("catching up: %d of %d events applied (%.0f events/s)", done, lag, rate)

    async def stop_helpers(self) -> None:
        """Stops the catch-up's processes, if any, once their batches in hand are written."""
        helping = self._helping
        if helping is not None:
            self._helpers_stop = True
            await asyncio.wait({helping})
            log.info("the catch-up's processes have stopped, their last batches written")

    def _rewind(self) -> None:
        """The consumer back to the position of each partition owned (nothing applied past)."""
        assert self.consumer is not None
        for tp in self.tps:
            if tp.partition in self._owned:
                self.consumer.seek(tp, self.positions.get(tp.partition, 0))

    async def _apply(
        self, records: dict[TopicPartition, list[ConsumerRecord]]
    ) -> store.Batch | None:
        # Only what was fetched from the positions reloaded (a partition just assigned is read
        # from the beginning until the listener has sought it to its position).
        owned = {tp: rs for tp, rs in records.items() if rs and tp.partition in self._owned}
        records = {}
        for tp, rs in owned.items():
            at = self.positions.get(tp.partition, 0)
            if rs[0].offset < at:  # never behind the position: nothing is applied twice
                rs = [r for r in rs if r.offset >= at]
            if rs:
                records[tp] = rs
        if not records:
            return None
        decode, head_of, pause = decode_event, read_stream_head, asyncio.sleep
        rates_of = read_rates_adjusted
        read = 0
        decoded: list[tuple[TopicPartition, list[ConsumerRecord], list[_Read]]] = []
        for tp, rs in records.items():
            events: list[_Read] = []
            for r in rs:
                read += 1
                if not read % YIELD_EVERY:
                    await pause(0)  # let the previous batch's write and the fetcher move on
                value = r.value or b""
                # An event that moves its stream on and nothing else is applied from its head,
                # its other fields neither parsed nor validated again: the writer validated it
                # before appending it (an older schema version, or bytes written otherwise, are
                # decoded, upcast and validated as every other event is).
                head = head_of(value, _STREAM_ONLY)
                if head is not None:
                    events.append(head)
                    continue
                # The most frequent event that changes margins: its fields read from its bytes,
                # typed, for the same reason (older versions and other bytes decoded).
                rates = rates_of(value)
                if rates is not None:
                    events.append(rates)
                    continue
                try:
                    events.append(decode(value))
                except Exception as exc:  # a poison event must never stop the projector
                    events.append(exc)
            decoded.append((tp, rs, events))
        touched = {
            e.contract_id for _, _, es in decoded for e in es if not isinstance(e, Exception)
        }
        await self._hold(touched)

        apply, move_on, audit_row = self.model.apply, self.model.move_on, store.audit_row
        id_text = event_id_text
        audit: list[bytes] = []
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
                        if isinstance(e, StreamHead):
                            done = move_on(e.contract_id, e.stream_version)
                        elif isinstance(e, RatesChange):
                            done = apply(e, e.event_id)
                        else:
                            # Its id's text from the bytes: `str` of a UUID is ~0.7 µs.
                            done = apply(e, id_text(r.value or b""))
                        if done:
                            applied += 1
                            audit += audit_row(e, r.value or b"", r.partition, r.offset)
                        else:
                            skipped += 1
                    except Exception as exc:  # a poison event must never stop the projector
                        await self._dead_letter(r, exc)
                self.positions[tp.partition] = rs[-1].offset + 1
        finally:
            self.progress.applied += applied
            self.progress.skipped += skipped
        batch = store.Batch.of(
            self.model.take_changes(), self.positions, events=audit, starts=self._base
        )
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
        while more than the cache's contracts or rows are held, never one of this batch or of
        the one before (its write may still be under way: read back now, such a contract would
        be read as it was before)."""
        recent, held, weights = self._recent, self.model.contracts, self._weights
        for cid in touched:
            if cid in held:
                recent.pop(cid, None)
                recent[cid] = None
                weight = self.model.rows_of(cid)
                self._rows += weight - weights.get(cid, 0)
                weights[cid] = weight
        keep = touched | self._in_flight
        self._in_flight = touched
        if len(recent) <= self.cache_contracts and self._rows <= self.cache_rows:
            return
        evict = self.model.evict
        for cid in list(recent):
            if len(recent) <= self.cache_contracts and self._rows <= self.cache_rows:
                break
            if cid in keep:
                break  # the rest is more recent still
            del recent[cid]
            self._rows -= weights.pop(cid, 0)
            evict(cid)
            self._cache_full = True

    async def _marker_positions(self) -> dict[int, int] | None:
        """The consumer's position in each partition owned, once idle (None mid-rebalance)."""
        assert self.consumer is not None
        try:
            return {
                tp.partition: await asyncio.wait_for(self.consumer.position(tp), 1.0)
                for tp in self.tps
                if tp.partition in self._owned
            }
        except Exception:  # revoked meanwhile, or being reassigned
            return None

    def _past_markers(self, marks: dict[int, int]) -> bool:
        """Moves the positions past transaction markers once idle.

        The writer appends in transactions, and each commit marker takes an offset of its own
        that no record is returned for: without this the stored position would stay one short
        of the end forever, and a lag of zero (what a rebuild waits for) would never come.
        """
        moved = False
        for partition, at in marks.items():
            if partition in self._owned and at > self.positions.get(partition, 0):
                self.positions[partition] = at
                moved = True
        return moved

    async def _dead_letter(self, record: ConsumerRecord, exc: Exception) -> None:
        reason = f"projector: {type(exc).__name__}: {exc}"[:4000]
        log.error("dead-lettering event at %d/%d: %s", record.partition, record.offset, reason)
        self.progress.poisoned += 1
        if self.dead_letters is None:
            return
        if self._dlq is None:
            self._dlq = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", **kafka_connection.options()
            )
            await self._dlq.start()
        await (await kafka_log.dead_letter(self._dlq, self.dead_letters, record, reason))

    async def _settle(self, reload: bool = True) -> bool:
        """Waits for the batch write in flight, if any. On failure: with `reload`, reloads what
        was committed; without (the rebalance listener: an assignment reloads next), not. A
        failure of the connection marks the state `_stale`: reconnect, then reload."""
        pending, self._pending = self._pending, None
        if pending is None:
            return True
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
        except store.PositionMoved as exc:
            log.warning("%s: another projector owns it now; reloading", exc)
        except Exception as exc:
            log.warning("writing a batch failed (%s: %s); reloading from the last committed batch",
                        type(exc).__name__, exc)  # fmt: skip
            self._stale = True
        if reload and not self._stale:
            try:
                await self.reload()
            except Exception:
                self._stale = True
        return False

    async def _reconnect_and_reload(self) -> None:
        """A fresh connection (the old one may be closed or stuck mid-protocol) and the last
        committed state, tried with backoff for as long as PostgreSQL is away."""
        delay = 0.5
        while not self._stop.is_set():
            await asyncio.sleep(delay)
            try:
                # Per attempt, not across the sleeps: a rebalance may come in between.
                async with self._owning:
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


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """The group's rebalances: partitions leave once the batch in flight is written (or has
    failed), and the partitions assigned are reloaded before a record of them is applied."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        p = self.projector
        # Helpers applying these partitions stop (their batches in hand written) before the
        # partitions go to another member.
        await p.stop_helpers()
        async with p._owning:  # after the batch being built, if any
            await p._settle(reload=False)
            gone = {tp.partition for tp in revoked}
            p.tps = [tp for tp in p.tps if tp.partition not in gone]
            p._owned -= gone
            p.epoch += 1
            for partition in gone:
                p.positions.pop(partition, None)
                p._base.pop(partition, None)
        log.info("revoked: %s", sorted(gone))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        p = self.projector
        assert p.consumer is not None
        async with p._owning:
            p.epoch += 1
            p.tps = sorted(p.consumer.assignment())
            if p._stale:
                p._owned = set()
                log.info("assigned: %s (reloaded once PostgreSQL answers)",
                         sorted(tp.partition for tp in p.tps))  # fmt: skip
                return
            try:
                with watchdog.current().busy("projector reload after an assignment"):
                    await p.reload()
            except Exception as exc:  # PostgreSQL away: the loop reconnects and reloads
                log.warning("reloading after an assignment failed (%s: %s)",
                            type(exc).__name__, exc)  # fmt: skip
                p._owned = set()
                p._stale = True
                return
            p._catch_up_due = p.catch_up is not None
        log.info("assigned: %s", sorted(tp.partition for tp in p.tps))
