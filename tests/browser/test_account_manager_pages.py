"""The account managers' pages and the risk alert board in a real browser: my contracts, the
form generated from the JSON Schema with its what-if preview, refusals beside their field, a
contract of another manager (403), and the live alert board on two screens."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.async_api import Route, expect

from simulation.examples import OMIT, example
from tests.support.browser import AppPage, MakePage
from tests.support.http import auth
from tests.support.services import Services, Tokens
from tests.support.stack import unique


def _worked_example(cid: str, am_id: str) -> list[dict[str, Any]]:
    """DESIGN's worked example, active today: P 30.00, B 37.50, burden 20, 40 h a week."""
    return [
        example(
            "ContractSigned", contract_id=cid, account_manager_id=am_id, client_id=unique("CL"),
            client_name="Zones Inc", start_date="2026-01-05", end_date="2028-12-31",
            markup_floor_pct="15", burden_pct="20", msp_fee_pct=OMIT,
        ),
        example(
            "AssignmentStarted", contract_id=cid, assignment_id="A-W-1", staffer_id="S-1",
            burden_pct=OMIT, start_date="2026-01-05", expected_end_date="2028-06-30",
        ),
    ]  # fmt: skip


async def _submit(http: httpx.AsyncClient, token: str, events: list[dict[str, Any]]) -> Any:
    r = await http.post("/v1/events", json={"events": events}, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()


async def _log_length(http: httpx.AsyncClient, token: str, cid: str) -> int:
    r = await http.get("/v1/events", params={"contract_id": cid}, headers=auth(token))
    assert r.status_code == 200, r.text
    return len(r.json()["events"])


@pytest.fixture
async def am_http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.url, timeout=60) as http:
        yield http


@pytest.fixture
async def am_page(browser_page: MakePage, services: Services, api_tokens: Tokens) -> AppPage:
    """A fresh page with the account manager signed in."""
    return await browser_page(services, api_tokens.am)


@pytest.fixture
async def placed(am_http: httpx.AsyncClient, api_tokens: Tokens) -> str:
    """A new contract of the account manager with DESIGN's worked example on it; its id."""
    cid = unique("C")
    await _submit(am_http, api_tokens.am, _worked_example(cid, api_tokens.am_id))
    return cid


async def _threaten(am_http: httpx.AsyncClient, token: str, cid: str) -> dict[str, Any]:
    """A bypass threat on `cid`, submitted over HTTP as a manager; its BYPASS_THREAT alert."""
    threat = example(
        "BypassThreatReported", contract_id=cid, assignment_id="A-W-1", staffer_id="S-1",
        occurred_at="2026-11-20T09:00:00+00:00",
    )  # fmt: skip
    r = await am_http.post("/v1/events", json=threat, headers=auth(token))
    assert r.status_code == 201, r.text
    alert: dict[str, Any] = next(a for a in r.json()["alerts"] if a["rule"] == "BYPASS_THREAT")
    return alert


async def test_raise_request_previewed_then_submitted(
    placed: str, am_page: AppPage, api_tokens: Tokens, am_http: httpx.AsyncClient
) -> None:
    cid, app = placed, am_page
    page = app.page

    await app.goto("/app/contracts")
    row = page.locator(f'tr[data-contract="{cid}"]')
    await expect(row).to_contain_text("Margin OK")
    await row.get_by_role("link", name=cid).click()
    await app.ready()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(cid)
    await app.check("am-contract")

    # Seed 003's ask on DESIGN's worked example: a raise to 32.00 within a 37.50 budget.
    await page.get_by_role("link", name="Record a raise request").click()
    await app.ready()
    await expect(page.get_by_label("Event type")).to_have_value("RaiseRequested")
    await page.get_by_label("Raise request id").fill("R-003")
    await page.get_by_label("Assignment id").fill("A-W-1")
    await page.get_by_label("Requested pay rate").fill("32.00")
    await page.get_by_label("Requested by").select_option("client")
    await page.get_by_label("Client max bill rate").fill("37.50")
    assert await page.get_by_label("Requested pay rate").get_attribute("inputmode") == "decimal"
    before = await _log_length(am_http, api_tokens.am, placed)

    await page.get_by_role("button", name="Preview (what-if)").click()
    verdict = page.locator(".am-verdict")
    await expect(verdict).to_have_attribute("data-preview", "true")
    await expect(verdict).to_contain_text("Would be accepted")
    weekly = page.locator("table.am-impact tr", has_text="Weekly gross profit")
    await expect(weekly).to_contain_text("60.00")
    await expect(weekly).to_contain_text("\u221236.00")
    await expect(weekly.locator(".am-delta")).to_have_text("\u221296.00")
    alerts = page.locator(".am-result .alert")
    await expect(alerts.filter(has_text="LOSS_POSITION")).to_have_count(1)
    await expect(alerts.filter(has_text="RAISE_ABSORBED")).to_have_count(1)
    assert await _log_length(am_http, api_tokens.am, placed) == before  # nothing appended
    await app.check("am-event-preview")

    await page.get_by_role("button", name="Submit").click()
    await expect(verdict).to_have_attribute("data-preview", "false")
    await expect(verdict).to_have_attribute("data-status", "accepted")
    await expect(verdict.get_by_role("heading")).to_have_text("Accepted")
    await expect(page.locator(".am-delta").nth(4)).to_have_text("\u221296.00")
    await expect(alerts.filter(has_text="LOSS_POSITION")).to_have_count(1)
    await expect(alerts.filter(has_text="RAISE_ABSORBED")).to_have_count(1)
    assert await _log_length(am_http, api_tokens.am, placed) == before + 1
    await app.check("am-event-accepted")

    # My contracts now lists the open raise request.
    await app.goto("/app/contracts")
    await expect(row).to_contain_text("R-003")
    await app.check("am-my-contracts")

    # The contract's page says what the request would do, on the page (issue #21: "Healthy"
    # twice beside four open HIGH alerts, the alerts one link away).
    await app.goto(f"/app/contracts/{cid}")
    await app.ready()
    open_alerts = page.locator("section[aria-labelledby=open-alerts-h]")
    await expect(
        open_alerts.get_by_role("listitem").filter(has_text="Loss position")
    ).to_have_count(1)
    await expect(open_alerts).to_contain_text("Loss position (if granted as asked)")
    await expect(page.get_by_text("Healthy")).to_have_count(0)
    await app.check("am-contract-open-alerts")


async def test_refusals_are_shown_beside_their_field(
    placed: str, am_page: AppPage, api_tokens: Tokens, am_http: httpx.AsyncClient
) -> None:
    cid, app = placed, am_page
    schemas = (await am_http.get("/v1/schema/events", headers=auth(api_tokens.am))).json()
    page = app.page
    await app.goto(f"/app/events/new?contract_id={cid}&type=RatesAdjusted")
    # Every type of the catalogue has its form, one input per field the submitter sets.
    for name, schema in schemas.items():
        await page.get_by_label("Event type").select_option(name)
        fields = page.locator(".am-fields [data-field]")
        want = [
            f for f, p in schema["properties"].items()
            if not p.get("readOnly") and f not in ("type", "schema_version")
        ]  # fmt: skip
        await expect(fields).to_have_count(len(want))
        assert [await f.get_attribute("data-field") for f in await fields.all()] == want
    await page.get_by_label("Event type").select_option("RatesAdjusted")
    await page.get_by_label("Assignment id").fill("A-NOPE")
    # By role and exact name: "OT pay rate" and "DT pay rate" are labels too (schema v2).
    await page.get_by_role("textbox", name="Pay rate", exact=True).fill("thirty")
    await page.get_by_role("textbox", name="Bill rate", exact=True).fill("38.00")
    await page.get_by_label("Effective date").fill("2026-12-01")
    await page.get_by_label("Reason").fill("annual review")
    await page.get_by_role("button", name="Submit").click()
    # The shape first: the service's field error, beside the field and described by it.
    pay = page.get_by_role("textbox", name="Pay rate", exact=True)
    await expect(page.locator("#f-pay_rate-error")).not_to_be_empty()
    await expect(pay).to_have_attribute("aria-invalid", "true")
    assert "f-pay_rate-error" in (await pay.get_attribute("aria-describedby") or "")
    await app.check("am-event-invalid", allow=("status of 422",))
    # Then the contract's state: no such assignment, said in words beside the assignment id.
    await pay.fill("31.00")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.locator(".am-verdict")).to_have_attribute("data-status", "refused")
    await expect(page.locator("#f-assignment_id-error")).to_contain_text("A-NOPE")
    await expect(page.locator("#f-pay_rate-error")).to_be_empty()
    await app.check("am-event-refused", allow=("status of 422", "status of 404"))


async def test_another_managers_contract_reads_as_a_missing_one(
    browser_page: MakePage, services: Services, api_tokens: Tokens, placed: str
) -> None:
    cid = placed
    app = await browser_page(services, api_tokens.other_am, f"/app/contracts/{cid}")
    await expect(app.page.get_by_role("alert")).to_contain_text("404")
    await expect(app.page.get_by_role("alert")).to_contain_text("is not known")
    await app.check("am-contract-forbidden", allow=("status of 404",))
    await app.goto("/app/contracts")
    await expect(app.page.locator(f'tr[data-contract="{cid}"]')).to_have_count(0)


async def test_alert_board_is_live_on_every_screen(
    browser_page: MakePage,
    services: Services,
    api_tokens: Tokens,
    am_http: httpx.AsyncClient,
    placed: str,
) -> None:
    cid = placed
    first, second, manager = [await browser_page(services) for _ in range(3)]
    await first.sign_in(api_tokens.finance)
    await first.goto("/app/alerts")
    await second.sign_in(api_tokens.finance)
    await second.goto("/app/alerts?status=all")
    await manager.sign_in(api_tokens.am)
    await manager.goto(f"/app/alerts?contract_id={cid}")
    for board in (first, second, manager):
        await expect(board.page.locator("#live-state")).to_have_text("Live")

    # Submitted elsewhere (over HTTP): on the open boards without a reload. How soon is
    # measured by bench/live_load.py, not here: a bound of 2 s failed on a loaded machine.
    alert = await _threaten(am_http, api_tokens.am, cid)
    rows = [b.page.locator(f'tr[data-alert="{alert["alert_id"]}"]') for b in (first, second)]
    for row in rows:
        await expect(row).to_be_visible(timeout=15_000)
    await expect(rows[0]).to_contain_text("BYPASS_THREAT")
    critical = first.page.locator('[data-severity="critical"] .am-total-exposure')
    await expect(critical).not_to_have_text("0.00")

    # The manager may acknowledge, not resolve; finance may do both.
    mine = manager.page.locator(f'tr[data-alert="{alert["alert_id"]}"]')
    await expect(mine.get_by_role("button", name=re.compile("^Acknowledge"))).to_be_visible()
    await expect(mine.get_by_role("button", name=re.compile("^Resolve"))).to_have_count(0)
    await expect(
        manager.page.locator('[data-severity="critical"] .am-total-exposure')
    ).to_have_text(f"{Decimal(alert['exposure']):,.2f}")
    await manager.check("alerts-account-manager")
    await expect(rows[0].get_by_role("button", name=re.compile("^Resolve"))).to_be_visible()
    await first.check("alerts-finance")

    # Acknowledged on the first board: every other open board shows it.
    await rows[0].get_by_role("button", name=re.compile("^Acknowledge")).click()
    await expect(rows[0]).to_have_count(0)  # the first board shows open alerts only
    await expect(rows[1]).to_have_attribute("data-status", "acknowledged")
    await expect(rows[1]).to_contain_text("Acknowledged")
    await expect(rows[1].get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    await expect(mine).to_have_count(0)
    await second.check("alerts-after-acknowledge")


async def test_an_alert_that_comes_live_while_the_board_loads_stays_on_it(
    browser_page: MakePage,
    services: Services,
    api_tokens: Tokens,
    am_http: httpx.AsyncClient,
    placed: str,
) -> None:
    """The board opens its live stream, then reads its list. On a slow network the list, read
    before an alert was raised, can come after the stream brought that alert: the older
    answer must not wipe the newer row."""
    cid = placed
    app = await browser_page(services, api_tokens.am)
    page = app.page
    read, release = asyncio.Event(), asyncio.Event()

    async def late_list(route: Route) -> None:
        answer = await route.fetch()  # the service reads the list now...
        read.set()
        await release.wait()  # ...and the page gets it only later
        await route.fulfill(response=answer)

    def is_list(url: str) -> bool:
        return "/v1/alerts?" in url and "limit=50" in url

    await page.route(is_list, late_list)
    await page.goto(f"{services.url}/app/alerts?contract_id={cid}")
    await expect(page.locator("#live-state")).to_have_text("Live")
    await asyncio.wait_for(read.wait(), 15)

    alert = await _threaten(am_http, api_tokens.am, cid)
    row = page.locator(f'tr[data-alert="{alert["alert_id"]}"]')
    await expect(row).to_be_visible(timeout=15_000)  # live, before the list came

    release.set()
    await app.ready()  # the board has painted its list (render resolves after it)
    await page.unroute(is_list)
    assert await row.count() == 1, "the list read before the alert wiped it from the board"
    await expect(row).to_contain_text("BYPASS_THREAT")


async def test_the_board_shows_the_filter_chosen_last_whichever_answer_comes_last(
    am_page: AppPage, api_tokens: Tokens, am_http: httpx.AsyncClient, placed: str
) -> None:
    """Two filters chosen one after the other on a slow network, the first answered last: the
    board shows the alerts of the second, not the late answer of the first."""
    cid, app = placed, am_page
    page = app.page
    # The raise request of seed 003: open alerts (LOSS_POSITION, RAISE_ABSORBED) on the contract.
    ask = example(
        "RaiseRequested", contract_id=cid, assignment_id="A-W-1", raise_request_id="R-late",
        requested_pay_rate="32.00", client_max_bill_rate="37.50", requested_by="client",
    )  # fmt: skip
    r = await am_http.post("/v1/events", json=ask, headers=auth(api_tokens.am))
    assert r.status_code == 201, r.text
    raised = r.json()["alerts"]
    assert raised
    other = next(s for s in ("critical", "high", "medium", "low")
                 if s not in {a["severity"] for a in raised})  # fmt: skip
    await app.goto(f"/app/alerts?contract_id={cid}")
    rows = [page.locator(f'tr[data-alert="{a["alert_id"]}"]') for a in raised]
    for row in rows:
        await expect(row).to_be_visible()

    read, release = asyncio.Event(), asyncio.Event()

    async def late(route: Route) -> None:
        answer = await route.fetch()
        read.set()
        await release.wait()
        await route.fulfill(response=answer)

    def first_filter(url: str) -> bool:
        return "/v1/alerts?" in url and f"severity={other}" in url and "limit=50" in url

    await page.route(first_filter, late)
    severity = page.get_by_label("Severity", exact=True)
    await severity.select_option(other)  # none of them: an empty board, answered late
    await asyncio.wait_for(read.wait(), 15)
    async with page.expect_response(
        lambda a: "/v1/alerts?" in a.url and "severity" not in a.url and "limit=50" in a.url
    ):
        await severity.select_option(label="All")  # all of them again, answered at once
    release.set()
    # Both answers taken (the board is no longer busy): the one asked for last is shown.
    await expect(page.locator("table.am-board")).not_to_have_attribute("aria-busy", "true")
    await page.unroute(first_filter)
    for row in rows:
        assert await row.count() == 1, "the late answer of the first filter painted over it"
    assert "severity" not in page.url


async def test_a_week_of_hours_reported_in_the_form(
    placed: str, am_page: AppPage, api_tokens: Tokens, am_http: httpx.AsyncClient
) -> None:
    """The report-hours form (generated from HoursReported's schema): a week refused beside
    its field when it is not a Monday, then accepted, and the log has it as version 1."""
    cid, app = placed, am_page
    page = app.page
    await app.goto(f"/app/events/new?contract_id={cid}&assignment_id=A-W-1&type=HoursReported")
    await expect(page.get_by_label("Event type")).to_have_value("HoursReported")
    await page.get_by_label("Week").fill("2026-03-04")  # a Wednesday
    await page.get_by_label("Regular hours").fill("38")
    await page.get_by_label("OT hours").fill("4")
    await page.get_by_label("Source").select_option("timesheet")
    before = await _log_length(am_http, api_tokens.am, cid)
    await page.get_by_role("button", name="Submit").click()
    await expect(page.locator("#f-week-error")).to_contain_text("Monday")
    await page.get_by_label("Week").fill("2026-03-02")
    await page.get_by_role("button", name="Submit").click()
    verdict = page.locator(".am-verdict")
    await expect(verdict).to_have_attribute("data-status", "accepted")
    assert await _log_length(am_http, api_tokens.am, cid) == before + 1
    await app.check("am-hours-reported", allow=("status of 422",))


async def test_finance_is_shown_where_to_go_not_a_form_it_cannot_use(
    browser_page: MakePage, services: Services, api_tokens: Tokens
) -> None:
    """Issue #21: finance saw the submit form, whose every submission answered 403."""
    app = await browser_page(services, api_tokens.finance, "/app/events/new?type=RaiseRequested")
    await expect(app.page.get_by_role("heading", level=1)).to_have_text("Record an event")
    await expect(app.page.locator("form")).to_have_count(0)
    await expect(app.page.get_by_role("link", name="The finance dashboard")).to_be_visible()
    await app.check("am-event-form-finance")


async def test_the_browser_refuses_what_the_schema_forbids_before_any_request(
    placed: str, am_page: AppPage
) -> None:
    """The generated inputs carry the schema's constraints: an empty required field, a negative
    rate, a rate of 0 (the schema says > 0) and a fifth decimal place (4 at most) are refused
    beside the field by the browser itself, with no request to the service; the allowed rate
    then goes."""
    cid, app = placed, am_page
    page = app.page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/events" in r.url else None)
    await app.goto(f"/app/events/new?contract_id={cid}&assignment_id=A-W-1&type=RaiseRequested")
    # A required field left empty is refused as the service would refuse it.
    await page.get_by_role("button", name="Preview (what-if)").click()
    await expect(page.locator("#f-raise_request_id-error")).not_to_be_empty()
    await expect(page.get_by_label("Raise request id")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Raise request id").fill("R-NEG")
    await page.get_by_label("Requested by").select_option("staffer")
    rate = page.get_by_label("Requested pay rate")
    assert await rate.get_attribute("data-min") == "0"
    assert await rate.get_attribute("data-min-exclusive") == "true"
    assert await rate.get_attribute("data-step") == "0.0001"
    assert await page.get_by_label("Raise request id").get_attribute("pattern")
    error = page.locator("#f-requested_pay_rate-error")
    reasons = {"-5.00": "not negative", "0": "more than 0", "32.00001": "at most 4 decimal places"}
    for refused, reason in reasons.items():
        await rate.fill(refused)
        await page.get_by_role("button", name="Preview (what-if)").click()
        await expect(error).to_contain_text(reason)
        await expect(rate).to_have_attribute("aria-invalid", "true")
        assert not await rate.evaluate("i => i.validity.valid"), refused
        await page.get_by_role("button", name="Submit").click()
        await expect(error).not_to_be_empty()
    await app.check("am-event-refused-by-browser")
    assert sent == []  # nothing reached the service

    await rate.fill("32.00")
    await page.get_by_role("button", name="Preview (what-if)").click()
    await expect(page.locator(".am-verdict")).to_have_attribute("data-preview", "true")
    await expect(error).to_be_empty()
    assert len(sent) == 1 and sent[0].endswith("/v1/events/preview")
