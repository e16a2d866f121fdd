"""GET /v1/events: a contract's accepted events read from the audit index a page at a time,
and a page read in O(the page), not by scanning the log or the index."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from events.serialization import encode_event, parse_submission
from events.topics import topics
from services.projector import store
from services.reads.event_log import PAGE_SQL
from simulation.examples import example
from tests.support.http import auth, history, post
from tests.support.services import Services, Tokens
from tests.support.stack import Stack, unique


def _page(http: httpx.Client, token: str, cid: str, **params: Any) -> httpx.Response:
    return http.get("/v1/events", params={"contract_id": cid, **params}, headers=auth(token))


def test_pages_through_a_contracts_log_in_order(http: httpx.Client, api_tokens: Tokens) -> None:
    cid = unique("C")
    events = history(cid, api_tokens.am_id, *["ClientContactLogged"] * 7)
    r = post(http, api_tokens.am, {"events": events})
    assert r.status_code == 201, r.text

    seen: list[dict[str, Any]] = []
    after, pages = 0, 0
    while True:
        r = _page(http, api_tokens.am, cid, after_version=after, limit=3)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["up_to_date"] is True
        assert page["stream_version"] == 8
        assert len(page["events"]) <= 3
        seen += page["events"]
        pages += 1
        if "next_after_version" not in page:
            break
        after = page["next_after_version"]
        assert after == seen[-1]["stream_version"]
    assert pages == 3
    assert [e["stream_version"] for e in seen] == list(range(1, 9))
    assert [e["event_id"] for e in seen] == [e["event_id"] for e in events]

    # The whole log in one page by default; past its end, an empty page; nobody else's.
    whole = _page(http, api_tokens.am, cid).json()
    assert whole["events"] == seen and "next_after_version" not in whole
    past = _page(http, api_tokens.am, cid, after_version=8).json()
    assert past["events"] == [] and past["stream_version"] == 8
    assert _page(http, api_tokens.other_am, cid).status_code == 404  # as a missing one
    assert _page(http, api_tokens.am, unique("C")).status_code == 404
    for bad in ({"limit": 0}, {"limit": 1001}, {"after_version": -1}):
        r = _page(http, api_tokens.am, cid, **bad)
        assert r.status_code == 422, r.text


async def test_an_event_just_appended_to_the_log_is_in_the_next_read(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    """Read-your-writes: the read waits for the projector to reach the log's end, so an event
    committed before the request is answered even if it was not projected yet."""
    cid = unique("C")
    r = post(http, api_tokens.am, {"events": history(cid, api_tokens.am_id)})
    assert r.status_code == 201, r.text
    event, _ = parse_submission(example("ClientContactLogged", contract_id=cid))
    event = event.model_copy(update={"stream_version": 2, "recorded_at": datetime.now(UTC)})
    producer = AIOKafkaProducer(bootstrap_servers=services.stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            services.topics.events.name, encode_event(event), key=cid.encode()
        )
    finally:
        await producer.stop()
    page = _page(http, api_tokens.am, cid).json()
    assert page["up_to_date"] is True
    assert [e["event_id"] for e in page["events"]][-1] == str(event.event_id)
    assert page["stream_version"] == 2


async def test_a_page_reads_only_its_own_rows_of_a_large_index(
    ready_stack: Stack, pg: asyncpg.Connection
) -> None:
    schema = unique("audit").replace("-", "_").lower()
    await store.ensure_live_schema(pg, schema, topics(schema).events.name)
    try:
        # 2,000 contracts of 100 events each, as the projector would have written them.
        await pg.execute(
            f"""INSERT INTO {schema}.event_log
                SELECT 'C-' || c, v, gen_random_uuid(), 'ClientContactLogged', c % 6,
                       c * 100 + v, now(), now(), $1
                FROM generate_series(1, 2000) c, generate_series(1, 100) v""",
            json.dumps({"type": "ClientContactLogged"}),
        )
        await pg.execute(f"ANALYZE {schema}.event_log")
        plan = json.loads(
            await pg.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + PAGE_SQL.format(schema=schema),
                "C-1234",
                40,
                25,
            )
        )[0]["Plan"]
        scans = list(_nodes(plan))
        scan = next(n for n in scans if n.get("Relation Name") == "event_log")
        # An index range scan of the contract's versions after 40: 25 rows read, 25 returned.
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), plan
        assert scan["Actual Rows"] == 25
        assert scan.get("Rows Removed by Filter", 0) == 0
        assert "Sort" not in {n["Node Type"] for n in scans}
    finally:
        await pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
