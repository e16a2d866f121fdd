"""What the risk rules' results become in PostgreSQL: alerts (their ids deterministic, stored
once) and `risk_progress` (per contract, the stream version judged, which `POST /v1/events`
waits for); and the alerts' outbox, published to the alerts topic. Shared by the agent, the
bulk pass and the rejudge."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from events.alerts import Alert, encode_alert
from events.topics import Topics
from services import progress
from services.kafka_log import send_keyed


async def store_alerts(
    conn: asyncpg.Connection, alerts: Sequence[Alert], published_at: datetime | None = None
) -> None:
    """The alerts into `alerts`, an id already stored left alone (their ids are deterministic:
    a redelivery, a replay or a rejudge stores nothing twice); `published_at`: already sent to
    the alerts topic then (the outbox leaves them alone)."""
    if not alerts:
        return
    await conn.executemany(
        """INSERT INTO alerts (alert_id, rule, severity, basis, contract_id,
               client_name, assignment_id, staffer_id, exposure, message, event_ids,
               raised_at, stream_version, published_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (alert_id) DO NOTHING""",
        [
            (a.alert_id, a.rule, a.severity, a.basis, a.contract_id, a.client_name,
             a.assignment_id, a.staffer_id, a.exposure, a.message,
             list(a.event_ids), a.raised_at, a.stream_version, published_at)
            for a in alerts
        ],
    )  # fmt: skip


async def not_stored(conn: asyncpg.Connection, alerts: Sequence[Alert]) -> list[Alert]:
    """Those of `alerts` whose id is not stored yet, in their order."""
    ids = [a.alert_id for a in alerts]
    stored = {
        r["alert_id"]
        for r in await conn.fetch(
            "SELECT alert_id FROM alerts WHERE alert_id = ANY($1::text[])", ids
        )
    }
    return [a for a in alerts if a.alert_id not in stored]


async def send_alerts(producer: AIOKafkaProducer, topics: Topics, alerts: Iterable[Alert]) -> None:
    """The alerts onto the alerts topic, in order, keyed by contract; returns once all are on."""
    await send_keyed(
        producer, topics.alerts.name, ((a.contract_id.encode(), encode_alert(a)) for a in alerts)
    )


async def store_progress(conn: asyncpg.Connection, topic: str, judged: Mapping[str, int]) -> None:
    """Per contract, the stream version judged (never moved back), and a NOTIFY at commit for
    the requests waiting on it."""
    if not judged:
        return
    await conn.execute(
        """INSERT INTO risk_progress (events_topic, contract_id, stream_version)
           SELECT $1, * FROM unnest($2::text[], $3::int[])
           ON CONFLICT (events_topic, contract_id)
           DO UPDATE SET stream_version = greatest(risk_progress.stream_version,
                                                   excluded.stream_version)""",
        topic,
        list(judged),
        list(judged.values()),
    )
    await progress.notify(conn, "judged", topic)  # at commit


async def publish_alerts(
    conn: asyncpg.Connection,
    producer: AIOKafkaProducer,
    topics: Topics,
    owns: Callable[[str], bool],
) -> int:
    """Alerts not yet on the alerts topic, in the order they were stored, of the contracts
    judged from `topics.events` that the caller `owns`: each alert goes out from its
    partition's owner (after a crash, from the next), so two workers do not both send it.
    Returns how many went out."""
    rows = await conn.fetch(
        """SELECT seq, alert_id, rule, severity, basis, contract_id, client_name,
                  assignment_id, staffer_id, exposure, message, event_ids, raised_at,
                  stream_version, status
           FROM alerts WHERE published_at IS NULL
             AND contract_id IN (SELECT contract_id FROM risk_progress
                                 WHERE events_topic = $1)
           ORDER BY seq""",
        topics.events.name,
    )
    rows = [r for r in rows if owns(r["contract_id"])]
    if not rows:
        return 0
    alerts = []
    for r in rows:
        data = dict(r)
        del data["seq"]
        alerts.append(Alert.model_validate(data | {"event_ids": tuple(data["event_ids"])}))
    await send_alerts(producer, topics, alerts)
    await conn.execute(
        "UPDATE alerts SET published_at = now() WHERE seq = ANY($1::bigint[])",
        [r["seq"] for r in rows],
    )
    return len(rows)
