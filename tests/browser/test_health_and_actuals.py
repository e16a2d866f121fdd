"""The portfolio's and a client's actual against plan, and client health as a sortable column of
the client and account-manager tables, in a real browser: the figures equal the API's, the
column sorts, its CSV carries it, no console error and no serious accessibility violation."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import httpx
import pytest

from simulation.examples import OMIT, example
from tests.support.browser import AppPage, MakePage
from tests.support.http import get_json, posted
from tests.support.services import Services, Tokens
from tests.support.stack import unique

AS_OF = "2026-11-30"
WEEKS = (("2026-11-16", "40", "5"), ("2026-11-23", "20", "0"))


def shown(s: str) -> str:
    return f"{Decimal(s):,.2f}".replace("-", "\u2212")


@pytest.fixture(scope="module")
def seeded(services: Services, api_tokens: Tokens) -> dict[str, str]:
    ids = {"c": unique("C"), "a": unique("A"), "cl": unique("CL"), "c2": unique("C"),
           "a2": unique("A"), "cl2": unique("CL")}  # fmt: skip
    sign = {"start_date": "2026-10-01", "end_date": "2027-12-31", "burden_pct": "20",
            "msp_fee_pct": OMIT, "markup_floor_pct": "18", "account_manager_id": api_tokens.am_id,
            "conversion_fee_waived_after_hours": OMIT,
            "occurred_at": "2026-10-01T09:00:00+00:00"}  # fmt: skip
    start = {"start_date": "2026-11-02", "expected_end_date": "2027-06-28", "burden_pct": OMIT,
             "hours_per_week": "40", "occurred_at": "2026-11-02T09:00:00+00:00"}  # fmt: skip
    events: list[dict[str, Any]] = [
        example("ContractSigned", contract_id=ids["c"], client_id=ids["cl"],
                client_name="Quarry Works", **sign),
        example("AssignmentStarted", contract_id=ids["c"], assignment_id=ids["a"],
                pay_rate="30.00", bill_rate="45.00", staffer_name="Ada Okafor", **start),
        *(example("HoursReported", contract_id=ids["c"], assignment_id=ids["a"], week=w,
                  regular_hours=r, ot_hours=ot, dt_hours="0", source="timesheet",
                  occurred_at=f"{w}T18:00:00+00:00") for w, r, ot in WEEKS),
        example("ContractSigned", contract_id=ids["c2"], client_id=ids["cl2"],
                client_name="Harbor Foods", **sign),
        example("AssignmentStarted", contract_id=ids["c2"], assignment_id=ids["a2"],
                pay_rate="20.00", bill_rate="30.00", staffer_name="Lee Moss", **start),
        example("ClientContactLogged", contract_id=ids["c2"], direction="inbound",
                occurred_at="2026-11-25T09:00:00+00:00"),
        example("ClientComplaintLogged", contract_id=ids["c2"], legal_threat=True,
                occurred_at="2026-11-26T09:00:00+00:00"),
    ]  # fmt: skip
    with httpx.Client(base_url=services.url, timeout=60) as http:
        posted(http, api_tokens.am, *events)
    return ids


async def _facts(app: AppPage, region: str) -> dict[str, str]:
    found: dict[str, str] = await app.page.evaluate(
        """id => Object.fromEntries([...document.querySelectorAll(`#${id} dt`)].map(
             dt => [dt.textContent, dt.nextElementSibling.textContent]))""",
        region,
    )
    return found


async def test_the_portfolio_shows_actual_against_plan_and_sorts_clients_by_health(
    browser_page: MakePage,
    services: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    seeded: dict[str, str],
) -> None:
    app = await browser_page(services, api_tokens.finance, f"/app/finance?as_of={AS_OF}")
    hours = get_json(http, api_tokens.finance, "/v1/margins/portfolio/hours", as_of=AS_OF)
    facts = await _facts(app, "portfolio-actual")
    assert facts["Actual GP to date"] == shown(hours["actual_gross_profit_to_date"])
    assert facts["Planned GP of those weeks"] == shown(hours["planned_gross_profit_to_date"])
    assert facts["Variance to date"] == shown(hours["variance_to_date"])
    weeks = app.page.locator("#portfolio-actual-weeks tbody tr")
    assert await weeks.count() >= 2
    # Quarry Works: 9.00 a regular hour (45 − 30 × 1.20): the week of 2026-11-23 earned
    # 20 × 9.00 = 180.00, 180.00 under its plan (Harbor Foods reported nothing that week).
    latest = await weeks.first.inner_text()
    assert latest.split("\t")[:2] == ["2026-11-23", "1 of 2"]
    assert latest.split("\t")[-2:] == ["180.00", "\u2212180.00"]

    clients = app.page.get_by_role("region", name="By client")
    health = app.page.get_by_role("button", name="Health", exact=True)
    for order in ("descending", "ascending"):
        await clients.get_by_role("button", name="Health", exact=True).click()
        # The Health header itself: another column starts out sorted descending.
        await clients.locator(f"th[aria-sort={order}]", has=health).wait_for()
    assert "csort=health_score" in app.page.url
    table = get_json(http, api_tokens.finance, "/v1/margins/clients", as_of=AS_OF,
                 sort="health_score", limit=10)  # fmt: skip
    first = await clients.locator("tbody tr").first.inner_text()
    assert table["rows"][0]["name"] in first and str(table["rows"][0]["health_score"]) in first
    async with app.page.expect_download() as info:
        await clients.get_by_role("link", name="Download CSV").click()
    download = await info.value
    rows = list(csv.DictReader(io.StringIO(open(await download.path()).read())))  # noqa: SIM115
    mine = {r["client_id"]: r["health_score"] for r in rows}
    # Harbor Foods: a legal threat (15 off) and a contact 5 days before: 85.
    assert mine[seeded["cl2"]] == "85"
    managers = app.page.get_by_role("region", name="By account manager")
    assert "Client health (mean)" in await managers.locator("thead").inner_text()
    await app.check("portfolio-health-actuals")


async def test_the_client_page_shows_actual_against_plan_by_week(
    browser_page: MakePage, services: Services, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    app = await browser_page(
        services, api_tokens.finance, f"/app/finance/clients/{seeded['cl']}?as_of={AS_OF}"
    )
    facts = await _facts(app, "actual")
    # 9.00 a regular hour, 13.50 an OT hour (67.50 − 45 × 1.20): 40 × 9.00 + 5 × 13.50 =
    # 427.50, then 20 × 9.00 = 180.00; planned 2 × 360.00.
    assert facts["Actual GP to date"] == "607.50"
    assert facts["Planned GP of those weeks"] == "720.00"
    assert facts["Variance to date"] == "\u2212112.50"
    rows = app.page.locator("#actual-weeks tbody tr")
    assert await rows.count() == 2
    assert "2026-11-23" in await rows.first.inner_text()
    await app.check("client-actuals")
