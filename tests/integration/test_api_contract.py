"""The API's contract over HTTP (issue 12): every bad input a clear 4xx in the one error body,
nothing changed; access that ends when it should; the headers every answer carries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services import tokens
from services.db import connection
from tests.support.http import auth, log_of, open_stream, post
from tests.support.services import ROOT, Services, Tokens
from tests.support.stack import unique
from tests.support.stories import seed_003_story

DEEP = 10_000


def assert_error(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The status, and the one error body: errors of field and reason, and a message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"], body
    for e in body["errors"]:
        assert set(e) == {"field", "reason"} and e["reason"], e
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


@pytest.fixture(scope="module")
def signed(services: Services, api_tokens: Tokens) -> Iterator[str]:
    """A contract with an assignment, its log and read models settled."""
    cid, aid = unique("C"), unique("A")
    story = seed_003_story(cid, aid, api_tokens.am_id)
    with httpx.Client(base_url=services.url, timeout=60) as client:
        for name in ("signed", "started"):
            r = post(client, api_tokens.am, story[name])
            assert r.status_code == 201, r.text
        yield cid


def _state(http: httpx.Client, token: str, cid: str) -> tuple[Any, ...]:
    """What must not change: the contract's log, its margins and its impacts."""
    margins = http.get(f"/v1/margins/contracts/{cid}", headers=auth(token))
    impacts = http.get("/v1/margin-impacts", params={"contract_id": cid}, headers=auth(token))
    assert margins.status_code == impacts.status_code == 200
    return (log_of(http, token, cid), margins.json(), impacts.json())


def test_json_nested_deeper_than_the_bound_is_422_and_changes_nothing(
    http: httpx.Client, api_tokens: Tokens, signed: str
) -> None:
    before = _state(http, api_tokens.admin, signed)
    deep = "[" * DEEP + "]" * DEEP
    contact = json.dumps({"type": "ClientContactLogged", "contract_id": signed})
    bodies = [
        deep,  # top level
        contact[:-1] + f', "note": {deep}}}',  # inside a field
        '{"events": [' + contact + ", " + deep + "]}",  # inside a batch
    ]
    for body in bodies:
        r = http.post(
            "/v1/events",
            content=body,
            headers={**auth(api_tokens.admin), "content-type": "application/json"},
        )
        assert "deeper than" in assert_error(r, 422, "(body)")["message"]
    assert _state(http, api_tokens.admin, signed) == before


@pytest.mark.parametrize("path", ["/v1/alerts", "/v1/margin-impacts", "/v1/margins/portfolio"])
@pytest.mark.parametrize(
    ("param", "value"), [("offset", 2**63), ("offset", -1), ("limit", 0), ("limit", 10**6)]
)
def test_limit_and_offset_are_bounded(
    http: httpx.Client, api_tokens: Tokens, path: str, param: str, value: int
) -> None:
    r = http.get(path, params={param: value}, headers=auth(api_tokens.finance))
    assert_error(r, 422, param)


def test_a_body_over_the_bound_is_413_before_it_is_read_and_changes_nothing(
    http: httpx.Client, api_tokens: Tokens, signed: str
) -> None:
    before = _state(http, api_tokens.admin, signed)
    headers = {**auth(api_tokens.admin), "content-type": "application/json"}
    # Declared too large: refused on its Content-Length.
    assert_error(http.post("/v1/events", content=b" " * 10_000_000, headers=headers), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 65_536

    assert_error(http.post("/v1/events", content=chunks(), headers=headers), 413)
    assert _state(http, api_tokens.admin, signed) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415_and_changes_nothing(
    http: httpx.Client, api_tokens: Tokens, signed: str, content_type: str | None
) -> None:
    before = _state(http, api_tokens.admin, signed)
    contact = {
        "event_id": "0b6f3c1e-7a51-4c5e-9d1a-2f0a5e6c7b10",
        "type": "ClientContactLogged",
        "contract_id": signed,
        "occurred_at": "2026-02-01T09:00:00Z",
        "channel": "call",
        "direction": "outbound",
        "responded": True,
    }
    headers = auth(api_tokens.admin) | ({"content-type": content_type} if content_type else {})
    r = http.post("/v1/events", content=json.dumps(contact), headers=headers)
    assert_error(r, 415, "Content-Type")
    assert _state(http, api_tokens.admin, signed) == before


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/margins/portfolio", "as_of"),
        ("/v1/margins/clients/CL-7", "as_of"),
        ("/v1/margin-impacts", "since"),
    ],
)
@pytest.mark.parametrize("value", ["0", "1700000000", "2026-1-5", "05/01/2026", "2026-02-30"])
def test_dates_only_as_yyyy_mm_dd(
    http: httpx.Client, api_tokens: Tokens, path: str, param: str, value: str
) -> None:
    assert_error(http.get(path, params={param: value}, headers=auth(api_tokens.finance)), 422)


def _enumerated_filters(doc: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(path, query parameter, its allowed values) of every GET the OpenAPI document says
    takes one of a few values; a path's own parameters filled with a well-formed id."""
    found = []
    for path, ops in doc["paths"].items():
        for param in ops.get("get", {}).get("parameters", []):
            schema = param["schema"]
            for option in (schema, *schema.get("anyOf", [])):
                if param["in"] == "query" and "enum" in option:
                    found.append((re.sub(r"\{\w+\}", "X-1", path), param["name"], option["enum"]))
    return found


def test_enumerated_filters_name_the_allowed_values(http: httpx.Client, api_tokens: Tokens) -> None:
    filters = _enumerated_filters(http.get("/openapi.json").json())
    assert {"rule", "status", "severity", "basis"} <= {param for _, param, _ in filters}
    for path, param, allowed in filters:
        r = http.get(path, params={param: "NOPE"}, headers=auth(api_tokens.admin))
        body = assert_error(r, 422, param)
        [reason] = [e["reason"] for e in body["errors"] if e["field"] == param]
        assert all(f"'{value}'" in reason for value in allowed), (path, reason)


def test_one_error_body_whatever_raised_it(
    http: httpx.Client, api_tokens: Tokens, signed: str
) -> None:
    admin = auth(api_tokens.admin)
    before = _state(http, api_tokens.admin, signed)
    assert_error(http.get("/v1/alerts", params={"limit": "x"}, headers=admin), 422, "limit")
    assert_error(http.get("/v1/alerts/stream", headers={**admin, "Last-Event-ID": "null"}), 422)
    assert_error(http.get("/v1/nowhere", headers=admin), 404)
    assert_error(http.delete("/v1/events", headers=admin), 405)
    assert_error(http.get("/v1/alerts"), 401, "Authorization")
    assert_error(http.get("/v1/margins/contracts/C-NEVER-SIGNED", headers=admin), 404)
    r = http.post("/v1/events", json={"type": "ClientContactLogged"}, headers=admin)
    invalid = assert_error(r, 422)
    assert invalid["status"] == "invalid"  # a per-event result keeps its shape
    r = http.post("/v1/events", json={"events": [{"type": "Nope"}, []]}, headers=admin)
    batch = assert_error(r, 422, "events.1.(event)")
    assert [x["status"] for x in batch["results"]] == ["invalid", "invalid"]
    for result in batch["results"]:
        assert result["errors"] and result["message"]
    r = post(http, api_tokens.admin, seed_003_story(signed, "A-X", api_tokens.am_id)["signed"])
    refused = assert_error(r, 409, "contract_id")
    assert refused["code"] == "contract_exists"
    assert _state(http, api_tokens.admin, signed) == before


def test_allow_lists_every_method_of_the_path(http: httpx.Client, api_tokens: Tokens) -> None:
    r = http.options("/v1/events", headers=auth(api_tokens.admin))
    assert_error(r, 405)
    assert r.headers["allow"] == "GET, POST"
    r = http.put("/v1/alerts/abc/resolve", headers=auth(api_tokens.admin))
    assert r.headers["allow"] == "POST"


def test_headers_nosniff_everywhere_and_no_store_on_money_and_alerts(
    http: httpx.Client, api_tokens: Tokens, signed: str
) -> None:
    finance = auth(api_tokens.finance)
    answers = [
        http.get("/healthz"),
        http.get("/metrics"),
        http.get("/openapi.json"),
        http.get("/v1/nowhere"),
        http.get("/v1/alerts", headers=finance),
        http.get(f"/v1/margins/contracts/{signed}", headers=finance),
        http.get(f"/v1/margins/contracts/{signed}", headers={**finance, "accept": "text/csv"}),
        http.get("/v1/margin-impacts", headers=finance),
        http.get("/v1/margins/portfolio", headers=finance),
        http.get("/v1/alerts", params={"limit": 0}, headers=finance),
    ]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
    for r in [answers[1], *answers[4:]]:
        assert r.headers["cache-control"] == "no-store", r.url
    assert answers[6].headers["content-type"].startswith("text/csv")
    assert answers[1].headers["content-type"].startswith("text/plain")


async def test_a_revoked_tokens_stream_ends_within_seconds(
    services: Services, ready_stack: Any
) -> None:
    async with connection(ready_stack.dsn) as conn:
        token_id, token = await tokens.create_token(conn, "finance", None)
        async with httpx.AsyncClient(base_url=services.url, timeout=60) as client:
            reader = await open_stream(client, auth(token))
            assert await tokens.revoke_token(conn, token_id)
            revoked_at = time.monotonic()
            lines = await asyncio.wait_for(reader, 15)
            assert time.monotonic() - revoked_at < 6
            assert "event: end" in lines
            r = await client.get("/v1/alerts", headers=auth(token))
            assert_error(r, 401, "Authorization")


def _ledger(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT,
        env=services.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_expiry_from_the_cli_and_list_without_secrets(
    services: Services, http: httpx.Client
) -> None:
    made = _ledger(services, "token", "create", "--role", "finance", "--expires-in", "3s")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert http.get("/v1/alerts", headers=auth(token)).status_code == 200
    listed = _ledger(services, "token", "list")
    assert listed.returncode == 0, listed.stderr
    assert token not in listed.stdout and tokens.token_sha256(token) not in listed.stdout
    mine = [line for line in listed.stdout.splitlines() if line.startswith(made.stderr.split()[1])]
    assert len(mine) == 1 and "finance" in mine[0] and "live" in mine[0]
    time.sleep(3.5)
    assert_error(http.get("/v1/alerts", headers=auth(token)), 401, "Authorization")
    listed = _ledger(services, "token", "list")
    assert [line for line in listed.stdout.splitlines() if "expired" in line]
    bad = _ledger(services, "token", "create", "--role", "finance", "--expires-in", "soon")
    assert bad.returncode == 2 and "expires-in" in bad.stderr


def test_metrics_take_the_scrape_token_when_one_is_set(services: Services) -> None:
    scraper = Services(services.stack, services.prefix)
    os.environ["LEDGER_METRICS_TOKEN"] = "scrape-secret"
    try:
        scraper.start("api")
    finally:
        del os.environ["LEDGER_METRICS_TOKEN"]
    try:
        scraper.wait_http()
        assert_error(httpx.get(f"{scraper.url}/metrics"), 401, "Authorization")
        wrong = {"Authorization": "Bearer nope"}
        assert_error(httpx.get(f"{scraper.url}/metrics", headers=wrong), 401)
        right = {"Authorization": "Bearer scrape-secret"}
        r = httpx.get(f"{scraper.url}/metrics", headers=right)
        assert r.status_code == 200 and "ledger_http_requests_total" in r.text
    finally:
        scraper.stop_all()
    # Without the setting (the fixture's API) /metrics stays open.
    assert httpx.get(f"{services.url}/metrics").status_code == 200
