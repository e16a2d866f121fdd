"""`ledger projections rebuild` during live traffic: no request fails, and the swapped-in read
models equal a clean rebuild."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx

from simulation.examples import example
from tests.support.projections import caught_up, drop, dump, replay
from tests.support.services import ROOT, Tokens, running_services
from tests.support.stack import Stack, unique


async def test_rebuild_during_live_traffic(ready_stack: Stack, api_tokens: Tokens) -> None:
    async with running_services(ready_stack) as svc:
        auth = {"Authorization": f"Bearer {api_tokens.am}"}
        failures: list[str] = []
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=svc.url, timeout=60) as client:
            cids = [unique("C") for _ in range(5)]
            for cid in cids:
                for e in (
                    example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id),
                    example("AssignmentStarted", contract_id=cid),
                ):
                    r = await client.post("/v1/events", json=e, headers=auth)
                    assert r.status_code == 201, r.text
            stop = asyncio.Event()

            async def writes() -> None:
                i = 0
                while not stop.is_set():
                    cid = cids[i % len(cids)]
                    e = example(
                        "RatesAdjusted",
                        contract_id=cid,
                        pay_rate=f"{30 + i % 7}.00",
                        bill_rate=f"{38 + i % 5}.00",
                    )
                    r = await client.post("/v1/events", json=e, headers=auth)
                    statuses.append(r.status_code)
                    if r.status_code != 201:
                        failures.append(f"POST {r.status_code} {r.text}")
                    i += 1

            async def reads() -> None:
                while not stop.is_set():
                    for path in (f"/v1/margins/contracts/{cids[0]}", "/v1/margins/portfolio",
                                 "/v1/margin-impacts"):  # fmt: skip
                        r = await client.get(path, headers=auth)
                        statuses.append(r.status_code)
                        if r.status_code != 200:
                            failures.append(f"GET {path} {r.status_code} {r.text}")

            traffic = [asyncio.create_task(writes()), asyncio.create_task(reads())]
            await asyncio.sleep(1)
            rebuild = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.cli", "projections", "rebuild",
                cwd=ROOT, env=svc.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await rebuild.communicate()
            await asyncio.sleep(1)
            stop.set()
            await asyncio.gather(*traffic)
        assert rebuild.returncode == 0, out.decode()
        assert b"swapped in" in out
        assert not failures, failures[:5]
        assert len(statuses) > 50

        # Let the live projector catch up with the last writes, then compare.
        await caught_up(
            ready_stack.bootstrap, ready_stack.dsn, svc.topics.events, svc.schema, timeout_s=60
        )
        clean = unique("clean").replace("-", "_")
        try:
            await replay(ready_stack.bootstrap, svc.topics.events, ready_stack.dsn, clean)
            assert await dump(ready_stack.dsn, svc.schema) == await dump(ready_stack.dsn, clean)
        finally:
            await drop(ready_stack.dsn, clean)
