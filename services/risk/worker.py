"""The risk agent: a faust-streaming agent over the events topic that judges every event with
every rule of DESIGN, keeping the rules' state per contract in a changelog-backed table.

The rules and `evolve` are pure (`projections/risk/`); this module is the Faust app around
them (its agent, timer, table recovery and rebalances), and `services/risk/agent.py` what it
does with a batch (`RiskAgent`: judge, store, flush, ack), over the table (`states.py`) and
PostgreSQL and the alerts topic (`outlets.py`). Per batch of events (in log order per
partition, so per contract):

1. each event is decoded; its contract's state is read from the table (`risk-state`: JSON
   written by `projections.risk.codec`, keyed by contract_id, in memory and, durably, in the
   compacted changelog topic `<prefix>-risk-risk-state-changelog`, replayed into memory at
   start; its segments are small (`events.topics.STATE_TOPIC_CONFIG`) so that compaction keeps
   that replay near one record per contract rather than one per event judged);
   `evaluate(state, event)` gives the alerts, `evolve` the next state, and the timer rules are
   judged on the contract's own event time as well;
2. the alerts (`ON CONFLICT DO NOTHING` on their deterministic id) and `risk_progress` (the
   stream version judged per contract, which `POST /v1/events` waits for) are written to
   PostgreSQL in ONE transaction;
3. the new states are written to the table (Faust sends them to the changelog), once per
   contract per flush: on the live path (a batch that did not fill) at once; during a backlog
   (a first pass, a catch-up: batches full) every `risk_flush_s` or 20,000 events, the states
   held in memory meanwhile (`States.put`), so that a contract costs one encoding and one
   changelog record per flush, not per event (the changelog is compacted: only the last state
   of a key matters);
4. alerts not yet on the alerts topic are published from PostgreSQL (an outbox: what a crash
   left unpublished is published later; `published_at` marks what went out), so the topic gets
   every alert at least once, in order per contract, and consumers deduplicate by id;
5. only then are the events acked (`noack_take`: Faust commits offsets of acked events only;
   a revocation flushes first, as Faust gives partitions up once every event taken is acked).
   A failure in 2–4 is retried; a crash redelivers the events since the last flush. `evaluate`
   and `evolve` ignore a stream_version the state has already applied and alert ids are
   deterministic, so a redelivery or a full replay raises nothing twice. A rule released after
   an event was logged raises nothing for it (`projections/risk/rules/releases.py`; `ledger
   risk rejudge` raises those on request, services/risk/rejudge.py).

An event that cannot be decoded or folded is logged and skipped (the projector dead-letters it).

Time-based rules (RELATIONSHIP_NEGLECT) are judged on event time, never the wall clock, so a
replay of old events raises the same alerts: at a contract's own event, at its latest event
time; and every `risk_timer_s` by a Faust timer over every state of the table, at the global
event-time watermark (the latest `occurred_at` among the states this worker holds; with one
worker, of the whole events topic; never past the wall clock, `timer_clock`), so a contract that
has gone quiet is judged although it has no events. The timer writes its alerts through the same
PostgreSQL path and records them in the state (`record_timer_alerts`), so a timer alert is
raised once. With more than one partition the watermark mixes partitions, so how far it had
moved when a quiet contract was judged can differ between a live run and a replay (the alert's
`raised_at`, or for a contract whose next event ends its silence, whether it is raised at all);
its id, made from the contract and the event its silence is counted from, never differs, so
nothing is raised twice.

Records of aborted transactions on the events topic are never seen: the app's transport reads
committed records only (`services/risk/transport.py`).

Any number of agents, on any number of machines, share the events topic's partitions as members
of one consumer group (the app id, `<prefix>-risk`); Faust's assignor gives each member the
changelog partitions of its event partitions, and the table is recovered from them when a
partition moves. A worker holds the states of its own partitions only (`States.own`, after
every rebalance), so its timer never judges nor writes back a state another worker now owns.
Each member claims its static membership (`services/membership.py`): two started with the
same settings take `<id>` and `<id>-2` instead of fencing each other.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, cast

import faust
from faust.tables.manager import TableManager
from faust.transport.consumer import ThreadDelegateConsumer
from faust.types import TP, EventT, StreamT
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from events.topics import STATE_TOPIC_CONFIG
from services import kafka_admin, kafka_connection, watchdog
from services.membership import KEEP_EVERY_S, Membership
from services.risk.agent import JUDGE_TIMEOUT_S, RiskAgent
from services.risk.bulk import committed_offsets
from services.risk.generations import GenerationWatch, restart_into, start_again
from services.risk.names import TABLE, app_id, changelog_topic
from services.risk.outlets import Outlets
from services.risk.states import States
from services.risk.transport import broker_urls
from services.settings import Settings

__all__ = ["TABLE", "app_id", "changelog_topic", "make_app", "run"]

log = logging.getLogger("ledger.risk")

RECOVERY_KICK_S: Final = 10.0  # a table recovery reading nothing for this long starts again


async def _rewind_uncommitted(
    consumer: ThreadDelegateConsumer, events_topic: str, committed: dict[int, int]
) -> None:
    """Events partitions with no committed offset start again from their beginning.

    Around a rebalance Faust's consumer can fetch records of the events partitions and drop
    them (a stream partition paused for the table's recovery, a flow not yet resumed), counting
    on its seek back to the committed offsets once recovery is done; but aiokafka seeks only to
    a committed offset above 0, so a partition with none (a worker killed before its first
    commit, a new group) kept its position past the dropped events, which were then not judged
    until the next rebalance (faust-streaming/faust#216 is of the same family). Run once
    Faust has resumed the flow (so nothing read after it is dropped again), through the
    consumer's own thread (`seek_wait`: Faust's `seek` calls aiokafka from the wrong loop; it
    also forgets Faust's read offset of the partition, below which Faust drops what it reads).
    What was judged meanwhile is judged again: the rules are idempotent.

    `committed`: the group's committed offsets, read without moving the consumer. Only the
    partitions without one are moved: Faust's own seek at the end of the recovery has put the
    others at their committed offsets, and moving them again while their records flow (the
    consumer's `seek_to_committed`, which leaves Faust's read offset where it was) only made
    Faust read them again and drop them as read already."""
    assigned = [tp for tp in consumer.assignment() if tp.topic == events_topic]
    fresh = sorted(tp for tp in assigned if committed.get(tp.partition, 0) <= 0)
    if fresh:
        log.info("events partitions %s: no committed offset, judged from their beginning",
                 [tp.partition for tp in fresh])  # fmt: skip
        # Below the log's start offset, aiokafka resets to the earliest.
        await consumer.seek_wait(dict.fromkeys(fresh, 0))


async def _know_topic(app: faust.App, topic: str) -> None:
    """Wait until the producer has the metadata of `topic`.

    Faust asks aiokafka's producer for a table key's partition synchronously, before anything
    is sent (`use_partitioner`), and that producer learns a topic's partitions only when asked
    to send to it or when its metadata ages out (5 minutes). A changelog topic Faust created at
    this start was unknown to it: every write to the table failed (`TypeError: 'NoneType' object
    is not iterable`) and the agent judged nothing for minutes (issue #21, seen in the risk group
    test). Known already, this returns at once."""
    producer = cast(Any, app.producer)._ensure_producer()
    await asyncio.wait_for(producer.partitions_for(topic), JUDGE_TIMEOUT_S)


class RebalanceWatch:
    """A rebalance that Faust never ends is a stall for the watchdog: the process exits and
    its supervisor restarts it, rather than owning partitions whose events nobody judges.
    While the table's recovery makes progress (its offsets still to read change), the unit of
    work is begun again: a long recovery is not a stall.

    Before that, a recovery with changes left to read that has read nothing for
    `RECOVERY_KICK_S` is started again (`kick`): Faust's recovery sometimes receives no record
    of a changelog partition it waits for, its fetch never resumed ('No event received for
    active tp ... since recovery start', seen for a minute in the risk group test, issue #21);
    started again, it pauses, seeks and resumes them anew."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._token: int | None = None
        self._progress: object = None
        self._since = clock()  # when the progress last changed

    def observe(self, rebalancing: bool, progress: object) -> None:
        dog = watchdog.current()
        if self._token is not None and (not rebalancing or progress != self._progress):
            dog.end(self._token)
            self._token = None
        if rebalancing and self._token is None:
            self._token = dog.begin("a rebalance and its table recovery")
        if not rebalancing or progress != self._progress:
            self._since = self.clock()
        self._progress = progress

    def kick(self, remaining: int) -> bool:
        """Whether to start the recovery again now (and the wait begins anew if so)."""
        if remaining <= 0 or self.clock() - self._since < RECOVERY_KICK_S:
            return False
        self._since = self.clock()
        return True


class _KeepQueuedOnResume(FlowControlEvent):
    """Faust's flow control, but resuming the flow leaves the streams' queues as they are (an
    explicit `clear`, at a revocation or a stop, still empties them).

    At the end of a table recovery Faust seeks the events partitions to their committed offsets
    and only then resumes the flow, which empties every stream's queue: the events its consumer
    handed to the agent's queue in between (fetched while that seek was awaited, Faust's read
    offset already past them) were dropped, and read again they were dropped as read already.
    Never judged, they left a gap: the contract's next event found no state and its batch
    waited for ever for the projector's index (the risk agent tests, on a loaded machine,
    seen in a repro with the events logged: the cleared offsets were those never judged). What
    sits in the queue at a resume is of the current assignment: the revocation before it
    emptied the queues, and the stream skips an event of an older generation."""

    _resuming = False

    def resume(self) -> None:
        self._resuming = True
        try:
            super().resume()
        finally:
            self._resuming = False

    def clear(self) -> None:
        if not self._resuming:
            super().clear()


class _RiskApp(faust.App):
    risk_agent: RiskAgent | None = None
    risk_outlets: Outlets | None = None
    risk_membership: Membership | None = None
    risk_events_topic: str = ""
    risk_settings: Settings | None = None
    risk_restart: bool = False  # stopping to start again in another generation
    _rewinding: asyncio.Task[None] | None = None

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return _KeepQueuedOnResume(loop=self.loop)

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        # Before Faust waits for every event taken to be acked (`wait_empty`): the agent's
        # held batches are written out and acked, or that wait would never end.
        if self.risk_agent is not None and not self.should_stop:
            try:
                await self.risk_agent.revoking()
            except Exception:
                # Left unacked, the events are judged again by their next owner.
                log.exception("held states not written before a revocation")
        await super()._on_partitions_revoked(revoked)

    def on_rebalance_end(self) -> None:
        super().on_rebalance_end()
        self._rewinding = asyncio.ensure_future(self._rewind())

    async def _rewind(self) -> None:
        try:
            consumer = cast(ThreadDelegateConsumer, self.consumer)
            assert self.risk_settings is not None
            committed = await committed_offsets(self.risk_settings, self.conf.id)
            await _rewind_uncommitted(consumer, self.risk_events_topic, committed)
        except Exception:
            # Not fatal: the events are judged again at the next rebalance or restart.
            log.exception("events partitions not rewound after a rebalance")

    async def on_shutdown(self) -> None:
        # After the agents and timers have stopped (mode stops children, then on_shutdown).
        if self.risk_outlets is not None:
            await self.risk_outlets.close()
        if self.risk_membership is not None:
            await self.risk_membership.close()
        await super().on_shutdown()


def make_app(
    settings: Settings, membership: Membership | None = None, generation: int = 0
) -> faust.App:
    """The app of `generation` (services/risk/generations.py); `membership`: the static group
    membership this process has claimed (none: dynamic membership)."""
    t = settings.topics
    ident = app_id(settings.topic_prefix, generation)
    app = _RiskApp(
        ident,
        broker=broker_urls(settings.kafka_bootstrap_servers),
        # TLS and the SCRAM or mutual-TLS user, as every other Kafka client of ours.
        broker_credentials=kafka_connection.faust_credentials(settings),
        # As fresh a view of the cluster as every other client of ours (kafka_connection).
        consumer_metadata_max_age_ms=kafka_connection.METADATA_MAX_AGE_MS,
        producer_metadata_max_age_ms=kafka_connection.METADATA_MAX_AGE_MS,
        store="memory://",  # rebuilt from the changelog topic at start
        datadir=str(Path(tempfile.gettempdir()) / f"ledger-{ident}"),  # nothing kept there
        web_enabled=False,
        topic_replication_factor=settings.kafka_replication_factor,
        topic_partitions=t.events.partitions,
        # Only the active partitions' states in this worker: the timer judges what it holds.
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=settings.risk_commit_s,
        # A worker killed without leaving its group is replaced after 10 s, not 60; one
        # restarted under its static instance id takes its partitions back at once.
        broker_session_timeout=10.0,
        consumer_group_instance_id=membership.instance_id if membership else None,
        key_serializer="raw",
        value_serializer="raw",
        # The table's changelog records go out in few, large produce requests: a flush writes
        # a state (2-3 KB) for each contract at once, and Faust's 16 KB batches sent at once
        # (linger 0) made a request of every few of them, each a socket write (over half the
        # first pass's time). Nothing waits on these records but a revocation's flush.
        producer_linger=0.02,
        producer_max_batch_size=512 * 1024,
    )
    events_topic = app.topic(t.events.name, key_type=bytes, value_type=bytes)
    table = app.Table(
        TABLE,
        default=None,
        key_type=bytes,  # contract_id, as the events topic's key
        value_type=bytes,  # projections.risk.codec JSON
        partitions=t.events.partitions,
        # Written from the timer too (outside any event): the changelog partition is the key's
        # by the default partitioner, as the events topic's, so it is co-partitioned.
        use_partitioner=True,
        # Set when Faust creates the changelog topic; small segments so that compaction keeps
        # what a start recovers near one state per contract, not one per event.
        extra_topic_configs=STATE_TOPIC_CONFIG,
    )
    outlets = Outlets(settings)
    agent = RiskAgent(States(table, t.events.partitions), outlets, settings.risk_flush_s)
    app.risk_agent = agent
    app.risk_outlets = outlets
    app.risk_membership = membership
    app.risk_events_topic = t.events.name
    app.risk_settings = settings

    async def on_revoked(_app: Any, *_args: Any, **_kwargs: Any) -> None:
        await agent.revoked()
        # A state the tick under way put in the table: on the changelog before the new owner
        # of its partition reads it.
        await app.producer.flush()

    app.on_partitions_revoked.connect(cast(Any, on_revoked))

    @table.on_recover  # once the table holds what the assigned partitions' changelog has
    async def on_recovered() -> None:
        await _know_topic(app, changelog_topic(settings.topic_prefix, generation))
        assignment = app.consumer.assignment()
        agent.recovered({tp.partition for tp in assignment if tp.topic == t.events.name})

    @app.agent(events_topic, name="risk")
    async def judge(events_stream: StreamT[bytes]) -> None:
        stream = cast(faust.Stream[bytes], events_stream)  # noack_take is not in StreamT
        agent.ack = stream.ack
        async for batch in stream.noack_take(settings.risk_batch, within=settings.risk_within_s):
            events = cast(list[EventT[bytes]], list(batch))  # noack_take yields events
            # Acked by the agent once their states are in the table (`RiskAgent.flush`).
            await agent.judge(events, full=len(events) >= settings.risk_batch)

    rebalance = RebalanceWatch()
    follow = GenerationWatch(settings.topic_prefix, generation)

    @app.timer(interval=settings.risk_timer_s)  # type: ignore[untyped-decorator]
    async def timers() -> None:
        recovery = cast(TableManager, app.tables).recovery
        rebalancing = app.rebalancing or app.in_recovery or not recovery.completed.is_set()
        remaining = recovery.active_remaining_total()
        rebalance.observe(rebalancing, remaining)
        if recovery.in_recovery and rebalance.kick(remaining):
            log.warning(
                "the table's recovery has read nothing for %.0f s with %d changes left: "
                "started again",
                RECOVERY_KICK_S,
                remaining,
            )
            recovery.signal_recovery_start.set()  # what a new assignment sets
        try:
            if rebalancing:
                await agent.sweep()  # the timer rules wait for the table; see `sweep`
            else:
                await agent.tick()
        except Exception:
            log.exception("timer rules not judged; again at the next tick")
        try:
            moved = None if app.risk_restart else await follow.moved((await outlets.open())[0])
            if moved is not None:
                app.risk_restart = restart_into(moved)  # the worker stops, `run` starts again
        except Exception:
            log.exception("the generation in force not read; again at the next tick")

    if membership is not None:

        @app.timer(interval=KEEP_EVERY_S)  # type: ignore[untyped-decorator]
        async def keep_membership() -> None:
            try:
                await membership.keep()
            except Exception:
                log.exception("the instance id's claim not checked; again at the next tick")

    return app


def _changelog_before_faust(
    loop: asyncio.AbstractEventLoop, settings: Settings, generation: int
) -> None:
    """The table's changelog topic exists before the app starts. Left to Faust, it is created
    while the members start, and a consumer whose metadata was fetched before that does not
    know it: its group leader's assignor then ignores it (`Ignoring missing topic`), a member
    that joins gets its events partitions without their changelog, recovers no state, and
    judges their events as if the contracts had none (issue #21, seen in the risk group test).
    Best effort: with Kafka away it is left to Faust, as before."""
    name = changelog_topic(settings.topic_prefix, generation)
    partitions = settings.topics.events.partitions
    try:
        if loop.run_until_complete(
            kafka_admin.ensure_compacted(
                settings.kafka_bootstrap_servers,
                name,
                partitions,
                STATE_TOPIC_CONFIG,
                settings.kafka_replication_factor,
            )
        ):
            log.info("created the changelog topic %s", name)
    except Exception:
        log.warning("changelog topic %s not checked: Kafka did not answer", name, exc_info=True)


def run(settings: Settings, loop: asyncio.AbstractEventLoop, generation: int) -> None:
    """Run the app of `generation` on `loop` (the current one, services/risk/start.py) until
    SIGTERM or SIGINT (Faust's worker handles both and stops cleanly)."""
    _changelog_before_faust(loop, settings, generation)
    membership = None
    if settings.risk_instance_id:
        group = app_id(settings.topic_prefix, generation)
        membership = Membership(settings.dsn, group, settings.risk_instance_id)
        loop.run_until_complete(membership.claim())
    app = make_app(settings, membership, generation)
    # Faust's services log their every step at INFO (ours too: they log under their module).
    for noisy in ("faust", "mode", "aiokafka", "services.risk.worker", "services.risk.transport"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log.info(
        "judging %s as %s (instance %s); alerts to %s",
        settings.topics.events.name,
        app.conf.id,
        membership.instance_id if membership else "dynamic",
        settings.topics.alerts.name,
    )
    worker = faust.Worker(app, loglevel="info", override_logging=False, quiet=True)
    worker.spinner = None  # a terminal progress spinner, written to stdout
    try:
        worker.execute_from_commandline()
    finally:
        if cast(_RiskApp, app).risk_restart:
            start_again()
