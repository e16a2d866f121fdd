"""The web app's sign-in sessions over HTTP, and the app and /docs served with no internet."""

from __future__ import annotations

import asyncio
import time

import httpx

from services import tokens
from services.db import connection
from tests.support.http import open_stream
from tests.support.services import Services, Tokens
from tests.support.stack import Stack


def _signed_in(client: httpx.Client, token: str) -> str:
    r = client.post("/v1/session", json={"token": token})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "ledger_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/" in cookie
    csrf: str = r.json()["csrf_token"]
    return csrf


def test_a_session_reads_like_its_token_and_unsafe_requests_need_the_csrf_header(
    services: Services, api_tokens: Tokens
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as client:
        csrf = _signed_in(client, api_tokens.am)
        me = client.get("/v1/session").json()
        assert me == {"role": "account_manager", "account_manager_id": api_tokens.am_id,
                      "csrf_token": csrf, "person_id": None, "name": None}  # fmt: skip
        assert client.get("/v1/margins/portfolio").status_code == 200
        # A cross-site form can make the browser send the cookie, never the header.
        event = {"type": "ClientContactLogged"}
        assert client.post("/v1/events", json=event).status_code == 403
        bad = client.post("/v1/events", json=event, headers={"X-CSRF-Token": "guess"})
        assert bad.status_code == 403
        # With the header the request reaches the API's own checks (422: the event's shape).
        ok = client.post("/v1/events", json=event, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 422
        # The role rules apply unchanged: another manager's roll-up reads as a missing one.
        other = client.get(f"/v1/margins/account-managers/{api_tokens.other_am_id}")
        assert other.status_code == 404
        # Signing out needs the header too, then the cookie no longer works.
        assert client.delete("/v1/session").status_code == 403
        assert client.delete("/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert client.get("/v1/margins/portfolio").status_code == 401
        assert client.get("/v1/session").status_code == 401


def test_a_wrong_token_opens_no_session(services: Services) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as client:
        r = client.post("/v1/session", json={"token": "mlt_not-a-token"})
        assert r.status_code == 401
        assert "ledger_session" not in r.headers.get("set-cookie", "")
        assert client.get("/v1/session").status_code == 401


def test_a_sign_in_body_is_read_as_every_other_body(services: Services) -> None:
    """Issue #21: /v1/session answered 422 for a wrong content type (415 elsewhere) and 400 for
    JSON nested too deep (422 elsewhere)."""
    with httpx.Client(base_url=services.url, timeout=30) as client:
        r = client.post("/v1/session", content=b"token=x", headers={"content-type": "text/plain"})
        assert r.status_code == 415 and r.json()["errors"][0]["field"] == "Content-Type"
        deep = b'{"token": ' + b"[" * 40 + b"]" * 40 + b"}"
        r = client.post("/v1/session", content=deep, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "nest" in r.json()["errors"][0]["reason"]
        r = client.post("/v1/session", content=b"{", headers={"content-type": "application/json"})
        assert r.status_code == 422
        r = client.post("/v1/session", json={"token": ""})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "token"


async def test_revoking_the_token_ends_its_sessions_at_the_next_request(
    services: Services, ready_stack: Stack
) -> None:
    async with connection(ready_stack.dsn) as conn:
        token_id, token = await tokens.create_token(conn, "finance", None)
        with httpx.Client(base_url=services.url, timeout=30) as client:
            _signed_in(client, token)
            assert client.get("/v1/margins/portfolio").status_code == 200
            assert await tokens.revoke_token(conn, token_id)
            assert client.get("/v1/margins/portfolio").status_code == 401
            assert client.get("/v1/session").status_code == 401


async def test_signing_out_ends_the_sessions_open_alert_stream(
    services: Services, api_tokens: Tokens
) -> None:
    async with httpx.AsyncClient(base_url=services.url, timeout=60) as client:
        r = await client.post("/v1/session", json={"token": api_tokens.finance})
        assert r.status_code == 200, r.text
        csrf = r.json()["csrf_token"]
        reader = await open_stream(client)
        out = await client.delete("/v1/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        signed_out_at = time.monotonic()
        lines = await asyncio.wait_for(reader, 15)
        # Within the stream's check interval (2 s by default), not when the browser leaves.
        assert time.monotonic() - signed_out_at < 6
        assert "event: end" in lines
        # The token itself was not revoked: signing out ends only the session.
        assert (
            await client.get(
                "/v1/alerts", headers={"Authorization": f"Bearer {api_tokens.finance}"}
            )
        ).status_code == 200


def test_the_app_and_docs_are_served_locally(services: Services) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as client:
        for path in ("/", "/app/finance", "/app/finance/clients/X"):
            r = client.get(path)
            assert r.status_code == 200 and "<main" in r.text
            assert "script-src 'self'" in r.headers["content-security-policy"]
        assert (
            client.get("/static/app/app.js").headers["content-type"].startswith("text/javascript")
        )
        docs = client.get("/docs").text
        assert "/static/vendor/swagger-ui-bundle.js" in docs
        assert "http://" not in docs and "https://" not in docs
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "echarts.esm.min.mjs"):
            assert client.get(f"/static/vendor/{asset}").status_code == 200
        # Only whitelisted npm files, and nothing outside web/app.
        assert client.get("/static/vendor/package.json").status_code == 404
        assert client.get("/static/app/../../pyproject.toml").status_code == 404
        assert client.get("/static/app/%2e%2e/%2e%2e/pyproject.toml").status_code == 404


def test_every_page_forbids_framing_and_a_nul_in_a_path_is_a_plain_404(
    services: Services,
) -> None:
    """Issue #21: /docs and the static HTML had no Content-Security-Policy; `/static/app/%00`
    answered 500 with two tracebacks in the log."""
    with httpx.Client(base_url=services.url, timeout=30) as client:
        for path in ("/docs", "/static/app/index.html", "/static/app/docs.html"):
            r = client.get(path)
            assert r.status_code == 200, path
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
        for path in ("/static/app/%00", "/static/app/a%00b.js", "/static/app/" + "x" * 5000):
            r = client.get(path)
            assert r.status_code == 404, path
            assert r.json()["errors"], path


def test_with_no_identity_provider_configured_people_sign_in_with_tokens_only(
    services: Services,
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as client:
        assert client.get("/v1/sign-in").json() == {"single_sign_on": False, "url": None}
        r = client.get("/auth/sign-in", params={"next": "/app/finance"})
        assert r.status_code == 404
        assert "Single sign-on is not configured" in r.text
        assert "location" not in r.headers
        callback = client.get("/auth/callback", params={"code": "x", "state": "y"})
        assert callback.status_code == 404
        assert "ledger_session=" not in callback.headers.get("set-cookie", "")
