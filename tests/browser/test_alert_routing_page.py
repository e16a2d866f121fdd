"""The admin's alert-routing page in a real browser: add a Slack channel (its URL shown masked
from then on) and a route to it with quiet hours; finance is told it may not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Request, Route, expect

from tests.support.browser import MakePage
from tests.support.http import auth
from tests.support.services import Services, Tokens
from tests.support.stack import unique


@pytest.fixture
async def admin_http(services: Services, api_tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.url, timeout=60) as http:
        yield http
        # Whatever the test made goes (its routes with its channels).
        channels = (await http.get("/v1/alert-channels", headers=auth(api_tokens.admin))).json()
        for ch in channels["channels"]:
            if ch["name"].startswith("desk-page-"):
                await http.delete(f"/v1/alert-channels/{ch['channel_id']}",
                                  headers=auth(api_tokens.admin))  # fmt: skip


async def test_an_admin_adds_a_channel_and_a_route_and_sees_the_url_masked(
    browser_page: MakePage, services: Services, api_tokens: Tokens, admin_http: httpx.AsyncClient
) -> None:
    app = await browser_page(services)
    page = app.page
    await app.sign_in(api_tokens.admin)
    await app.goto("/app/alert-routing")
    name, secret = unique("desk-page"), unique("SECRETPATH")
    form = page.get_by_role("form", name="Add a channel")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Kind").select_option("slack")
    await form.get_by_label("URL").fill(f"https://hooks.slack.example/services/{secret}")
    await form.get_by_role("button", name="Add channel").click()
    row = page.locator(f'tr[data-channel="{name}"]')
    await expect(row).to_contain_text("https://hooks.slack.example/****")
    assert secret not in await page.content()

    route = page.get_by_role("form", name="Add a route")
    await route.get_by_label("Name").fill(f"{name}-critical")
    await route.get_by_label("Channel").select_option(name)
    await route.get_by_label("critical").check()
    await route.get_by_label("BYPASS_THREAT").check()
    await route.get_by_label("Repeat every (s)").fill("14400")
    await route.get_by_label("Quiet from").fill("22:00")
    await route.get_by_label("Quiet until").fill("07:00")
    await route.get_by_label("Time zone").fill("Europe/London")
    async with page.expect_response(
        lambda r: r.url.endswith("/v1/alert-routes") and r.request.method == "POST"
    ) as posted:
        await route.get_by_role("button", name="Add route").click()
    answer = await posted.value
    assert answer.status == 201, await answer.text()  # what the page was told, if not made
    made = page.locator(f'tr[data-route="{name}-critical"]')
    await expect(made).to_contain_text("rules: BYPASS_THREAT; severities: critical")
    await expect(made).to_contain_text("22:00–07:00 Europe/London")

    # A URL of another scheme: refused, the field named, nothing added.
    await form.get_by_label("Name").fill(f"{name}-bad")
    await form.get_by_label("Kind").select_option("teams")
    await form.get_by_label("URL").fill("javascript:alert(1)")
    await form.get_by_role("button", name="Add channel").click()
    await expect(page.locator("#routing-message")).to_contain_text("teams.url")
    await expect(page.locator(f'tr[data-channel="{name}-bad"]')).to_have_count(0)
    await app.check("alert-routing", allow=("422",))


async def test_two_routes_added_in_a_row_both_stay_listed_whichever_list_comes_last(
    browser_page: MakePage, services: Services, api_tokens: Tokens, admin_http: httpx.AsyncClient
) -> None:
    """Each route added loads the lists again. On a slow network the first load's answer,
    read before the second route was added, comes last: it must not hide the second route."""
    name = unique("desk-page")
    channel = {"name": name, "kind": "slack", "url": "https://hooks.slack.example/services/T/B/x"}
    made = await admin_http.post("/v1/alert-channels", json=channel, headers=auth(api_tokens.admin))
    assert made.status_code == 201, made.text
    app = await browser_page(services, api_tokens.admin, "/app/alert-routing")
    page = app.page
    read, release = asyncio.Event(), asyncio.Event()
    held: list[Request] = []

    async def first_list_late(route: Route) -> None:
        if held or route.request.method != "GET":  # the posts and later lists go at once
            await route.continue_()
            return
        held.append(route.request)
        answer = await route.fetch()  # read now, with the first route only...
        read.set()
        await release.wait()  # ...and answered after the second load's
        await route.fulfill(response=answer)

    await page.route("**/v1/alert-routes", first_list_late)
    form = page.get_by_role("form", name="Add a route")
    for n in (1, 2):
        await form.get_by_label("Name").fill(f"{name}-{n}")
        await form.get_by_label("Channel").select_option(name)
        async with page.expect_response(
            lambda r: r.url.endswith("/v1/alert-routes") and r.request.method == "POST"
        ) as posted:
            await form.get_by_role("button", name="Add route").click()
        assert (await posted.value).status == 201
        await asyncio.wait_for(read.wait(), 15)  # the first load's list is read, held
    second = page.locator(f'tr[data-route="{name}-2"]')
    await expect(second).to_be_visible()  # the second load painted
    release.set()
    # Both loads taken (the lists are no longer busy): the second route is still listed.
    await expect(page.locator("tbody[aria-busy]")).to_have_count(0)
    await page.unroute("**/v1/alert-routes", first_list_late)
    assert await second.count() == 1, "the first load's late answer hid the second route"
    assert await page.locator(f'tr[data-route="{name}-1"]').count() == 1


async def test_finance_is_told_only_an_admin_manages_routing(
    browser_page: MakePage, services: Services, api_tokens: Tokens
) -> None:
    app = await browser_page(services, api_tokens.finance, "/app/alert-routing")
    await expect(app.page.get_by_role("alert")).to_contain_text("Only an admin")
    await app.check("alert-routing-forbidden")
