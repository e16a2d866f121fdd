"""Web app sessions: a browser signs in once, through the identity provider (a person) or with
an API token, and then carries an HttpOnly cookie. Only a SHA-256 of the cookie's value is
stored, with a CSRF token the page sends back on every unsafe request.

- A token session (web_sessions) is honoured only while its API token is live, so revoking (or
  the expiry of) a token ends its sessions at the next request.
- A person's session (person_sessions) carries the role their groups gave them at sign-in; their
  next sign-in ends the sessions of another role, and a sign-in that grants no role ends them all.

Both end at their absolute expiry, after `idle` without a request, and when signed out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from events.messages import Role
from services import tokens
from services.tokens import Principal

COOKIE = "ledger_session"
MARKER_COOKIE = "ledger_signed_in"  # readable by the page; holds no secret
CSRF_HEADER = "X-CSRF-Token"
# A request refreshes last_seen_at at most this often (a write per request would be waste).
_TOUCH_EVERY = timedelta(seconds=15)


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str


def sha(value: str) -> str:
    """What is stored of a cookie's value."""
    return hashlib.sha256(value.encode()).hexdigest()


async def open_session(
    pool: asyncpg.Pool, token: str, lifetime: timedelta
) -> tuple[str, Session] | None:
    """Returns (cookie value, session) for a live API token, None for an unknown or revoked one."""
    who = await tokens.lookup(pool, token)
    if who is None:
        return None
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await pool.execute(
        """INSERT INTO web_sessions (session_sha256, token_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, now() + $4::interval)""",
        sha(sid),
        who.token_id,
        csrf,
        lifetime,
    )
    return sid, Session(who, csrf)


async def open_person_session(
    conn: asyncpg.Connection, person_id: str, role: Role, lifetime: timedelta
) -> tuple[str, Session]:
    """Returns (cookie value, session) for a person just signed in with `role`; their sessions
    of any other role end (their groups changed)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await conn.execute(
        "DELETE FROM person_sessions WHERE person_id = $1 AND (role <> $2 OR expires_at < now())",
        person_id,
        role,
    )
    await conn.execute(
        """INSERT INTO person_sessions (session_sha256, person_id, role, csrf_token, expires_at)
           VALUES ($1, $2, $3, $4, now() + $5::interval)""",
        sha(sid),
        person_id,
        role,
        csrf,
        lifetime,
    )
    return sid, Session(_person(person_id, role), csrf)


async def end_person_sessions(conn: asyncpg.Connection | asyncpg.Pool, person_id: str) -> None:
    """Every session of the person ends (a sign-in that grants them no role)."""
    await conn.execute("DELETE FROM person_sessions WHERE person_id = $1", person_id)


def _person(person_id: str, role: Role) -> Principal:
    return Principal(
        "", role, person_id if role == "account_manager" else None, person_id=person_id
    )


async def lookup(pool: asyncpg.Pool, sid: str, idle: timedelta) -> Session | None:
    """The session of a cookie value if it is live: not expired, used within `idle`, and (a
    token's) its token neither revoked nor expired. Its last use is recorded."""
    row = await pool.fetchrow(
        """WITH p AS (
               UPDATE person_sessions SET last_seen_at = now()
               WHERE session_sha256 = $1 AND expires_at > now()
                 AND last_seen_at > now() - $2::interval AND last_seen_at < now() - $3::interval
               RETURNING session_sha256),
           w AS (
               UPDATE web_sessions SET last_seen_at = now()
               WHERE session_sha256 = $1 AND expires_at > now()
                 AND last_seen_at > now() - $2::interval AND last_seen_at < now() - $3::interval
               RETURNING session_sha256)
           SELECT NULL AS token_id, s.role, NULL AS account_manager_id, s.person_id, s.csrf_token
           FROM person_sessions s
           WHERE s.session_sha256 = $1 AND s.expires_at > now()
             AND s.last_seen_at > now() - $2::interval
           UNION ALL
           SELECT t.token_id, t.role, t.account_manager_id, NULL, s.csrf_token
           FROM web_sessions s JOIN api_tokens t USING (token_id)
           WHERE s.session_sha256 = $1 AND s.expires_at > now()
             AND s.last_seen_at > now() - $2::interval AND t.revoked_at IS NULL
             AND (t.expires_at IS NULL OR t.expires_at > now())
           LIMIT 1""",
        sha(sid),
        idle,
        _TOUCH_EVERY,
    )
    if row is None:
        return None
    if row["person_id"] is not None:
        return Session(_person(row["person_id"], row["role"]), row["csrf_token"])
    return Session(
        Principal(row["token_id"], row["role"], row["account_manager_id"]), row["csrf_token"]
    )


async def close_session(pool: asyncpg.Pool, sid: str) -> None:
    digest = sha(sid)
    await pool.execute(
        "DELETE FROM web_sessions WHERE session_sha256 = $1 OR expires_at < now()", digest
    )
    await pool.execute(
        "DELETE FROM person_sessions WHERE session_sha256 = $1 OR expires_at < now()", digest
    )


async def described(
    pool: asyncpg.Pool, sid: str | None, idle: timedelta, person_id: str
) -> tuple[Session, str | None] | None:
    """The live session of a cookie value (as `lookup`; None without one) and the name on file
    of the person signed in (None for an API token's session)."""
    session = await lookup(pool, sid, idle) if sid else None
    if session is None:
        return None
    name: str | None = await pool.fetchval(
        "SELECT name FROM people WHERE person_id = $1", person_id
    )
    return session, name
