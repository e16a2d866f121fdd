"""The projector's processes and admin commands: serve, rebuild, status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator
from typing import TextIO

import asyncpg

from services.db import connection
from services.kafka_log import log_ends
from services.membership import Membership
from services.projector import store
from services.projector.sharded import CatchUp, member, projector, rebuild_group, replay
from services.projector.worker import tune_gc
from services.settings import Settings

log = logging.getLogger("ledger.projector")


async def ensure_schema(settings: Settings) -> bool:
    """The live tables exist; False when they are of an older layout and need a rebuild."""
    async with connection(settings.dsn) as conn:
        return await store.ensure_live_schema(
            conn, settings.projection_schema, settings.topics.events.name
        )


@contextlib.asynccontextmanager
async def _alone(settings: Settings) -> AsyncIterator[None]:
    """One rebuild of a set of read models at a time: several projectors finding an older
    layout at once would each drop the others' fresh tables (a PostgreSQL session lock, so a
    process that dies releases it)."""
    schema = settings.projection_schema
    async with connection(settings.dsn) as conn:
        key = store.rebuild_lock(schema)
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
            log.warning("a rebuild of %s is under way elsewhere: waiting for its end", schema)
            await conn.execute("SELECT pg_advisory_lock($1)", key)
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    if not await ensure_schema(settings):
        async with _alone(settings):
            # Another projector may have rebuilt them while this one waited.
            if not await ensure_schema(settings):
                # Tables of an older layout cannot be written by this code: the log rebuilds.
                log.warning(
                    "%s has an older layout: rebuilding it from the log",
                    settings.projection_schema,
                )
                await _rebuild(settings, sys.stderr)
    group = settings.projector_group_id
    # Its static membership, claimed: a second projector with the same id takes `<id>-2`.
    claim = Membership(settings.dsn, group, settings.projector_instance_id)
    instance = await claim.claim() if settings.projector_instance_id else None
    live = projector(settings, group_id=group, instance_id=instance, catch_up=CatchUp(settings))
    await live.start()
    tune_gc()
    log.info(
        "projecting %s into schema %s as a member of group %s (instance %s)",
        settings.topics.events.name,
        settings.projection_schema,
        group,
        instance or "dynamic",
    )
    async with claim.held():
        try:
            await live.run(stop)
        finally:
            await live.stop()


async def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """Replays the whole events topic into fresh tables, then swaps them in atomically (after
    any rebuild of the same tables already under way)."""
    async with _alone(settings):
        return await _rebuild(settings, out)


async def _rebuild(settings: Settings, out: TextIO) -> int:
    await ensure_schema(settings)
    async with connection(settings.dsn) as conn:
        nxt = await store.create_next_schema(
            conn, settings.projection_schema, settings.topics.events.name
        )
    total = sum((await log_ends(settings.kafka_bootstrap_servers, settings.topics.events)).values())
    report = _Reporter(total, out)
    replayed = await replay(settings, nxt, settings.rebuild_processes, on_progress=report)
    report.finish()
    async with connection(settings.dsn) as conn:
        await store.swap(conn, settings.projection_schema)
    print(
        f"rebuilt {settings.projection_schema}: {replayed.applied} events applied "
        f"in {replayed.seconds:.1f} s by {replayed.processes} process(es), swapped in",
        file=out,
    )
    return 0


async def join_rebuild(settings: Settings, stop: asyncio.Event, out: TextIO = sys.stderr) -> int:
    """One member of the rebuild under way (started by `ledger projections rebuild`, on this
    machine or another), until the rebuilt tables are swapped in (or `stop`): run one per core
    to spare."""
    nxt = store.next_of(settings.projection_schema)
    async with connection(settings.dsn) as conn:
        if not await conn.fetchval(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", nxt
        ):
            print(f"no rebuild under way ({nxt} does not exist)", file=out)
            return 1
    group = await rebuild_group(settings, nxt)
    print(f"joining rebuild group {group}", file=out)

    async def until_swapped() -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            try:
                if await rebuild_group(settings, nxt) != group:
                    break  # swapped in, and another rebuild begun
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                break  # swapped in (renamed away) or abandoned
            except (OSError, asyncpg.PostgresError):
                continue
        stop.set()

    watching = asyncio.create_task(until_swapped())
    try:
        await member(settings, nxt, group, stop)
    finally:
        watching.cancel()
    print("the rebuild is over", file=out)
    return 0


class _Reporter:
    """A progress bar on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = max(total, 1)
        self.out = out
        self.tty = out.isatty()
        self.last = 0.0
        self.latest = (0, time.time())

    def __call__(self, done: int, started: float, final: bool = False) -> None:
        now = time.monotonic()
        self.latest = (done, started)
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        elapsed = max(time.time() - started, 1e-9)
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

    def finish(self) -> None:
        self(*self.latest, final=True)


async def status(settings: Settings, out: TextIO = sys.stdout) -> int:
    await ensure_schema(settings)
    async with connection(settings.dsn) as conn:
        positions = {
            r["partition"]: r["next_offset"]
            for r in await conn.fetch(
                f"SELECT partition, next_offset FROM {settings.projection_schema}.positions"
            )
        }
    ends = await log_ends(settings.kafka_bootstrap_servers, settings.topics.events)
    print(f"{settings.projection_schema} <- {settings.topics.events.name}", file=out)
    print(f"{'partition':>9} {'applied to':>12} {'end':>12} {'lag':>8}", file=out)
    lag = 0
    for p in sorted(ends):
        at = positions.get(p, 0)
        lag += max(0, ends[p] - at)
        print(f"{p:>9} {at:>12} {ends[p]:>12} {ends[p] - at:>8}", file=out)
    print(f"total lag: {lag} events", file=out)
    return 0
