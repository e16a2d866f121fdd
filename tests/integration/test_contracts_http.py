"""GET /v1/contracts (an account manager's contracts at a glance), GET /v1/schema/events and
the alert board's filters and exposure totals on GET /v1/alerts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from events.schema import event_json_schemas
from projections.risk.rules import RULES, TIMER_RULES
from simulation.examples import OMIT, example
from tests.support.http import auth, post
from tests.support.services import Services, Tokens
from tests.support.stack import unique


def _contract(cid: str, am_id: str, client_id: str, floor: str) -> list[dict[str, Any]]:
    """DESIGN's worked example (P 30.00, B 37.50, burden 20, 40 h: markup 25 %), active today."""
    return [
        example(
            "ContractSigned", contract_id=cid, account_manager_id=am_id, client_id=client_id,
            client_name=f"Client {client_id}", start_date="2026-01-05", end_date="2028-12-31",
            markup_floor_pct=floor, burden_pct="20", msp_fee_pct=OMIT,
        ),
        example(
            "AssignmentStarted", contract_id=cid, assignment_id="A-1", burden_pct=OMIT,
            start_date="2026-01-05", expected_end_date="2028-06-30",
        ),
    ]  # fmt: skip


def _submit(http: httpx.Client, token: str, events: list[dict[str, Any]]) -> list[Any]:
    r = post(http, token, {"events": events})
    assert r.status_code in (200, 201), r.text
    results = r.json()["results"]
    assert all(x["status"] == "accepted" for x in results), results
    return list(results)


def test_my_contracts_status_open_items_and_scope(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    client = unique("CL")
    green, amber, red = unique("C"), unique("C"), unique("C")
    _submit(http, api_tokens.am, _contract(green, api_tokens.am_id, client, "20"))
    _submit(http, api_tokens.am, _contract(amber, api_tokens.am_id, client, "30"))
    _submit(
        http,
        api_tokens.am,
        [
            *_contract(red, api_tokens.am_id, client, "15"),
            example(
                "RaiseRequested", contract_id=red, raise_request_id="R-9", assignment_id="A-1"
            ),
            example(
                "RatesAdjusted", contract_id=red, assignment_id="A-1", pay_rate="32.00",
                bill_rate="37.50", effective_date="2026-02-01",
            ),
            example("MarkupNegotiationOpened", contract_id=red, negotiation_id="N-9"),
        ],
    )  # fmt: skip

    r = http.get("/v1/contracts", headers=auth(api_tokens.am), params={"limit": 1000})
    assert r.status_code == 200, r.text
    mine = {c["contract_id"]: c for c in r.json()["contracts"]}
    assert {green, amber, red} <= set(mine)
    assert all(c["account_manager_id"] == api_tokens.am_id for c in mine.values())
    assert mine[green]["margin_status"] == "green"
    assert mine[amber]["margin_status"] == "amber"
    assert "floor" in mine[amber]["margin_status_text"]
    assert mine[red]["margin_status"] == "red"
    assert mine[red]["assignments"][0]["margin_per_hour"] == "-0.90"
    assert mine[red]["open_raise_requests"] == [{"id": "R-9", "assignment_id": "A-1"}]
    assert mine[red]["open_negotiations"] == [{"id": "N-9", "assignment_id": "A-1"}]
    assert mine[red]["open_alerts"].get("critical", 0) >= 1  # the applied loss position

    one = http.get(f"/v1/contracts/{red}", headers=auth(api_tokens.am))
    assert one.status_code == 200 and one.json()["margin_status"] == "red"
    # Another manager sees none of them, and is refused the contract itself.
    theirs = http.get("/v1/contracts", headers=auth(api_tokens.other_am))
    assert not {green, amber, red} & {c["contract_id"] for c in theirs.json()["contracts"]}
    denied = http.get(f"/v1/contracts/{red}", headers=auth(api_tokens.other_am))
    assert denied.status_code == 404  # as a missing one: ids cannot be enumerated
    assert (
        http.get(
            "/v1/contracts",
            headers=auth(api_tokens.other_am),
            params={"account_manager_id": api_tokens.am_id},
        ).status_code
        == 403
    )
    assert http.get(f"/v1/contracts/{unique('C')}", headers=auth(api_tokens.am)).status_code == 404
    # Finance reads every manager's, or one manager's.
    fin = http.get(
        "/v1/contracts",
        headers=auth(api_tokens.finance),
        params={"account_manager_id": api_tokens.am_id, "limit": 1000},
    ).json()
    assert {green, amber, red} <= {c["contract_id"] for c in fin["contracts"]}
    assert fin["total"] >= 3

    # The alert board's filters: by client and by account manager, with totals per severity.
    by_client = http.get(
        "/v1/alerts", headers=auth(api_tokens.finance), params={"client_id": client}
    ).json()
    assert by_client["alerts"] and {a["contract_id"] for a in by_client["alerts"]} <= {
        green, amber, red
    }  # fmt: skip
    assert all(a["client_id"] == client for a in by_client["alerts"])
    totals = by_client["totals"]
    assert set(totals) == {"critical", "high", "medium", "low"}
    assert sum(t["count"] for t in totals.values()) == len(by_client["alerts"])
    critical = [a for a in by_client["alerts"] if a["severity"] == "critical"]
    assert totals["critical"]["exposure"] == str(
        sum((Decimal(a["exposure"]) for a in critical), Decimal("0")).quantize(Decimal("0.01"))
    )
    by_manager = http.get(
        "/v1/alerts",
        headers=auth(api_tokens.finance),
        params={"account_manager_id": api_tokens.other_am_id},
    ).json()
    assert not {a["contract_id"] for a in by_manager["alerts"]} & {green, amber, red}


def test_schema_endpoint_serves_the_catalogue(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    r = http.get("/v1/schema/events", headers=auth(api_tokens.am))
    assert r.status_code == 200
    assert r.json() == event_json_schemas()
    assert http.get("/v1/schema/events").status_code == 401


def test_alert_schema_endpoint_serves_the_rules_the_risk_agent_runs(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    r = http.get("/v1/schema/alerts", headers=auth(api_tokens.am))
    assert r.status_code == 200
    body = r.json()
    assert set(body["rules"]) == set(RULES) | set(TIMER_RULES)
    assert body["severities"] == ["critical", "high", "medium", "low"]
    assert body["statuses"] == ["open", "acknowledged", "resolved"]
    assert set(body["channel_kinds"]) == {"email", "slack", "teams", "alertmanager", "webhook"}
    assert http.get("/v1/schema/alerts").status_code == 401


def test_a_refusal_names_the_field_it_is_about(
    services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    _submit(http, api_tokens.am, _contract(cid, api_tokens.am_id, unique("CL"), "20"))
    r = post(http, api_tokens.am, example("RatesAdjusted", contract_id=cid, assignment_id="A-9"))
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "unknown_assignment"
    assert body["errors"] == [{"field": "assignment_id", "reason": body["message"]}]
    # A refusal about no one field (a stale expected version) names the whole event.
    stale = post(
        http,
        api_tokens.am,
        {**example("ClientContactLogged", contract_id=cid), "expected_stream_version": 1},
    )
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"
    assert [e["field"] for e in stale.json()["errors"]] == ["(event)"]
