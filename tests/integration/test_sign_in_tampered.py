"""An attacker between the app and the identity provider: a real provider reached only through
a proxy that rewrites the ID token of the token endpoint's answer. Each forged token is refused
by the app's callback, with a page saying why, and nothing is granted."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.support.oidc import CLIENT_ID, TamperedProvider, person, sign_in
from tests.support.services import Services, running_services
from tests.support.stack import Stack


@pytest.fixture(scope="module")
async def tampered_services(
    ready_stack: Stack, tampered_provider: TamperedProvider
) -> AsyncIterator[Services]:
    env = tampered_provider.provider.api_env()
    async with running_services(ready_stack, env_of={"api": env}) as svc:
        yield svc


@pytest.fixture
def attacker(tampered_provider: TamperedProvider) -> Iterator[TamperedProvider]:
    tampered_provider.proxy.tamper = None
    tampered_provider.proxy.sign_with = None
    tampered_provider.proxy.tampered = 0
    try:
        yield tampered_provider
    finally:
        tampered_provider.proxy.tamper = None
        tampered_provider.proxy.sign_with = None


def test_untouched_the_sign_in_through_the_proxy_works(
    tampered_services: Services, attacker: TamperedProvider
) -> None:
    """The control: the same path with nothing rewritten signs Ada in."""
    with httpx.Client(base_url=tampered_services.url, timeout=30) as client:
        assert sign_in(client, "ada").status_code == 200
        assert client.get("/v1/me").json()["id"] == person("ada")["sub"]
    assert attacker.proxy.tampered == 0


def _refused(services: Services, login: str, why: str) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as client:
        answer = sign_in(client, login)
        assert answer.status_code == 401, answer.text
        assert "Sign-in refused" in answer.text
        assert why in answer.text.replace("&#x27;", "'")
        assert "ledger_session=" not in answer.headers.get("set-cookie", "")
        assert client.get("/v1/me").status_code == 401


def test_an_id_token_signed_by_another_key_is_refused(
    tampered_services: Services, attacker: TamperedProvider
) -> None:
    # The same key id as the provider's: only the signature tells them apart.
    attacker.proxy.sign_with = RSAKey.generate_key(2048, parameters={"kid": "test-1"})
    _refused(tampered_services, "ada", "The ID token's signature is not the provider's")
    assert attacker.proxy.tampered == 1


def _set(**claims: Any) -> Any:
    return lambda c: {**c, **claims}


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (_set(aud="other-app"), "issued to another application"),  # a token of another app
        (_set(aud=[CLIENT_ID, "other-app"], azp="other-app"), "issued to another application"),
        (_set(exp=int(time.time()) - 600, iat=int(time.time()) - 1200), "has expired"),
        (_set(nonce="a-nonce-of-another-sign-in"), "nonce differs: a replayed token"),
        (_set(iss="https://login.evil.example"), "issued by another provider"),
        # Fiona's token made Ada's, an admin's, without the nonce that would give it away.
        (
            lambda c: (
                {k: v for k, v in c.items() if k != "nonce"}
                | {"sub": person("ada")["sub"], "groups": ["ledger-admins"]}
            ),
            "does not belong to this sign-in",
        ),
    ],
    ids=["audience", "authorized-party", "expired", "nonce", "issuer", "no-nonce"],
)
def test_an_id_token_in_the_providers_own_key_with_a_wrong_claim_is_refused(
    tampered_services: Services, attacker: TamperedProvider, tamper: Any, why: str
) -> None:
    attacker.proxy.tamper = tamper
    _refused(tampered_services, "fiona", why)
    assert attacker.proxy.tampered == 1
