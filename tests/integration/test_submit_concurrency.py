"""One writer per contract stream: concurrent submitters get a total order and no gaps; and
the API never closes a kept-alive connection that a client may still send on."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from simulation.examples import example
from tests.support.http import log_of, post
from tests.support.services import Services, Tokens
from tests.support.stack import unique


async def _post_all(
    services: Services, token: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=services.url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post("/v1/events", json=b, headers={"Authorization": f"Bearer {token}"})
                for b in bodies
            )
        )


async def test_fifty_racing_on_one_expected_version_one_wins(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    assert post(http, api_tokens.am, signed).status_code == 201
    racers = [
        example("ClientContactLogged", contract_id=cid, expected_stream_version=1)
        for _ in range(50)
    ]

    responses = await _post_all(services, api_tokens.am, racers)

    outcomes = Counter((r.status_code, r.json().get("code")) for r in responses)
    assert outcomes == {(201, None): 1, (409, "version_conflict"): 49}
    log = log_of(http, api_tokens.admin, cid)
    winner = next(b for b, r in zip(racers, responses, strict=True) if r.status_code == 201)
    assert [e["event_id"] for e in log] == [signed["event_id"], winner["event_id"]]


async def test_two_hundred_over_ten_contracts_all_accepted_without_gaps(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cids = [unique("C") for _ in range(10)]
    for cid in cids:
        signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
        assert post(http, api_tokens.am, signed).status_code == 201
    bodies = [example("ClientContactLogged", contract_id=cids[i % 10]) for i in range(200)]

    responses = await _post_all(services, api_tokens.am, bodies)

    assert [r.status_code for r in responses] == [201] * 200
    for cid in cids:
        log = log_of(http, api_tokens.admin, cid)
        assert [e["stream_version"] for e in log] == list(range(1, 22))
        assert len({e["event_id"] for e in log}) == 21
    # Each answer's version is the one the log gave that event.
    answered = {
        b["event_id"]: r.json()["stream_version"] for b, r in zip(bodies, responses, strict=True)
    }
    logged = {
        e["event_id"]: e["stream_version"]
        for cid in cids
        for e in log_of(http, api_tokens.admin, cid)
    }
    assert all(logged[eid] == v for eid, v in answered.items())


def test_a_connection_idle_as_long_as_a_client_keeps_it_is_still_answered_on(
    services: Services,
) -> None:
    """httpx sends on a kept-alive connection idle for up to 5 s. The API's own keep-alive was
    5 s too (uvicorn's default): a loaded run's API closed such a connection as a request
    arrived on it, and the client saw `httpx.ReadError: connection reset by peer`. The API now
    keeps an idle connection open longer than its clients do, so they end it, not the API."""
    client_keeps = httpx.Limits().keepalive_expiry
    assert client_keeps is not None

    def local_address(r: httpx.Response) -> Any:
        return r.extensions["network_stream"].get_extra_info("client_addr")

    # This client keeps it longer, to see whether the API closed it meanwhile.
    limits = httpx.Limits(keepalive_expiry=client_keeps + 30)
    with httpx.Client(base_url=services.url, timeout=30, limits=limits) as client:
        first = client.get("/healthz")
        sent_on = local_address(first)
        time.sleep(client_keeps + 0.5)  # idle past what httpx would keep: the condition itself
        second = client.get("/healthz")
        assert first.status_code == second.status_code == 200
        assert local_address(second) == sent_on, "the API closed the idle connection"
