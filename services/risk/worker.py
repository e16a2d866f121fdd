"""The risk agent: every rule on every event of the log, alerts into PostgreSQL and onto the
alerts topic.

A plain aiokafka consumer, like the projector. On start the rules' state is folded from the log
up to the position stored in PostgreSQL (nothing is judged twice), then each batch is judged;
its alerts, the position and the per-contract progress are written in ONE transaction
(`ON CONFLICT DO NOTHING` on the deterministic alert id: a replay raises nothing new). Alerts are
then published to the alerts topic from the table (an outbox: whatever a crash left unpublished
is published at the next start), so the topic gets every alert at least once, in order per
contract, and consumers deduplicate by id.

Time-based rules are judged on event time: `now` is the latest occurred_at seen, so a replay
of old events raises the same alerts.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from events.alerts import Alert, encode_alert
from events.serialization import decode_event
from events.topics import Topics
from projections.risk import evaluate, evaluate_timers
from projections.risk.state import RiskState, evolve, record_timer_alerts

log = logging.getLogger("ledger.risk")


class RiskAgent:
    def __init__(self, bootstrap: str, topics: Topics, dsn: str, max_batch: int = 5000) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.dsn = dsn
        self.max_batch = max_batch
        self.tps = [TopicPartition(topics.events.name, p) for p in range(topics.events.partitions)]
        self.states: dict[str, RiskState] = {}
        self.positions: dict[int, int] = {}
        self.watermark: datetime | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        self.conn = await asyncpg.connect(self.dsn)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True
        )
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
        await self.consumer.start()
        self.consumer.assign(self.tps)
        await self._restore()
        await self.publish()

    async def stop(self) -> None:
        for closer in (self.consumer, self.producer):
            if closer is not None:
                await closer.stop()
        if self.conn is not None:
            await self.conn.close()

    async def _restore(self) -> None:
        """State folded from the log up to the stored position, judging nothing."""
        assert self.conn is not None and self.consumer is not None
        rows = await self.conn.fetch(
            "SELECT partition, next_offset FROM risk_positions WHERE events_topic = $1",
            self.topics.events.name,
        )
        self.positions = {r["partition"]: r["next_offset"] for r in rows}
        self.states = {}
        for tp in self.tps:
            await self.consumer.seek_to_beginning(tp)
        target = {tp: self.positions.get(tp.partition, 0) for tp in self.tps}
        pending = {tp for tp, off in target.items() if off > 0}
        while pending:
            batch = await self.consumer.getmany(*pending, timeout_ms=1000, max_records=10_000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= target[tp]:
                        break
                    self._fold(r.value or b"")
            for tp in list(pending):
                if await self.consumer.position(tp) >= target[tp]:
                    pending.discard(tp)
        for tp in self.tps:
            self.consumer.seek(tp, target[tp])

    def _fold(self, raw: bytes) -> None:
        try:
            event = decode_event(raw)
        except Exception:
            return  # the projector dead-letters poison; the rules just do not see it
        self.states[event.contract_id] = evolve(self.states.get(event.contract_id), event)
        self._advance(event.occurred_at)

    def _advance(self, t: datetime) -> None:
        if self.watermark is None or t > self.watermark:
            self.watermark = t

    async def run(self, stop: asyncio.Event) -> None:
        assert self.consumer is not None
        while not stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=200, max_records=self.max_batch)
            if not batch:
                continue
            alerts: list[Alert] = []
            judged: dict[str, int] = {}
            for tp, records in batch.items():
                for r in records:
                    try:
                        event = decode_event(r.value or b"")
                        before = self.states.get(event.contract_id)
                        alerts += evaluate(before, event, event.occurred_at)
                        self.states[event.contract_id] = evolve(before, event)
                        self._advance(event.occurred_at)
                        judged[event.contract_id] = event.stream_version or 0
                    except Exception:
                        log.exception("event at %d/%d not judged", r.partition, r.offset)
                self.positions[tp.partition] = await self.consumer.position(tp)
            alerts += self._timers(judged)
            await self._save(alerts, judged)
            await self.publish()

    def _timers(self, judged: dict[str, int]) -> list[Alert]:
        if self.watermark is None:
            return []
        raised: list[Alert] = []
        for cid, state in self.states.items():
            found = evaluate_timers(state, self.watermark)
            if found:
                self.states[cid] = record_timer_alerts(state, (a.alert_id for a in found))
                raised += found
        return raised

    async def _save(self, alerts: list[Alert], judged: dict[str, int]) -> None:
        assert self.conn is not None
        topic = self.topics.events.name
        async with self.conn.transaction():
            if alerts:
                await self.conn.executemany(
                    """INSERT INTO alerts (alert_id, rule, severity, basis, contract_id,
                           client_name, assignment_id, staffer_id, exposure, message, event_ids,
                           raised_at, stream_version)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                       ON CONFLICT (alert_id) DO NOTHING""",
                    [
                        (a.alert_id, a.rule, a.severity, a.basis, a.contract_id, a.client_name,
                         a.assignment_id, a.staffer_id, a.exposure, a.message, list(a.event_ids),
                         a.raised_at, a.stream_version)
                        for a in alerts
                    ],
                )  # fmt: skip
            await self.conn.executemany(
                """INSERT INTO risk_progress (events_topic, contract_id, stream_version)
                   VALUES ($1, $2, $3) ON CONFLICT (events_topic, contract_id)
                   DO UPDATE SET stream_version = greatest(risk_progress.stream_version,
                                                           excluded.stream_version)""",
                [(topic, cid, v) for cid, v in judged.items()],
            )
            await self.conn.executemany(
                """INSERT INTO risk_positions (events_topic, partition, next_offset)
                   VALUES ($1, $2, $3) ON CONFLICT (events_topic, partition)
                   DO UPDATE SET next_offset = excluded.next_offset""",
                [(topic, p, off) for p, off in sorted(self.positions.items())],
            )

    async def publish(self) -> None:
        """Alerts not yet on the alerts topic, in the order they were stored."""
        assert self.conn is not None and self.producer is not None
        rows = await self.conn.fetch(
            """SELECT seq, alert_id, rule, severity, basis, contract_id, client_name,
                      assignment_id, staffer_id, exposure, message, event_ids, raised_at,
                      stream_version, status
               FROM alerts WHERE published_at IS NULL
                 AND contract_id IN (SELECT contract_id FROM risk_progress
                                     WHERE events_topic = $1)
               ORDER BY seq""",
            self.topics.events.name,
        )
        if not rows:
            return
        sent = []
        for r in rows:
            data = dict(r)
            del data["seq"]
            alert = Alert.model_validate(data | {"event_ids": tuple(data["event_ids"])})
            sent.append(
                await self.producer.send(
                    self.topics.alerts.name, encode_alert(alert), key=alert.contract_id.encode()
                )
            )
        await asyncio.gather(*sent)
        await self.conn.execute(
            "UPDATE alerts SET published_at = now() WHERE seq = ANY($1::bigint[])",
            [r["seq"] for r in rows],
        )
