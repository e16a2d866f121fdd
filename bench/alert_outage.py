"""Does a channel that is down slow the risk agent? Its judging latency with the channel up,
down, and back.

    .venv/bin/python -m bench.alert_outage [--phase-s S] [--contracts-per-s N]

On topics and a read model of its own (against KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL):
starts `ledger serve risk`, `ledger serve projector` and `ledger serve alerts`, and a route of
every alert to a Slack-shaped receiver on loopback. For S seconds per phase it appends, each
second, N new contracts with a bypass threat (one critical alert each) straight onto the events
topic, and measures for each second's batch the seconds until `risk_progress` shows it judged.
Phases: the receiver answers 200 (up), 500 (down: the route retries with backoff, its queue
grows), 200 again (back: the queue drains). Prints per phase the median and worst judging
latency, and at the end how many alerts the receiver got (each once).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg

from bench import options
from events.topics import topics
from services import kafka_admin
from services.alerting import store
from services.alerting.config import CHANNEL_IN, RouteIn
from services.db import connection
from services.settings import Settings
from simulation.examples import OMIT, example, stamped
from simulation.histories import append
from simulation.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


class Receiver:
    def __init__(self) -> None:
        self.up = True
        self.got: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not outer.up:
                    self.send_response(500)
                    self.end_headers()
                    return
                fields = json.loads(body)["blocks"][2]["fields"]
                outer.got.append(fields[-1]["text"].split("\n")[1])  # the alert id
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def _judged(conn: asyncpg.Connection, topic: str, cids: list[str]) -> None:
    while await conn.fetchval(
        """SELECT count(*) FROM risk_progress WHERE events_topic = $1
                 AND contract_id = ANY($2::text[]) AND stream_version >= 3""",
        topic,
        cids,
    ) < len(cids):
        await asyncio.sleep(0.02)


async def phase(
    settings: Settings, conn: asyncpg.Connection, topic: str, seconds: int, per_s: int
) -> tuple[list[float], int]:
    latencies, raised = [], 0
    for _ in range(seconds):
        tick = time.monotonic()
        cids = [f"C-{uuid.uuid4().hex[:10]}" for _ in range(per_s)]
        events = []
        for cid in cids:
            events += stamped([
                example("ContractSigned", contract_id=cid, account_manager_id="am-bench"),
                example("AssignmentStarted", contract_id=cid),
                example("BypassThreatReported", contract_id=cid, assignment_id="A-1",
                        staffer_id=OMIT),
            ])  # fmt: skip
        started = time.monotonic()
        await append(settings.kafka_bootstrap_servers, topic, events)
        await asyncio.wait_for(_judged(conn, topic, cids), 120)
        latencies.append(time.monotonic() - started)
        raised += per_s
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    return latencies, raised


async def main() -> None:
    args = options.parse(__doc__, phase_s=15, contracts_per_s=5)
    settings = Settings()
    prefix = "bench-alerts-" + uuid.uuid4().hex[:8]
    schema = prefix.replace("-", "_")
    t = topics(prefix)
    await kafka_admin.ensure_topics(settings.kafka_bootstrap_servers, t)
    receiver = Receiver()
    env = {**os.environ, "LEDGER_TOPIC_PREFIX": prefix, "LEDGER_PROJECTION_SCHEMA": schema,
           "LEDGER_ALERTS_MAX_BACKOFF_S": "2", "LEDGER_PROJECTOR_INSTANCE_ID": f"{prefix}-p",
           "LEDGER_RISK_INSTANCE_ID": f"{prefix}-r"}  # fmt: skip
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    procs = []
    for name in ("projector", "risk", "alerts"):
        log = open(ROOT / "var" / "log" / f"{prefix}-{name}.log", "ab")  # noqa: SIM115
        procs.append(subprocess.Popen([sys.executable, "-m", "services.cli", "serve", name],
                                      cwd=ROOT, env=env, stdout=log, stderr=log))  # fmt: skip
    async with connection(settings.dsn) as conn:
        channel = CHANNEL_IN.validate_python(
            {"name": prefix, "kind": "slack", "url": f"http://127.0.0.1:{receiver.port}/hook"}
        )
        await store.upsert_channel(conn, channel)
        route = await store.upsert_route(conn, RouteIn(name=prefix, channel=prefix), schema)
        try:
            await asyncio.sleep(5)  # the processes start, the router takes the route up
            total = 0
            for name, up in (("channel up", True), ("channel down", False), ("back", True)):
                receiver.up = up
                lat, raised = await phase(
                    settings, conn, t.events.name, args.phase_s, args.contracts_per_s
                )
                total += raised
                queued = await conn.fetchval(
                    """SELECT count(*) FROM alert_deliveries WHERE route_id = $1
                         AND status IN ('pending', 'failing')""",
                    route["route_id"],
                )
                print(f"{name:>12}: {raised} alerts raised; risk agent judged each second's "
                      f"batch in median {statistics.median(lat):.3f} s, worst {max(lat):.3f} s; "
                      f"route queue at the end: {queued}")  # fmt: skip
            deadline = time.monotonic() + 120
            while len(set(receiver.got)) < total and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            print(f"delivered {len(set(receiver.got))} of {total} alerts, "
                  f"{len(receiver.got) - len(set(receiver.got))} twice")  # fmt: skip
            status = Path(f"/proc/{procs[2].pid}/status").read_text()
            peak = next(x for x in status.splitlines() if x.startswith("VmHWM"))
            print(f"the router's peak resident memory: {int(peak.split()[1]) // 1024} MiB")
        finally:
            await store.remove_channel(conn, route["channel_id"])
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
            receiver.server.shutdown()
            await kafka_admin.delete_topics(settings.kafka_bootstrap_servers, prefix)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
