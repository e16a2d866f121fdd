"""Overtime and hours actually worked over HTTP, by the real writer, projector and API: DESIGN's
worked example (P 30.00, B 37.50, b 20, ot_bill_multiplier 1.4, H 40, H_ot 5), a week of
reported hours and its correction, the refusals of HoursReported, and a v1 event beside v2."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulation.examples import OMIT, example
from tests.support import overtime_example as worked
from tests.support.http import auth, get_json, log_of, post, posted
from tests.support.overtime_example import START
from tests.support.services import Tokens
from tests.support.stack import unique


def _placed(
    http: httpx.Client, tokens: Tokens, client_id: str = "CL-7", **assignment: Any
) -> tuple[str, str]:
    """The worked example submitted as v2 events, on a contract and an assignment of their own."""
    cid, aid = unique("C"), unique("A")
    signed = worked.signed(
        contract_id=cid,
        client_id=client_id,
        account_manager_id=tokens.am_id,
        conversion_fee_waived_after_hours=OMIT,
        schema_version=2,
    )
    started = _started(cid, aid, **({"schema_version": 2} | assignment))
    posted(http, tokens.am, signed, started)
    return cid, aid


def _started(cid: str, aid: str, **fields: Any) -> dict[str, Any]:
    return worked.started(contract_id=cid, assignment_id=aid, **fields)


def _hours(cid: str, aid: str, **fields: Any) -> dict[str, Any]:
    return example("HoursReported", contract_id=cid, assignment_id=aid, **fields)


def test_designs_overtime_example_through_the_api(http: httpx.Client, api_tokens: Tokens) -> None:
    _, aid = _placed(http, api_tokens)
    m = get_json(http, api_tokens.am, f"/v1/margins/assignments/{aid}", as_of=START)
    assert {
        k: m[k]
        for k in (
            "ot_pay_rate",
            "ot_bill_rate",
            "ot_burdened_cost",
            "margin_per_ot_hour",
            "margin_per_hour",
            "weekly_gross_profit",
            "planned_ot_hours_per_week",
            "ot_exempt",
        )
    } == {
        "ot_pay_rate": "45.00",  # 1.5 × 30.00
        "ot_bill_rate": "52.50",  # 1.4 × 37.50
        "ot_burdened_cost": "54.00",
        "margin_per_ot_hour": "-1.50",  # every overtime hour loses money
        "margin_per_hour": "1.50",
        "weekly_gross_profit": "52.50",  # 60.00 − 7.50
        "planned_ot_hours_per_week": "5.00",
        "ot_exempt": False,
    }
    assert m["remaining_gross_profit"] == "630.00"  # 12 weeks × 52.50


def test_a_week_of_hours_and_its_correction(http: httpx.Client, api_tokens: Tokens) -> None:
    cid, aid = _placed(http, api_tokens)
    first = _hours(cid, aid, week="2026-01-12", regular_hours="40", ot_hours="6", dt_hours="0")
    fix = _hours(cid, aid, week="2026-01-12", regular_hours="32", ot_hours="2", dt_hours="1")
    posted(http, api_tokens.am, first, fix)

    body = get_json(http, api_tokens.am, f"/v1/margins/assignments/{aid}/hours", as_of="2026-01-18")
    week1, week2 = body["weeks"]
    assert (week1["week"], week1["actual_hours"], week1["planned_gross_profit"]) == (
        "2026-01-05",
        None,
        "52.50",
    )
    # The correction counts: 1.50 × 32 − 1.50 × 2 + 3.00 × 1 (DT: 75.00 − 72.00) = 48.00.
    assert {k: week2[k] for k in week2 if k != "source"} == {
        "week": "2026-01-12",
        "planned_hours": "45.00",
        "planned_gross_profit": "52.50",
        "actual_hours": "35.00",
        "actual_gross_profit": "48.00",
        "variance": "-4.50",
        "regular_hours": "32.00",
        "ot_hours": "2.00",
        "dt_hours": "1.00",
        "corrected": True,
    }
    assert (body["actual_gross_profit_to_date"], body["planned_gross_profit_to_date"]) == (
        "48.00",
        "52.50",
    )
    assert body["variance_to_date"] == "-4.50"
    # Run rate: 48.00 a week over the 71 days left (2026-01-18 → 2026-03-30).
    assert body["forecast_basis"] == "run_rate"
    assert body["forecast_remaining_gross_profit"] == "486.86"  # 48 × 71 / 7
    c = get_json(http, api_tokens.am, f"/v1/margins/contracts/{cid}/hours", as_of="2026-01-18")
    assert (c["actual_gross_profit_to_date"], c["run_rate_assignments"]) == ("48.00", 1)
    # The audit log words the second report as a correction (web app); both are in the log.
    assert [e["type"] for e in log_of(http, api_tokens.admin, cid)][-2:] == [
        "HoursReported",
        "HoursReported",
    ]


REFUSED: dict[str, tuple[dict[str, Any], dict[str, Any], int, str, str]] = {
    # name: (assignment fields, hours fields, status, field, code)
    "OT hours on an ot_exempt assignment": (
        {"ot_exempt": True, "planned_ot_hours_per_week": "0"},
        {"ot_hours": "3"},
        409,
        "ot_hours",
        "ot_exempt",
    ),
    "negative hours": ({}, {"regular_hours": "-1"}, 422, "regular_hours", "invalid_event"),
    "more than 168 hours in one field": ({}, {"ot_hours": "169"}, 422, "ot_hours", "invalid_event"),
    "more than 168 hours together": (
        {},
        {"regular_hours": "100", "ot_hours": "60", "dt_hours": "10"},
        422,
        "dt_hours",
        "invalid_event",
    ),
    "a week that is not a Monday": ({}, {"week": "2026-01-14"}, 422, "week", "invalid_event"),
    "a week before the term": ({}, {"week": "2025-12-29"}, 409, "week", "week_outside_term"),
    "a week after the term": ({}, {"week": "2026-04-06"}, 409, "week", "week_outside_term"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_hours_are_refused_naming_the_field(
    case: str, http: httpx.Client, api_tokens: Tokens
) -> None:
    assignment, fields, status, field, code = REFUSED[case]
    cid, aid = _placed(http, api_tokens, **assignment)
    before = log_of(http, api_tokens.admin, cid)
    r = post(http, api_tokens.am, _hours(cid, aid, **({"week": "2026-01-12"} | fields)))
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code
    assert [e["field"] for e in body["errors"]] == [field]
    assert all(e["reason"] for e in body["errors"])
    assert log_of(http, api_tokens.admin, cid) == before


def test_a_v1_assignment_beside_v2_ones(http: httpx.Client, api_tokens: Tokens) -> None:
    cid, _ = _placed(http, api_tokens)
    aid = unique("A")
    v1 = _started(cid, aid, planned_ot_hours_per_week=OMIT, ot_exempt=OMIT, schema_version=1)
    posted(http, api_tokens.am, v1)
    m = get_json(http, api_tokens.am, f"/v1/margins/assignments/{aid}", as_of=START)
    # Upcast: no planned OT, so the v1 week; an OT hour priced at the contract's 1.4.
    assert (m["weekly_gross_profit"], m["margin_per_ot_hour"], m["planned_ot_hours_per_week"]) == (
        "60.00",
        "-1.50",
        "0.00",
    )
    [logged] = [e for e in log_of(http, api_tokens.admin, cid) if e.get("assignment_id") == aid]
    assert logged["schema_version"] == 2  # as read, upcast; the log itself holds it as sent


def test_a_clients_health_by_hand(http: httpx.Client, api_tokens: Tokens) -> None:
    client = unique("CL")
    cid, aid = _placed(http, api_tokens, client_id=client)
    posted(
        http,
        api_tokens.am,
        example(
            "ClientComplaintLogged",
            contract_id=cid,
            legal_threat=True,
            occurred_at="2026-01-20T09:00:00+00:00",
        ),
        *(
            example(
                "ClientContactLogged",
                contract_id=cid,
                direction="outbound",
                responded=False,
                occurred_at=f"2026-01-2{d}T09:00:00+00:00",
            )
            for d in (1, 2)
        ),
        *(_hours(cid, aid, week=w, regular_hours="20", ot_hours="0") for w in WEEKS),
    )
    body = get_json(
        http, api_tokens.finance, f"/v1/margins/clients/{client}/health", as_of="2026-01-25"
    )
    assert {p["name"]: p["points"] for p in body["parts"]} == {
        "contact_recency": 20,  # no two-way contact ever
        "contact_response": 10,  # 2 outbound in a row unanswered
        "complaints": 0,
        "legal_threats": 15,
        "bypass_threats": 0,
        "raise_and_markup_pressure": 0,
        "gross_profit_trend": 0,  # nothing 13 weeks ago to compare with
        "hours_shortfall": 9,  # 3 weeks of 20 h against 45 planned
    }
    assert body["score"] == 46
    assert len(body["history"]) == 26 and body["history"][-1] == {
        "day": "2026-01-25",
        "score": 46,
    }
    assert body["history"][0]["score"] == 80  # 2025-08-03: nothing logged yet but silence
    other = http.get(f"/v1/margins/clients/{client}/health", headers=auth(api_tokens.other_am))
    assert other.status_code == 404


WEEKS = ("2026-01-05", "2026-01-12", "2026-01-19")


def test_a_falling_client_is_alerted_and_its_health_is_a_sortable_column(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    client = unique("CH")
    cid, aid = _placed(http, api_tokens, client_id=client)
    answers = posted(
        http,
        api_tokens.am,
        # Signed 2026-01-02: 80 (no two-way contact yet).
        example(
            "ClientContactLogged",
            contract_id=cid,
            direction="inbound",
            occurred_at="2026-01-06T09:00:00+00:00",
        ),  # 100
        *(
            example(
                "ClientComplaintLogged",
                contract_id=cid,
                legal_threat=True,
                occurred_at=f"2026-01-2{d}T09:00:00+00:00",
            )
            for d in (0, 1)
        ),  # 85; then 69 (the contact 15 days ago: 1 off): 31 down within 30 days (medium)
        example(
            "BypassThreatReported",
            contract_id=cid,
            assignment_id=aid,
            occurred_at="2026-01-22T09:00:00+00:00",
        ),  # 100 - 30 - 10 - 2 (16 days) = 58
        example(
            "ClientContactLogged",
            contract_id=cid,
            direction="outbound",
            responded=False,
            occurred_at="2026-01-23T09:00:00+00:00",
        ),  # 100 - 30 - 10 - 5 - 3 (17 days) = 52
        example(
            "ClientComplaintLogged",
            contract_id=cid,
            occurred_at="2026-01-24T09:00:00+00:00",
        ),  # 100 - 30 - 10 - 5 - 5 - 4 (18 days) = 46: below 50 (high)
    )
    falling = [
        [a for a in ans["alerts"] if a["rule"] == "CLIENT_HEALTH_FALLING"] for ans in answers
    ]
    assert [[a["severity"] for a in f] for f in falling] == [[], [], ["medium"], [], [], ["high"]]
    assert falling[2][0]["message"].startswith(
        f"{falling[2][0]['client_name']}'s health (contract {cid}) fell from 100 to 69 within "
        "30 days: legal threats −30"
    )
    assert "fell from 52 to 46, below 50" in falling[5][0]["message"]

    health = get_json(
        http, api_tokens.finance, f"/v1/margins/clients/{client}/health", as_of="2026-01-24"
    )
    assert health["score"] == 46  # the client page says what the rule saw
    table = get_json(
        http,
        api_tokens.finance,
        "/v1/margins/clients",
        as_of="2026-01-24",
        sort="health_score",
        limit=1000,
    )
    rows = table["rows"]
    assert {r["client_id"]: r["health_score"] for r in rows}[client] == 46
    scores = [r["health_score"] for r in rows if r["health_score"] is not None]
    assert scores == sorted(scores)
    csv = http.get(
        "/v1/margins/clients",
        params={"as_of": "2026-01-24", "sort": "-health_score", "format": "csv"},
        headers=auth(api_tokens.finance),
    )
    assert csv.status_code == 200 and "health_score" in csv.text.splitlines()[0]
    managers = get_json(
        http,
        api_tokens.am,
        "/v1/margins/account-managers",
        as_of="2026-01-24",
        sort="-health_score",
        limit=1000,
    )
    [mine] = managers["rows"]
    assert isinstance(mine["health_score"], int) and 0 <= mine["health_score"] <= 100
