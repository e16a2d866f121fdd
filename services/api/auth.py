"""Bearer tokens on every /v1 route: no token 401, a role that may not act 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services import tokens
from services.tokens import Principal

_bearer = HTTPBearer(auto_error=False)


async def principal(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    found = await tokens.lookup(request.app.state.pool, creds.credentials)
    if found is None:
        raise HTTPException(401, "the token is unknown or revoked", {"WWW-Authenticate": "Bearer"})
    return found


async def submitter(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.role == "finance":
        raise HTTPException(403, "finance may read but not submit events")
    return who


Reader = Annotated[Principal, Depends(principal)]
Submitter = Annotated[Principal, Depends(submitter)]
