"""Single sign-on with OpenID Connect: the authorization code flow with PKCE, through authlib.

`OidcClient` is the shell (discovery, the provider's keys, the code exchange, over HTTP);
`verify_id_token`, `person_of` and `role_of` are pure: they decide from the ID token alone, and
refuse with a reason a person can read (`SignInRefused`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from events.messages import Role
from services.settings import Settings
from services.tokens import check_account_manager_id

# Clocks of the provider and of this host may differ by this much (seconds).
LEEWAY_S = 60


class SignInRefused(Exception):
    """A sign-in that grants nothing; `reason` is shown to the person."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ProviderUnavailable(Exception):
    """The identity provider did not answer (or answered nonsense)."""


@dataclass(frozen=True)
class Person:
    person_id: str
    subject: str
    name: str
    email: str | None


_CLAIM_REASONS = {
    "aud": "the ID token was issued to another application (its audience is not this client)",
    "iss": "the ID token was issued by another provider than the one configured",
    "nonce": "the ID token does not belong to this sign-in (its nonce differs: a replayed token)",
    "azp": "the ID token was issued to another application (its authorized party differs)",
    "at_hash": "the ID token does not match the access token it came with",
}


def verify_id_token(
    id_token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    access_token: str | None,
    now: int,
    algorithms: list[str],
) -> dict[str, Any]:
    """The ID token's claims once its signature (one of the provider's `keys`), issuer,
    audience, nonce, expiry and issue time are checked; SignInRefused otherwise."""
    try:
        token = jwt.decode(
            id_token, keys, registry=JWSRegistry(algorithms=algorithms, strict_check_header=False)
        )
    except InvalidKeyIdError as e:
        raise SignInRefused("the ID token is signed by a key the provider does not publish") from e
    except BadSignatureError as e:
        raise SignInRefused("the ID token's signature is not the provider's") from e
    except (JoseError, ValueError) as e:
        raise SignInRefused(f"the ID token cannot be read ({e})") from e
    params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(
        token.claims,
        token.header,
        {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
        params,
    )
    try:
        claims.validate(now=now, leeway=LEEWAY_S)
    except ExpiredTokenError as e:
        raise SignInRefused("the ID token has expired") from e
    except (InvalidClaimError, MissingClaimError) as e:
        claim = getattr(e, "claim", "")
        reason = _CLAIM_REASONS.get(claim, f"the ID token's {claim!r} claim is missing or wrong")
        raise SignInRefused(reason) from e
    except JoseError as e:
        raise SignInRefused(f"the ID token is not valid ({e.description or e.error})") from e
    return dict(claims)


def person_of(claims: Mapping[str, Any]) -> Person:
    """The person an ID token names: its subject (a digest of it when it is not a plain id or
    reads like a token's principal, so that it can be an event's recorded_by and a contract's
    account manager), name and email."""
    sub = str(claims["sub"])
    try:  # a plain id, that reads as no token's principal (`admin:<token>`)
        check_account_manager_id(sub)
        person_id = sub
    except ValueError:
        person_id = "p-" + hashlib.sha256(sub.encode()).hexdigest()[:40]
    email = claims.get("email")
    name = claims.get("name") or claims.get("preferred_username") or email or sub
    return Person(person_id, sub, str(name)[:200], str(email)[:320] if email else None)


def role_of(
    claims: Mapping[str, Any], claim: str, role_groups: Mapping[Role, frozenset[str]]
) -> Role:
    """The role the person's groups give (the first of `role_groups` that matches);
    SignInRefused (403) naming why when none does."""
    value = claims.get(claim)
    names = claims.get("_claim_names")
    if value is None and isinstance(names, Mapping) and claim in names:
        # Entra ID's "overage": too many groups for a token, only a pointer to Graph instead.
        raise SignInRefused(
            f"your account is in too many groups for the {claim!r} claim to be sent. Ask your "
            "administrator to send only the groups assigned to this application.",
            403,
        )
    if value is None:
        raise SignInRefused(
            f"your account carries no {claim!r} claim, so Markup Ledger cannot tell your role. "
            f"Ask your administrator to send the {claim!r} claim to this application and to add "
            "you to the finance, account manager or admin group.",
            403,
        )
    groups = {value} if isinstance(value, str) else {str(g) for g in value}
    for role, names in role_groups.items():
        if groups & names:
            return role
    raise SignInRefused(
        "your account is in none of the groups that give access to Markup Ledger (finance, "
        "account managers, admins). Ask your administrator to add you to one of them.",
        403,
    )


class OidcClient:
    """The identity provider as the API sees it: discovered from the issuer URL once (again
    after a failure), its signing keys fetched again when a token names a key not yet seen."""

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        secret = settings.oidc_client_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        self.scopes = settings.oidc_scopes
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._secret,
            scope=self.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self._secret else "none",
            timeout=10,
        )

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                try:
                    async with httpx.AsyncClient(timeout=10) as http:
                        r = await http.get(url)
                        r.raise_for_status()
                        found = r.json()
                except (httpx.HTTPError, ValueError) as e:
                    raise ProviderUnavailable(f"{url}: {e}") from e
                # OpenID Connect Discovery §4.3: the document must name the issuer asked for.
                named = found.get("issuer", "") if isinstance(found, dict) else ""
                if str(named).rstrip("/") != self.issuer:
                    raise ProviderUnavailable(f"{url} names another issuer")
                self._metadata = found
        return self._metadata

    async def _fetch_keys(self) -> KeySet:
        meta = await self.metadata()
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.get(meta["jwks_uri"])
                r.raise_for_status()
                self._keys = KeySet.import_key_set(r.json())
        except (httpx.HTTPError, ValueError, KeyError, JoseError) as e:
            raise ProviderUnavailable(f"the provider's keys: {e}") from e
        return self._keys

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, code_verifier: str
    ) -> str:
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
            )
        return str(url)

    async def exchange(self, code: str, redirect_uri: str, code_verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for `code`; SignInRefused when the provider refuses it
        (a code used twice, or issued to another client)."""
        meta = await self.metadata()
        async with self._client(redirect_uri) as client:
            try:
                token = await client.fetch_token(
                    meta["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                )
            except httpx.TransportError as e:
                raise ProviderUnavailable(f"the token endpoint: {e}") from e
            except (AuthlibBaseError, httpx.HTTPStatusError, ValueError) as e:
                # The provider said no (authlib's OAuthError: invalid_grant for a code used
                # twice or issued to another client), or answered something that is not a token.
                raise SignInRefused(f"the identity provider refused the sign-in code ({e})") from e
        if "id_token" not in token:
            raise SignInRefused("the identity provider returned no ID token")
        return dict(token)

    async def verified_claims(
        self, id_token: str, nonce: str, access_token: str | None
    ) -> dict[str, Any]:
        meta = await self.metadata()
        keys = self._keys or await self._fetch_keys()
        algorithms = list(meta.get("id_token_signing_alg_values_supported") or ["RS256"])
        algorithms = [a for a in algorithms if a != "none"]

        def verify(keys: KeySet) -> dict[str, Any]:
            return verify_id_token(
                id_token,
                keys,
                issuer=self.issuer,
                client_id=self.client_id,
                nonce=nonce,
                access_token=access_token,
                now=int(time.time()),
                algorithms=algorithms,
            )

        try:
            return verify(keys)
        except SignInRefused as e:
            if not isinstance(e.__cause__, InvalidKeyIdError):
                raise
        # A key not seen yet: the provider may have rotated its keys.
        return verify(await self._fetch_keys())
