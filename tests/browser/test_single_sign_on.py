"""Signing in through the identity provider's own login page in Chromium (the real provider
the test run starts, deploy/local/oidc), as finance, as an account manager and as an admin,
and what each may then see; people are shown by name, not by id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import expect

from services import tokens
from services.db import connection
from simulation.examples import OMIT, example
from tests.support.browser import SCREENSHOTS, AppPage, MakePage
from tests.support.http import auth
from tests.support.oidc import USERS, person, sign_in
from tests.support.services import Services
from tests.support.stack import Stack, unique


@dataclass(frozen=True)
class Contracts:
    alex: str
    sam: str


@pytest.fixture(scope="module")
async def contracts(sso_services: Services, ready_stack: Stack) -> AsyncIterator[Contracts]:
    """A contract managed by Alex and one by Sam, each recorded in their own name; both have
    signed in once, so the app knows their names."""
    with httpx.Client(base_url=sso_services.url, timeout=60) as client:
        for login in ("alex", "sam"):
            assert sign_in(client, login).status_code == 200
            client.cookies.clear()
    made = {}
    async with (
        connection(ready_stack.dsn) as conn,
        httpx.AsyncClient(base_url=sso_services.url, timeout=60) as http,
    ):
        for login in ("alex", "sam"):
            sub = person(login)["sub"]
            # A machine acting for the account manager (an integration's API token).
            _, token = await tokens.create_token(conn, "account_manager", sub)
            cid = unique("C-sso")
            events = [
                example(
                    "ContractSigned", contract_id=cid, account_manager_id=sub,
                    client_id=unique("CL"), client_name=f"{person(login)['name']}'s client",
                    start_date="2026-01-05", end_date="2028-12-31", msp_fee_pct=OMIT,
                ),
                example(
                    "AssignmentStarted", contract_id=cid, assignment_id="A-1",
                    start_date="2026-01-05", expected_end_date="2028-06-30",
                ),
            ]  # fmt: skip
            r = await http.post("/v1/events", json={"events": events}, headers=auth(token))
            assert r.status_code == 201, r.text
            made[login] = cid
    yield Contracts(made["alex"], made["sam"])


async def _sign_in_through_provider(
    app: AppPage, login: str, start: str = "/", screenshot: bool = False
) -> None:
    await app.goto(start)
    assert "/app/sign-in" in app.page.url
    if screenshot:
        await app.check("sign-in-single-sign-on")
    await app.page.get_by_role("link", name="Sign in with your company account").click()
    # The provider's own page, on its own origin.
    await app.page.get_by_role("heading", name="Local identity provider").wait_for()
    assert not app.page.url.startswith(app.base_url)
    await app.page.get_by_label("Username").fill(login)
    await app.page.get_by_label("Password").fill(USERS[login]["password"])
    if screenshot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await app.page.screenshot(path=str(SCREENSHOTS / "provider-login.png"))
    await app.page.get_by_role("button", name="Sign in").click()
    await app.page.wait_for_url(lambda url: url.startswith(app.base_url + "/app/"))
    await app.ready()


async def test_finance_signs_in_and_reads_every_contract_with_people_by_name(
    browser_page: MakePage, sso_services: Services, contracts: Contracts
) -> None:
    app = await browser_page(sso_services)
    await _sign_in_through_provider(app, "fiona", "/app/finance", screenshot=True)
    assert app.page.url.startswith(app.base_url + "/app/finance")
    await app.page.get_by_text("Signed in as Fiona Reyes (finance)").wait_for()
    # The account managers' ranking names people, not ids.
    table = app.page.locator("table", has_text="Account manager")
    await expect(table.get_by_text("Alex Morgan")).to_be_visible()
    await expect(table.get_by_text("Sam Patel")).to_be_visible()
    await expect(app.page.get_by_text(person("alex")["sub"])).to_have_count(0)
    await app.check("sso-finance-portfolio")
    await app.goto(f"/app/finance/contracts/{contracts.alex}")
    await app.page.get_by_text("managed by Alex Morgan").first.wait_for()
    await (
        app.page.get_by_text("Contract signed with")
        .filter(has_text="managed by Alex Morgan")
        .wait_for()
    )
    await app.page.get_by_text("recorded by Alex Morgan").first.wait_for()
    await app.check("sso-finance-contract")


async def test_an_account_manager_signs_in_and_sees_only_their_contracts(
    browser_page: MakePage, sso_services: Services, contracts: Contracts
) -> None:
    app = await browser_page(sso_services)
    await _sign_in_through_provider(app, "alex")
    assert app.page.url.startswith(app.base_url + "/app/contracts")  # their start page
    await app.page.get_by_text("Signed in as Alex Morgan (account manager)").wait_for()
    rows = app.page.locator("tr[data-contract]")
    await expect(rows.filter(has_text=contracts.alex)).to_have_count(1)
    await expect(rows.filter(has_text=contracts.sam)).to_have_count(0)
    await app.check("sso-account-manager-contracts")
    # Sam's contract reads to Alex as one that does not exist.
    await app.goto(f"/app/finance/contracts/{contracts.sam}")
    await app.page.get_by_role("heading", name="Not found").wait_for()
    await app.check("sso-account-manager-not-theirs", allow=("status of 404",))


async def test_an_admin_signs_in_and_sees_every_contract_and_its_manager(
    browser_page: MakePage, sso_services: Services, contracts: Contracts
) -> None:
    app = await browser_page(sso_services)
    await _sign_in_through_provider(app, "ada", "/app/contracts")
    await app.page.get_by_text("Signed in as Ada Okafor (admin)").wait_for()
    for cid, name in ((contracts.alex, "Alex Morgan"), (contracts.sam, "Sam Patel")):
        row = app.page.locator(f'tr[data-contract="{cid}"]')
        await expect(row.get_by_role("cell", name=name, exact=True)).to_be_visible()
    await app.check("sso-admin-contracts")
    # Signing out ends the session: the app asks to sign in again.
    await app.page.get_by_role("button", name="Sign out").click()
    await app.page.get_by_role("heading", name="Sign in").wait_for()
    await app.goto("/app/contracts")
    assert "/app/sign-in" in app.page.url


async def test_a_person_in_no_group_sees_a_page_saying_why(
    browser_page: MakePage, sso_services: Services
) -> None:
    app = await browser_page(sso_services)
    await app.goto("/app/finance")
    await app.page.get_by_role("link", name="Sign in with your company account").click()
    await app.page.get_by_label("Username").fill("gus")
    await app.page.get_by_label("Password").fill(USERS["gus"]["password"])
    await app.page.get_by_role("button", name="Sign in").click()
    await app.page.get_by_role("heading", name="No access to Markup Ledger").wait_for()
    await expect(app.page.get_by_text("none of the groups that give access")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await app.page.screenshot(path=str(SCREENSHOTS / "sso-no-access.png"))
    await app.goto("/app/finance")
    assert "/app/sign-in" in app.page.url


async def test_an_account_manager_hands_a_contract_over_to_a_colleague_by_name(
    browser_page: MakePage, sso_services: Services, ready_stack: Stack, contracts: Contracts
) -> None:
    alex, sam = person("alex"), person("sam")
    cid = unique("C-hand")
    async with (
        connection(ready_stack.dsn) as conn,
        httpx.AsyncClient(base_url=sso_services.url, timeout=60) as http,
    ):
        _, token = await tokens.create_token(conn, "account_manager", alex["sub"])
        signed = example("ContractSigned", contract_id=cid, account_manager_id=alex["sub"])
        assert (await http.post("/v1/events", json=signed, headers=auth(token))).status_code == 201
    app = await browser_page(sso_services)
    await _sign_in_through_provider(app, "alex", f"/app/events/new?contract_id={cid}")
    page = app.page
    await page.get_by_label("Event type").select_option("AccountManagerChanged")
    field = page.get_by_label("Account manager id")
    await expect(field).to_have_value("")  # not pre-filled with their own id, as for signing
    # The picker offers colleagues by name.
    option = page.locator(f'datalist#am-people option[value="{sam["sub"]}"]')
    await expect(option).to_have_text("Sam Patel")
    await field.fill(sam["sub"])
    await page.get_by_label("Effective date").fill("2026-12-01")
    await page.get_by_label("Reason").fill("Alex moves to the Northern region")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.locator(".am-verdict")).to_have_attribute("data-status", "accepted")
    await app.check("sso-hand-over")
    # Alex no longer sees it; Sam does, with the hand-over in words and by name.
    await app.goto("/app/contracts")
    await expect(page.locator(f'tr[data-contract="{cid}"]')).to_have_count(0)
    await expect(page.locator(f'tr[data-contract="{contracts.alex}"]')).to_have_count(1)
    sam_app = await browser_page(sso_services)
    await _sign_in_through_provider(sam_app, "sam", f"/app/finance/contracts/{cid}")
    await sam_app.page.get_by_text("Contract handed over to Sam Patel from 2026-12-01").wait_for()
    await sam_app.page.get_by_text("recorded by Alex Morgan").first.wait_for()
    await sam_app.check("sso-handed-over-contract")
