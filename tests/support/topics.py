"""Reading a topic of the shared broker from its start, as a test checks what was published."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from events.alerts import Alert, decode_alert
from tests.support.stack import Stack


@asynccontextmanager
async def reading(stack: Stack, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of `topic` from its first record, in no group; stopped on the way out."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def first_batch(stack: Stack, topic: str, timeout_ms: int) -> list[ConsumerRecord]:
    """The records of one fetch from the start of `topic` (waiting up to `timeout_ms`)."""
    async with reading(stack, topic) as consumer:
        batch = await consumer.getmany(timeout_ms=timeout_ms)
    return [r for records in batch.values() for r in records]


async def alerts_on(
    stack: Stack, topic: str, keep: Callable[[Alert], bool], expected: int, wait_s: float = 20
) -> list[Alert]:
    """The alerts on `topic` that `keep` keeps, once `expected` are there and a fetch brings
    nothing more (or whatever is there after `wait_s`)."""
    found: list[Alert] = []
    async with reading(stack, topic) as consumer:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            found += [decode_alert(r.value) for rs in batch.values() for r in rs if r.value]
            if len([a for a in found if keep(a)]) >= expected and not batch:
                break
    return [a for a in found if keep(a)]
