"""Signing in and out of the web app in a real browser."""

from __future__ import annotations

from services import tokens
from services.db import connection
from tests.support.browser import MakePage
from tests.support.services import Services, Tokens
from tests.support.stack import Stack


async def test_sign_in_and_out(
    browser_page: MakePage, services: Services, api_tokens: Tokens
) -> None:
    app = await browser_page(services)
    await app.goto("/app/finance")
    # Not signed in: the sign-in form, which comes back to the page asked for.
    assert "/app/sign-in" in app.page.url
    await app.check("sign-in")
    await app.page.get_by_label("API token").fill("mlt_wrong")
    await app.page.get_by_role("button", name="Sign in").click()
    await app.page.get_by_role("alert").filter(has_text="unknown, revoked or expired").wait_for()
    await app.sign_in(api_tokens.finance)
    await app.page.get_by_text("Signed in as finance").wait_for()
    await app.page.get_by_role("button", name="Sign out").click()
    await app.page.get_by_role("heading", name="Sign in").wait_for()
    await app.goto("/app/finance")
    assert "/app/sign-in" in app.page.url
    await app.check("signed-out", allow=("status of 401",))


async def test_a_revoked_token_ends_the_session_at_the_next_request(
    browser_page: MakePage, services: Services, ready_stack: Stack
) -> None:
    async with connection(ready_stack.dsn) as conn:
        token_id, token = await tokens.create_token(conn, "finance", None)
        app = await browser_page(services, token, "/app/finance")
        assert "/app/finance" in app.page.url
        await tokens.revoke_token(conn, token_id)
        await app.goto("/app/finance")
        await app.page.get_by_role("heading", name="Sign in").wait_for()
        assert "/app/sign-in" in app.page.url


async def test_api_docs_work_with_no_internet(browser_page: MakePage, services: Services) -> None:
    app = await browser_page(services)
    outside: list[str] = []
    app.page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(services.url) else None,
    )
    await app.page.goto(services.url + "/docs")
    await app.page.get_by_role("heading", name="Markup Ledger").first.wait_for()
    await app.page.get_by_text("/v1/margins/portfolio/trend").first.wait_for()
    assert outside == []
    # Swagger UI nests its operations' links in their toggle buttons, a known upstream
    # accessibility bug (swagger-api/swagger-ui#9570) that no stylesheet can undo.
    await app.check("api-docs", skip_rules=("nested-interactive",))


async def test_a_next_of_another_origin_lands_on_the_app(
    browser_page: MakePage, services: Services, api_tokens: Tokens
) -> None:
    """Issue #21: `?next=//evil.example` left a SecurityError on the form (a history entry of
    another origin); it now signs in and lands on this origin's home page."""
    app = await browser_page(services)
    for evil in ("//evil.example/phish", "https://evil.example/", "/\\\\evil.example"):
        await app.page.goto(f"{services.url}/app/sign-in?next={evil}")
        await app.page.get_by_label("API token").fill(api_tokens.finance)
        await app.page.get_by_role("button", name="Sign in").click()
        await app.page.wait_for_url(lambda url: "/app/sign-in" not in url)
        await app.ready()
        assert app.page.url.startswith(services.url + "/"), app.page.url
        await app.page.get_by_role("button", name="Sign out").click()
        await app.page.get_by_role("heading", name="Sign in").wait_for()
    await app.check("sign-in-next-elsewhere", allow=("status of 401",))
