"""Every event delivered twice to the risk agent raises exactly the alerts of one delivery."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from events.alerts import decode_alert
from events.serialization import encode_event, parse_submission
from events.topics import Topics, topics
from services import kafka_admin
from services.risk.worker import RiskAgent
from tests.conftest import Stack, unique
from tests.integration.projection_support import log_end
from tests.integration.test_alerts_http import _story


async def _judge(stack: Stack, t: Topics, cid: str, copies: int) -> None:
    """Seed 003's history on `cid`, each event `copies` times, judged by a risk agent."""
    await kafka_admin.ensure_topics(stack.bootstrap, t)
    story = _story(cid, "A-1", "am-redelivery")
    events = [
        parse_submission(e)[0].model_copy(update={"stream_version": n})
        for n, e in enumerate(story.values(), start=1)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            for _ in range(copies):
                await producer.send_and_wait(t.events.name, encode_event(e), key=cid.encode())
    finally:
        await producer.stop()
    agent = RiskAgent(stack.bootstrap, t, stack.dsn)
    await agent.start()
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    end = await log_end(stack.bootstrap, t.events)
    deadline = time.monotonic() + 30
    while sum(agent.positions.values()) < end and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await task
    await agent.stop()


async def test_redelivered_events_raise_no_alert_twice(ready_stack: Stack) -> None:
    once, twice = topics(unique("rd")), topics(unique("rd"))
    c1, c2 = unique("C"), unique("C")
    await _judge(ready_stack, once, c1, copies=1)
    await _judge(ready_stack, twice, c2, copies=2)

    conn = await asyncpg.connect(ready_stack.dsn)
    try:
        rows = {
            cid: await conn.fetch(
                "SELECT rule, severity, basis, exposure FROM alerts WHERE contract_id = $1", cid
            )
            for cid in (c1, c2)
        }
    finally:
        await conn.close()
    single = Counter(tuple(r) for r in rows[c1])
    double = Counter(tuple(r) for r in rows[c2])
    assert single == double
    assert {r[0] for r in single} >= {"LOSS_POSITION", "RAISE_ABSORBED", "BYPASS_THREAT"}

    consumer = AIOKafkaConsumer(
        twice.alerts.name, bootstrap_servers=ready_stack.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    published = [decode_alert(r.value).alert_id for rs in batch.values() for r in rs if r.value]
    assert sorted(published) == sorted(set(published)) and len(published) == sum(double.values())
