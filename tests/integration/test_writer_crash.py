"""SIGKILL of the writer in the middle of 1,000 submissions loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from simulation.examples import example
from tests.support.services import Tokens, running_services
from tests.support.stack import Stack, unique

CONTRACTS = 20
# 40 submitters: at the kill, 40 submissions are in flight, and 700 more come after it, while the
# writer restarts and once it has.
SUBMISSIONS = 1000
KILL_AFTER = 300


async def test_sigkill_mid_stream(ready_stack: Stack, api_tokens: Tokens) -> None:
    async with running_services(ready_stack, verdict_timeout_s=3.0) as svc:
        auth = {"Authorization": f"Bearer {api_tokens.am}"}
        cids = [unique("C") for _ in range(CONTRACTS)]
        async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
            for cid in cids:
                signed = example(
                    "ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id
                )
                r = await client.post("/v1/events", json=signed, headers=auth)
                assert r.status_code == 201, r.text

            bodies = [
                example("ClientContactLogged", contract_id=cids[i % CONTRACTS])
                for i in range(SUBMISSIONS)
            ]
            answers: dict[str, dict[str, Any]] = {}
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            for b in bodies:
                queue.put_nowait(b)
            killed = asyncio.Event()
            caught = 0  # submissions sent before the kill and answered after it

            async def submitter() -> None:
                nonlocal caught
                while not queue.empty():
                    b = queue.get_nowait()
                    sent_before_kill = not killed.is_set()
                    r = await client.post("/v1/events", json=b, headers=auth)
                    assert r.status_code in (201, 202), r.text
                    answers[b["event_id"]] = r.json()
                    caught += sent_before_kill and killed.is_set()
                    if len(answers) >= KILL_AFTER and not killed.is_set():
                        killed.set()
                        svc.kill("writer")  # SIGKILL: no shutdown, no flush, no abort
                        svc.start("writer")

            await asyncio.gather(*(submitter() for _ in range(40)))
            assert killed.is_set()

            # Poll whatever was answered 202 until the restarted writer has decided it.
            pending = [eid for eid, a in answers.items() if a["status"] == "pending"]
            deadline = time.monotonic() + 120
            while pending and time.monotonic() < deadline:
                still = []
                for eid in pending:
                    r = await client.get(f"/v1/submissions/{eid}", headers=auth)
                    if r.status_code == 202:
                        still.append(eid)
                    else:
                        answers[eid] = r.json()
                pending = still
                await asyncio.sleep(0.5)
            assert not pending, f"{len(pending)} submissions never decided"
            # The kill really landed mid-stream: some answers had to wait for the new writer
            # (answered 202, or 201 once it had taken the partitions back: static membership).
            assert caught, "no submission was caught by the kill"

            logs = {}
            for cid in cids:
                r = await client.get("/v1/events", params={"contract_id": cid}, headers=auth)
                logs[cid] = r.json()["events"]

    accepted = {eid: a["stream_version"] for eid, a in answers.items() if a["status"] == "accepted"}
    # Every submission was valid, so each was accepted exactly once in the end.
    assert len(accepted) == SUBMISSIONS
    in_log = [e["event_id"] for cid in cids for e in logs[cid][1:]]
    assert sorted(in_log) == sorted(accepted)  # exactly once each, and nothing else
    for cid in cids:
        assert [e["stream_version"] for e in logs[cid]] == list(range(1, len(logs[cid]) + 1))
        for e in logs[cid][1:]:
            assert accepted[e["event_id"]] == e["stream_version"]
