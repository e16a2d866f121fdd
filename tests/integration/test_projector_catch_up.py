"""A live projector far behind the log (after an outage, a new member, a first run over an old log)
catches up with helper processes, as a rebuild does, then carries on alone: its tables equal one
process's replay, nothing applied twice, and what comes after is applied by the live projector
itself. A second projector joining during the catch-up stops the helpers before the partitions
move, and the tables still equal the replay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from simulation.examples import example, stamped
from simulation.histories import append
from tests.support.projections import applied, dump, replay, start_projector, wait_split
from tests.support.services import stop
from tests.support.stack import Scratch, Stack

# Helpers for any backlog of more than a few batches; small batches, so that there are many.
HELPED = {
    "LEDGER_PROJECTOR_CATCH_UP_LAG": "500",
    "LEDGER_REBUILD_PROCESSES": "2",
    "LEDGER_PROJECTOR_BATCH": "150",
}


async def _until(conn: asyncpg.Connection, schema: str, n: int, timeout_s: float = 90) -> int:
    deadline = time.monotonic() + timeout_s
    while (at := await applied(conn, schema)) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return at


async def _until_logged(log: Path, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{log} never said {text!r}"
        await asyncio.sleep(0.05)


async def _projected(conn: asyncpg.Connection, schema: str, contract_id: str) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await conn.fetchval(
            f"SELECT count(*) FROM {schema}.contracts WHERE contract_id = $1", contract_id
        ):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_projector_behind_by_the_whole_log_catches_up_with_helpers_then_goes_on_alone(
    ready_stack: Stack, scratch: Scratch, pg: asyncpg.Connection
) -> None:
    prefix, t = await scratch.topics_with_log("catchup", 3_000, contracts=60, seed=17)
    live, clean = scratch.schema("live"), scratch.schema("clean")
    proc, out = start_projector(ready_stack, prefix, live, "a", **HELPED)
    try:
        assert await _until(pg, live, 3_000) == 3_000
        text = out.read_text()
        assert "behind by 3000 events on partitions [0, 1, 2, 3, 4, 5]" in text
        await _until_logged(out, "caught up with 3000 events")
        # Carrying on alone: a new contract's first event is applied by the live projector.
        later = stamped([example("ContractSigned", contract_id="C-after-the-catch-up")])
        await append(ready_stack.bootstrap, t.events.name, later)
        assert await _projected(pg, live, "C-after-the-catch-up")
        assert "catching up with helper processes" not in out.read_text().split("caught up")[1]
    finally:
        stop(proc)
    await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, clean)
    caught_up, alone = await dump(ready_stack.dsn, live), await dump(ready_stack.dsn, clean)
    assert len(alone["contracts"]) == 61 and len(alone["event_log"]) == 3_001
    assert caught_up == alone


async def test_a_second_projector_joining_during_the_catch_up_stops_the_helpers_first(
    ready_stack: Stack, scratch: Scratch, pg: asyncpg.Connection
) -> None:
    prefix, t = await scratch.topics_with_log("catchup", 6_000, contracts=100, seed=19)
    live, clean = scratch.schema("live"), scratch.schema("clean")
    # Batches of 3 events: the catch-up takes two thousand transactions, far longer than the
    # second projector takes to start and join (the helpers had written 23 to 161 of them when
    # it joined, in eight runs on a shared machine: a margin of 12x or more). The time goes in
    # transactions; a longer log in larger batches would only be slower to make and replay.
    slow = HELPED | {"LEDGER_PROJECTOR_BATCH": "3"}
    a, out_a = start_projector(ready_stack, prefix, live, "a", **slow)
    b = None
    try:
        await _until_logged(out_a, "catching up with helper processes")
        b, out_b = start_projector(ready_stack, prefix, live, "b", **slow)
        await wait_split([out_a, out_b], t.events.partitions, timeout_s=90)
        assert await _until(pg, live, 6_000, 180) == 6_000
    finally:
        stop(a, *([b] if b is not None else []))
    text = out_a.read_text()
    assert "the catch-up's processes stopped after" in text, "the rebalance came after it"
    # Before the partitions went: a revocation waits for them.
    assert text.index("processes have stopped") < text.index("revoked: [0, 1, 2, 3, 4, 5]")
    assert "processes failed" not in text
    await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, clean)
    together, alone = await dump(ready_stack.dsn, live), await dump(ready_stack.dsn, clean)
    assert len(alone["event_log"]) == 6_000
    assert together == alone
