"""Two `ledger serve projector` processes in one consumer group (with the same settings) share
the events topic's partitions: their tables equal one process's replay; SIGKILL one, and the
other takes its partitions over and finishes them with nothing lost or applied twice."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import time

import asyncpg
import pytest

from events.topics import Topics
from projections.read_model import ReadModel
from services.projector import store
from simulation.histories import generate, produce
from tests.support.projections import (
    applied,
    assigned,
    dump,
    replay,
    start_projector,
    wait_split,
)
from tests.support.services import stop
from tests.support.stack import Scratch, Stack, unique


async def _until_applied(conn: asyncpg.Connection, schema: str, n: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (at := await applied(conn, schema)) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return at


async def _group_topics(scratch: Scratch) -> tuple[str, Topics, str, str]:
    """A topic prefix of the test's own, its topics, the group's live schema (named after the
    prefix) and a schema for a clean replay, all removed at the end."""
    prefix = scratch.prefix("grp")
    t = await scratch.topics(prefix)
    live, clean = prefix.replace("-", "_"), scratch.schema("clean")
    scratch.schemas.append(live)
    return prefix, t, live, clean


async def test_two_projectors_in_a_group_split_the_partitions_and_equal_one(
    ready_stack: Stack, scratch: Scratch, pg: asyncpg.Connection
) -> None:
    prefix, t, live, clean = await _group_topics(scratch)
    # The same settings, static membership included: the second claims `<id>-2`.
    same = {"LEDGER_PROJECTOR_INSTANCE_ID": f"{prefix}-projector"}
    a, log_a = start_projector(ready_stack, prefix, live, "a", **same)
    b, log_b = start_projector(ready_stack, prefix, live, "b", **same)
    try:
        owned = await wait_split([log_a, log_b], t.events.partitions)
        instances = [re.findall(r"\(instance ([^)]*)\)", p.read_text()) for p in (log_a, log_b)]
        assert sorted(i for found in instances for i in found) == [
            f"{prefix}-projector",
            f"{prefix}-projector-2",
        ]
        log = generate(5_000, contracts=100, seed=13, check=True)
        await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, log, "none")
        assert await _until_applied(pg, live, 5_000, 60) == 5_000
        assert [assigned(log_a), assigned(log_b)] == owned, "the group rebalanced meanwhile"
        stop(a, b)
        await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, clean)
        together, alone = await dump(ready_stack.dsn, live), await dump(ready_stack.dsn, clean)
    finally:
        stop(a, b)
    assert len(alone["contracts"]) == 100 and len(alone["margin_impacts"]) > 100
    assert together == alone


async def test_sigkill_one_projector_of_two_and_the_other_finishes_its_partitions(
    ready_stack: Stack, scratch: Scratch, pg: asyncpg.Connection
) -> None:
    prefix, t, live, clean = await _group_topics(scratch)
    # 4,000 events before the kill (it comes once 2,000 are applied) and 4,000 after it, half
    # of them on the killed process's partitions.
    log = generate(8_000, contracts=200, seed=17, check=True)
    half = len(log.records) // 2
    first, second = (
        dataclasses.replace(log, records=log.records[:half]),
        dataclasses.replace(log, records=log.records[half:]),
    )
    # Small batches: many commits, the kill lands between or in the middle of one.
    a, log_a = start_projector(ready_stack, prefix, live, "a", LEDGER_PROJECTOR_BATCH="250")
    b, log_b = start_projector(ready_stack, prefix, live, "b", LEDGER_PROJECTOR_BATCH="250")
    try:
        await wait_split([log_a, log_b], t.events.partitions)
        await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, first, "none")
        at = await _until_applied(pg, live, 2_000, 60)
        b.send_signal(signal.SIGKILL)
        b.wait(timeout=30)
        assert at >= 2_000
        # B's partitions have events still to come: only A can apply them, once it owns them.
        await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, second, "none")
        assert await _until_applied(pg, live, 8_000, 60) == 8_000
        assert assigned(log_a) == set(range(t.events.partitions))
        stop(a)
        await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, clean)
        survived, alone = await dump(ready_stack.dsn, live), await dump(ready_stack.dsn, clean)
    finally:
        stop(a, b)
    assert len(alone["contracts"]) == 200
    assert survived == alone


async def test_a_batch_from_where_a_partition_no_longer_is_writes_nothing(
    scratch: Scratch, pg: asyncpg.Connection
) -> None:
    """The fence: a projector that lost a partition (another has moved its position since)
    cannot write a batch for it, nor move its position back."""
    schema = scratch.schema("fence")
    await store.ensure_live_schema(pg, schema, unique("fence"))
    generation = await pg.fetchval(f"SELECT generation FROM {schema}.meta")
    empty = store.Batch.of(ReadModel().take_changes(), {})

    def batch(starts: dict[int, int], positions: dict[int, int]) -> store.Batch:
        return dataclasses.replace(empty, positions=sorted(positions.items()), starts=starts)

    await store.write(pg, schema, schema, generation, batch({}, {0: 10}))
    with pytest.raises(store.PositionMoved):  # a second first batch: the row exists
        await store.write(pg, schema, schema, generation, batch({}, {0: 5}))
    with pytest.raises(store.PositionMoved):  # from 3, where another was before
        await store.write(pg, schema, schema, generation, batch({0: 3}, {0: 8}))
    await store.write(pg, schema, schema, generation, batch({0: 10}, {0: 12}))
    stored = await pg.fetchval(f"SELECT next_offset FROM {schema}.positions")
    assert stored == 12
