"""GET /v1/alerts/stream: new and changed alerts as server-sent events, resumable."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.conftest import unique
from tests.integration.conftest import Services, Tokens
from tests.integration.test_alerts_http import _story


async def _read(
    client: httpx.AsyncClient, headers: dict[str, str], want: Any, timeout: float = 30
) -> tuple[str, dict[str, Any]]:
    """The first (id, alert) on the stream for which want(alert) holds."""

    async def go() -> tuple[str, dict[str, Any]]:
        async with client.stream("GET", "/v1/alerts/stream", headers=headers) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
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


async def test_new_and_changed_alerts_stream_and_resume(
    services: Services, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    finance = {"Authorization": f"Bearer {api_tokens.finance}"}
    am = {"Authorization": f"Bearer {api_tokens.am}"}
    async with httpx.AsyncClient(base_url=services.url, timeout=60) as client:
        reader = asyncio.create_task(
            _read(
                client, finance, lambda a: a["contract_id"] == cid and a["rule"] == "BYPASS_THREAT"
            )
        )
        await asyncio.sleep(0.5)  # the stream starts from now
        story = _story(cid, aid, api_tokens.am_id)
        for name in ("signed", "started", "contact", "threat"):
            r = await client.post("/v1/events", json=story[name], headers=am)
            assert r.status_code == 201, r.text
        first_id, alert = await reader
        assert (alert["severity"], alert["status"], alert["exposure"]) == (
            "critical",
            "open",
            "13380.00",
        )

        ack = await client.post(f"/v1/alerts/{alert['alert_id']}/acknowledge", headers=finance)
        assert ack.status_code == 200

        # Reconnecting with the last id seen resumes with what changed since: the acknowledgement.
        resumed_id, changed = await _read(
            client, {**finance, "Last-Event-ID": first_id},
            lambda a: a["alert_id"] == alert["alert_id"],
        )  # fmt: skip
        assert int(resumed_id) > int(first_id)
        assert changed["status"] == "acknowledged"

        # Another account manager's stream never shows this contract's alerts.
        other = {"Authorization": f"Bearer {api_tokens.other_am}", "Last-Event-ID": "0"}
        try:
            await _read(client, other, lambda a: a["contract_id"] == cid, timeout=3)
            raise AssertionError("another account manager saw the alert")
        except TimeoutError:
            pass
