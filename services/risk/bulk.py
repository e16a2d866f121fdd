"""The risk agent's bulk pass: the events topic judged outside Faust's stream, into one
generation of the agent's table and consumer group, as the Faust agent would have judged it.

Faust's stream costs more per event than the rules (a Faust agent that only decodes and acks
reads 6-21 % of a bare consumer's rate, bench/RESULTS.md), so a whole log (a first pass, a
rebuild) is read here with plain aiokafka instead, partition by partition (committed records
only, large fetches: `services.kafka_log.read_partition`), each event judged with the agent's
own pure step and release-day filter (`projections.risk.log_pass.LogPass`), the states in
memory. Then, in this order (a crash in between redoes the pass, nothing raised twice):

1. the alerts (`ON CONFLICT DO NOTHING` on their deterministic ids) in large batches, and
   `risk_progress` per contract, as the agent stores them; the new alerts go to the alerts
   topic: in a first pass sent by the pass itself as it stores them (those not stored yet,
   stored marked as sent), so that offsets committed mean alerts published, as the agent acks
   only what it published; in a rebuild, from the outbox by the live agent at its next tick
   (two publishers of one outbox would send some alerts twice);
2. the timer rules over every state at the end of each round, as the agent's timer would;
3. each contract's final state (`projections.risk.codec`) to the generation's changelog topic,
   one record per contract, on the partition Faust's table would use (the events topic's:
   `events.topics.partition_of`, key and value the table's raw bytes), so that a Faust agent of
   that generation recovers its table from it;
4. the generation's consumer-group offsets committed at the offsets judged: its agents go on
   from there.

Then the tail (events appended meanwhile) is read the same way, round after round, until a
round finds fewer than `close` events: the caller then starts Faust (a first pass) or swaps the
generation in (a rebuild, services/risk/rebuild.py).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from events.alerts import Alert
from events.serialization import decode_event
from events.topics import STATE_TOPIC_CONFIG, partition_of
from projections.risk.codec import encode_state
from projections.risk.log_pass import LogPass
from services import kafka_admin, kafka_connection, logs
from services.db import connection
from services.gc_policy import FewCollections
from services.kafka_log import log_ends, read_partition
from services.projector.commands import _Reporter as Reporter  # the rebuild's progress
from services.risk.names import app_id, changelog_topic
from services.risk.storage import not_stored, send_alerts, store_alerts, store_progress
from services.settings import Settings

log = logging.getLogger("ledger.risk")

# Alerts stored per PostgreSQL transaction (a first pass raises about one per four events).
_ALERTS_PER_BATCH: Final = 20_000
CLOSE_BEHIND: Final = 1_000
"""A tail round that found fewer events than this ends the bulk pass: Faust takes the rest."""
_ROUNDS_MAX: Final = 20
# The pass keeps every contract's state and decodes an event per record, free of cycles; at
# THRESHOLD's 50,000 allocations the young collections still took 0.4 s of CPU in a pass of
# 200,000 events (2 us an event, timed by gc.callbacks), for about a thousand objects found in
# cycles: at 500,000 none ran in that pass.
_few_gcs = FewCollections((500_000, 20, 20))


@dataclass
class Judged:
    """What a bulk pass did."""

    events: int = 0
    skipped: int = 0  # records not decoded or not judged (the agent logs and skips them too)
    alerts: int = 0  # raised (stored unless already there)
    states: int = 0  # changelog records written
    rounds: int = 0
    seconds: float = 0.0
    offsets: dict[int, int] = field(default_factory=dict)  # partition -> next offset to judge


class BulkPass:
    """One bulk pass of `settings`' events topic into generation `generation`."""

    def __init__(
        self,
        settings: Settings,
        generation: int,
        progress: TextIO = sys.stderr,
        publish: bool = False,
        partitions: Sequence[int] | None = None,
    ) -> None:
        self.settings = settings
        # Only these partitions of the events topic (a share of the pass, `judge_log`).
        self.partitions = partitions
        self.generation = generation
        self.progress = progress
        # Publish the alerts stored (the outbox) before committing the offsets, as the agent
        # does before it acks: a first pass, which no live agent of the group runs beside.
        # A rebuild leaves them to the live agent's outbox.
        self.publish = publish
        self._producer: AIOKafkaProducer | None = None
        self.topic = settings.topics.events
        self.fold = LogPass()
        self.result = Judged()
        self._alerts: list[Alert] = []
        # Per partition, the log's end a round read to (past the last record: its transaction
        # marker), so that a round does not read it again for nothing.
        self._read_to: dict[int, int] = {}

    @property
    def group(self) -> str:
        return app_id(self.settings.topic_prefix, self.generation)

    @property
    def changelog(self) -> str:
        return changelog_topic(self.settings.topic_prefix, self.generation)

    async def run(self, close: int = CLOSE_BEHIND) -> Judged:
        """The whole log, then its tail until a round finds fewer than `close` events."""
        started = time.monotonic()
        await kafka_admin.ensure_compacted(
            self.settings.kafka_bootstrap_servers,
            self.changelog,
            self.topic.partitions,
            STATE_TOPIC_CONFIG,
            self.settings.kafka_replication_factor,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            **kafka_connection.options(),
            acks="all",
            enable_idempotence=True,
            max_batch_size=1024 * 1024,
            linger_ms=20,
        )
        await self._producer.start()
        try:
            with _few_gcs():
                while True:
                    found = await self.round()
                    self.result.rounds += 1
                    if found < close or self.result.rounds >= _ROUNDS_MAX:
                        break
        finally:
            await self._producer.stop()
            self._producer = None
        self.result.seconds = time.monotonic() - started
        return self.result

    async def round(self) -> int:
        """The events after the offsets judged, to the log's end as it is now: judged, stored,
        their states written and the offsets committed. Returns how many events it read."""
        s = self.settings
        ends = await log_ends(s.kafka_bootstrap_servers, self.topic)
        if self.partitions is not None:
            ends = {p: end for p, end in ends.items() if p in self.partitions}
        todo = sum(max(0, end - self.result.offsets.get(p, 0)) for p, end in ends.items())
        report = Reporter(todo, self.progress)
        began, read = time.time(), 0
        for partition in sorted(ends):
            start = self.result.offsets.get(partition, 0)
            if max(start, self._read_to.get(partition, 0)) >= ends[partition]:
                continue
            async for record in read_partition(
                s.kafka_bootstrap_servers, self.topic.name, partition, start
            ):
                read += 1
                self.result.offsets[partition] = record.offset + 1
                self._judge(record.value, record.timestamp, partition, record.offset)
                if len(self._alerts) >= _ALERTS_PER_BATCH:
                    await self._store()
                report(read, began)
            self._read_to[partition] = ends[partition]
            await self._store()  # the partition's alerts and progress
        if read:
            report.finish()
        self.result.events += read
        self._alerts += self.fold.timers(datetime.now(UTC))
        await self._store()
        await self._write_states()
        await self._commit()
        return read

    def _started(self) -> AIOKafkaProducer:
        assert self._producer is not None, "only while `run` runs"
        return self._producer

    def _judge(self, value: bytes | None, timestamp: int, partition: int, offset: int) -> None:
        try:
            event = decode_event(value or b"")
            logged = datetime.fromtimestamp(timestamp / 1000, UTC) if timestamp else None
            self._alerts += self.fold.judge(event, logged)
        except Exception:
            log.warning("%s/%d offset %d skipped: not decoded or not judged", self.topic.name,
                        partition, offset, exc_info=True)  # fmt: skip
            self.result.skipped += 1

    async def _store(self) -> None:
        """The alerts raised and the progress made since the last call, in one transaction."""
        alerts, self._alerts = self._alerts, []
        judged = self.fold.take_judged()
        if not alerts and not judged:
            return
        async with connection(self.settings.dsn) as conn:
            published = None
            if self.publish and alerts:
                # Sent before they are stored, marked sent: no read-back and no update of
                # every row (a crash in between sends them again: the topic is at least once).
                fresh = await not_stored(conn, alerts)
                await send_alerts(self._started(), self.settings.topics, fresh)
                published = datetime.now(UTC)
            async with conn.transaction():
                await store_alerts(conn, alerts, published)
                await store_progress(conn, self.topic.name, judged)
        self.result.alerts += len(alerts)

    async def _write_states(self) -> None:
        """Each changed contract's state to the generation's changelog, once."""
        states = self.fold.take_changed()
        if not states:
            return
        producer, n = self._started(), self.topic.partitions
        sent = [
            await producer.send(
                self.changelog,
                encode_state(state),
                key=state.contract_id.encode(),
                partition=partition_of(state.contract_id, n),
            )
            for state in states
        ]
        await asyncio.gather(*sent)
        self.result.states += len(states)

    async def _commit(self) -> None:
        """The generation's group offsets at the offsets judged (where its agents go on)."""
        offsets = {
            TopicPartition(self.topic.name, p): o for p, o in self.result.offsets.items() if o > 0
        }
        if not offsets:
            return
        try:
            await commit_offsets(self.settings, self.group, offsets)
        except KafkaError:
            # A member of the group runs already (an agent that started before the log had
            # events): it goes on from its own offsets, judging again what this pass judged
            # (nothing raised twice), and a rebuild's agents would make a first pass again.
            log.warning("%s: offsets not committed (a member of the group is running?)",
                        self.group, exc_info=True)  # fmt: skip


async def judge_log(
    settings: Settings,
    generation: int,
    processes: int,
    progress: TextIO = sys.stderr,
    publish: bool = False,
) -> Judged:
    """A bulk pass of the whole log into `generation` by `processes` processes, each over its
    share of the partitions (a contract's events are all in one: the shares are independent,
    each with its own rounds, timer and commits, as agents of one group are); in this process
    when 1."""
    count = min(max(1, processes), settings.topics.events.partitions)
    if count == 1:
        return await BulkPass(settings, generation, progress, publish).run()
    started = time.monotonic()
    ctx = multiprocessing.get_context("spawn")  # not forked: this process runs an event loop
    results: multiprocessing.Queue[Judged] = ctx.Queue()
    shares = [list(range(settings.topics.events.partitions))[i::count] for i in range(count)]
    procs = [
        ctx.Process(
            target=_judge_share,
            args=(settings, generation, publish, share, results),
            name=f"ledger-risk-bulk-{i}",
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for proc in procs:
        proc.start()
    stopping = _StopChildren()
    try:
        judged: list[Judged] = []
        while len(judged) < len(procs):
            try:
                judged.append(await asyncio.to_thread(results.get, True, 0.5))
            except queue.Empty:
                if any(proc.exitcode not in (None, 0) for proc in procs):
                    codes = [proc.exitcode for proc in procs]
                    raise RuntimeError(f"a bulk pass process failed (exit codes {codes})") from None
        for proc in procs:
            await asyncio.to_thread(proc.join)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()
        stopping.close()
    return Judged(
        events=sum(j.events for j in judged),
        skipped=sum(j.skipped for j in judged),
        alerts=sum(j.alerts for j in judged),
        states=sum(j.states for j in judged),
        rounds=max(j.rounds for j in judged),
        seconds=time.monotonic() - started,
        offsets={p: o for j in judged for p, o in j.offsets.items()},
    )


class _StopChildren:
    """While a pass runs in child processes: SIGTERM ends this process by SystemExit rather
    than at once, so that its children are stopped too (the `finally` of `judge_log`, or
    multiprocessing's exit handler, which terminates and waits for daemonic children). Killed
    at once, it left them judging, storing and committing as orphans after the agent or the
    rebuild had been stopped."""

    def __init__(self) -> None:
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._exit)

    @staticmethod
    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    def close(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None


def _judge_share(
    settings: Settings,
    generation: int,
    publish: bool,
    partitions: list[int],
    results: multiprocessing.Queue[Judged],
) -> None:
    """A process's share of `judge_log`: its result on `results` (a failure: the process exits
    non-zero and puts nothing, so the parent's wait ends with its exit below)."""
    logs.configure(settings.log_format)
    results.put(asyncio.run(BulkPass(settings, generation, sys.stderr, publish, partitions).run()))


async def commit_offsets(
    settings: Settings, group: str, offsets: dict[TopicPartition, int]
) -> None:
    """Commit `offsets` for `group` from outside it (no member of it runs meanwhile)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        **kafka_connection.options(),
        group_id=group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def committed_offsets(settings: Settings, group: str) -> dict[int, int]:
    """The events topic's offsets `group` has committed, by partition (none: empty)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **kafka_connection.options()
    )
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    topic = settings.topics.events.name
    return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic}


def summary(judged: Judged, what: str) -> str:
    rate = judged.events / judged.seconds if judged.seconds else 0.0
    return (
        f"{what}: {judged.events:,} events judged in {judged.seconds:.1f} s ({rate:,.0f}/s, "
        f"{judged.rounds} round(s), {judged.skipped} skipped), {judged.alerts:,} alerts raised, "
        f"{judged.states:,} states written"
    )
