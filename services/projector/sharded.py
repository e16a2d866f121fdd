"""A replay of the events topic by projectors in a consumer group of its own (a rebuild).

A rebuild is the live projector run under a fresh group into a fresh schema: each member owns
the partitions the group assigns it (a contract's events are all in one partition, so members
never touch the same rows) and writes its own batches and positions into that schema, fenced by
them as the live projectors are. Applying events is CPU-bound Python, one core per process:
`replay` starts `processes` members on this machine, and a member started on another machine
under the same group (`ledger projections rebuild --join`) takes a share of the partitions.
The replay is over when every partition's position in the schema has reached the end offset it
had when the replay started; the members are then stopped.

Processes are spawned (not forked: the parent has an event loop running), and report their
counts through shared memory; progress is read from the positions in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from services.db import connection
from services.kafka_log import log_ends
from services.projector.worker import Projector, tune_gc
from services.settings import Settings

log = logging.getLogger("ledger.projector")

# How long a rebuild member's assignment must stay the same before it begins: longer than the
# heartbeat interval, within which a member notices a rebalance.
GROUP_SETTLE_S = 1.5


def projector(
    settings: Settings,
    schema: str | None = None,
    partitions: Sequence[int] | None = None,
    group_id: str | None = None,
    instance_id: str | None = None,
    catch_up: CatchUp | None = None,
) -> Projector:
    return Projector(
        settings.kafka_bootstrap_servers,
        settings.topics.events,
        settings.dsn,
        live=settings.projection_schema,
        schema=schema,
        dead_letters=settings.topics.dead_letters.name,
        max_batch=settings.projector_batch,
        partitions=partitions,
        cache_contracts=settings.projector_cache_contracts,
        cache_rows=settings.projector_cache_rows,
        group_id=group_id,
        instance_id=instance_id,
        catch_up=catch_up,
    )


def _started(
    ctx: SpawnContext, name: str, target: Callable[..., None], args: Sequence[tuple[Any, ...]]
) -> list[BaseProcess]:
    """A daemon process of `target` for each of `args`, named `<name>-<i>`, started."""
    procs: list[BaseProcess] = [
        ctx.Process(target=target, args=a, name=f"{name}-{i}", daemon=True)
        for i, a in enumerate(args)
    ]
    for proc in procs:
        proc.start()
    return procs


async def rebuild_group(settings: Settings, schema: str) -> str:
    """The consumer group of the rebuild into `schema`: one per generation of the tables, so
    that members joining from other machines find it, and no two rebuilds share one."""
    async with connection(settings.dsn) as conn:
        generation = await conn.fetchval(f"SELECT generation FROM {schema}.meta")
    return f"{settings.projector_group_id}.rebuild.{schema}.{generation}"


@dataclass
class Replayed:
    processes: int
    applied: int
    skipped: int
    poisoned: int
    ready_after: float
    """Seconds from the call until the first member began (start-up, joining the group)."""
    seconds: float
    """Seconds from then until every partition had caught up, its last batch written."""


@dataclass
class _Shared:
    """What the members report to the parent, in shared memory, one slot per member."""

    counts: SynchronizedArray[int]  # applied, skipped, poisoned: 3 slots per member
    joined: SynchronizedArray[int]  # 1 once a member's consumer has subscribed
    ready: SynchronizedArray[float]  # when each member began to apply (time.time()), 0 before
    failed: Synchronized[int]
    stop: ProcessEvent


def _run_member(settings: Settings, schema: str, group: str, i: int, sh: _Shared) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(_member(settings, schema, group, i, sh))
    except BaseException:
        with sh.failed.get_lock():
            sh.failed.value += 1
        log.exception("rebuild member %d failed", i)
        raise


async def member(
    settings: Settings,
    schema: str,
    group: str,
    stop: asyncio.Event,
    on_batch: Callable[[Projector], None] | None = None,
    on_ready: Callable[[Projector], Awaitable[None]] | None = None,
) -> Projector:
    """One member of a rebuild's group, until `stop` is set."""
    p = projector(settings, schema, group_id=group)
    await p.start()
    tune_gc()
    try:
        if on_ready is not None:
            await on_ready(p)
        await p.run(stop, on_batch=on_batch)
    finally:
        await p.stop()
    return p


async def _member(settings: Settings, schema: str, group: str, i: int, sh: _Shared) -> None:
    stop = asyncio.Event()

    async def watch() -> None:
        while not sh.stop.is_set():
            await asyncio.sleep(0.05)
        stop.set()

    def report(p: Projector) -> None:
        sh.counts[3 * i : 3 * i + 3] = [p.progress.applied, p.progress.skipped, p.progress.poisoned]

    async def ready(p: Projector) -> None:
        # The members started together join the group before any applies a record: otherwise
        # the first would take every partition, and give most back (reloading) moments later.
        sh.joined[i] = 1
        deadline = time.monotonic() + 10
        while not all(sh.joined[:]) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            owned = (tuple(p.tps), frozenset(p._owned))
            if owned != last:
                last, since = owned, time.monotonic()
            elif time.monotonic() - since > GROUP_SETTLE_S:
                break
            await asyncio.sleep(0.05)
        sh.ready[i] = time.time()

    watching = asyncio.create_task(watch())
    try:
        p = await member(settings, schema, group, stop, report, ready)
        report(p)
    finally:
        watching.cancel()


async def positions(dsn: str, schema: str) -> dict[int, int]:
    async with connection(dsn) as conn:
        rows = await conn.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
        return {r["partition"]: r["next_offset"] for r in rows}


async def replay(
    settings: Settings,
    schema: str,
    processes: int,
    on_progress: Callable[[int, float], None] | None = None,
) -> Replayed:
    """Replays the whole topic into `schema` with `processes` members of its rebuild group
    (one runs in this process when it is 1), until every partition has reached the end of the
    log as it was when the replay started. `on_progress(applied, started)` is called a few
    times a second with the sum of the positions written so far."""
    called = time.time()
    targets = await log_ends(settings.kafka_bootstrap_servers, settings.topics.events)
    group = await rebuild_group(settings, schema)
    count = max(1, processes)
    ctx = multiprocessing.get_context("spawn")
    sh = _Shared(
        counts=ctx.Array("q", 3 * count),
        joined=ctx.Array("b", count),
        ready=ctx.Array("d", count),
        failed=ctx.Value("i", 0),
        stop=ctx.Event(),
    )
    procs: list[BaseProcess] = []
    local: asyncio.Task[None] | None = None
    if count == 1:
        local = asyncio.create_task(_member(settings, schema, group, 0, sh))
    else:
        members = [(settings, schema, group, i, sh) for i in range(count)]
        procs = _started(ctx, "ledger-projector-rebuild", _run_member, members)
    try:
        while True:
            if sh.failed.value or any(proc.exitcode not in (None, 0) for proc in procs):
                raise RuntimeError("a rebuild member failed; see its log above")
            if local is not None and local.done():
                local.result()
                raise RuntimeError("the rebuild member stopped before the replay was over")
            at = await positions(settings.dsn, schema)
            ready = [r for r in sh.ready[:] if r]
            if on_progress is not None and ready:
                on_progress(sum(at.values()), min(ready))
            if all(at.get(p, 0) >= end for p, end in targets.items()):
                break
            await asyncio.sleep(0.2)
        done = time.time()
        sh.stop.set()
        if local is not None:
            await local
        for proc in procs:
            await asyncio.to_thread(proc.join, 60)
    finally:
        sh.stop.set()
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        if local is not None and not local.done():
            local.cancel()
    if sh.failed.value or any(proc.exitcode != 0 for proc in procs):
        codes = [proc.exitcode for proc in procs]
        raise RuntimeError(f"a rebuild member failed (exit codes {codes}); see its log above")
    ready_at = min((r for r in sh.ready[:] if r), default=done)
    counts = sh.counts[:]
    return Replayed(
        processes=count,
        applied=sum(counts[0::3]),
        skipped=sum(counts[1::3]),
        poisoned=sum(counts[2::3]),
        ready_after=ready_at - called,
        seconds=done - ready_at,
    )


# -- a live projector's catch-up --------------------------------------------------------------


def _run_helper(settings: Settings, partitions: list[int], stop: ProcessEvent) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_helper(settings, partitions, stop))


async def _helper(settings: Settings, partitions: list[int], stopped: ProcessEvent) -> None:
    """Applies `partitions` to the live tables until the log's end as it is now (or `stopped`)."""
    p = projector(settings, partitions=partitions)
    await p.start()
    tune_gc()
    stop = asyncio.Event()

    async def watch() -> None:
        while not stopped.is_set():
            await asyncio.sleep(0.05)
        stop.set()

    watching = asyncio.create_task(watch())
    try:
        await p.run(stop, until_caught_up=True)
    finally:
        watching.cancel()
        await p.stop()


class CatchUp:
    """How a live projector catches up with a long backlog: `processes` processes on this
    machine, each a projector of some of its partitions (no group: the live one holds them in
    its group meanwhile, and each batch is fenced by its partition's position as ever), applying
    them to the live tables up to the log's end, as a rebuild's members do into fresh ones."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lag = settings.projector_catch_up_lag
        self.processes = settings.rebuild_processes

    def worth_it(self, lag: int, partitions: int) -> bool:
        return 0 < self.lag <= lag and min(self.processes, partitions) > 1

    async def run(self, partitions: Sequence[int], stopping: Callable[[], bool]) -> None:
        """Until every helper has caught up, or `stopping()` (then they finish the batch in
        hand and stop). RuntimeError when one failed."""
        count = min(self.processes, len(partitions))
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        helpers = [(self.settings, list(partitions[i::count]), stop) for i in range(count)]
        procs = _started(ctx, "ledger-projector-catch-up", _run_helper, helpers)
        try:
            while any(proc.is_alive() for proc in procs) and not stopping():
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            for proc in procs:
                await asyncio.to_thread(proc.join, 30)
                if proc.is_alive():
                    proc.terminate()
                    await asyncio.to_thread(proc.join)
        codes = [proc.exitcode for proc in procs]
        if any(code != 0 for code in codes):
            raise RuntimeError(f"a catch-up process failed (exit codes {codes})")
