"""How long the risk agent takes to judge again after a SIGKILL and a restart.

    .venv/bin/python -m bench.risk_restart [--contracts C] [--runs R]

On topics of its own (against KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL): starts `ledger serve
risk`, appends two events for each of C contracts, waits until they are judged, SIGKILLs the
agent (it never leaves its consumer group), starts it again, appends one event and prints the
seconds from the restart until `risk_progress` shows it judged. Run it with
LEDGER_RISK_INSTANCE_ID= (empty: dynamic membership) to see the time without static membership.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg

from bench import options
from events.topics import Topics, topics
from services import kafka_admin
from services.db import connection
from services.settings import Settings
from simulation.examples import example, stamped
from simulation.histories import append

ROOT = Path(__file__).resolve().parent.parent


async def _judged(conn: asyncpg.Connection, t: Topics, cid: str, version: int) -> None:
    while (
        await conn.fetchval(
            "SELECT stream_version FROM risk_progress WHERE events_topic = $1 AND contract_id = $2",
            t.events.name,
            cid,
        )
        or 0
    ) < version:
        await asyncio.sleep(0.05)


async def once(settings: Settings, contracts: int) -> tuple[float, float]:
    prefix = "bench-risk-" + uuid.uuid4().hex[:8]
    t = topics(prefix)
    await kafka_admin.ensure_topics(settings.kafka_bootstrap_servers, t)
    env = {**os.environ, "LEDGER_TOPIC_PREFIX": prefix}
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "var" / "log" / f"{prefix}-risk.log", "ab")  # noqa: SIM115

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "risk"],
            cwd=ROOT, env=env, stdout=log, stderr=log,
        )  # fmt: skip

    async with connection(settings.dsn) as conn:
        proc = start()
        try:
            cids = [f"C-{uuid.uuid4().hex[:8]}" for _ in range(contracts)]
            history = []
            for cid in cids:
                history += stamped(
                    [
                        example("ContractSigned", contract_id=cid, account_manager_id="am-bench"),
                        example("AssignmentStarted", contract_id=cid),
                    ]
                )
            started = time.monotonic()
            await append(settings.kafka_bootstrap_servers, t.events.name, history)
            await asyncio.wait_for(_judged(conn, t, cids[-1], 2), 120)
            first = time.monotonic() - started
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = start()
            restarted = time.monotonic()
            threat = stamped([example("BypassThreatReported", contract_id=cids[0])], first=3)
            await append(settings.kafka_bootstrap_servers, t.events.name, threat)
            await asyncio.wait_for(_judged(conn, t, cids[0], 3), 120)
            return first, time.monotonic() - restarted
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()


async def main() -> None:
    args = options.parse(__doc__, contracts=20, runs=3)
    settings = Settings()
    member = settings.risk_instance_id or "(dynamic membership)"
    restarts = []
    for i in range(args.runs):
        first, again = await once(settings, args.contracts)
        restarts.append(again)
        print(f"run {i + 1}: first start judged in {first:.2f} s; after SIGKILL, in {again:.2f} s")
    print(f"instance id {member}: median {statistics.median(restarts):.2f} s after a restart")


if __name__ == "__main__":
    asyncio.run(main())
