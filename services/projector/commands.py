"""The projector's processes and admin commands: serve, rebuild, status."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.projector import store
from services.projector.worker import Projector
from services.settings import Settings

log = logging.getLogger("ledger.projector")


def _projector(settings: Settings, schema: str | None = None) -> Projector:
    return Projector(
        settings.kafka_bootstrap_servers,
        settings.topics.events,
        settings.dsn,
        live=settings.projection_schema,
        schema=schema,
        dead_letters=settings.topics.dead_letters.name,
        max_batch=settings.projector_batch,
    )


async def ensure_schema(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.dsn)
    try:
        await store.ensure_live_schema(
            conn, settings.projection_schema, settings.topics.events.name
        )
    finally:
        await conn.close()


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    await ensure_schema(settings)
    projector = _projector(settings)
    await projector.start()
    log.info(
        "projecting %s into schema %s", settings.topics.events.name, settings.projection_schema
    )
    try:
        await projector.run(stop)
    finally:
        await projector.stop()


async def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """Replays the whole events topic into fresh tables, then swaps them in atomically."""
    await ensure_schema(settings)
    conn = await asyncpg.connect(settings.dsn)
    try:
        nxt = await store.create_next_schema(
            conn, settings.projection_schema, settings.topics.events.name
        )
    finally:
        await conn.close()
    projector = _projector(settings, schema=nxt)
    await projector.start()
    try:
        total = sum((await projector.end_offsets()).values())
        report = _Reporter(total, out)
        await projector.run(asyncio.Event(), until_caught_up=True, on_batch=report)
        conn = await asyncpg.connect(settings.dsn)
        try:
            await store.swap(conn, settings.projection_schema)
        finally:
            await conn.close()
        report(projector, final=True)
    finally:
        await projector.stop()
    print(
        f"rebuilt {settings.projection_schema}: {projector.progress.applied} events applied, "
        f"swapped in",
        file=out,
    )
    return 0


class _Reporter:
    """A progress bar on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = max(total, 1)
        self.out = out
        self.tty = out.isatty()
        self.last = 0.0

    def __call__(self, p: Projector, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        done = sum(p.positions.values())
        elapsed = max(now - p.progress.started, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else 0
        line = f"{done:,}/{self.total:,} events  {rate:,.0f} events/s  ETA {eta:,.0f} s"
        if self.tty:
            width = 30
            filled = int(width * min(done / self.total, 1))
            self.out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {line}")
            if final:
                self.out.write("\n")
        else:
            self.out.write(line + "\n")
        self.out.flush()


async def status(settings: Settings, out: TextIO = sys.stdout) -> int:
    await ensure_schema(settings)
    conn = await asyncpg.connect(settings.dsn)
    try:
        positions = {
            r["partition"]: r["next_offset"]
            for r in await conn.fetch(
                f"SELECT partition, next_offset FROM {settings.projection_schema}.positions"
            )
        }
    finally:
        await conn.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        spec = settings.topics.events
        tps = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        ends = {tp.partition: off for tp, off in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()
    print(f"{settings.projection_schema} <- {settings.topics.events.name}", file=out)
    print(f"{'partition':>9} {'applied to':>12} {'end':>12} {'lag':>8}", file=out)
    lag = 0
    for p in sorted(ends):
        at = positions.get(p, 0)
        lag += max(0, ends[p] - at)
        print(f"{p:>9} {at:>12} {ends[p]:>12} {ends[p] - at:>8}", file=out)
    print(f"total lag: {lag} events", file=out)
    return 0
