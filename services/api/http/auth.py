"""Who is asking, on every /v1 route: a bearer token, or the web app's session cookie (of a
person signed in through the identity provider, or of an API token).

No credentials 401, a role that may not act 403. With the cookie, an unsafe method (POST, PUT,
PATCH, DELETE) must carry the X-CSRF-Token header equal to the session's CSRF token (403
otherwise): another site can make a browser send the cookie, never that header. A bearer token
wins over a cookie when both are sent (a script never needs the CSRF header).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services import sessions, tokens
from services.api.deps import AppSettings, Pool
from services.api.http.errors import ApiError
from services.settings import Settings
from services.tokens import Principal

_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def idle_limit(settings: Settings) -> timedelta:
    """How long a web session lives unused (LEDGER_SESSION_IDLE_S)."""
    return timedelta(seconds=settings.session_idle_s)


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    pool: Pool,
    settings: AppSettings,
) -> Principal:
    if creds is not None and creds.scheme.lower() == "bearer":
        found = await tokens.lookup(pool, creds.credentials)
        if found is None:
            raise ApiError.field(
                401, "Authorization", "the token is unknown, revoked or expired", _CHALLENGE
            )
        return found
    sid = request.cookies.get(sessions.COOKIE)
    if sid:
        session = await sessions.lookup(pool, sid, idle_limit(settings))
        if session is None:
            raise ApiError.field(401, sessions.COOKIE, "the session has ended; sign in again")
        if request.method in UNSAFE and not hmac.compare_digest(
            request.headers.get(sessions.CSRF_HEADER, ""), session.csrf_token
        ):
            raise ApiError.field(
                403, sessions.CSRF_HEADER, "the X-CSRF-Token header is missing or wrong"
            )
        return session.principal
    raise ApiError.field(401, "Authorization", "a bearer token is required", _CHALLENGE)


async def submitter(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role == "finance":
        raise ApiError.field(403, "(token)", "finance may read but not submit events")
    return who


async def still_signed_in(request: Request, who: Principal, pool: Pool, settings: Settings) -> bool:
    """Whether the credential this request came with is still good: its session (ended by
    signing out, by its expiry or by its token's) or its bearer token. An open stream asks
    this now and then, so it ends when the credential that opened it does."""
    creds = await _bearer(request)
    if creds is None or creds.scheme.lower() != "bearer":
        sid = request.cookies.get(sessions.COOKIE)
        if sid:
            return await sessions.lookup(pool, sid, idle_limit(settings)) is not None
    return await tokens.is_live(pool, who.token_id)


Reader = Annotated[Principal, Depends(principal)]
Submitter = Annotated[Principal, Depends(submitter)]
