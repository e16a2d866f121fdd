"""Helpers for the risk agent's tests: the Faust app as `ledger serve risk` runs it, how far
its consumer group has committed, and how to make it forget everything (a full replay)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError

from events.topics import Topics
from services.risk.worker import app_id, changelog_topic
from tests.support.services import serve, stop
from tests.support.stack import Stack


def prefix_of(t: Topics) -> str:
    return t.events.name.removesuffix(".events")


@asynccontextmanager
async def risk_app(stack: Stack, t: Topics, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`ledger serve risk` on topics `t`, stopped with SIGTERM at the end."""
    proc, _ = serve("risk", stack, prefix_of(t), "risk", **env)
    try:
        yield proc
    finally:
        stop(proc)


async def committed(stack: Stack, t: Topics) -> dict[int, int]:
    """The risk app's committed offset per partition of the events topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(app_id(prefix_of(t)))
    finally:
        await admin.close()
    return {tp.partition: o.offset for tp, o in offsets.items() if tp.topic == t.events.name}


async def past_last_records(stack: Stack, t: Topics) -> dict[int, int]:
    """Per partition of the events topic, the offset after its last committed record: what a
    consumer that has read everything commits (not the offset after a transaction marker)."""
    tps = [TopicPartition(t.events.name, p) for p in range(t.events.partitions)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        last: dict[int, int] = {}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    last[tp.partition] = r.offset + 1
        return last
    finally:
        await consumer.stop()


async def wait_judged(
    stack: Stack, t: Topics, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 90
) -> None:
    """Until the risk app has committed past every record of the events topic."""
    ends = await past_last_records(stack, t)
    deadline = time.monotonic() + timeout_s
    while True:
        done = await committed(stack, t)
        if all(done.get(p, 0) >= off for p, off in ends.items()):
            return
        if proc is not None:
            assert proc.poll() is None, f"risk exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"the risk app did not judge the log: {done} < {ends}"
        await asyncio.sleep(0.3)


async def forget(stack: Stack, t: Topics) -> None:
    """With the risk app stopped: its group rewound to offset 0 and its changelog deleted, so
    that it judges the whole log again from no state at its next start."""
    group = app_id(prefix_of(t))
    tps = [TopicPartition(t.events.name, p) for p in range(t.events.partitions)]
    deadline = time.monotonic() + 90
    while True:  # until the stopped member has left the group
        consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.commit({tp: 0 for tp in tps})
            break
        except CommitFailedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
        finally:
            await consumer.stop()
    # A compacted topic keeps the latest state per contract: drop it, the app makes it anew.
    name = changelog_topic(prefix_of(t))
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
        while name in await admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} was not deleted")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
