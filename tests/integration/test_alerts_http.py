"""Seed 003 as account managers would record it: the alerts DESIGN implies, over HTTP, in the
alerts API and on the Kafka alerts topic; and a replay raises none of them twice."""

from __future__ import annotations

import signal
from typing import Any

import httpx

from events.alerts import Alert
from services.db import connection
from simulation.examples import OMIT, example
from tests.support.http import auth, post
from tests.support.risk import forget, wait_judged
from tests.support.services import Services, Tokens
from tests.support.stack import Stack, unique
from tests.support.stories import seed_003_story
from tests.support.topics import alerts_on


def _rules(alerts: list[dict[str, Any]] | None) -> set[tuple[str, str, str, str | None]]:
    return {
        (a["rule"], a["severity"], a["basis"], a["exposure"])
        for a in alerts or []
        if a["rule"] != "RELATIONSHIP_NEGLECT"
    }


async def test_seed_003_end_to_end(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    story = seed_003_story(cid, aid, api_tokens.am_id)
    answers = {}
    for name, event in story.items():
        r = post(http, api_tokens.am, event)
        assert r.status_code == 201, r.text
        answers[name] = r.json()

    # Before: burdened 30 × 1.12 = 33.60; margin 0.90/h. As asked (33.00 within 34.50):
    # burdened 36.96, margin −2.46/h × 40 = −98.40 a week; 2026-07-06 → 2027-01-04 is 182 days
    # = 26 weeks: remaining −2,558.40, so LOSS_POSITION's exposure is 2,558.40.
    # RAISE_ABSORBED: at today's 15 % markup the raise needs Δbill 3 × 1.15 = 3.45/h; the
    # client offers 0: 3.45 × 40 × 26 = 3,588.00.
    # BELOW_FLOOR: "reduce our markup to accommodate": 33.00 within 34.50 is a 4.55 % markup,
    # below the 15 % floor: (33.00 × 1.15 − 34.50) = 3.45/h × 40 × 26 = 3,588.00.
    assert _rules(answers["asked"]["alerts"]) == {
        ("LOSS_POSITION", "high", "proposed", "2558.40"),
        ("RAISE_ABSORBED", "high", "proposed", "3588.00"),
        ("BELOW_FLOOR", "high", "proposed", "3588.00"),
    }
    assert _rules(answers["declined"]["alerts"]) == set()
    # BYPASS_THREAT: remaining GP 0.90 × 40 × 25 weeks (2026-07-13 → 2027-01-04, 175 days)
    # = 900.00, plus the conversion fee 20 % × 30.00 × 40 × 52 = 12,480.00: 13,380.00.
    assert _rules(answers["threat"]["alerts"]) == {
        ("BYPASS_THREAT", "critical", "applied", "13380.00")
    }
    threat = next(a for a in answers["threat"]["alerts"] if a["rule"] == "BYPASS_THREAT")
    assert "Zones Inc" in threat["message"] and "Dana Reyes" in threat["message"]
    assert threat["assignment_id"] == aid

    listed = http.get("/v1/alerts", params={"contract_id": cid}, headers=auth(api_tokens.am))
    assert listed.status_code == 200
    listed_rules = _rules(listed.json()["alerts"])
    assert listed_rules == _rules(answers["asked"]["alerts"]) | _rules(answers["threat"]["alerts"])

    on_topic = await _alerts_on_topic(ready_stack, services, cid, expected=len(listed_rules))
    assert {(a.rule, a.severity, a.basis) for a in on_topic} >= {
        ("LOSS_POSITION", "high", "proposed"),
        ("RAISE_ABSORBED", "high", "proposed"),
        ("BELOW_FLOOR", "high", "proposed"),
        ("BYPASS_THREAT", "critical", "applied"),
    }

    # Acknowledge (the contract's account manager may), resolve (finance), never backwards.
    aid_ = threat["alert_id"]

    def move(to: str, token: str) -> httpx.Response:
        return http.post(f"/v1/alerts/{aid_}/{to}", headers=auth(token))

    ack = move("acknowledge", api_tokens.am)
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == api_tokens.am_id
    assert move("resolve", api_tokens.am).status_code == 403
    assert move("acknowledge", api_tokens.other_am).status_code == 404  # as a missing one
    done = move("resolve", api_tokens.finance)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert move("acknowledge", api_tokens.finance).status_code == 409


def test_a_raise_passed_through_at_the_same_markup_raises_nothing(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    story = seed_003_story(cid, aid, api_tokens.am_id)
    for name in ("signed", "started", "contact"):
        assert post(http, api_tokens.am, story[name]).status_code == 201
    asked = {**story["asked"], "client_max_bill_rate": "37.95"}  # 33.00 × 1.15: same markup
    r = post(http, api_tokens.am, asked)
    assert r.status_code == 201 and _rules(r.json()["alerts"]) == set()
    approved = example(
        "RaiseApproved", contract_id=cid, raise_request_id="R-003", new_pay_rate="33.00",
        new_bill_rate="37.95", effective_date="2026-07-20", occurred_at="2026-07-10T09:00:00+00:00",
    )  # fmt: skip
    r = post(http, api_tokens.am, approved)
    assert r.status_code == 201 and _rules(r.json()["alerts"]) == set()


async def test_replaying_the_log_raises_no_alert_twice(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid, aid = unique("C"), unique("A")
    for event in seed_003_story(cid, aid, api_tokens.am_id).values():
        assert post(http, api_tokens.am, event).status_code == 201
    async with connection(ready_stack.dsn) as conn:
        mine = "SELECT alert_id FROM alerts WHERE contract_id = $1 ORDER BY alert_id"
        before = await conn.fetch(mine, cid)
        # SIGTERM: the app leaves its consumer group. Then it forgets everything: its group
        # rewound to offset 0, its table's changelog deleted.
        services.kill("risk", signal.SIGTERM)
        await forget(ready_stack, services.topics)
        services.start("risk")  # judges the whole log again, from no state
        await wait_judged(ready_stack, services.topics)
        after = await conn.fetch(mine, cid)
    assert after == before and len(before) >= 3
    on_topic = await _alerts_on_topic(ready_stack, services, cid, expected=3)
    ids = [a.alert_id for a in on_topic]
    assert len(ids) == len(set(ids)), "an alert was published twice"


async def _alerts_on_topic(
    stack: Stack, services: Services, cid: str, expected: int
) -> list[Alert]:
    def mine(a: Alert) -> bool:
        return a.contract_id == cid and a.rule != "RELATIONSHIP_NEGLECT"

    return await alerts_on(stack, services.topics.alerts.name, mine, expected)


def test_the_board_lists_alerts_in_the_order_they_were_raised(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    """Issue #21: alerts came in the order they were stored, not raised: a threat recorded late
    but dated earlier went to the top."""
    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    assert post(http, api_tokens.am, signed).status_code == 201
    for day in ("2026-11-20", "2026-11-10"):  # the second recorded, dated ten days before
        threat = example("BypassThreatReported", contract_id=cid, assignment_id=OMIT,
                         occurred_at=f"{day}T09:00:00+00:00")  # fmt: skip
        r = post(http, api_tokens.am, threat)
        assert r.status_code == 201 and r.json()["alerts"], r.text
    alerts = http.get("/v1/alerts", params={"contract_id": cid, "rule": "BYPASS_THREAT"},
                      headers=auth(api_tokens.finance)).json()["alerts"]  # fmt: skip
    assert [a["raised_at"][:10] for a in alerts] == ["2026-11-20", "2026-11-10"]
