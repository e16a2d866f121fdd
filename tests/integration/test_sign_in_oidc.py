"""Single sign-on through a real OpenID provider (deploy/local/oidc, started by the test run):
each role signs in through the provider's login form, and each attack on the flow is refused
with nothing granted (no session cookie, no session, /v1/me 401)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from services.db import connection
from services.oidc import OidcClient, ProviderUnavailable, SignInRefused, verify_id_token
from services.sessions import sha
from services.settings import Settings
from simulation.ports import free_port
from tests.support.http import history, open_stream
from tests.support.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    IdentityProvider,
    csrf_of,
    person,
    provider_login,
    sign_in,
    start_sign_in,
)
from tests.support.services import ROOT, Services
from tests.support.stack import Stack


def _nothing_granted(client: httpx.Client, answer: httpx.Response) -> None:
    assert "ledger_session=" not in answer.headers.get("set-cookie", "")
    assert client.get("/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("login", "role", "account_manager"),
    [("fiona", "finance", False), ("alex", "account_manager", True), ("ada", "admin", False)],
)
def test_each_role_signs_in_through_the_provider_as_a_person(
    sso_services: Services, login: str, role: str, account_manager: bool
) -> None:
    who = person(login)
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        done = sign_in(client, login, next_path="/app/alerts?status=open")
        assert done.status_code == 200, done.text
        # The page moves on to `next` by itself, on this origin.
        assert 'content="0;url=/app/alerts?status=open"' in done.text
        cookie = done.headers["set-cookie"]
        assert re.search(
            r"ledger_session=[^;]+; HttpOnly; Max-Age=43200; Path=/; SameSite=strict", cookie
        ), cookie
        me = client.get("/v1/me").json()
        assert me == {
            "id": who["sub"],
            "name": who["name"],
            "email": who["email"],
            "role": role,
            "account_manager_id": who["sub"] if account_manager else None,
            "signed_in_with": "single_sign_on",
        }
        session = client.get("/v1/session").json()
        assert (session["person_id"], session["name"]) == (who["sub"], who["name"])
        names = {p["id"]: p["name"] for p in client.get("/v1/people").json()["people"]}
        assert names[who["sub"]] == who["name"]
        # Finance reads every contract; an account manager only their own (none yet).
        assert client.get("/v1/margins/portfolio").status_code == 200


def test_the_client_secret_is_in_no_answer_and_no_log_line(sso_services: Services) -> None:
    answers: list[str] = []
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        done = sign_in(client, "ada")
        answers += [done.text, str(done.headers)]
        for path in ("/v1/me", "/v1/session", "/v1/sign-in", "/v1/people", "/metrics"):
            r = client.get(path)
            answers += [r.text, str(r.headers)]
        refused = client.get("/auth/callback", params={"code": "x", "state": "y"})
        answers.append(refused.text)
    log = (ROOT / "var" / "log" / f"test-{sso_services.prefix}-api.log").read_text()
    for text in (*answers, log):
        assert CLIENT_SECRET not in text


def test_the_sign_in_page_knows_single_sign_on_is_configured(sso_services: Services) -> None:
    r = httpx.get(f"{sso_services.url}/v1/sign-in")
    assert r.json() == {"single_sign_on": True, "url": "/auth/sign-in"}


@pytest.mark.parametrize(
    ("login", "why"),
    [
        ("nora", "Your account carries no 'groups' claim"),
        ("gus", "Your account is in none of the groups that give access"),
    ],
)
def test_a_person_without_a_role_gets_no_access_and_a_page_saying_why(
    sso_services: Services, login: str, why: str
) -> None:
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        done = sign_in(client, login)
        assert done.status_code == 403
        assert done.headers["content-type"].startswith("text/html")
        assert "No access to Markup Ledger" in done.text
        assert why in done.text.replace("&#x27;", "'")
        _nothing_granted(client, done)


def test_a_state_that_differs_is_refused_and_the_attempt_is_spent(sso_services: Services) -> None:
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        back = provider_login(client, start_sign_in(client), "ada")
        url = urlsplit(back.headers["location"])
        query = parse_qs(url.query)
        forged = client.get("/auth/callback", params={"code": query["code"][0], "state": "forged"})
        assert forged.status_code == 400
        assert "its state differs" in forged.text
        _nothing_granted(client, forged)
        # The genuine answer, after the forged one, finds the attempt used up.
        late = client.get(back.headers["location"])
        assert late.status_code == 400
        _nothing_granted(client, late)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        pytest.param(
            {"error": "access_denied", "error_description": "End-User aborted interaction"},
            "The identity provider refused: End-User aborted interaction.", id="provider-refused"),
        pytest.param({"code": "any", "iss": "https://login.evil.example"},
                     "another identity provider than the one configured", id="mix-up"),
        pytest.param({}, "sent no sign-in code", id="no-code"),
    ],
)  # fmt: skip
def test_an_answer_with_its_state_but_no_good_code_is_refused(
    sso_services: Services, answer: dict[str, str], why: str
) -> None:
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        started = client.get("/auth/sign-in")
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        r = client.get("/auth/callback", params={"state": state, **answer})
        assert r.status_code in (400, 401)
        assert why in r.text
        _nothing_granted(client, r)


def test_a_callback_from_another_browser_is_refused(sso_services: Services) -> None:
    """Login CSRF: an attacker's own valid callback URL opened in a victim's browser."""
    with httpx.Client(base_url=sso_services.url, timeout=30) as attacker:
        back = provider_login(attacker, start_sign_in(attacker), "ada")
    with httpx.Client(base_url=sso_services.url, timeout=30) as victim:
        r = victim.get(back.headers["location"])
        assert r.status_code == 400
        assert "was not started in this browser" in r.text
        _nothing_granted(victim, r)


def test_a_callback_replayed_is_refused(sso_services: Services) -> None:
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        back = provider_login(client, start_sign_in(client), "fiona")
        first = client.get(back.headers["location"])
        assert first.status_code == 200
        client.delete("/v1/session", headers={"X-CSRF-Token": csrf_of(client)})
        # Same code, same state, same browser: the attempt was used once and is gone. With a
        # fresh attempt the old code's state differs; were it forced through, the provider
        # would refuse a code used twice.
        again = client.get(back.headers["location"])
        assert again.status_code == 400
        _nothing_granted(client, again)


def test_a_used_code_under_a_fresh_attempts_state_is_refused_by_the_provider(
    sso_services: Services,
) -> None:
    """The provider refuses a code twice, and a code whose PKCE challenge is another
    attempt's: the app shows its refusal and grants nothing."""
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        back = provider_login(client, start_sign_in(client), "fiona")
        old_code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        assert client.get(back.headers["location"]).status_code == 200
        client.delete("/v1/session", headers={"X-CSRF-Token": csrf_of(client)})
        fresh = client.get("/auth/sign-in")  # a new attempt: its state, its code verifier
        state = parse_qs(urlsplit(fresh.headers["location"]).query)["state"][0]
        r = client.get("/auth/callback", params={"code": old_code, "state": state})
        assert r.status_code == 401
        assert "The identity provider refused the sign-in code" in r.text
        _nothing_granted(client, r)


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/app",
        "//evil.example/app",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/app/\r\nSet-Cookie:x=1",
    ],
)
def test_next_must_be_a_path_of_this_site(sso_services: Services, next_path: str) -> None:
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        r = client.get("/auth/sign-in", params={"next": next_path})
        assert r.status_code == 400
        assert "must be a path of this site" in r.text
        assert "location" not in r.headers
        # No sign-in attempt began (a refusal only clears the attempt cookie).
        assert not re.search(r"ledger_sign_in=[^\";]", r.headers.get("set-cookie", ""))


def test_signing_out_ends_the_session(sso_services: Services) -> None:
    with httpx.Client(base_url=sso_services.url, timeout=30) as client:
        assert sign_in(client, "sam").status_code == 200
        csrf = csrf_of(client)
        assert client.delete("/v1/session").status_code == 403  # the CSRF header is needed
        assert client.delete("/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert client.get("/v1/me").status_code == 401


async def test_idle_and_absolute_timeouts_end_a_session(
    sso_services: Services, ready_stack: Stack
) -> None:
    async with connection(ready_stack.dsn) as conn:
        for column in ("last_seen_at", "expires_at"):
            with httpx.Client(base_url=sso_services.url, timeout=30) as client:
                assert sign_in(client, "fiona").status_code == 200
                assert client.get("/v1/me").status_code == 200
                sid = client.cookies["ledger_session"]
                # Idle for longer than LEDGER_SESSION_IDLE_S (1 h), or past the absolute expiry.
                past = "now() - interval '61 minutes'" if column == "last_seen_at" else "now()"
                await conn.execute(
                    f"UPDATE person_sessions SET {column} = {past} WHERE session_sha256 = $1",
                    sha(sid),
                )
                assert client.get("/v1/me").status_code == 401, column


async def test_a_person_taken_out_of_the_group_loses_access_at_next_sign_in_and_their_stream_ends(
    sso_services: Services, identity_provider: IdentityProvider
) -> None:
    try:
        with httpx.Client(base_url=sso_services.url, timeout=30) as old:
            assert sign_in(old, "sam").status_code == 200
            cookie = old.cookies["ledger_session"]
        async with httpx.AsyncClient(
            base_url=sso_services.url, timeout=60, cookies={"ledger_session": cookie}
        ) as browser:
            stream = await open_stream(browser)  # open, and still going a second later
            identity_provider.set_groups("sam", ["staff"])
            with httpx.Client(base_url=sso_services.url, timeout=30) as new:
                refused = sign_in(new, "sam")
                assert refused.status_code == 403
                assert "none of the groups" in refused.text
            # LEDGER_STREAM_TOKEN_CHECK_S is 1 s here: the stream ends within it (and then some
            # on a loaded machine), saying why.
            lines = await asyncio.wait_for(stream, timeout=10)
            assert "event: end" in lines
            assert (await browser.get("/v1/me")).status_code == 401
    finally:
        identity_provider.set_groups("sam", ["ledger-account-managers"])


def test_what_a_person_records_is_recorded_as_them_and_a_hand_over_moves_the_contract(
    sso_services: Services,
) -> None:
    alex, sam = person("alex"), person("sam")
    cid = f"C-sso-{generate_token(8)}"
    with (
        httpx.Client(base_url=sso_services.url, timeout=60) as a,
        httpx.Client(base_url=sso_services.url, timeout=60) as s,
    ):
        assert sign_in(a, "alex").status_code == 200
        assert sign_in(s, "sam").status_code == 200
        hdr = {"X-CSRF-Token": csrf_of(a)}
        signed, contact = history(cid, alex["sub"], "ClientContactLogged")
        for body in (signed, contact):
            r = a.post("/v1/events", json=body, headers=hdr)
            assert r.status_code == 201, r.text
        log = a.get("/v1/events", params={"contract_id": cid}).json()["events"]
        assert {e["recorded_by"] for e in log} == {alex["sub"]}
        # Another manager's contract reads as a missing one.
        assert s.get(f"/v1/contracts/{cid}").status_code == 404
        hand_over = {
            "type": "AccountManagerChanged",
            "event_id": "6f6c1c7e-25d1-4a51-9f0a-0c1f00000025",
            "contract_id": cid,
            "occurred_at": "2026-12-01T09:00:00Z",
            "account_manager_id": sam["sub"],
            "effective_date": "2026-12-01",
            "reason": "Alex moves to the Northern region",
        }
        r = a.post("/v1/events", json=hand_over, headers=hdr)
        assert r.status_code == 201, r.text
        # The new manager sees it (with its history), the previous one no longer.
        assert _eventually(lambda: s.get(f"/v1/contracts/{cid}").status_code == 200)
        assert a.get(f"/v1/contracts/{cid}").status_code == 404
        mine = s.get("/v1/contracts").json()
        assert cid in {c["contract_id"] for c in mine["contracts"]}
        # Alex may no longer write to it; Sam may.
        late = a.post("/v1/events", json=_contact(cid), headers=hdr)
        assert late.status_code == 403
        assert late.json()["errors"][0]["reason"]
        ok = s.post("/v1/events", json=_contact(cid), headers={"X-CSRF-Token": csrf_of(s)})
        assert ok.status_code == 201, ok.text
        log = s.get("/v1/events", params={"contract_id": cid}).json()["events"]
        assert [e["recorded_by"] for e in log] == [alex["sub"]] * 3 + [sam["sub"]]


def _contact(cid: str) -> dict[str, Any]:
    (body,) = history(cid, "unused", "ClientContactLogged")[1:]
    body["event_id"] = str(uuid.uuid4())
    return body


def _eventually(check: Any, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# The ID token's checks, on tokens the real provider issued and on tokens signed with its own
# key (which the test run made) or another ---------------------------------------------------


def _provider_token(idp: IdentityProvider, client_id: str, secret: str, nonce: str) -> str:
    """An ID token the provider issues to `client_id` for alex, through its real code flow."""
    meta = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()
    redirect = "http://127.0.0.1:9/auth/callback"  # never visited: the code is read from it
    verifier = generate_token(64)
    with OAuth2Client(
        client_id, secret, scope="openid profile email groups", redirect_uri=redirect,
        code_challenge_method="S256",
    ) as rp:  # fmt: skip
        url, _ = rp.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        with httpx.Client(timeout=30) as browser:
            page = browser.get(url, follow_redirects=True)
            back = provider_login(browser, page, "alex")
        code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
        token = rp.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
    id_token: str = token["id_token"]
    return id_token


def _keys(idp: IdentityProvider) -> KeySet:
    meta = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()
    return KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())


def _claims(idp: IdentityProvider, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": idp.issuer, "sub": person("alex")["sub"], "aud": CLIENT_ID, "iat": now,
        "exp": now + 300, "nonce": "n-1", "name": "Alex Morgan", **changes,
    }  # fmt: skip


def _verify(idp: IdentityProvider, token: str, nonce: str = "n-1") -> dict[str, Any]:
    return verify_id_token(
        token, _keys(idp), issuer=idp.issuer, client_id=CLIENT_ID, nonce=nonce,
        access_token=None, now=int(time.time()), algorithms=["RS256"],
    )  # fmt: skip


def test_a_token_the_provider_issued_for_this_sign_in_is_accepted(
    identity_provider: IdentityProvider,
) -> None:
    token = _provider_token(identity_provider, CLIENT_ID, CLIENT_SECRET, "n-1")
    claims = _verify(identity_provider, token)
    assert (claims["sub"], claims["groups"]) == (person("alex")["sub"], person("alex")["groups"])


def test_a_real_token_replayed_into_another_sign_in_is_refused(
    identity_provider: IdentityProvider,
) -> None:
    token = _provider_token(identity_provider, CLIENT_ID, CLIENT_SECRET, "n-1")
    with pytest.raises(SignInRefused, match="nonce differs: a replayed token"):
        _verify(identity_provider, token, nonce="n-2")


def test_a_real_token_issued_to_another_application_is_refused(
    identity_provider: IdentityProvider,
) -> None:
    token = _provider_token(identity_provider, "other-app", "other-secret", "n-1")
    with pytest.raises(SignInRefused, match="issued to another application"):
        _verify(identity_provider, token)


def test_a_token_signed_by_another_key_is_refused(identity_provider: IdentityProvider) -> None:
    # Same key id as the provider's, so only the signature can tell.
    impostor = RSAKey.generate_key(2048, parameters={"kid": "test-1", "alg": "RS256"})
    token = jwt.encode({"alg": "RS256", "kid": "test-1"}, _claims(identity_provider), impostor)
    with pytest.raises(SignInRefused, match="signature is not the provider's"):
        _verify(identity_provider, token)
    unknown = RSAKey.generate_key(2048, parameters={"kid": "rogue", "alg": "RS256"})
    token = jwt.encode({"alg": "RS256", "kid": "rogue"}, _claims(identity_provider), unknown)
    with pytest.raises(SignInRefused, match="key the provider does not publish"):
        _verify(identity_provider, token)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}, "has expired"),
        ({"aud": "other-app"}, "issued to another application"),
        ({"iss": "http://127.0.0.1:1"}, "issued by another provider"),
        ({"nonce": "n-other"}, "nonce differs"),
    ],
)
def test_a_token_in_the_providers_own_key_with_a_wrong_claim_is_refused(
    identity_provider: IdentityProvider, changes: dict[str, Any], why: str
) -> None:
    claims = _claims(identity_provider, **changes)
    token = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, identity_provider.key)
    with pytest.raises(SignInRefused, match=why):
        _verify(identity_provider, token)
    # ...while the same token with the claims right passes: the refusal is that claim's.
    good = jwt.encode(
        {"alg": "RS256", "kid": "test-1"}, _claims(identity_provider), identity_provider.key
    )
    assert _verify(identity_provider, good)["sub"] == person("alex")["sub"]


def test_an_unsigned_token_is_refused(identity_provider: IdentityProvider) -> None:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none'})}.{b64(_claims(identity_provider))}."
    with pytest.raises(SignInRefused):
        _verify(identity_provider, token)


# Discovery -------------------------------------------------------------------------------------


def _client_for(issuer: str) -> OidcClient:
    return OidcClient(Settings(LEDGER_OIDC_ISSUER=issuer, LEDGER_OIDC_CLIENT_ID=CLIENT_ID))


async def test_the_provider_is_discovered_from_its_issuer_url(
    identity_provider: IdentityProvider,
) -> None:
    url = await _client_for(identity_provider.issuer).authorization_url(
        "http://127.0.0.1:8000/auth/callback", "s-1", "n-1", generate_token(64)
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{identity_provider.issuer}/auth?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert (query["state"], query["nonce"], query["response_type"]) == (["s-1"], ["n-1"], ["code"])


async def test_a_discovery_document_naming_another_issuer_is_refused(
    identity_provider: IdentityProvider,
) -> None:
    # The same server asked under another name: its document names the issuer it is.
    other_name = identity_provider.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(ProviderUnavailable, match="names another issuer"):
        await _client_for(other_name).metadata()


async def test_a_provider_that_does_not_answer_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable):
        await _client_for(f"http://127.0.0.1:{free_port()}").metadata()
