"""Every refusal of DESIGN's table, produced over HTTP by the real writer: the status, the
code, a sentence, and a log that did not grow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulation.examples import example
from tests.support.http import history, log_of, post
from tests.support.services import Tokens
from tests.support.stack import unique

# name -> (events accepted first, the offending event's type and overrides, status, code)
CASES: dict[str, tuple[tuple[str, ...], str, dict[str, Any], int, str]] = {
    "unknown_contract": ((), "AssignmentStarted", {}, 404, "unknown_contract"),
    "contract_exists": ((), "ContractSigned", {}, 409, "contract_exists"),
    "contract_terminated": (
        ("ContractTerminated",),
        "AssignmentStarted",
        {},
        409,
        "contract_terminated",
    ),
    "unknown_assignment": ((), "RatesAdjusted", {}, 404, "unknown_assignment"),
    "assignment_exists": (
        ("AssignmentStarted",),
        "AssignmentStarted",
        {},
        409,
        "assignment_exists",
    ),
    "assignment_ended": (
        ("AssignmentStarted", "AssignmentEnded"),
        "RatesAdjusted",
        {},
        409,
        "assignment_ended",
    ),
    # A proposal in the negotiation of an assignment that has since ended (issue #12).
    "assignment_ended_in_negotiation": (
        ("AssignmentStarted", "MarkupNegotiationOpened", "AssignmentEnded"),
        "MarkupProposed",
        {},
        409,
        "assignment_ended",
    ),
    "unknown_negotiation": (
        ("AssignmentStarted",),
        "MarkupProposed",
        {},
        404,
        "unknown_negotiation",
    ),
    "negotiation_closed": (
        ("AssignmentStarted", "MarkupNegotiationOpened", "MarkupAgreed"),
        "MarkupProposed",
        {},
        409,
        "negotiation_closed",
    ),
    "unknown_raise_request": (
        ("AssignmentStarted",),
        "RaiseApproved",
        {},
        404,
        "unknown_raise_request",
    ),
    "raise_request_decided": (
        ("AssignmentStarted", "RaiseRequested", "RaiseDeclined"),
        "RaiseApproved",
        {},
        409,
        "raise_request_decided",
    ),
    "version_conflict": (
        ("AssignmentStarted",),
        "ClientContactLogged",
        {"expected_stream_version": 1},
        409,
        "version_conflict",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refusal(case: str, http: httpx.Client, api_tokens: Tokens) -> None:
    setup, offending_type, overrides, status, code = CASES[case]
    cid = unique("C")
    events = history(cid, api_tokens.am_id, *setup)
    if case == "unknown_contract":
        events = []
    for e in events:
        r = post(http, api_tokens.am, e)
        assert r.status_code == 201, r.text
    before = log_of(http, api_tokens.admin, cid)

    r = post(http, api_tokens.am, example(offending_type, contract_id=cid, **overrides))

    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "refused" and body["code"] == code
    assert len(body["message"]) > 20 and body["message"].endswith(".")
    assert log_of(http, api_tokens.admin, cid) == before


def test_duplicate_returns_the_original_verdict_and_appends_nothing(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    first = post(http, api_tokens.am, signed)
    assert first.status_code == 201 and first.json()["stream_version"] == 1

    again = post(http, api_tokens.am, signed)

    assert again.status_code == 200, again.text
    assert again.json()["code"] == "duplicate_event"
    assert again.json()["stream_version"] == 1
    assert [e["event_id"] for e in log_of(http, api_tokens.admin, cid)] == [signed["event_id"]]


def test_event_id_reused_with_other_content(http: httpx.Client, api_tokens: Tokens) -> None:
    cid = unique("C")
    signed, contact = history(cid, api_tokens.am_id, "ClientContactLogged")
    assert post(http, api_tokens.am, signed).status_code == 201
    assert post(http, api_tokens.am, contact).status_code == 201

    changed = {**contact, "responded": True}
    r = post(http, api_tokens.am, changed)

    assert r.status_code == 409 and r.json()["code"] == "event_id_reused"
    assert len(log_of(http, api_tokens.admin, cid)) == 2


def test_forbidden_contract_for_another_account_manager(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    signed, started = history(cid, api_tokens.am_id, "AssignmentStarted")
    assert post(http, api_tokens.am, signed).status_code == 201

    r = post(http, api_tokens.other_am, started)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_contract"

    # ... and may not sign a contract in another account manager's name either.
    other = example("ContractSigned", contract_id=unique("C"), account_manager_id=api_tokens.am_id)
    r = post(http, api_tokens.other_am, other)
    assert r.status_code == 403 and r.json()["code"] == "forbidden_contract"
    assert log_of(http, api_tokens.admin, other["contract_id"]) == []
    assert len(log_of(http, api_tokens.admin, cid)) == 1


def test_shape_errors_name_the_field_and_change_nothing(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    bad = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    bad["burden_pct"] = "2000"
    r = post(http, api_tokens.am, bad)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["burden_pct"]
    assert log_of(http, api_tokens.admin, cid) == []


def test_a_batch_answers_207_with_one_result_per_event_in_order(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    signed, started = history(cid, api_tokens.am_id, "AssignmentStarted")
    orphan = example("RatesAdjusted", contract_id=cid, assignment_id="A-404")
    r = post(http, api_tokens.am, {"events": [signed, started, orphan]})
    assert r.status_code == 207, r.text
    results = r.json()["results"]
    assert [(x["status"], x.get("stream_version"), x.get("code")) for x in results] == [
        ("accepted", 1, None),
        ("accepted", 2, None),
        ("refused", None, "unknown_assignment"),
    ]
    assert [e["stream_version"] for e in log_of(http, api_tokens.admin, cid)] == [1, 2]


def test_an_event_dated_more_than_a_day_ahead_is_refused_and_ages_nothing(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    """Issue #21: a ClientContactLogged dated weeks ahead used to be accepted, and moved the risk
    agent's clock for every account manager's contracts (RELATIONSHIP_NEGLECT everywhere)."""
    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    assert post(http, api_tokens.am, signed).status_code == 201
    ahead = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    contact = example("ClientContactLogged", contract_id=cid, occurred_at=ahead)

    r = post(http, api_tokens.am, contact)

    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "occurred_in_future"
    assert [e["field"] for e in body["errors"]] == ["occurred_at"]
    assert "ahead of the service's clock" in body["errors"][0]["reason"]
    assert len(log_of(http, api_tokens.admin, cid)) == 1
    # Within a day ahead (clocks differ, time zones confuse) is still a fact to record.
    soon = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    assert post(http, api_tokens.am, {**contact, "occurred_at": soon}).status_code == 201
