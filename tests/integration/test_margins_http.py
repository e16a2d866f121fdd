"""What finance reads over HTTP equals the figures worked out by hand."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from simulation.examples import OMIT, example
from tests.support.http import auth, post
from tests.support.services import Tokens
from tests.support.stack import unique


def _sign(cid: str, am_id: str, **terms: Any) -> dict[str, Any]:
    base = {
        "start_date": "2026-01-05",
        "end_date": "2027-12-31",
        "burden_pct": "20",
        "msp_fee_pct": OMIT,
        "conversion_fee_waived_after_hours": OMIT,
    }
    return example("ContractSigned", contract_id=cid, account_manager_id=am_id, **(base | terms))


def _start(cid: str, aid: str, **fields: Any) -> dict[str, Any]:
    base = {"start_date": "2026-01-05", "expected_end_date": "2027-07-26", "burden_pct": OMIT}
    return example("AssignmentStarted", contract_id=cid, assignment_id=aid, **(base | fields))


def test_designs_worked_example_through_the_api(http: httpx.Client, api_tokens: Tokens) -> None:
    cid, aid = unique("C"), unique("A")
    for e in (
        _sign(cid, api_tokens.am_id, conversion_fee_pct="20"),
        _start(
            cid,
            aid,
            pay_rate="30.00",
            bill_rate="37.50",
            hours_per_week="40",
            expected_end_date="2027-06-28",
        ),
    ):
        assert post(http, api_tokens.am, e).status_code == 201

    # The client asks for a raise to 32.00 at the same bill rate, on 2026-11-30 (a date past on
    # any day this runs: the API refuses an event dated more than a day ahead).
    ask = example(
        "RaiseRequested",
        contract_id=cid,
        assignment_id=aid,
        requested_pay_rate="32.00",
        client_max_bill_rate="37.50",
        occurred_at="2026-11-30T09:00:00+00:00",
    )
    r = post(http, api_tokens.am, ask)
    assert r.status_code == 201, r.text
    [impact] = r.json()["margin_impacts"]
    # before: markup (37.50/30 − 1)×100 = 25; burdened 30×1.2 = 36.00; margin 1.50/h; ×40 = 60.00
    # after:  markup (37.50/32 − 1)×100 = 17.1875; burdened 38.40; margin −0.90/h; ×40 = −36.00
    # 2026-11-30 → 2027-06-28 is 210 days = 30 weeks: 60×30 = 1800.00, −36×30 = −1080.00
    assert {k: impact[k] for k in impact if k.startswith(("before_", "after_", "delta_"))} == {
        "before_pay_rate": "30.00",
        "after_pay_rate": "32.00",
        "delta_pay_rate": "2.00",
        "before_bill_rate": "37.50",
        "after_bill_rate": "37.50",
        "delta_bill_rate": "0.00",
        "before_markup_pct": "25.00",
        "after_markup_pct": "17.19",
        "delta_markup_pct": "-7.81",
        "before_margin_per_hour": "1.50",
        "after_margin_per_hour": "-0.90",
        "delta_margin_per_hour": "-2.40",
        "before_weekly_gross_profit": "60.00",
        "after_weekly_gross_profit": "-36.00",
        "delta_weekly_gross_profit": "-96.00",
        "before_remaining_gross_profit": "1800.00",
        "after_remaining_gross_profit": "-1080.00",
        "delta_remaining_gross_profit": "-2880.00",
    }
    assert (impact["basis"], impact["counted_from"]) == ("proposed", "2026-11-30")

    m = http.get(
        f"/v1/margins/assignments/{aid}",
        params={"as_of": "2026-11-30"},
        headers=auth(api_tokens.am),
    ).json()
    assert {k: m[k] for k in (
        "markup_pct", "spread", "burdened_cost", "margin_per_hour", "margin_pct",
        "weekly_gross_profit", "break_even_markup_pct", "remaining_weeks",
        "remaining_gross_profit", "hours_worked", "conversion_fee_due",
    )} == {
        "markup_pct": "25.00",
        "spread": "7.50",
        "burdened_cost": "36.00",
        "margin_per_hour": "1.50",
        "margin_pct": "4.00",  # 1.50 / 37.50
        "weekly_gross_profit": "60.00",
        "break_even_markup_pct": "20.00",  # = burden when there is no MSP fee
        "remaining_weeks": "30.00",
        "remaining_gross_profit": "1800.00",
        "hours_worked": "1880.00",  # 2026-01-05 → 2026-11-30: 329 days = 47 weeks × 40 h
        "conversion_fee_due": "12480.00",  # 20 % × 30.00 × 40 × 52
    }  # fmt: skip
    assert m["open_raise_requests"] == [ask["raise_request_id"]] and m["at_risk"] is True


def test_a_contract_with_an_msp_fee(http: httpx.Client, api_tokens: Tokens) -> None:
    cid = unique("C")
    a1, a2 = unique("A"), unique("A")
    for e in (
        _sign(cid, api_tokens.am_id, burden_pct="18", msp_fee_pct="3", conversion_fee_pct="0"),
        _start(cid, a1, pay_rate="40.00", bill_rate="52.00", hours_per_week="37.5"),
        _start(cid, a2, pay_rate="25.00", bill_rate="30.00", hours_per_week="40"),
    ):
        assert post(http, api_tokens.am, e).status_code == 201

    c = http.get(
        f"/v1/margins/contracts/{cid}", params={"as_of": "2026-06-01"}, headers=auth(api_tokens.am)
    ).json()
    one = next(a for a in c["assignments"] if a["assignment_id"] == a1)
    # a1: burdened 40 × 1.18 = 47.20; fee 52 × 3 % = 1.56; margin 52 − 47.20 − 1.56 = 3.24/h
    #     margin % 3.24 / 52 = 6.2307…; weekly 3.24 × 37.5 = 121.50
    #     break-even (1.18 / 0.97 − 1) × 100 = 21.6494…
    assert (one["margin_per_hour"], one["margin_pct"], one["weekly_gross_profit"]) == (
        "3.24",
        "6.23",
        "121.50",
    )
    assert one["break_even_markup_pct"] == "21.65"
    # a2: burdened 25 × 1.18 = 29.50; fee 0.90; margin 30 − 29.50 − 0.90 = −0.40/h; × 40 = −16.00
    # contract: weekly 121.50 − 16.00 = 105.50; billing 52×37.5 + 30×40 = 1950 + 1200 = 3150
    #           margin % 105.50 / 3150 = 3.3492…; markup weighted by pay × hours:
    #           (12×37.5 + 5×40) / (40×37.5 + 25×40) = 650 / 2500 = 26 %
    assert (c["weekly_gross_profit"], c["weekly_billing"], c["margin_pct"], c["markup_pct"]) == (
        "105.50",
        "3150.00",
        "3.35",
        "26.00",
    )
    assert (c["active_assignments"], c["loss_making_assignments"]) == (2, 1)


def test_as_of_before_and_after_a_rate_change(http: httpx.Client, api_tokens: Tokens) -> None:
    cid, aid = unique("C"), unique("A")
    for e in (
        _sign(cid, api_tokens.am_id),
        _start(cid, aid, pay_rate="30.00", bill_rate="37.50", hours_per_week="40"),
        example(
            "RatesAdjusted",
            contract_id=cid,
            assignment_id=aid,
            pay_rate="31.00",
            bill_rate="40.30",
            effective_date="2026-07-01",
        ),
    ):
        assert post(http, api_tokens.am, e).status_code == 201

    def on(day: str) -> dict[str, Any]:
        r = http.get(
            f"/v1/margins/assignments/{aid}", params={"as_of": day}, headers=auth(api_tokens.am)
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    before, after = on("2026-06-30"), on("2026-07-01")
    assert (before["pay_rate"], before["bill_rate"], before["weekly_gross_profit"]) == (
        "30.00",
        "37.50",
        "60.00",
    )
    # 40.30 − 31 × 1.2 = 3.10/h; × 40 = 124.00; markup 40.30/31 − 1 = 30 %
    assert (after["pay_rate"], after["bill_rate"], after["weekly_gross_profit"]) == (
        "31.00",
        "40.30",
        "124.00",
    )
    assert after["markup_pct"] == "30.00"

    impacts = http.get(
        "/v1/margin-impacts",
        params={"contract_id": cid, "basis": "applied"},
        headers={**auth(api_tokens.am), "Accept": "text/csv"},
    )
    rows = list(csv.DictReader(io.StringIO(impacts.text)))
    assert [(r["assignment_id"], r["delta_weekly_gross_profit"]) for r in rows] == [(aid, "64.00")]


def test_account_managers_read_only_their_own(http: httpx.Client, api_tokens: Tokens) -> None:
    cid, aid = unique("C"), unique("A")
    for e in (_sign(cid, api_tokens.am_id), _start(cid, aid)):
        assert post(http, api_tokens.am, e).status_code == 201
    other = auth(api_tokens.other_am)
    # Another manager's contract answers exactly as a missing one (issue #21: a 403 against a
    # 404 let contract ids be enumerated).
    for path in (f"/v1/margins/contracts/{cid}", f"/v1/margins/assignments/{aid}"):
        theirs = http.get(path, headers=other)
        missing = http.get(path.replace(cid, unique("C")).replace(aid, unique("A")), headers=other)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["errors"][0]["field"] == missing.json()["errors"][0]["field"]
    mine = http.get(f"/v1/margins/account-managers/{api_tokens.am_id}", headers=other).status_code
    assert mine == 404
    portfolio = http.get("/v1/margins/portfolio", headers=other).json()
    assert cid not in {c["contract_id"] for c in portfolio["contracts"]}
    finance = auth(api_tokens.finance)
    assert http.get(f"/v1/margins/contracts/{cid}", headers=finance).status_code == 200


def test_a_back_dated_amendment_counts_from_its_date_under_a_later_one(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    only = {term: OMIT for term in ("client_name", "start_date", "end_date", "markup_floor_pct",
            "burden_pct", "msp_fee_pct", "min_assignment_weeks", "conversion_fee_pct",
            "conversion_fee_waived_after_hours", "non_solicit_months")}  # fmt: skip
    for e in (
        _sign(cid, api_tokens.am_id, markup_floor_pct="18"),
        _start(cid, aid, pay_rate="30.00", bill_rate="37.50", hours_per_week="40"),
        # Recorded first: burden 25 % and a floor of 22 % from March.
        example(
            "ContractAmended",
            **(
                only
                | {
                    "contract_id": cid,
                    "effective_date": "2026-03-01",
                    "burden_pct": "25",
                    "markup_floor_pct": "22",
                }
            ),
        ),
        # Recorded later, back-dated: an MSP fee of 2 % from February.
        example(
            "ContractAmended",
            **(only | {"contract_id": cid, "effective_date": "2026-02-01", "msp_fee_pct": "2"}),
        ),
    ):
        assert post(http, api_tokens.am, e).status_code == 201, e

    def on(day: str) -> tuple[str, str, str]:
        a = http.get(
            f"/v1/margins/assignments/{aid}", params={"as_of": day}, headers=auth(api_tokens.am)
        )
        c = http.get(
            f"/v1/margins/contracts/{cid}", params={"as_of": day}, headers=auth(api_tokens.am)
        )
        assert a.status_code == 200 and c.status_code == 200, (a.text, c.text)
        return a.json()["margin_per_hour"], a.json()["msp_fee_pct"], c.json()["markup_floor_pct"]

    # January, as signed: 37.50 − 30.00 × 1.20 = 1.50/h.
    assert on("2026-01-15") == ("1.50", "0.00", "18.00")
    # February: the back-dated fee, 37.50 × 2 % = 0.75: 1.50 − 0.75 = 0.75/h; burden still 20 %.
    assert on("2026-02-15") == ("0.75", "2.00", "18.00")
    # March: both. 37.50 − 30.00 × 1.25 − 0.75 = −0.75/h; the floor amended to 22 %.
    assert on("2026-03-15") == ("-0.75", "2.00", "22.00")
