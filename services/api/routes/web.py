"""The web app, served by the API process itself, with no internet needed at run time.

- `GET /` and `GET /app/...`: the app shell (web/app/index.html); its router picks the page.
- `/static/app/...`: the app's own files (web/app: plain ES modules, no build step).
- `/static/vendor/...`: a whitelist of files from web/node_modules (npm, pinned by the
  lockfile, installed by `make install`).
- `/docs`: Swagger UI from swagger-ui-dist, served locally (FastAPI's default loads a CDN).
- `/v1/session`: sign in with an API token (POST), who am I (GET), sign out (DELETE); signing
  in through the identity provider is services/api/routes/sign_in.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError

from services import sessions
from services.api.deps import AppSettings, Pool
from services.api.http.auth import Reader, idle_limit
from services.api.http.body import read_json
from services.api.http.errors import ApiError
from services.api.schemas import errors
from services.settings import Settings

# Every route of this module the OpenAPI shows is about the session: one tag, said here.
router = APIRouter(tags=["session"])

# Files the app may load from web/node_modules: name under /static/vendor/ -> path there.
VENDOR = {
    "echarts.esm.min.mjs": "echarts/dist/echarts.esm.min.mjs",
    "axe.min.js": "axe-core/axe.min.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
}
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# The app's own pages: scripts and styles from this origin only; nobody may frame them.
_APP_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _web(settings: Settings) -> Path:
    return Path(settings.web_dir).resolve()


def _file(path: Path, root: Path, cache: str) -> FileResponse:
    try:
        path = path.resolve()
        found = path.is_relative_to(root) and path.is_file()
    except (ValueError, OSError):  # a NUL byte, a name too long: no file has it
        found = False
    if not found:
        raise HTTPException(404, "no such file")
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if path.suffix == ".html":  # a page, wherever it is served from: the app's policy
        headers = _APP_HEADERS | headers
    return FileResponse(
        path, media_type=_TYPES.get(path.suffix, "application/octet-stream"), headers=headers
    )


def _shell(settings: Settings) -> FileResponse:
    path = _web(settings) / "app" / "index.html"
    return FileResponse(path, media_type="text/html", headers=_APP_HEADERS)


@router.get("/", include_in_schema=False)
async def home(settings: AppSettings) -> FileResponse:
    return _shell(settings)


@router.get("/app/{rest:path}", include_in_schema=False)
async def app_page(rest: str, settings: AppSettings) -> FileResponse:
    return _shell(settings)


@router.get("/static/app/{rest:path}", include_in_schema=False)
async def app_file(rest: str, settings: AppSettings) -> FileResponse:
    root = _web(settings) / "app"
    return _file(root / rest, root, "no-cache")


@router.get("/static/vendor/{name}", include_in_schema=False)
async def vendor_file(name: str, settings: AppSettings) -> FileResponse:
    if name not in VENDOR:
        raise HTTPException(404, "no such file")
    root = _web(settings) / "node_modules"
    return _file(root / VENDOR[name], root, "public, max-age=86400")


@router.get("/docs", include_in_schema=False)
async def docs(settings: AppSettings) -> FileResponse:
    """Swagger UI from swagger-ui-dist (web/app/docs.html), with no CDN."""
    path = _web(settings) / "app" / "docs.html"
    return FileResponse(path, media_type="text/html", headers=_APP_HEADERS)


def set_session_cookies(out: Response, request: Request, sid: str, settings: Settings) -> None:
    """The session cookie (HttpOnly, SameSite=Strict, Secure over https) and its marker."""
    secure = request.url.scheme == "https"
    out.set_cookie(
        sessions.COOKIE,
        sid,
        max_age=int(settings.session_lifetime_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    # Not a secret: tells the page a session may exist, so that a signed-out visit goes to
    # the sign-in form without first asking GET /v1/session for a 401.
    out.set_cookie(sessions.MARKER_COOKIE, "1", path="/", samesite="strict", secure=secure)


class SignIn(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200, description="an API token")]


class SessionInfo(BaseModel):
    role: str
    account_manager_id: str | None
    csrf_token: str
    person_id: str | None = None
    """The person signed in through the identity provider; None for an API token's session."""
    name: str | None = None
    """The person's name, as the identity provider gives it."""


@router.post(
    "/v1/session",
    summary="Sign in with an API token",
    response_model=SessionInfo,
    responses={
        200: {
            "description": "signed in: the session cookie is set",
            "headers": {"Set-Cookie": {"schema": {"type": "string"}}},
        },
        **errors(401, 413, 415, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SignIn.model_json_schema()}},
        }
    },
)
async def sign_in(request: Request, pool: Pool, settings: AppSettings) -> JSONResponse:
    # Read as every other body is (415 for another content type, 422 for JSON nested too deep
    # or not JSON at all), not by FastAPI's own parser, which answered 422 and 400 for those.
    raw = await read_json(request, settings.max_json_depth)
    try:
        body = SignIn.model_validate(raw)
    except ValidationError as exc:  # worded as every other invalid field
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        ) from None
    opened = await sessions.open_session(
        pool, body.token, timedelta(seconds=settings.session_lifetime_s)
    )
    if opened is None:
        raise ApiError.field(401, "token", "the token is unknown, revoked or expired")
    sid, s = opened
    out = JSONResponse(
        SessionInfo(
            role=s.principal.role,
            account_manager_id=s.principal.account_manager_id,
            csrf_token=s.csrf_token,
        ).model_dump()
    )
    set_session_cookies(out, request, sid, settings)
    return out


@router.get(
    "/v1/session",
    summary="The signed-in session (401 without one)",
    responses=errors(401),
)
async def current(request: Request, who: Reader, pool: Pool, settings: AppSettings) -> SessionInfo:
    found = await sessions.described(
        pool, request.cookies.get(sessions.COOKIE), idle_limit(settings), who.name
    )
    if found is None:
        raise ApiError.field(401, sessions.COOKIE, "not signed in (a bearer token has no session)")
    session, name = found
    return SessionInfo(
        role=who.role,
        account_manager_id=who.account_manager_id,
        csrf_token=session.csrf_token,
        person_id=who.person_id,
        name=name,
    )


@router.delete(
    "/v1/session",
    summary="Sign out",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "signed out: the cookies are cleared"}, **errors(401, 403)},
)
async def sign_out(request: Request, who: Reader, pool: Pool) -> Response:
    sid = request.cookies.get(sessions.COOKIE)
    if sid:
        await sessions.close_session(pool, sid)
    out = Response(status_code=204)
    out.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    out.delete_cookie(sessions.MARKER_COOKIE, path="/", samesite="strict")
    return out
