"""HTTP helpers of the integration and e2e tests: submit, read the log, read the live stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from simulation.examples import example


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(http: httpx.Client, token: str, body: Any) -> httpx.Response:
    return http.post("/v1/events", json=body, headers={"Authorization": f"Bearer {token}"})


def posted(http: httpx.Client, token: str, *events: Any) -> list[dict[str, Any]]:
    """Each body POSTed to /v1/events in turn, each accepted (201, else the answer is shown);
    their answers."""
    answers = []
    for e in events:
        r = post(http, token, e)
        assert r.status_code == 201, r.text
        answers.append(r.json())
    return answers


def get_json(http: httpx.Client, token: str, path: str, **params: Any) -> dict[str, Any]:
    """GET `path` as `token`'s holder, answered 200 (else the answer is shown); its body."""
    r = http.get(path, params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def log_of(http: httpx.Client, token: str, contract_id: str) -> list[dict[str, Any]]:
    r = http.get(
        "/v1/events",
        params={"contract_id": contract_id},
        headers={"Authorization": f"Bearer {token}"},
    )
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def history(cid: str, am_id: str, *types: str, **overrides: Any) -> list[dict[str, Any]]:
    """A valid history of the given event types on contract `cid`, signed by `am_id`."""
    out = [example("ContractSigned", contract_id=cid, account_manager_id=am_id)]
    out += [example(t, contract_id=cid, **overrides.get(t, {})) for t in types]
    return out


async def read_sse(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    want: Any,
    timeout: float = 30,
    opened: asyncio.Event | None = None,
) -> tuple[str, dict[str, Any]]:
    """The first (id, alert) on the stream for which want(alert) holds. `opened` is set once
    the stream has answered: without Last-Event-ID it carries what happens from then on (the
    API takes its starting point before it answers)."""

    async def go() -> tuple[str, dict[str, Any]]:
        async with client.stream("GET", "/v1/alerts/stream", headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            if opened is not None:
                opened.set()
            event_id, data = "", ""
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    alert = json.loads(data)
                    if want(alert):
                        return event_id, alert
                    data = ""
        raise AssertionError("stream ended")

    return await asyncio.wait_for(go(), timeout)


async def open_stream(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None
) -> asyncio.Task[list[str]]:
    """The live stream of alerts read in a task until the server ends it (the task's result:
    its lines): answered (200, so signed in when it opened, however slow the machine), and
    still going a second later."""
    opened = asyncio.Event()

    async def read_until_end() -> list[str]:
        async with client.stream("GET", "/v1/alerts/stream", headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["cache-control"] == "no-store"
            opened.set()
            return [line async for line in r.aiter_lines()]

    reader = asyncio.create_task(read_until_end())
    answered = asyncio.create_task(opened.wait())
    await asyncio.wait([reader, answered], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    answered.cancel()
    if reader.done():
        reader.result()  # its failure, if it failed
    assert opened.is_set(), "the stream did not answer within 30 s"
    await asyncio.sleep(1.0)
    assert not reader.done()
    return reader
