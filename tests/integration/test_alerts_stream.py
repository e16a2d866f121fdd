"""GET /v1/alerts/stream: new and changed alerts as server-sent events, resumable."""

from __future__ import annotations

import asyncio

import httpx

from tests.support.http import read_sse
from tests.support.services import Services, Tokens
from tests.support.stack import unique
from tests.support.stories import seed_003_story


async def test_new_and_changed_alerts_stream_and_resume(
    services: Services, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    finance = {"Authorization": f"Bearer {api_tokens.finance}"}
    am = {"Authorization": f"Bearer {api_tokens.am}"}
    async with httpx.AsyncClient(base_url=services.url, timeout=60) as client:
        opened = asyncio.Event()
        reader = asyncio.create_task(
            read_sse(
                client,
                finance,
                lambda a: a["contract_id"] == cid and a["rule"] == "BYPASS_THREAT",
                opened=opened,
            )
        )
        # The stream carries what happens once it has answered: only then the story is told.
        await asyncio.wait_for(opened.wait(), 30)
        story = seed_003_story(cid, aid, api_tokens.am_id)
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
        resumed_id, changed = await read_sse(
            client, {**finance, "Last-Event-ID": first_id},
            lambda a: a["alert_id"] == alert["alert_id"],
        )  # fmt: skip
        assert int(resumed_id) > int(first_id)
        assert changed["status"] == "acknowledged"

        # Another account manager's stream never shows this contract's alerts.
        other = {"Authorization": f"Bearer {api_tokens.other_am}", "Last-Event-ID": "0"}
        try:
            await read_sse(client, other, lambda a: a["contract_id"] == cid, timeout=3)
            raise AssertionError("another account manager saw the alert")
        except TimeoutError:
            pass
