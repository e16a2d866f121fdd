"""A replay of the events topic split over processes, one per shard of its partitions.

A contract's events are all in one partition (the topic is keyed by contract_id), so shards
never touch the same rows: each runs its own `Projector` over its partitions, writing its own
batches and positions into the same schema. Applying events is CPU-bound Python, one core per
process; with two processes on two cores a rebuild runs about as fast as the machine allows.

Processes are spawned (not forked: the parent has an event loop running), and report how far
they are through shared memory, which the parent turns into progress lines.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray

from services.projector.worker import Projector, tune_gc
from services.settings import Settings

log = logging.getLogger("ledger.projector")


def shards(partitions: int, processes: int) -> list[list[int]]:
    """Partitions dealt round-robin over at most `processes` shards, none empty."""
    count = max(1, min(processes, partitions))
    return [list(range(i, partitions, count)) for i in range(count)]


def projector(
    settings: Settings, schema: str | None = None, partitions: Sequence[int] | None = None
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
    )


@dataclass
class Replayed:
    processes: int
    applied: int
    skipped: int
    poisoned: int
    ready_after: float
    """Seconds from the call until every shard had connected and loaded (process start-up)."""
    seconds: float
    """Seconds from then until every shard had caught up, its last batch written."""


@dataclass
class _Shared:
    """What the shards report to the parent, in shared memory, one slot per shard."""

    read: SynchronizedArray[int]  # offsets consumed (events and transaction markers)
    counts: SynchronizedArray[int]  # applied, skipped, poisoned: 3 slots per shard
    ready: SynchronizedArray[float]  # when each shard was ready (time.time()), 0 before
    done: SynchronizedArray[float]  # when each shard had caught up, its last batch written
    failed: Synchronized[int]


def _run_shard(settings: Settings, schema: str, partitions: list[int], i: int, sh: _Shared) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(_shard(settings, schema, partitions, i, sh))
    except BaseException:
        with sh.failed.get_lock():
            sh.failed.value += 1
        log.exception("projector shard %d (partitions %s) failed", i, partitions)
        raise


async def _shard(
    settings: Settings,
    schema: str,
    partitions: list[int],
    i: int,
    sh: _Shared,
    on_progress: Callable[[int, float], None] | None = None,
) -> None:
    p = projector(settings, schema, partitions)
    await p.start()
    tune_gc()

    def report(p: Projector) -> None:
        sh.read[i] = sum(p.positions.values())
        sh.counts[3 * i : 3 * i + 3] = [p.progress.applied, p.progress.skipped, p.progress.poisoned]
        if on_progress is not None:  # in this process: nobody else is watching the counters
            on_progress(sh.read[i], sh.ready[i])

    sh.ready[i] = time.time()
    try:
        await p.run(asyncio.Event(), until_caught_up=True, on_batch=report)
        report(p)
        sh.done[i] = time.time()
    finally:
        await p.stop()


async def replay(
    settings: Settings,
    schema: str,
    processes: int,
    on_progress: Callable[[int, float], None] | None = None,
) -> Replayed:
    """Replays the whole topic into `schema` with one process per shard, until every shard has
    reached the end of the log as it was when it started. `on_progress(read, started)` is
    called a few times a second with the offsets read so far. One shard runs in this process."""
    called = time.time()
    groups = shards(settings.topics.events.partitions, processes)
    ctx = multiprocessing.get_context("spawn")
    sh = _Shared(
        read=ctx.Array("q", len(groups)),
        counts=ctx.Array("q", 3 * len(groups)),
        ready=ctx.Array("d", len(groups)),
        done=ctx.Array("d", len(groups)),
        failed=ctx.Value("i", 0),
    )
    if len(groups) == 1:
        await _shard(settings, schema, groups[0], 0, sh, on_progress)
        return _replayed(sh, called, on_progress)
    procs = [
        ctx.Process(
            target=_run_shard,
            args=(settings, schema, group, i, sh),
            name=f"ledger-projector-shard-{i}",
            daemon=True,
        )
        for i, group in enumerate(groups)
    ]
    for proc in procs:
        proc.start()
    try:
        while any(proc.is_alive() for proc in procs):
            if sh.failed.value:
                raise RuntimeError("a projector shard failed; see its log above")
            if on_progress is not None and all(sh.ready[:]):
                on_progress(sum(sh.read[:]), min(sh.ready[:]))
            await asyncio.sleep(0.2)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    if sh.failed.value or any(proc.exitcode != 0 for proc in procs):
        codes = [proc.exitcode for proc in procs]
        raise RuntimeError(f"a projector shard failed (exit codes {codes}); see its log above")
    return _replayed(sh, called, on_progress)


def _replayed(
    sh: _Shared, called: float, on_progress: Callable[[int, float], None] | None
) -> Replayed:
    # From the first shard ready: a shard that started early was already at work meanwhile.
    ready = min(sh.ready[:])
    counts = sh.counts[:]
    if on_progress is not None:
        on_progress(sum(sh.read[:]), ready)
    return Replayed(
        processes=len(sh.ready),
        applied=sum(counts[0::3]),
        skipped=sum(counts[1::3]),
        poisoned=sum(counts[2::3]),
        ready_after=ready - called,
        seconds=max(sh.done[:]) - ready,
    )
