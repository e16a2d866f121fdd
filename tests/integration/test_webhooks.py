"""A webhook receiver down for the first 10 alerts and up afterwards ends with every alert
exactly once by id, signatures valid, in order per contract, even with two deliverers running."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import asyncpg
import httpx

from services.webhooks import verify
from simulation.examples import OMIT, example
from simulation.ports import free_port
from tests.support.http import post
from tests.support.services import ROOT, Services, Tokens
from tests.support.stack import unique


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, Any], bool]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verify(self.server.secret, self.headers["X-Ledger-Signature"], body)  # type: ignore[attr-defined]
        type(self).received.append((json.loads(body), ok))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_a_receiver_that_was_down_gets_everything_once_in_order(
    pg: asyncpg.Connection, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    port = free_port()
    env = services.env()
    added = subprocess.run(
        [sys.executable, "-m", "services.cli", "webhooks", "add", f"http://127.0.0.1:{port}/hook",
         "--min-severity", "critical"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    wid = added.stdout.split()[1]
    secret = added.stdout.strip().rsplit(" ", 1)[1]
    services.start("webhooks")
    # A second deliverer, as when the service is scaled out: still every alert exactly once.
    second = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "webhooks"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cids = [unique("C") for _ in range(3)]
    server = None
    try:
        for cid in cids:
            signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
            assert post(http, api_tokens.am, signed).status_code == 201
            assert (
                post(http, api_tokens.am, example("AssignmentStarted", contract_id=cid)).status_code
                == 201
            )
        # 15 bypass threats, 5 per contract: 15 critical alerts.
        for i in range(15):
            threat = example(
                "BypassThreatReported", contract_id=cids[i % 3], assignment_id="A-1",
                staffer_id=OMIT, description=f"threat number {i}",
            )  # fmt: skip
            assert post(http, api_tokens.am, threat).status_code == 201
            if i == 9:
                # Down so far: the first 10 alerts are raised and their deliveries fail.
                status = subprocess.run(
                    [sys.executable, "-m", "services.cli", "webhooks", "status"],
                    cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                deadline = time.monotonic() + 20
                while "failing" not in status and time.monotonic() < deadline:
                    time.sleep(0.3)
                    status = subprocess.run(
                        [sys.executable, "-m", "services.cli", "webhooks", "status"],
                        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
                    ).stdout  # fmt: skip
                assert f"{wid}" in status and "failing" in status, status
                _Receiver.received = []
                server = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
                server.secret = secret  # type: ignore[attr-defined]
                threading.Thread(target=server.serve_forever, daemon=True).start()

        expected = await pg.fetch(
            """SELECT alert_id, contract_id, seq FROM alerts
               WHERE contract_id = ANY($1::text[]) AND severity = 'critical' ORDER BY seq""",
            cids,
        )
        assert len(expected) == 15
        deadline = time.monotonic() + 90

        def mine() -> list[tuple[dict[str, Any], bool]]:
            return [(a, ok) for a, ok in _Receiver.received if a["contract_id"] in cids]

        while len({a["alert_id"] for a, _ in mine()}) < 15 and time.monotonic() < deadline:
            time.sleep(0.3)
        got = mine()
        assert sorted({a["alert_id"] for a, _ in got}) == sorted(r["alert_id"] for r in expected)
        assert len(got) == 15, "an alert was delivered more than once"
        assert all(ok for _, ok in got), "a signature did not verify"
        for cid in cids:
            order = [a["alert_id"] for a, _ in got if a["contract_id"] == cid]
            assert order == [r["alert_id"] for r in expected if r["contract_id"] == cid]
    finally:
        await pg.execute("UPDATE webhooks SET active = false WHERE webhook_id = $1", wid)
        services.kill("webhooks")
        second.kill()
        second.wait()
        if server is not None:
            server.shutdown()
