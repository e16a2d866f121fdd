"""Single sign-on through the agency's identity provider, and who is signed in.

- `GET /auth/sign-in?next=/app/...`: starts the authorization code flow with PKCE: a sign-in
  attempt (state, nonce, code verifier, where to go next) is kept in PostgreSQL under a
  SHA-256 of a random HttpOnly cookie of this browser, and the browser goes to the provider.
- `GET /auth/callback?code&state`: the attempt of this browser's cookie (used once), its state
  equal to the one sent back (CSRF on the callback), the code exchanged, the ID token checked
  (signature, issuer, audience, nonce, expiry), the role read from the groups claim; then the
  session cookie and a same-origin move to `next`. Any refusal: a page saying why, and nothing
  granted (no session, no cookie).
- `GET /v1/sign-in`: whether single sign-on is configured (the sign-in page asks; public).
- `GET /v1/me`: who is signed in. `GET /v1/people`: every person known, by name.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from html import escape
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from services import people, sessions
from services.api.auth import Reader
from services.api.schemas import errors
from services.api.web import set_session_cookies
from services.oidc import OidcClient, ProviderUnavailable, SignInRefused, person_of, role_of
from services.settings import Settings

router = APIRouter()

ATTEMPT_COOKIE = "ledger_sign_in"
ATTEMPT_LIFETIME = timedelta(minutes=10)
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


def _oidc(request: Request) -> OidcClient | None:
    client: OidcClient | None = request.app.state.oidc
    return client


def _redirect_uri(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("sign_in_callback"))


@router.get("/auth/sign-in", include_in_schema=False)
async def start_sign_in(request: Request, next: str | None = None) -> Response:
    settings: Settings = request.app.state.settings
    oidc = _oidc(request)
    if oidc is None:
        return _page(
            "Single sign-on is not configured",
            "This Markup Ledger has no identity provider configured: sign in with an API token.",
            404,
        )
    target = safe_next(next)
    if target is None:
        return _refused("`next` must be a path of this site (it was another site's address).", 400)
    attempt = secrets.token_urlsafe(32)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    redirect_uri = _redirect_uri(request, settings)
    try:
        url = await oidc.authorization_url(redirect_uri, state, nonce, verifier)
    except ProviderUnavailable:
        return _page(
            "The identity provider does not answer",
            f"{oidc.issuer} could not be reached; try again in a minute.",
            503,
        )
    pool = request.app.state.pool
    await pool.execute("DELETE FROM sign_in_attempts WHERE expires_at < now()")
    await pool.execute(
        """INSERT INTO sign_in_attempts
             (attempt_sha256, state, nonce, code_verifier, next_path, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + $6::interval)""",
        sessions.sha(attempt),
        state,
        nonce,
        verifier,
        target,
        ATTEMPT_LIFETIME,
    )
    out = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    # Lax, not Strict: the provider's redirect back is a top-level navigation from its site.
    out.set_cookie(
        ATTEMPT_COOKIE,
        attempt,
        max_age=int(ATTEMPT_LIFETIME.total_seconds()),
        path=CALLBACK_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return out


@router.get(CALLBACK_PATH, include_in_schema=False, name="sign_in_callback")
async def sign_in_callback(
    request: Request,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
    iss: str | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    oidc = _oidc(request)
    if oidc is None:
        return _refused("Single sign-on is not configured.", 404)
    pool = request.app.state.pool
    attempt = request.cookies.get(ATTEMPT_COOKIE)
    row = None
    if attempt:
        # Used once: a second callback with the same cookie finds nothing.
        row = await pool.fetchrow(
            """DELETE FROM sign_in_attempts WHERE attempt_sha256 = $1 AND expires_at > now()
               RETURNING state, nonce, code_verifier, next_path""",
            sessions.sha(attempt),
        )
    if row is None:
        return _refused(
            "This sign-in was not started in this browser, was already used, or took more "
            "than 10 minutes. Start again.",
            400,
        )
    if not state or not hmac.compare_digest(state.encode(), row["state"].encode()):
        return _refused(
            "The answer from the identity provider does not match this sign-in (its state "
            "differs): it may have been forged. Start again.",
            400,
        )
    if error:
        return _refused(f"The identity provider refused: {error_description or error}.")
    if iss is not None and iss.rstrip("/") != oidc.issuer:
        return _refused("The answer came from another identity provider than the one configured.")
    if not code:
        return _refused("The identity provider sent no sign-in code.", 400)
    try:
        token = await oidc.exchange(code, _redirect_uri(request, settings), row["code_verifier"])
        claims = await oidc.verified_claims(
            token["id_token"], row["nonce"], token.get("access_token")
        )
        person = person_of(claims)
    except SignInRefused as e:
        return _refused(e.reason, e.status)
    except ProviderUnavailable:
        return _page(
            "The identity provider does not answer",
            f"{oidc.issuer} could not be reached; try again in a minute.",
            503,
        )
    try:
        role = role_of(claims, settings.oidc_roles_claim, settings.role_groups)
    except SignInRefused as e:
        # Known, and with no access from now on: sessions they still hold end too (an open
        # alert stream ends at its next check).
        async with pool.acquire() as conn, conn.transaction():
            await people.record_sign_in(conn, oidc.issuer, person, None)
            await sessions.end_person_sessions(conn, person.person_id)
        return _refused(e.reason, e.status)
    async with pool.acquire() as conn, conn.transaction():
        await people.record_sign_in(conn, oidc.issuer, person, role)
        sid, _ = await sessions.open_person_session(
            conn, person.person_id, role, timedelta(seconds=settings.session_lifetime_s)
        )
    # A page that moves on by itself rather than a redirect: the browser then sends the new
    # SameSite=Strict cookie on the move, which it would not on a redirect out of a cross-site
    # navigation.
    out = _page("Signed in", f"Welcome, {person.name}.", 200, refresh_to=row["next_path"])
    out.delete_cookie(ATTEMPT_COOKIE, path=CALLBACK_PATH)
    set_session_cookies(out, request, sid, settings)
    return out


class SignInOptions(BaseModel):
    single_sign_on: bool
    url: str | None


@router.get(
    "/v1/sign-in",
    tags=["session"],
    summary="How to sign in: through the identity provider (when configured) or with a token",
    response_model=SignInOptions,
)
async def sign_in_options(request: Request) -> SignInOptions:
    sso = _oidc(request) is not None
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
    tags=["session"],
    summary="Who is signed in (a person, or the API token used)",
    response_model=Me,
    responses=errors(401),
)
async def me(request: Request, who: Reader) -> Me:
    found = await people.find(request.app.state.pool, who.name)
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
    tags=["session"],
    summary="Every person who has signed in, by name (what the app shows in place of an id)",
    response_model=People,
    responses=errors(401),
)
async def list_people(request: Request, who: Reader) -> People:
    rows = await people.everyone(request.app.state.pool)
    return People(
        people=[PersonOut(id=r["person_id"], name=r["name"], email=r["email"]) for r in rows]
    )
