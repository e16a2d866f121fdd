"""A person's sign-in through the identity provider, from its start to its session: what the
routes of services/api/routes/sign_in.py call. Each step refuses with SignInRefused (a reason
the person reads) and grants nothing then.

- `start`: a sign-in attempt (state, nonce, PKCE code verifier, where to go next) kept in
  PostgreSQL under a SHA-256 of a random value the browser keeps in a cookie; the provider's
  authorization URL.
- `finish`: the attempt of this browser's cookie (used once, whatever follows), its state equal
  to the one sent back, the code exchanged, the ID token checked, the role read from the
  groups; then the person recorded and a session opened. A person with no role is recorded as
  such and every session they still hold ends.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from authlib.common.security import generate_token

from services import people, sessions
from services.oidc import OidcClient, Person, SignInRefused, person_of, role_of
from services.settings import Settings

ATTEMPT_LIFETIME = timedelta(minutes=10)


@dataclass(frozen=True)
class Started:
    authorization_url: str
    attempt: str
    """The value the browser keeps (HttpOnly cookie) to finish this sign-in, and only this one."""


@dataclass(frozen=True)
class Callback:
    """What the provider sent the browser back with."""

    code: str | None
    state: str | None
    error: str | None = None
    error_description: str | None = None
    iss: str | None = None


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    person: Person
    next_path: str


async def start(pool: asyncpg.Pool, oidc: OidcClient, redirect_uri: str, next_path: str) -> Started:
    """ProviderUnavailable when the provider cannot be discovered."""
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = await oidc.authorization_url(redirect_uri, state, nonce, verifier)
    attempt = secrets.token_urlsafe(32)
    await pool.execute("DELETE FROM sign_in_attempts WHERE expires_at < now()")
    await pool.execute(
        """INSERT INTO sign_in_attempts
             (attempt_sha256, state, nonce, code_verifier, next_path, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + $6::interval)""",
        sessions.sha(attempt),
        state,
        nonce,
        verifier,
        next_path,
        ATTEMPT_LIFETIME,
    )
    return Started(url, attempt)


async def finish(
    pool: asyncpg.Pool,
    oidc: OidcClient,
    settings: Settings,
    redirect_uri: str,
    attempt: str | None,
    back: Callback,
) -> SignedIn:
    """SignInRefused for any answer that must grant nothing; ProviderUnavailable when the
    provider does not answer the code exchange."""
    row = None
    if attempt:
        # Used once: a second callback with the same cookie finds nothing.
        row = await pool.fetchrow(
            """DELETE FROM sign_in_attempts WHERE attempt_sha256 = $1 AND expires_at > now()
               RETURNING state, nonce, code_verifier, next_path""",
            sessions.sha(attempt),
        )
    if row is None:
        raise SignInRefused(
            "This sign-in was not started in this browser, was already used, or took more "
            "than 10 minutes. Start again.",
            400,
        )
    if not back.state or not hmac.compare_digest(back.state.encode(), row["state"].encode()):
        raise SignInRefused(
            "The answer from the identity provider does not match this sign-in (its state "
            "differs): it may have been forged. Start again.",
            400,
        )
    if back.error:
        raise SignInRefused(
            f"The identity provider refused: {back.error_description or back.error}."
        )
    # RFC 9207: an `iss` sent back names who answered (a mix-up of providers otherwise).
    if back.iss is not None and back.iss.rstrip("/") != oidc.issuer:
        raise SignInRefused(
            "The answer came from another identity provider than the one configured."
        )
    if not back.code:
        raise SignInRefused("The identity provider sent no sign-in code.", 400)
    token = await oidc.exchange(back.code, redirect_uri, row["code_verifier"])
    claims = await oidc.verified_claims(token["id_token"], row["nonce"], token.get("access_token"))
    person = person_of(claims)
    try:
        role = role_of(claims, settings.oidc_roles_claim, settings.role_groups)
    except SignInRefused:
        # Known, and with no access from now on: the sessions they still hold end too (an
        # open alert stream ends at its next check).
        async with pool.acquire() as conn, conn.transaction():
            await people.record_sign_in(conn, oidc.issuer, person, None)
            await sessions.end_person_sessions(conn, person.person_id)
        raise
    async with pool.acquire() as conn, conn.transaction():
        await people.record_sign_in(conn, oidc.issuer, person, role)
        sid, _ = await sessions.open_person_session(
            conn, person.person_id, role, timedelta(seconds=settings.session_lifetime_s)
        )
    return SignedIn(sid, person, row["next_path"])
