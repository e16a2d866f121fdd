"""Single sign-on through the agency's identity provider, and who is signed in.

- `GET /auth/sign-in?next=/app/...`: `next` checked (a path of this site), a sign-in attempt
  started (services/sign_in.py) and its value set in an HttpOnly cookie; the browser goes to
  the provider (authorization code flow with PKCE).
- `GET /auth/callback?code&state`: the sign-in finished with this browser's attempt (state,
  code exchange, ID token, role: services/sign_in.py); then the session cookie and a
  same-origin move to `next`. Any refusal: a page saying why, and nothing granted (no session,
  no cookie).
- `GET /v1/sign-in`: whether single sign-on is configured (the sign-in page asks; public).
- `GET /v1/me`: who is signed in. `GET /v1/people`: every person known, by name.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from services import people, sign_in
from services.api.deps import AppSettings, Oidc, Pool
from services.api.http.auth import Reader
from services.api.routes.web import set_session_cookies
from services.api.schemas import errors
from services.oidc import OidcClient, ProviderUnavailable, SignInRefused
from services.settings import Settings

# Every route of this module the OpenAPI shows is about the session: one tag, said here.
router = APIRouter(tags=["session"])

ATTEMPT_COOKIE = "ledger_sign_in"
CALLBACK_PATH = "/auth/callback"
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path of this site (where to go after signing in), else None: no
    scheme, no host, no `//` or backslash that a browser would read as another host."""
    if not value:
        return "/"
    if len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _page(title: str, message: str, status: int, *, refresh_to: str | None = None) -> HTMLResponse:
    again = "" if refresh_to else '<p><a href="/app/sign-in">Back to the sign-in page</a></p>'
    meta = f'<meta http-equiv="refresh" content="0;url={escape(refresh_to)}">' if refresh_to else ""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}
<link rel="icon" href="/static/app/favicon.svg" type="image/svg+xml">
<title>{escape(title)} · Markup Ledger</title>
<style>body{{font:16px system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}}</style></head>
<body><main><h1>{escape(title)}</h1><p>{escape(message)}</p>{again}</main></body></html>"""
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def _refused(reason: str, status: int = 401) -> HTMLResponse:
    title = "No access to Markup Ledger" if status == 403 else "Sign-in refused"
    out = _page(title, reason[:1].upper() + reason[1:], status)
    out.delete_cookie(ATTEMPT_COOKIE, path=CALLBACK_PATH)
    return out


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("sign_in_callback"))


def _unavailable(oidc: OidcClient) -> HTMLResponse:
    return _page(
        "The identity provider does not answer",
        f"{oidc.issuer} could not be reached; try again in a minute.",
        503,
    )


@router.get("/auth/sign-in", include_in_schema=False)
async def start_sign_in(
    request: Request, oidc: Oidc, pool: Pool, settings: AppSettings, next: str | None = None
) -> Response:
    if oidc is None:
        return _page(
            "Single sign-on is not configured",
            "This Markup Ledger has no identity provider configured: sign in with an API token.",
            404,
        )
    target = safe_next(next)
    if target is None:
        return _refused("`next` must be a path of this site (it was another site's address).", 400)
    try:
        started = await sign_in.start(pool, oidc, _redirect_uri(request, settings), target)
    except ProviderUnavailable:
        return _unavailable(oidc)
    out = RedirectResponse(
        started.authorization_url, status_code=302, headers={"Cache-Control": "no-store"}
    )
    # Lax, not Strict: the provider's redirect back is a top-level navigation from its site.
    out.set_cookie(
        ATTEMPT_COOKIE,
        started.attempt,
        max_age=int(sign_in.ATTEMPT_LIFETIME.total_seconds()),
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return out


@router.get(CALLBACK_PATH, include_in_schema=False, name="sign_in_callback")
async def sign_in_callback(
    request: Request,
    oidc: Oidc,
    pool: Pool,
    settings: AppSettings,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    iss: str | None = None,
) -> Response:
    if oidc is None:
        return _refused("Single sign-on is not configured.", 404)
    try:
        done = await sign_in.finish(
            pool,
            oidc,
            settings,
            _redirect_uri(request, settings),
            request.cookies.get(ATTEMPT_COOKIE),
            sign_in.Callback(code, state, error, error_description, iss),
        )
    except SignInRefused as e:
        return _refused(e.reason, e.status)
    except ProviderUnavailable:
        return _unavailable(oidc)
    # A page that moves on by itself rather than a redirect: the browser then sends the new
    # SameSite=Strict cookie on the move, which it would not on a redirect out of a cross-site
    # navigation.
    out = _page("Signed in", f"Welcome, {done.person.name}.", 200, refresh_to=done.next_path)
    out.delete_cookie(ATTEMPT_COOKIE, path=CALLBACK_PATH)
    set_session_cookies(out, request, done.session_id, settings)
    return out


class SignInOptions(BaseModel):
    single_sign_on: bool
    url: str | None


@router.get(
    "/v1/sign-in",
    summary="How to sign in: through the identity provider (when configured) or with a token",
)
async def sign_in_options(oidc: Oidc) -> SignInOptions:
    sso = oidc is not None
    return SignInOptions(single_sign_on=sso, url="/auth/sign-in" if sso else None)


class Me(BaseModel):
    id: str
    """The person's id (the provider's subject), or what a token acts as."""
    name: str
    email: str | None
    role: str
    account_manager_id: str | None
    signed_in_with: str
    """`single_sign_on` or `api_token`."""


@router.get(
    "/v1/me",
    summary="Who is signed in (a person, or the API token used)",
    responses=errors(401),
)
async def me(who: Reader, pool: Pool) -> Me:
    found = await people.find(pool, who.name)
    return Me(
        id=who.name,
        name=found["name"] if found is not None else who.name,
        email=found["email"] if found is not None else None,
        role=who.role,
        account_manager_id=who.account_manager_id,
        signed_in_with="single_sign_on" if who.person_id else "api_token",
    )


class PersonOut(BaseModel):
    id: str
    name: str
    email: str | None


class People(BaseModel):
    people: list[PersonOut]


@router.get(
    "/v1/people",
    summary="Every person who has signed in, by name (what the app shows in place of an id)",
    responses=errors(401),
)
async def list_people(who: Reader, pool: Pool) -> People:
    rows = await people.everyone(pool)
    return People(
        people=[PersonOut(id=r["person_id"], name=r["name"], email=r["email"]) for r in rows]
    )
