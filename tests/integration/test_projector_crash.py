"""SIGKILL of the projector in the middle of a backlog, then a restart: the read models equal
those of a clean rebuild."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from services.db import connection
from simulation.histories import generate, produce
from tests.support.projections import applied, dump, replay
from tests.support.services import ROOT
from tests.support.stack import Scratch, Stack

EVENTS = 20_000


def _start(stack: Stack, prefix: str, schema: str, log: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "DATABASE_URL": stack.dsn,
        "LEDGER_TOPIC_PREFIX": prefix,
        "LEDGER_PROJECTION_SCHEMA": schema,
        # Small batches: many commits to be killed between (or in the middle of).
        "LEDGER_PROJECTOR_BATCH": "250",
    }
    out = open(ROOT / "var" / "log" / log, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "projector"],
        cwd=ROOT, env=env, stdout=out, stderr=out,
    )  # fmt: skip


async def test_sigkill_mid_backlog_then_restart(ready_stack: Stack, scratch: Scratch) -> None:
    prefix = scratch.prefix("pk")
    t = await scratch.topics(prefix)
    log = generate(EVENTS, contracts=200, seed=11, check=True)
    await produce(ready_stack.bootstrap, t.events.name, t.events.partitions, log, "none")
    live, clean = prefix.replace("-", "_"), scratch.schema("clean")
    scratch.schemas.append(live)

    async with connection(ready_stack.dsn) as conn:
        proc = _start(ready_stack, prefix, live, f"test-{prefix}-projector.log")
        deadline = time.monotonic() + 120
        while (at := await applied(conn, live)) < 2_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed_at = await applied(conn, live)
        assert 2_000 <= at <= killed_at < EVENTS, "the kill must land in the middle"

        proc = _start(ready_stack, prefix, live, f"test-{prefix}-projector.log")
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
