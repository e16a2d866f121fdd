"""What the risk agent does with a batch of events and at its timer, apart from Faust: judge,
store, flush and ack (services/risk/worker.py runs it in a Faust app)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from faust.types import EventT

from events.alerts import Alert
from events.catalogue import EventBase
from events.serialization import decode_event
from projections.risk import judge, judge_timers
from projections.risk.rules.releases import in_force
from projections.risk.state import RiskState
from services import watchdog
from services.risk.outlets import LogNotIndexedYet, Outlets
from services.risk.states import States

log = logging.getLogger("ledger.risk")

_RETRY_MAX_S: Final = 30.0
SWEEP_EVERY_S: Final = 5.0
"""How often the timer looks for events the index holds and the rules have not judged."""
# One attempt at judging and storing a batch gives up after this long (and is retried).
JUDGE_TIMEOUT_S: Final = 30.0
# During a backlog, a flush comes after this many events at the latest (the events are held in
# memory until then: about 30 MB of them), however short of `risk_flush_s` the time held.
_HOLD_EVENTS_MAX: Final = 20_000
_INDEX_WAIT_S: Final = 0.5  # a batch waiting for the projector to index events it lacks
INDEX_STUCK_S: Final = 60.0
"""A batch waiting this long for the log's index is stuck: said at WARNING, and again every as
long after (the projector indexes the log seconds behind the rules, not minutes)."""


def _logged_at(e: EventT[bytes]) -> datetime | None:
    """When the event was appended to the events topic (its record's timestamp)."""
    ts = e.message.timestamp
    return datetime.fromtimestamp(ts, UTC) if ts else None


def _behind(state: RiskState | None, event: EventBase) -> bool:
    """Whether `state` lacks events of the contract before `event` (a gap in versions): its
    rules would judge the event against a contract that is not the one in the log."""
    version = event.stream_version or 0
    return (state.version if state is not None else 0) < version - 1


def _judge_in_order(
    before: RiskState | None, events: Sequence[EventBase]
) -> tuple[list[Alert], RiskState]:
    """`judge` over a contract's events in order (at least one): every alert, the last state."""
    raised: list[Alert] = []
    for event in events:
        alerts, state = judge(before, event)
        raised += alerts
        before = state
    return raised, state


Ack = Callable[[EventT[bytes]], Awaitable[Any]]


class RiskAgent:
    """What the Faust agent and timer do, apart from Faust.

    A batch is judged and stored in PostgreSQL (alerts and progress) at once; its states and
    its acks wait in memory (`States.put`, `_unacked`) until `flush`, which writes each
    contract's latest state to the table once, publishes the alerts and acks the events. A
    batch that did not fill (the agent has caught up: the live path) is flushed at once, as
    before; during a backlog (a first pass, a catch-up) the flush comes every `flush_s`, so a
    contract costs one state encoding and one changelog record per `flush_s`, not per event.
    The states are ahead of the acks, never behind: a crash before a flush redelivers the
    events since the last one, judged again against the older state with nothing raised twice.
    """

    def __init__(self, states: States, outlets: Outlets, flush_s: float = 0.0) -> None:
        self.states = states
        self.outlets = outlets
        self.flush_s = flush_s
        # The agent and the timer both read, judge and write states: one at a time.
        self.lock = asyncio.Lock()
        self.changed = True  # a state changed since the timer last looked
        self._next_sweep = time.monotonic() + SWEEP_EVERY_S
        self._judged_at = time.monotonic()  # when the last batch was judged
        # Contracts this worker's sweep found behind, with the version judged then.
        self._behind: dict[str, int] = {}
        # Events judged and stored, acked at the next flush, and when the first was judged.
        self._unacked: list[EventT[bytes]] = []
        self._held_since: float | None = None
        self._raised = False  # alerts stored since the last flush
        self.ack: Ack | None = None  # the stream's, set by the Faust agent
        self._revoking = False  # from a revocation until the recovery ends: nothing held

    async def judge(self, events: Sequence[EventT[bytes]], full: bool = False) -> None:
        """Judge a batch of events of the events topic; retried until it is stored. `full`:
        the batch filled up (a backlog), so its states and acks may wait for the next flush."""
        delay = 0.5
        waiting_since: float | None = None  # for the log's index
        warned_at = 0.0
        while True:
            try:
                async with self.lock:
                    with watchdog.current().busy(f"judging {len(events)} events"):
                        await asyncio.wait_for(self._judge(events), JUDGE_TIMEOUT_S)
                        self._unacked += events
                        if self._held_since is None:
                            self._held_since = time.monotonic()
                        if not full or self._revoking or self._flush_due():
                            await asyncio.wait_for(self._flush(), JUDGE_TIMEOUT_S)
                return
            except asyncio.CancelledError:
                raise
            except LogNotIndexedYet as e:
                # Not a failure: the projector indexes the log a moment behind the rules. A
                # backoff grown to half a minute here would hold a takeover's first batch for
                # longer than the takeover itself (the lock waits, the partitions wait).
                # Said once at INFO; then, a batch that has waited a minute is stuck (the
                # projector down, or behind by far more than it ever is), and its partition with
                # it: said at WARNING, every minute.
                now = time.monotonic()
                if waiting_since is None:
                    waiting_since = now
                    log.info("a batch of %d events waits for the log's index: %s", len(events), e)
                elif now - waiting_since >= INDEX_STUCK_S and now - warned_at >= INDEX_STUCK_S:
                    warned_at = now
                    log.warning(
                        "a batch of %d events has waited %.0f s for the log's index, and its "
                        "partition with it (is the projector running and caught up?): %s",
                        len(events),
                        now - waiting_since,
                        e,
                    )
                await asyncio.sleep(_INDEX_WAIT_S)
            except Exception:
                log.exception("a batch of %d events not stored; again in %.1fs", len(events), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)

    def _flush_due(self) -> bool:
        held = self._held_since
        return held is not None and (
            time.monotonic() - held >= self.flush_s or len(self._unacked) >= _HOLD_EVENTS_MAX
        )

    async def flush(self) -> None:
        """What is held written out now (before a revocation: Faust waits for every event taken
        to be acked before it gives the partitions up)."""
        async with self.lock:
            await asyncio.wait_for(self._flush(), JUDGE_TIMEOUT_S)

    async def _flush(self) -> None:
        """The held states to the table, the stored alerts to the alerts topic, then the acks."""
        if self.states.pending:
            self.states.flush()
        if self._raised:
            await self.outlets.publish(self.states.owns)
            self._raised = False
        unacked, self._unacked, self._held_since = self._unacked, [], None
        if self.ack is not None:
            for e in unacked:
                await self.ack(e)

    async def _judge(self, events: Sequence[EventT[bytes]]) -> None:
        after: dict[bytes, RiskState] = {}
        alerts: list[Alert] = []
        judged: dict[str, int] = {}
        for e in events:
            try:
                event = decode_event(e.value or b"")
                key = event.contract_id.encode()
                before = after[key] if key in after else self.states.get(key)
            except Exception:
                log.exception(
                    "event at %s/%d offset %d not decoded",
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                )
                continue
            gap: list[EventBase] = []
            if _behind(before, event):
                # Not a poison event: events this worker should have judged. From the log, or
                # the batch is judged again later (an exception here is not caught).
                gap = await self.outlets.gap_from_log(before, event)
            try:
                raised, state = _judge_in_order(before, [*gap, event])
            except Exception:
                log.exception(
                    "event at %s/%d offset %d not judged",
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                )
                continue
            version = event.stream_version or 0
            # A rule released after the event was logged raises nothing for it (releases.py);
            # the events of a gap have no log time here: judged as new.
            logged = _logged_at(e)
            alerts += [a for a in raised if a.stream_version != version or in_force(a.rule, logged)]
            if state is not before:
                after[key] = state
            judged[event.contract_id] = max(judged.get(event.contract_id, 0), version)
        await self.outlets.save(alerts, judged)
        for state in after.values():
            self.states.put(state)
        self._judged_at = time.monotonic()
        if after:
            self.changed = True
        if alerts:
            self._raised = True

    async def tick(self) -> None:
        """The timer rules over every state, at the latest event time among them. Bounded like
        a batch: it holds the lock that the agent and a revocation wait for."""
        async with self.lock:
            await asyncio.wait_for(self._tick(), JUDGE_TIMEOUT_S)

    async def sweep(self) -> None:
        """Only the sweep (when due), for the timer while Faust is rebalancing: the partitions
        this worker owns (none from a rebalance's start until its table is recovered,
        `revoked`/`recovered`) are judged from the log even if Faust never ends that rebalance
        and never delivers their events (the risk group test saw a survivor judge nothing of
        the partitions it had taken for a minute, issue #21)."""
        async with self.lock:
            await asyncio.wait_for(self._sweep_when_due(), JUDGE_TIMEOUT_S)
            if self.states.pending:  # what the sweep judged, in the table as before
                await asyncio.wait_for(self._flush(), JUDGE_TIMEOUT_S)

    async def _sweep_when_due(self) -> None:
        now = time.monotonic()
        # Only when idle: a worker judging batches (a replay, a backlog) is not missing them.
        if self.states.owned and now >= self._next_sweep and now - self._judged_at >= SWEEP_EVERY_S:
            self._next_sweep = now + SWEEP_EVERY_S
            try:
                await self._sweep()
            except asyncpg.UndefinedTableError:
                pass  # no read models (being rebuilt, or none): nothing to compare with
            except Exception:
                log.exception("the sweep for unjudged events failed; again in %ss", SWEEP_EVERY_S)

    async def _tick(self) -> None:
        await self._sweep_when_due()
        # During a backlog the timer judges every state at each flush, not at each tick: over
        # tens of thousands of contracts a pass costs a tenth of a second, and the watermark
        # moves on anyway.
        backlog = bool(self._unacked) and not self._flush_due()
        if self.changed and not backlog:
            self.changed = False
            try:
                await self._timers()
            except BaseException:
                self.changed = True  # judged again at the next tick
                raise
        # The states the timer or the sweep put, or a backlog's whose batches stopped coming.
        if not self._unacked or self._flush_due():
            await self._flush()
        await self.outlets.publish(self.states.owns)  # what a crash left unpublished

    async def _timers(self) -> None:
        alerts, recorded = judge_timers(list(self.states.all()), datetime.now(UTC))
        if not alerts:
            return
        log.info("%d timer alerts", len(alerts))
        await self.outlets.save(alerts, {})
        for state in recorded:
            self.states.put(state)  # owned still: a revocation waits for the lock

    async def _sweep(self) -> None:
        """The events of this worker's contracts that the log's index holds and the rules have
        not judged, still so since the last sweep: judged from the log, in order.

        After a takeover the Faust consumer sometimes never delivers some events of the
        partitions it took (their offsets already committed past them: issue #21, the risk
        group test's 'judged 1610 of 1620'); nothing else would ever judge them. An event
        merely in flight is behind at one sweep, not at two with the same version judged."""
        behind = await self.outlets.behind()
        mine = {c: v for c, v in behind.items() if self.states.owns(c)}
        stuck = {c: v for c, v in mine.items() if self._behind.get(c) == v[0]}
        self._behind = {c: judged for c, (judged, _) in mine.items()}
        if not stuck:
            return
        alerts: list[Alert] = []
        judged: dict[str, int] = {}
        after: list[RiskState] = []
        for contract_id, (_, indexed) in stuck.items():
            state = self.states.get(contract_id.encode())
            have = state.version if state is not None else 0
            missed = await self.outlets.events_from_log(contract_id, have, indexed + 1)
            if not missed:
                continue
            raised, state = _judge_in_order(state, missed)
            alerts += raised
            judged[contract_id] = indexed
            after.append(state)
        await self.outlets.save(alerts, judged)
        for state in after:
            self.states.put(state)
        self.changed = True

    async def revoking(self) -> None:
        """Partitions are about to be revoked: what is held is written out and acked now, and
        every batch until the recovery ends is flushed at once (Faust gives the partitions up
        only once every event it handed out is acked)."""
        async with self.lock:
            self._revoking = True
            await asyncio.wait_for(self._flush(), JUDGE_TIMEOUT_S)

    async def revoked(self) -> None:
        """A rebalance began: once the batch or tick under way has ended, this worker judges
        and writes no state until its recovery ends (`States.own`)."""
        async with self.lock:
            await asyncio.wait_for(self._flush(), JUDGE_TIMEOUT_S)
            self.states.disown()

    def recovered(self, partitions: set[int]) -> None:
        self._revoking = False
        dropped = self.states.own(partitions)
        self.changed = True  # the timer judges what this worker now holds
        log.info("owns partitions %s (%d states of others dropped)", sorted(partitions), dropped)
