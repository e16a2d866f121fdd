"""Browser-test fixtures: Playwright (PyPI) driving Debian's chromium (`make install` installs
it) against the test module's own API process (the `services` fixture).

    async def test_x(browser_page, services, api_tokens):
        page = await browser_page(services)        # a fresh context + page, errors collected
        await page.sign_in(api_tokens.finance)
        await page.goto("/app/finance")
        await page.check("portfolio")              # no console error, no serious axe
                                                   # violation, var/screenshots/portfolio.png

`await browser_page(services, api_tokens.finance, "/app/finance")` does the first three lines
at once.

`check` fails on any console error or uncaught page error since the page was opened (pass
`allow=("text", ...)` for errors a test expects, e.g. an answered 403) and on every axe-core
violation of impact serious or critical.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from simulation.browser import ARGS, CHROMIUM
from tests.support.services import Services

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"


class AppPage:
    """One browser page on the app, with what went wrong on it so far."""

    def __init__(self, context: BrowserContext, page: Page, base_url: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console: {m.text} ({m.location.get('url', '')})")
                if m.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)
        await self.ready()

    async def ready(self) -> None:
        """Waits until the app has rendered a page: body[data-state] is "ready" (content loaded,
        charts drawn) or "error", and the page has its <h1>."""
        await self.page.locator("body[data-state=ready], body[data-state=error]").wait_for(
            state="attached"
        )
        await self.page.locator("main h1").first.wait_for()

    async def sign_in(self, token: str) -> None:
        await self.page.goto(self.base_url + "/app/sign-in")
        await self.page.get_by_label("API token").fill(token)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_url(lambda url: "/app/sign-in" not in url)
        await self.ready()

    async def axe_violations(self, skip_rules: Iterable[str] = ()) -> list[dict[str, Any]]:
        if not await self.page.evaluate("typeof window.axe !== 'undefined'"):
            await self.page.add_script_tag(url="/static/vendor/axe.min.js")
        rules = {rule: {"enabled": False} for rule in skip_rules}
        result: dict[str, Any] = await self.page.evaluate(
            "rules => axe.run(document, {resultTypes: ['violations'], rules})", rules
        )
        return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]

    async def check(
        self, name: str, allow: Iterable[str] = (), skip_rules: Iterable[str] = ()
    ) -> None:
        """Screenshot to var/screenshots/<name>.png; fail on console errors and on serious or
        critical accessibility violations (of every axe rule but `skip_rules`)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        allowed = tuple(allow)
        errors = [e for e in self.errors if not any(a in e for a in allowed)]
        assert not errors, f"{name}: console errors: {errors}"
        bad = await self.axe_violations(skip_rules)
        assert not bad, f"{name}: accessibility violations: " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in bad
        )


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


class MakePage(Protocol):
    """The `browser_page` fixture: a fresh page on `services`' app, signed in with `token` and
    on `path` when they are given."""

    async def __call__(
        self, services: Services, token: str | None = None, path: str | None = None
    ) -> AppPage: ...


@pytest.fixture
async def browser_page(browser: Browser) -> AsyncIterator[MakePage]:
    """Makes a fresh browser context (cookies of its own) and page on a Services' app."""
    contexts: list[BrowserContext] = []

    async def make(
        services: Services, token: str | None = None, path: str | None = None
    ) -> AppPage:
        context = await browser.new_context(
            base_url=services.url, viewport={"width": 1360, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        app = AppPage(context, page, services.url)
        if token is not None:
            await app.sign_in(token)
        if path is not None:
            await app.goto(path)
        return app

    try:
        yield make
    finally:
        for c in contexts:
            await c.close()
