"""Web app sessions: a browser signs in once with an API token and then carries an HttpOnly
cookie. Only a SHA-256 of the cookie's value is stored (web_sessions), with the token it came
from and a CSRF token the page sends back on every unsafe request. A session is honoured only
while its API token is live, so revoking (or the expiry of) a token ends its sessions at the
next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services import tokens
from services.tokens import Principal

COOKIE = "ledger_session"
MARKER_COOKIE = "ledger_signed_in"  # readable by the page; holds no secret
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def open_session(pool: asyncpg.Pool, token: str) -> tuple[str, Session] | None:
    """Returns (cookie value, session) for a live API token, None for an unknown or revoked one."""
    who = await tokens.lookup(pool, token)
    if who is None:
        return None
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await pool.execute(
        """INSERT INTO web_sessions (session_sha256, token_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval)""",
        _sha(sid),
        who.token_id,
        csrf,
        LIFETIME,
    )
    return sid, Session(who, csrf)


async def lookup(pool: asyncpg.Pool, sid: str) -> Session | None:
    """The session of a cookie value, if it and its token are both live (not revoked, not
    expired)."""
    row = await pool.fetchrow(
        """SELECT t.token_id, t.role, t.account_manager_id, s.csrf_token
           FROM web_sessions s JOIN api_tokens t USING (token_id)
           WHERE s.session_sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL
             AND (t.expires_at IS NULL OR t.expires_at > now())""",
        _sha(sid),
    )
    if row is None:
        return None
    return Session(
        Principal(row["token_id"], row["role"], row["account_manager_id"]), row["csrf_token"]
    )


async def close_session(pool: asyncpg.Pool, sid: str) -> None:
    await pool.execute(
        "DELETE FROM web_sessions WHERE session_sha256 = $1 OR expires_at < now()", _sha(sid)
    )
