"""Bearer tokens on every /v1 route: no token, or one unknown, revoked or expired, 401; a role
that may not act 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services import tokens
from services.api.errors import ApiError
from services.tokens import Principal

_bearer = HTTPBearer(auto_error=False)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise ApiError.field(401, "Authorization", "a bearer token is required", _CHALLENGE)
    found = await tokens.lookup(request.app.state.pool, creds.credentials)
    if found is None:
        raise ApiError.field(
            401, "Authorization", "the token is unknown, revoked or expired", _CHALLENGE
        )
    return found


async def submitter(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role == "finance":
        raise ApiError.field(403, "(token)", "finance may read but not submit events")
    return who


Reader = Annotated[Principal, Depends(principal)]
Submitter = Annotated[Principal, Depends(submitter)]
