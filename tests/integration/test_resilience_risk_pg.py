"""Each process rides out a fault by itself: a risk agent killed, a risk agent whose changelog
lost a contract, PostgreSQL cut away (through a proxy: the shared servers are never stopped).
The writer's, the API's and Kafka's faults: test_resilience.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from events.topics import partition_of
from services.db import connection
from services.risk.names import changelog_topic
from simulation.examples import example
from tests.support.http import auth, history
from tests.support.proxy import proxy_to
from tests.support.resilience import timed_post, until
from tests.support.risk import committed
from tests.support.services import ROOT, Tokens, running_services, start_services
from tests.support.stack import Stack, unique

# Its tests assert how soon a service answers or decides after a fault (a deadline is the
# product's promise): they run alone, after the parallel run (`make test`).
pytestmark = pytest.mark.serial


async def test_risk_agent_judges_again_soon_after_a_sigkill(
    ready_stack: Stack, api_tokens: Tokens
) -> None:
    # The agent commits nothing before it is killed: the restarted one finds no committed
    # offset, which is when Faust's recovery used to drop what it had fetched of the events.
    never_commits = {"risk": {"LEDGER_RISK_COMMIT_S": "3600"}}
    async with (
        running_services(ready_stack, verdict_timeout_s=10.0, env_of=never_commits) as svc,
        connection(ready_stack.dsn) as conn,
    ):
        with httpx.Client(base_url=svc.url, timeout=30) as client:
            cid = unique("C")
            for body in history(cid, api_tokens.am_id, "AssignmentStarted"):
                r, _ = timed_post(client, api_tokens.am, body)
                assert r.status_code == 201, r.text
            first = r.json()
            assert first["alerts"] is not None, "the risk agent never judged"

            async def judged(version: int) -> bool:
                got = await conn.fetchval(
                    """SELECT stream_version FROM risk_progress
                       WHERE events_topic = $1 AND contract_id = $2""",
                    svc.topics.events.name,
                    cid,
                )
                return (got or 0) >= version

            # Whether Faust fetched (and dropped) the events during a recovery is a race:
            # three restarts make a regression all but certain to show.
            for kills in range(1, 4):
                svc.kill("risk")  # SIGKILL: it never leaves its consumer group
                svc.start("risk")
                restarted = time.monotonic()
                threat = example("BypassThreatReported", contract_id=cid)
                r, _ = timed_post(client, api_tokens.am, threat)
                assert r.status_code == 201, r.text
                while not await judged(r.json()["stream_version"]):
                    waited = time.monotonic() - restarted
                    assert waited < 30, f"not judged within 30 s of restart {kills}"
                    time.sleep(0.1)
                took = time.monotonic() - restarted
                print(f"risk agent judging again {took:.1f} s after restart {kills}")
                assert took < 15
            alerts = client.get(
                "/v1/alerts", params={"contract_id": cid}, headers=auth(api_tokens.am)
            ).json()["alerts"]
            assert [a["rule"] for a in alerts].count("BYPASS_THREAT") == kills


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


async def test_postgresql_cut_away_answers_503_and_nothing_exits(
    ready_stack: Stack, api_tokens: Tokens, receiver: str
) -> None:
    with proxy_to(ready_stack.dsn) as api_pg, proxy_to(ready_stack.dsn) as workers_pg:
        svc = await start_services(
            ready_stack,
            verdict_timeout_s=3.0,
            env_of={
                "api": {"DATABASE_URL": api_pg.dsn(ready_stack.dsn)},
                "projector": {"DATABASE_URL": workers_pg.dsn(ready_stack.dsn)},
            },
        )
        wid = None
        try:
            added = subprocess.run(
                [sys.executable, "-m", "services.cli", "webhooks", "add", receiver,
                 "--min-severity", "critical"],
                cwd=ROOT, env=svc.env(), capture_output=True, text=True, check=True,
            )  # fmt: skip
            wid = added.stdout.split()[1]
            svc.start("webhooks", DATABASE_URL=workers_pg.dsn(ready_stack.dsn))
            with httpx.Client(base_url=svc.url, timeout=30) as client:
                cid = unique("C")
                for body in history(cid, api_tokens.am_id):
                    assert timed_post(client, api_tokens.am, body)[0].status_code == 201

                # The projector's and the webhooks' PostgreSQL goes away; events keep coming.
                workers_pg.cut()
                aid = unique("A")
                started = example("AssignmentStarted", contract_id=cid, assignment_id=aid)
                threat = example("BypassThreatReported", contract_id=cid, assignment_id=aid)
                for body in (started, threat):
                    r, _ = timed_post(client, api_tokens.am, body)
                    assert r.status_code == 201, r.text

                # And the API's too: 503, Retry-After, the one error body; never 500.
                api_pg.cut()
                for r, took in (
                    timed_post(
                        client, api_tokens.am, example("ClientContactLogged", contract_id=cid)
                    ),
                    (client.get(f"/v1/margins/contracts/{cid}", headers=auth(api_tokens.am)), 0),
                ):
                    assert r.status_code == 503, r.text
                    assert int(r.headers["Retry-After"]) > 0
                    body = r.json()
                    assert body["errors"][0]["field"] == "postgresql"
                    assert body["errors"][0]["reason"] and body["message"]
                    assert took < 3.0 + 2.0
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert not ready.json()["checks"]["postgres"]["ok"]

                time.sleep(3)
                for name in ("projector", "webhooks", "api"):
                    assert svc.alive(name), f"{name} exited while PostgreSQL was away"
                api_pg.restore()
                workers_pg.restore()

                r = until(
                    "the API answers again",
                    20,
                    lambda: (
                        x
                        if (x := timed_post(client, api_tokens.am, example(
                            "ClientContactLogged", contract_id=cid))[0]).status_code == 201
                        else None
                    ),
                )  # fmt: skip
                until(
                    "the projector catches up",
                    30,
                    lambda: (
                        client.get(
                            f"/v1/margins/assignments/{aid}", headers=auth(api_tokens.am)
                        ).status_code
                        == 200
                    ),
                )
                until(
                    "the webhook gets the alert raised meanwhile",
                    30,
                    lambda: any(a["contract_id"] == cid for a in _Receiver.received),
                )
                for name in ("projector", "webhooks", "api"):
                    assert svc.alive(name)
        finally:
            await svc.close()
            if wid is not None:  # the webhooks table is shared: nobody may keep posting to it
                async with connection(ready_stack.dsn) as conn:
                    await conn.execute(
                        "UPDATE webhooks SET active = false WHERE webhook_id = $1", wid
                    )


async def test_a_risk_agent_whose_changelog_lost_a_contract_judges_it_against_the_whole_log(
    ready_stack: Stack, api_tokens: Tokens
) -> None:
    """Issue #21: a member that recovered no state for a partition (its changelog unknown to
    the group leader, or states lost with a killed worker) judged the next events as of
    contracts with none, and skipped them: their alerts were never raised. It now folds the
    contract from the log's index and judges the event as the contract stands."""
    async with running_services(ready_stack, verdict_timeout_s=10.0) as svc:
        with httpx.Client(base_url=svc.url, timeout=30) as client:
            cid = unique("C")
            for body in history(cid, api_tokens.am_id, "AssignmentStarted"):
                assert timed_post(client, api_tokens.am, body)[0].status_code == 201
            # Judged and committed: a restart resumes past these two events.
            partition = partition_of(cid, svc.topics.events.partitions)
            deadline = time.monotonic() + 30
            while (await committed(ready_stack, svc.topics)).get(partition, -1) < 2:
                assert time.monotonic() < deadline, "the risk agent committed nothing"
                await asyncio.sleep(0.2)
            svc.kill("risk")
            admin = AIOKafkaAdminClient(bootstrap_servers=ready_stack.bootstrap)
            await admin.start()
            try:  # the states are gone; the committed offsets stay
                await admin.delete_topics([changelog_topic(svc.prefix)])
            finally:
                await admin.close()
            svc.start("risk")
            # DESIGN's worked example: a raise to 32.00 at the same bill rate is a loss.
            ask = example("RaiseRequested", contract_id=cid, requested_pay_rate="32.00",
                          client_max_bill_rate="37.50", requested_by="client")  # fmt: skip
            r, _ = timed_post(client, api_tokens.am, ask)
            assert r.status_code == 201, r.text
            answer = until(
                "the raise judged",
                60,
                lambda: (
                    (
                        x := client.get(
                            f"/v1/alerts?contract_id={cid}", headers=auth(api_tokens.am)
                        )
                    ).json()["alerts"]
                    and x.json()["alerts"]
                ),
            )
            assert "LOSS_POSITION" in {a["rule"] for a in answer}
        log = (ROOT / "var" / "log" / f"test-{svc.prefix}-risk.log").read_text()
        assert f"contract {cid}: its events 1 to 2 judged from the log" in log
