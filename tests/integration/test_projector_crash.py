"""SIGKILL of the projector in the middle of a backlog, then a restart: the read models equal
those of a clean rebuild."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time

from services.db import connection
from tests.support.projections import applied, dump, replay, start_projector
from tests.support.stack import Scratch, Stack

# The kill lands after 2,000 events, with 6,000 still to apply (24 batches of 250): the restart
# has a backlog to finish however fast the first process was.
EVENTS = 8_000


def _start(stack: Stack, prefix: str, schema: str) -> subprocess.Popen[bytes]:
    # Small batches: many commits to be killed between (or in the middle of).
    return start_projector(stack, prefix, schema, "projector", LEDGER_PROJECTOR_BATCH="250")[0]


async def test_sigkill_mid_backlog_then_restart(ready_stack: Stack, scratch: Scratch) -> None:
    prefix, t = await scratch.topics_with_log("pk", EVENTS, contracts=200, seed=11)
    live, clean = prefix.replace("-", "_"), scratch.schema("clean")
    scratch.schemas.append(live)

    async with connection(ready_stack.dsn) as conn:
        proc = _start(ready_stack, prefix, live)
        deadline = time.monotonic() + 120
        while (at := await applied(conn, live)) < 2_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed_at = await applied(conn, live)
        assert 2_000 <= at <= killed_at < EVENTS, "the kill must land in the middle"

        proc = _start(ready_stack, prefix, live)
        try:
            deadline = time.monotonic() + 180
            while await applied(conn, live) < EVENTS and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert await applied(conn, live) == EVENTS
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

        await replay(ready_stack.bootstrap, t.events, ready_stack.dsn, clean)
        assert await dump(ready_stack.dsn, live) == await dump(ready_stack.dsn, clean)
