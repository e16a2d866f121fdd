"""/healthz says the process lives; /readyz judges the writer by its progress."""

from __future__ import annotations

import time

import httpx

from services.db import connection
from simulation.examples import example
from tests.support.services import Tokens, running_services
from tests.support.stack import Stack, unique


async def test_readyz_notices_a_writer_that_stopped_making_progress(
    ready_stack: Stack, api_tokens: Tokens
) -> None:
    async with running_services(ready_stack, verdict_timeout_s=1.0, writer_stall_s=3.0) as svc:
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            assert http.get("/healthz").json() == {"status": "ok"}
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["writer"]["ok"] is True
            assert ready.json()["checks"]["verdict_recorder"]["ok"] is True

            svc.kill("writer")
            cid = unique("C")
            signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
            r = http.post(
                "/v1/events", json=signed, headers={"Authorization": f"Bearer {api_tokens.am}"}
            )
            assert r.status_code == 202
            assert r.headers["Location"] == f"/v1/submissions/{signed['event_id']}"

            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                ready = http.get("/readyz")
                if ready.status_code == 503:
                    break
                time.sleep(0.5)
            assert ready.status_code == 503, ready.text
            assert ready.json()["checks"]["writer"]["ok"] is False
            assert http.get("/healthz").status_code == 200

            # The event is still decided exactly once when a writer comes back.
            svc.start("writer")
            deadline = time.monotonic() + 60
            poll = f"/v1/submissions/{signed['event_id']}"
            auth = {"Authorization": f"Bearer {api_tokens.am}"}
            while http.get(poll, headers=auth).status_code == 202 and time.monotonic() < deadline:
                time.sleep(0.3)
            final = http.get(poll, headers=auth)
            assert final.status_code == 200
            assert (final.json()["status"], final.json()["stream_version"]) == ("accepted", 1)


async def test_readyz_is_not_ready_while_the_read_models_are_of_an_older_layout(
    ready_stack: Stack,
) -> None:
    async with running_services(ready_stack) as svc, connection(ready_stack.dsn) as conn:
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["projections"] == {"ok": True, "detail": "current"}

            # As an older version of the projector left them, until it rebuilds them.
            await conn.execute(f"UPDATE {svc.schema}.meta SET layout = 'older'")
            ready = http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["projections"]["ok"] is False
