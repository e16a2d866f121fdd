"""Finance in a real browser: the portfolio's cards equal the API's figures for the same as-of
date, the drill-down reaches DESIGN's worked example, and a CSV link downloads."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.async_api import Route, expect

from events.catalogue import CONTRACT_TERMS
from simulation.examples import OMIT, example
from tests.support.browser import AppPage, MakePage
from tests.support.http import get_json, posted
from tests.support.services import Services, Tokens
from tests.support.stack import unique

AS_OF = "2026-11-28"  # the week of the raise request (dated in the past: see test_submit_refusals)


def shown(s: str | None, unit: str = "") -> str:
    """How the app shows a decimal string: thousands separators, a real minus sign."""
    if s is None:
        return "—"
    return f"{Decimal(s):,.2f}".replace("-", "\u2212") + unit


@pytest.fixture(scope="module")
def seeded(services: Services, api_tokens: Tokens) -> dict[str, str]:
    ids = {"c": unique("C"), "a": unique("A"), "cl": unique("CL"), "c2": unique("C"),
           "a2": unique("A"), "cl2": unique("CL")}  # fmt: skip
    sign = {"start_date": "2026-01-05", "end_date": "2027-12-31", "burden_pct": "20",
            "msp_fee_pct": OMIT, "markup_floor_pct": "18",
            "conversion_fee_waived_after_hours": OMIT}  # fmt: skip
    start = {"start_date": "2026-01-05", "expected_end_date": "2027-07-26", "burden_pct": OMIT,
             "hours_per_week": "40", "staffer_name": "Dana Reyes"}  # fmt: skip
    events: list[dict[str, Any]] = [
        example("ContractSigned", contract_id=ids["c"], account_manager_id=api_tokens.am_id,
                client_id=ids["cl"], client_name="Zones Inc", **sign),
        example("AssignmentStarted", contract_id=ids["c"], assignment_id=ids["a"],
                pay_rate="30.00", bill_rate="37.50", **start),
        # The client asks for a raise to 32.00 within today's bill rate (a proposal).
        example("RaiseRequested", contract_id=ids["c"], assignment_id=ids["a"],
                requested_pay_rate="32.00", client_max_bill_rate="37.50", requested_by="client",
                occurred_at="2026-11-26T09:00:00+00:00"),
        example("ContractSigned", contract_id=ids["c2"], account_manager_id=api_tokens.am_id,
                client_id=ids["cl2"], client_name="Northwind Logistics", **sign),
        example("AssignmentStarted", contract_id=ids["c2"], assignment_id=ids["a2"],
                pay_rate="25.00", bill_rate="35.00", **{**start, "staffer_name": "Sam Ito"}),
        example("RatesAdjusted", contract_id=ids["c2"], assignment_id=ids["a2"],
                pay_rate="26.00", bill_rate="36.40", effective_date="2026-12-07"),
        # The client renamed itself: the log says from what to what.
        example("ContractAmended", contract_id=ids["c2"], effective_date="2026-11-16",
                **{t: OMIT for t in CONTRACT_TERMS if t != "client_name"},
                client_name="Northwind Logistics Group"),
    ]  # fmt: skip
    with httpx.Client(base_url=services.url, timeout=60) as http:
        posted(http, api_tokens.am, *events)
    return ids


CARDS = {
    "weekly_gross_profit": "",
    "margin_pct": " %",
    "markup_pct": " %",
    "remaining_gross_profit": "",
    "at_risk_weekly_gross_profit": "",
}


async def _cards(app: AppPage) -> dict[str, str]:
    values: dict[str, str] = await app.page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('[data-kpi]')].map(
             k => [k.dataset.kpi, k.querySelector('[data-value]').textContent]))"""
    )
    return values


@pytest.fixture
async def finance(
    browser_page: MakePage, services: Services, api_tokens: Tokens, seeded: dict[str, str]
) -> AppPage:
    """Finance signed in, on the portfolio as of AS_OF (the seeded contracts in it)."""
    return await browser_page(services, api_tokens.finance, f"/app/finance?as_of={AS_OF}")


async def test_portfolio_cards_equal_the_api_and_move_with_the_date(
    finance: AppPage, http: httpx.Client, api_tokens: Tokens
) -> None:
    app = finance
    for day in (AS_OF, "2026-06-01"):
        if day != AS_OF:  # the date picker moves every figure
            await app.page.get_by_label("As of").fill(day)
            await app.page.wait_for_url(f"**as_of={day}**")
            await app.ready()
        api = get_json(http, api_tokens.finance, "/v1/margins/portfolio", as_of=day, limit=1)
        want = {k: shown(api[k], unit) for k, unit in CARDS.items()}
        want["loss_making_assignments"] = str(api["loss_making_assignments"])
        assert await _cards(app) == want
        if day == AS_OF:
            await app.check("portfolio")
    # The trend is drawn, and the largest impact of the week is the raise request.
    assert await app.page.locator("#trend-chart canvas").count() == 1
    await app.goto(f"/app/finance?as_of={AS_OF}")
    impacts = app.page.locator("#impacts tbody tr")
    assert await impacts.count() == 1
    assert "\u221296.00" in await impacts.first.inner_text()


async def test_a_csv_link_downloads(finance: AppPage, seeded: dict[str, str]) -> None:
    panel = finance.page.get_by_role("region", name="By client")
    # Sorting: by margin, largest first, then smallest first (Zones Inc, 4.00 %).
    first_client = panel.locator("tbody tr").first
    assert "Northwind Logistics" in await first_client.inner_text()
    # Two clicks before the table is redrawn, on a slow network where the first answer comes
    # last: the second click still turns the order round, and the late first answer does not
    # paint over it.
    delays = [1.5, 0.0]

    async def late_first(route: Route) -> None:
        await asyncio.sleep(delays.pop(0) if delays else 0.0)
        await route.continue_()

    await finance.page.route("**/v1/margins/clients?*", late_first)
    async with finance.page.expect_event(
        "requestfinished", lambda r: "sort=-margin_pct" in r.url, timeout=15_000
    ):
        await panel.get_by_role("button", name="Margin", exact=True).click()
        await panel.get_by_role("button", name="Margin", exact=True).click()
        margin = finance.page.get_by_role("button", name="Margin", exact=True)
        # The Margin header itself: the table starts out sorted descending by weekly GP.
        await panel.locator("th[aria-sort=ascending]", has=margin).wait_for()
    await finance.page.unroute("**/v1/margins/clients?*")
    # The late answer has arrived: once the page has taken it (the table is no longer busy),
    # the order is still the one asked for last.
    await expect(panel.locator("table")).not_to_have_attribute("aria-busy", "true")
    assert await panel.locator("th[aria-sort=ascending]", has=margin).count() == 1
    assert "Zones Inc" in await first_client.inner_text()
    assert "csort=margin_pct" in finance.page.url
    async with finance.page.expect_download() as info:
        await panel.get_by_role("link", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename == f"clients-{AS_OF}.csv"
    rows = list(csv.DictReader(io.StringIO(open(await download.path()).read())))  # noqa: SIM115
    assert {r["client_id"]: r["weekly_gross_profit"] for r in rows} == {
        seeded["cl"]: "60.00",
        seeded["cl2"]: "200.00",  # 25.00 / 35.00 until its raise of 2026-12-07: 5.00 × 40 h
    }


async def test_drill_down_to_designs_worked_example(
    finance: AppPage, seeded: dict[str, str]
) -> None:
    await finance.page.locator("#clients").get_by_role("link", name="Zones Inc").click()
    await finance.ready()
    assert finance.page.url.endswith(f"/app/finance/clients/{seeded['cl']}?as_of={AS_OF}")
    # The client's health: a score out of 100, its parts, a sparkline of 26 weeks.
    assert await finance.page.locator("#health-chart canvas").count() == 1
    assert await finance.page.locator("#health-parts tbody tr").count() == 8
    assert (await finance.page.locator("#health-score").inner_text()).endswith("/ 100")
    actual = await finance.page.get_by_role("region", name="Actual against plan").inner_text()
    assert "Remaining GP forecast" in actual and "at plan" in actual
    await finance.check("client")
    await finance.page.get_by_role("link", name=seeded["c"]).click()
    await finance.ready()
    await finance.check("contract")
    timeline = await finance.page.get_by_role("region", name="Event timeline").inner_text()
    assert (
        f"Raise requested for Dana Reyes ({seeded['a']}) by the client: pay 30.00 → 32.00, "
        "client's budget 37.50." in timeline
    )
    alerts = await finance.page.get_by_role("region", name="Alerts").inner_text()
    assert "LOSS_POSITION" in alerts and "RAISE_ABSORBED" in alerts
    await finance.goto(f"/app/finance/contracts/{seeded['c2']}")
    renamed = await finance.page.get_by_role("region", name="Event timeline").inner_text()
    assert (
        "Contract amended from 2026-11-16: client name Northwind Logistics → "
        "Northwind Logistics Group." in renamed
    )
    await finance.goto(f"/app/finance/contracts/{seeded['c']}")
    row = finance.page.locator(f"#assignments tr[data-assignment='{seeded['a']}']")
    assert "OK" in await row.inner_text()
    await row.get_by_role("link", name=seeded["a"]).click()
    await finance.ready()
    figures = await finance.page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('#figures [data-figure]')].map(
             d => [d.dataset.figure, d.textContent]))"""
    )
    assert {k: figures[k] for k in ("pay_rate", "bill_rate", "burden_pct", "hours_per_week",
            "markup_pct", "burdened_cost", "margin_per_hour", "margin_pct",
            "weekly_gross_profit")} == {
        "pay_rate": "30.00", "bill_rate": "37.50", "burden_pct": "20.00 %",
        "hours_per_week": "40.00", "markup_pct": "25.00 %", "burdened_cost": "36.00",
        "margin_per_hour": "1.50", "margin_pct": "4.00 %", "weekly_gross_profit": "60.00",
    }  # fmt: skip
    assert await finance.page.locator("#rates-chart canvas").count() == 1
    # Overtime at the default multipliers: pay 1.5 × 30.00, bill 1.5 × 37.50, 56.25 − 54.00.
    ot = await finance.page.evaluate(
        """Object.fromEntries([...document.querySelectorAll('#ot-figures [data-figure]')].map(
             d => [d.dataset.figure, d.textContent]))"""
    )
    assert {k: ot[k] for k in ("ot_pay_rate", "ot_bill_rate", "margin_per_ot_hour")} == {
        "ot_pay_rate": "45.00", "ot_bill_rate": "56.25", "margin_per_ot_hour": "2.25",
    }  # fmt: skip
    # Planned against actual hours: a chart, a week per row, the forecast at the plan.
    assert await finance.page.locator("#hours-chart canvas").count() == 1
    assert await finance.page.locator("#hours tbody tr").count() >= 1
    hours = await finance.page.get_by_role("region", name="Hours worked against plan").inner_text()
    assert "at the plan" in hours
    await finance.check("assignment")


async def test_a_table_wider_than_the_screen_says_it_scrolls(
    finance: AppPage, seeded: dict[str, str]
) -> None:
    """Issue #21: on a narrow screen the change columns sat behind a scroll with no hint."""
    await finance.page.set_viewport_size({"width": 640, "height": 900})
    await finance.goto(f"/app/finance?as_of={AS_OF}")
    impacts = finance.page.locator("#impacts").locator("xpath=../preceding-sibling::p[1]")
    await expect(impacts).to_be_visible()
    await expect(impacts).to_have_text("More columns to the right: scroll the table sideways.")
    await finance.check("portfolio-narrow")
