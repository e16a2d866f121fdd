"""The Import page in a real browser (admin only): upload the Bullhorn fixture with its mapping,
see the dry run, reload (it is still there), commit, see progress and the result. And its
API's refusals: 403 for finance and account managers, 422 naming the field, 404, 409."""

from __future__ import annotations

import base64

import httpx

from tests.support.browser import SCREENSHOTS, AppPage, MakePage
from tests.support.http import auth
from tests.support.services import ROOT, Services, Tokens

FIXTURE = ROOT / "tests" / "fixtures" / "bullhorn_placements.csv"
MAPPING = ROOT / "tests" / "fixtures" / "bullhorn_mapping.yaml"


async def _cells(app: AppPage, table: str) -> dict[str, str]:
    rows: dict[str, str] = await app.page.evaluate(
        """id => Object.fromEntries([...document.querySelectorAll(`#${id} tbody tr`)].map(
             r => [r.cells[0].textContent, r.cells[1].textContent]))""",
        table,
    )
    return rows


async def test_an_admin_uploads_checks_and_commits(
    browser_page: MakePage, services: Services, api_tokens: Tokens
) -> None:
    app = await browser_page(services, api_tokens.admin)
    await app.page.get_by_role("link", name="Import").click()
    await app.ready()
    await app.page.get_by_label("Placements file").set_input_files(str(FIXTURE))
    await app.page.get_by_label("Mapping (YAML)").fill(MAPPING.read_text())
    await app.page.get_by_role("button", name="Upload and check").click()
    await app.page.wait_for_url("**/app/imports?import=**")
    await app.page.locator("#dry-run").wait_for()
    counts = {
        "AssignmentEnded": "307",
        "AssignmentStarted": "835",
        "ContractSigned": "20",
        "RatesAdjusted": "159",
        "Already in the log": "0",
    }
    assert await _cells(app, "dry-counts") == counts
    portfolio = await _cells(app, "dry-portfolio")
    assert portfolio["Contracts"] == "20" and portfolio["Loss-making assignments"] != "0"
    problems = await app.page.locator("#problems").inner_text()
    assert "dateBegin" in problems and "'Acme Unknown' is not in the mapping" in problems
    await app.check("import-dry-run")
    # The first screen of it, for the README (docs/screenshots/import.png is a copy).
    await app.page.screenshot(path=str(SCREENSHOTS / "import-first-screen.png"))

    await app.page.reload()  # the dry run is the server's: a reload shows it again
    await app.ready()
    await app.page.locator("#dry-run").wait_for()
    await app.page.get_by_role("button", name="Commit import").click()
    await app.page.locator("#progress").wait_for()  # the commit's answer: importing
    await app.page.locator("#outcome").wait_for(timeout=120_000)
    outcome = await _cells(app, "outcome-counts")
    assert outcome["Total appended"] == "1,321" and outcome["Already in the log"] == "0"
    await app.check("import")


async def test_finance_sees_no_import(
    browser_page: MakePage, services: Services, api_tokens: Tokens
) -> None:
    app = await browser_page(services, api_tokens.finance)
    assert not await app.page.get_by_role("link", name="Import").is_visible()
    await app.goto("/app/imports")
    await app.page.get_by_role("heading", name="403 Forbidden").wait_for()
    await app.check("import-forbidden")


def _upload(mapping: str, content: bytes = b"") -> dict[str, str]:
    data = content or FIXTURE.read_bytes()
    return {
        "file_name": "placements.csv",
        "content_base64": base64.b64encode(data).decode(),
        "mapping": mapping,
    }


def test_the_import_api_is_an_admins(services: Services, api_tokens: Tokens) -> None:
    mapping = MAPPING.read_text()
    with httpx.Client(base_url=services.url, timeout=60) as http:
        for token in (api_tokens.finance, api_tokens.am):
            r = http.post("/v1/imports", json=_upload(mapping), headers=auth(token))
            assert r.status_code == 403, r.text
            assert r.json()["errors"][0]["reason"]  # the one error body, with a reason
        r = http.post("/v1/imports", json=_upload(mapping), headers=auth(api_tokens.am))
        assert r.json()["errors"] == [
            {"field": "role", "reason": "only an admin may import, not account_manager"}
        ]
        admin = auth(api_tokens.admin)
        # What cannot be imported at all is said at once, as the import's error.
        r = http.post("/v1/imports", json=_upload("clients: [1"), headers=admin)
        assert r.status_code == 202 and r.json()["stage"] == "failed"
        assert r.json()["error"].startswith("mapping: the mapping is not valid YAML")
        r = http.post(
            "/v1/imports",
            json=_upload(mapping, b"id,clientCorporation.name,payRate,dateBegin\n"),
            headers=admin,
        )
        assert r.status_code == 202 and r.json()["stage"] == "failed"
        assert r.json()["error"].startswith(
            "line 1, column clientBillRate or markUpPercentage: required column missing"
        )
        bad = _upload(mapping) | {"content_base64": "not base64!"}
        r = http.post("/v1/imports", json=bad, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "content_base64"
        missing = "00000000-0000-4000-8000-000000000000"
        assert http.get(f"/v1/imports/{missing}", headers=admin).status_code == 404
        r = http.post("/v1/imports", json=_upload(mapping), headers=admin)
        assert r.status_code == 202 and r.json()["stage"] == "checking"
        import_id = r.json()["import_id"]
        # Committed before its dry run is done, or twice: 409 (whichever comes first here).
        first = http.post(f"/v1/imports/{import_id}/commit", headers=admin)
        second = http.post(f"/v1/imports/{import_id}/commit", headers=admin)
        assert second.status_code == 409, second.text
        assert first.status_code in (202, 409)
        assert (
            http.get(f"/v1/imports/{import_id}", headers=auth(api_tokens.finance)).status_code
            == 403
        )
